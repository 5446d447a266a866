#!/usr/bin/env bash
# Figures and tables of docs/results/families/README.md from the JSONL results (run from the repository root).
set -euo pipefail
R=docs/results/families
F="python -m refsim.tools.families"
$F figures --direct $R/direct.jsonl --stress $R/stress.jsonl --outdir $R
$F table $R/direct.jsonl
$F table $R/direct_extra.jsonl
$F table $R/stress.jsonl
# the same A* against time with refsim plot (one line per family, mean and std over repeats)
python -m refsim.cli.sweep plot $R/direct.jsonl --x device.t_inference_s --hue family --y a_star --xlog \
  --title "rasch2023_standard: A* vs time (refsim plot)" --xlabel "t_inference (s)" --ylabel "A*" \
  --out $R/direct_a_star_sweep_plot.png
