"""Validation experiments for issue 18 (seeds 800-808 only)."""
import json, sys, time, os
import numpy as np, torch
from lib.evaluation.harness import evaluate
from lib.evaluation.registry import make_segmenter
from lib.evaluation.cases import phantom_cases
from lib.universal_click.cases import held_out_cases
from lib.universal_click.segmenter import UniversalClickSegmenter, PROPOSAL_WEIGHTS
from lib.universal_click.network import load_universal
from lib.universal_click.click_cut import ClickCut
from lib.universal_click.space import HELD_OUT, PROPOSAL_CORRECTION

torch.set_num_threads(1)
NET = load_universal(PROPOSAL_WEIGHTS)

def cases(cell):
    res, con = cell.split(":")
    if res == "gtv":
        return list(phantom_cases(9, 800, "gtv", 30.0))
    return list(held_out_cases(9, res, con, HELD_OUT, 800, 30.0))

def variants(spec):
    out = []
    for name in spec:
        kw = dict(network=NET, name=name)
        if name == "base": pass
        elif name == "whole": kw["local_correction"] = False
        elif name.startswith("damp"):
            # damp_<w>_<sigma>[_whole]
            parts = name.split("_")
            kw["cut"] = ClickCut(float(parts[1]), 0.0, 1, float(parts[2]))
            if len(parts) > 3 and parts[3] == "whole": kw["local_correction"] = False
        elif name.startswith("corr"):
            # corr_<conf>_<margin>
            parts = name.split("_")
            kw["correction"] = {"confidence": float(parts[1]), "shell_mm": None, "margin_mm": float(parts[2])}
            kw["cut"] = ClickCut(float(parts[3]), 0.0, 1) if len(parts) > 3 else None
        elif name.startswith("cut"):
            # cut_<clip>_<perclick>_<first>[_whole|_loc]
            parts = name.split("_")
            kw["cut"] = ClickCut(weight=float(parts[1]), first_clicks=int(parts[3]))
            if len(parts) > 4 and parts[4] == "whole": kw["local_correction"] = False
        else: raise ValueError(name)
        out.append(UniversalClickSegmenter(**kw))
    return out

cells = sys.argv[1].split(",")
spec = sys.argv[2].split(",")
baselines = sys.argv[3].split(",") if len(sys.argv) > 3 and sys.argv[3] else []
log = {}
for cell in cells:
    t = time.time()
    cs = cases(cell)
    segs = variants(spec) + [make_segmenter(b) for b in baselines]
    result = evaluate(segs, cs, "din_evaluation", 10, 0, "own", None)
    print(f"== {cell} ({time.time()-t:.0f}s)", flush=True)
    for n, m in result["methods"].items():
        d = m["dsc_at_clicks"]
        d = {int(k): v for k, v in d.items()}
        print(f"{n:28s} @1 {d[1]:.3f} @3 {d[3]:.3f} @5 {d[5]:.3f} @10 {d[10]:.3f}", flush=True)
        log.setdefault(cell, {})[n] = d
        if os.environ.get("PERCASE"):
            by = {}
            for r in m["rows"]: by.setdefault(r["case_id"], []).append(round(r["dsc"], 2))
            for cid, v in by.items(): print("   ", cid[-22:], v[1:], flush=True)
out = sys.argv[4] if len(sys.argv) > 4 else "build/exp18.json"
old = json.load(open(out)) if os.path.exists(out) else {}
for c, v in log.items(): old.setdefault(c, {}).update({k: {str(a): b for a, b in x.items()} for k, x in v.items()})
json.dump(old, open(out, "w"), indent=1)
