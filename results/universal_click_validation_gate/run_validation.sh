#!/bin/bash
# Validation phantoms (seeds 800-808), own clicks, 10 clicks: the served model, gated click cuts
# (variants.py), graph cut. Two cells at a time, one torch thread each.
set -e
cd "$(dirname "$0")/../.."
export PYTHONPATH=.:results/universal_click_validation_gate OMP_NUM_THREADS=1
OUT=${OUT:-results/universal_click_validation_gate}
M=${M:-universal_click_gc,variants:agree_linear,variants:agree_power2,variants:agree_t05,variants:agree_linear_w1,variants:neg_07,variants:neg_05,graph_cut}
run() { .venv/bin/python -m lib.universal_click.evaluate --cell "$1" --first-seed 800 --cases 9 --no-shared --methods $M --out $OUT > $OUT/log_${1/:/_}.txt 2>&1; }
run 3x3x6:ct & run 3x3x6:inverted & wait
run 3x3x6:t1_like & run gtv:ct & wait
