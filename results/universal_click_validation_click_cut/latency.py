import time, json, os, numpy as np, torch
from lib.phantom.config import PhantomConfig, ALL_LABELS
from lib.phantom.generate import generate_phantom
from lib.interaction.clicks import Click
from lib.universal_click.network import load_universal
from lib.universal_click.segmenter import PROPOSAL_WEIGHTS, answer_clicks, correction_settings, recut_settings
from lib.universal_click.zoom import prepare
from lib.universal_click.click_cut import click_cut, PROPOSAL_RECUT
torch.set_num_threads(1)
ph = generate_phantom(PhantomConfig(seed=901, shape=(224, 192, 80), spacing=(1.5, 1.5, 3.0)))
gtv = ph.organs == ALL_LABELS["gtv"]
c = np.argwhere(gtv).mean(0).round().astype(int)
start = [int(np.clip(a - n // 2, 0, s - n)) for a, n, s in zip(c, (128, 128, 64), gtv.shape)]
box = tuple(slice(a, a + n) for a, n in zip(start, (128, 128, 64)))
image = ph.image[0][box][None].astype(np.float32)
prep = prepare(image, ph.affine, "auto")
net = load_universal(PROPOSAL_WEIGHTS)
fg = tuple(int(v) for v in c - np.array(start))
clicks = [Click(fg, True), Click((fg[0] + 10, fg[1], fg[2]), False), Click((fg[0], fg[1] + 6, fg[2]), True)]
out = {}
for name, recut in (("no_recut", None), ("recut", recut_settings(net))):
    times = []
    for r in range(4):
        t = time.perf_counter()
        p, a = answer_clicks(net, prep, clicks, None, (1.5, 1.5, 3.0), "cpu", correction_settings(net), recut)
        times.append(time.perf_counter() - t)
    out[name] = {"median_s": float(np.median(times[1:])), "region": list(a.region.size)}
# the cut alone on the largest region
rng = np.random.default_rng(0)
inten = rng.random((128, 128, 64)); prob = rng.random((128, 128, 64)).astype(np.float32)
cl = [Click((64, 64, 32), True), Click((80, 64, 32), False)]
ts = []
for r in range(3):
    t = time.perf_counter(); click_cut(inten, prob, cl, (1.5, 1.5, 3.0), PROPOSAL_RECUT); ts.append(time.perf_counter() - t)
out["click_cut_128x128x64_s"] = float(np.median(ts))
out["load_average"] = os.getloadavg()
print(json.dumps(out, indent=1))
