#!/bin/bash
# Validation phantoms (seeds 800-808), own clicks, 10 clicks: the served model, the retrained weights
# (UC_WEIGHTS), each with the click cut from the second (f1) and from the first click (f0), graph cut.
# Two cells at a time, one torch thread each.
set -e
cd "$(dirname "$0")/../.."
export PYTHONPATH=.:results/universal_click_validation_retrain OMP_NUM_THREADS=1
OUT=${OUT:-results/universal_click_validation_retrain}
M=universal_click_gc,variants:old_f0,variants:new_f1,variants:new_f0,graph_cut
run() { .venv/bin/python -m lib.universal_click.evaluate --cell "$1" --first-seed 800 --cases 9 --no-shared --methods $M --out $OUT > $OUT/log_${1/:/_}.txt 2>&1; }
run 3x3x6:ct & run 3x3x6:inverted & wait
run 3x3x6:t1_like & run gtv:ct & wait
