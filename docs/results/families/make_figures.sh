#!/usr/bin/env bash
# Figures and tables of docs/results/families/README.md from the JSONL results (run from the repository root).
set -euo pipefail
R=docs/results/families
F="python -m refsim.tools.families"
$F figures --direct $R/direct.jsonl --stress $R/stress.jsonl --outdir $R
$F figures --stress $R/stress_real.jsonl --outdir $R --tag _real \
  --title "One non-ideality at a time, each at 20 % median error of the network's own layers"
$F figures --stress $R/stress_10.jsonl --outdir $R --tag _10 --title "One non-ideality at a time, each at MVM error ~10 % (X6)"
for f in levels direct direct_extra stress layers real_levels stress_real levels_10 stress_10; do
  echo "## $f.jsonl"; $F table $R/$f.jsonl; echo
done
