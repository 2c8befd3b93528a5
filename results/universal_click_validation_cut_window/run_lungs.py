import sys, numpy as np, torch
torch.set_num_threads(2)
sys.path.insert(0, "results/universal_click_validation_cut_window")
from lib.universal_click.cases import held_out_case, real_ct_cases
from lib.universal_click.segmenter import UniversalClickSegmenter, PROPOSAL_WEIGHTS
from lib.evaluation.harness import run_session
from lib.evaluation.simulators import get_simulator
import os
if not os.environ.get("SERVED"):
    import windowpatch; windowpatch.patch()
sim = get_simulator("din_evaluation")
cases = [held_out_case(s, "lung", "3x3x6", "ct") for s in (800, 801)] + [c for c in real_ct_cases("ct")]
for case in cases:
    seg = UniversalClickSegmenter(PROPOSAL_WEIGHTS, name="window")
    rows = run_session(seg, case, sim, 10, np.random.default_rng(0))
    print(f"{case.case_id[:40]:40s}", " ".join(f"{r['dsc']:.2f}" for r in rows[1:]))
