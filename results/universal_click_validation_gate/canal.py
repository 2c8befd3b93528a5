import sys, numpy as np, torch
torch.set_num_threads(2)
from lib.universal_click.cases import held_out_case
from lib.universal_click.segmenter import UniversalClickSegmenter, PROPOSAL_WEIGHTS
from lib.evaluation.harness import run_session
from lib.evaluation.simulators import get_simulator
from lib.evaluation.registry import make_segmenter
sim = get_simulator("din_evaluation")
contrast = sys.argv[1] if len(sys.argv) > 1 else "ct"
struct = sys.argv[2] if len(sys.argv) > 2 else "spinal_canal"
for seed in (800, 801, 802):
    case = held_out_case(seed, struct, "3x3x6", contrast)
    print(case.case_id, "truth", int(case.truth.sum()), case.spatial_shape)
    for name, seg in [("served", UniversalClickSegmenter(PROPOSAL_WEIGHTS, name="s")),
                      ("no_recut", UniversalClickSegmenter(PROPOSAL_WEIGHTS, name="n", recut=False)),
                      ("gc", make_segmenter("graph_cut"))]:
        rows = run_session(seg, case, sim, 10, np.random.default_rng(0))
        print(f"  {name:9s}", " ".join(f"{r['dsc']:.2f}" for r in rows[1:]))
        print("           ", " ".join(("+" if r['click']['positive'] else "-") if r['click'] else "." for r in rows[1:]), {k: v for k, v in rows[10].items() if k in ("sensitivity","arvd","hd95_mm")})
