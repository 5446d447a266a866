#!/usr/bin/env bash
# The cross-family study of docs/results/families/README.md: every stage, exactly as run.
# Run from the repository root:  bash docs/results/families/run_study.sh
# Re-running resumes: points already in a results file are skipped (refsim.tools.sweep.run_sweep).
# Sizes are options: the defaults are the reduced sizes of the README (2 shared cores, about an hour);
# the full version is e.g.
#   CIFAR_N=932 MOBILE_N=24 TEXT_N=50000 STS_N=1500 R_1H=5 R=3 R_STRESS=3 bash ...
set -euo pipefail
export REFSIM_DATA=${REFSIM_DATA:-/work/shared/data}
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
OUT=${OUT:-docs/results/families}
CIFAR_N=${CIFAR_N:-200}    # CIFAR-10 test images (the first N of the 932-image subset)
MOBILE_N=${MOBILE_N:-12}   # ImageNet samples (first N of the 24 shared; two halves, each calibrated on the other)
TEXT_N=${TEXT_N:-2000}     # scored characters of Alice, from chapter I
STS_N=${STS_N:-100}        # STS-B dev pairs (the first N)
R_1H=${R_1H:-2}            # programming repeats at 1 h
R=${R:-2}                  # programming repeats at 1 s, 1 day, 1 year
R_STRESS=${R_STRESS:-2}    # repeats of the random stress knobs (the others run once) ...
STRESS_R2_FAMILIES=${STRESS_R2_FAMILIES:-all}  # ... for these families (comma list, or all)
[ "$STRESS_R2_FAMILIES" = all ] && STRESS_R2_FAMILIES=cifar_resnet20,mobilenet_v2,textgenrnn,minilm
F="python -m refsim.tools.families"
SIZES="--size cifar_resnet20=$CIFAR_N --size mobilenet_v2=$MOBILE_N --size textgenrnn=$TEXT_N --size minilm=$STS_N"
CAL="--cal mobilenet_v2=$((MOBILE_N / 2))"

# 1. stress levels: each knob at standard MVM error (X6) 20 % on a random 512 x 512 layer (seconds)
$F levels --target 0.2 --out $OUT/levels.jsonl
# 2. direct mapping under rasch2023_standard at 1 h
$F direct --times 1h --repeats $R_1H $SIZES $CAL --out $OUT/direct.jsonl --quiet
# 3. the stress test, one repeat
$F stress --levels $OUT/levels.jsonl --repeats 1 $SIZES $CAL --out $OUT/stress.jsonl --quiet
# 4. direct mapping at 1 s, 1 day, 1 year
$F direct --times 1s,1h,1d,1y --repeats $R $SIZES $CAL --out $OUT/direct.jsonl --quiet
# 5. per-layer errors of the real networks at every stress level (a few inputs each)
$F layers --levels $OUT/levels.jsonl $CAL --out $OUT/layers.jsonl
# 6. more repeats of the random stress knobs
$F stress --levels $OUT/levels.jsonl --repeats $R_STRESS --families $STRESS_R2_FAMILIES $SIZES $CAL \
  --out $OUT/stress.jsonl --quiet
# 7. diagnostic: MobileNetV2 at 1 h with its depthwise convolutions digital (every other layer analog)
$F direct --times 1h --repeats $R_1H --families mobilenet_v2 --digital-layers depthwise $SIZES $CAL \
  --out $OUT/direct_extra.jsonl --quiet
# 8. the stress test at equal error on each network's own layers: per family, each knob at the level where
#    the median per-layer error of the real network is 20 % (MobileNetV2 left out: 20-60 s per probe here)
REAL_FAMILIES=${REAL_FAMILIES:-cifar_resnet20,textgenrnn,minilm}
$F real_levels --target 0.2 --families $REAL_FAMILIES --knobs dac_bits,adc_bits,out_noise,prog_noise,read_noise \
  $CAL --out $OUT/real_levels.jsonl
$F stress --levels $OUT/real_levels.jsonl --repeats 1 --families $REAL_FAMILIES $SIZES $CAL \
  --out $OUT/stress_real.jsonl --quiet
# 9. the stress test at a milder level, MVM error 10 % on the random layer (one repeat)
$F levels --target 0.1 --out $OUT/levels_10.jsonl
$F stress --levels $OUT/levels_10.jsonl --repeats 1 $SIZES $CAL --out $OUT/stress_10.jsonl --quiet
