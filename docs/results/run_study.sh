#!/usr/bin/env bash
# The reproduction study of docs/results/README.md: every sweep, exactly as run.
# Run from the repository root:  bash docs/results/run_study.sh
# `python -m refsim.cli.sweep sweep` is the same command as `refsim sweep`.
# Re-running resumes: points already in a results file are skipped.
set -euo pipefail
DATA=${REFSIM_DATA:-../shared/data}
R20=$DATA/weights/resnet20-12fca82f.th
R56=$DATA/weights/resnet56-4bfd9763.th
CIFAR=$DATA/cifar10/cifar10_test_subset.npz
C=docs/results/configs
OUT=docs/results
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1  # one BLAS thread per worker
SWEEP="python -m refsim.cli.sweep sweep --data $CIFAR --jobs ${JOBS:-2} --no-progress"

# (a) was started first (the sweep below is its exact command); wait for a running one to finish
while pgrep -f 'a_prog_error_resnet20.jsonl' > /dev/null; do sleep 15; done

# (c) ADC bits with calibrated ranges (32 calibration images = the last 32 of the file, never evaluated)
$SWEEP --weights $R20 --limit 300 --repeats 1 --calibrate 32 --preset $C/xiao_noerr.json \
  --vary mapping.scheme=differential_one_sided,offset --vary adc.bits=4,6,8 \
  --out $OUT/c_adc_bits_resnet20.jsonl

# (d) wire resistance, 144 x 64 arrays, r_row = r_col
$SWEEP --weights $R20 --limit 200 --repeats 1 --preset $C/xiao_idealadc_144x64.json \
  --vary mapping.scheme=differential_one_sided,offset \
  --vary wire.r_row_ohm+wire.r_col_ohm=0,1,3,10,30 --out $OUT/d_wires_resnet20.jsonl

# (e1) input/output noise vs weight noise, Rasch 2023 tiles with ideal devices, one source at a time
E1="$SWEEP --weights $R20 --limit 200 --preset $C/rasch2023_clean.json --out $OUT/e1_io_vs_weight_resnet20.jsonl"
$E1 --repeats 1 --vary dac.bits=4,6,8
$E1 --repeats 1 --vary adc.range_mode=fixed --vary adc.range_A=5e-05 --vary adc.bits=4,6,8
$E1 --repeats 2 --vary device.out_noise_reference=unit_current --vary device.out_noise_rel=0.02,0.05,0.1
$E1 --repeats 2 --vary device.prog_model=independent --vary device.prog_sigma_rel=0.02,0.05,0.1

# (b) weight bit slicing at the same per-cell error (8-bit weights: 7 magnitude bits, one-sided mapping)
$SWEEP --weights $R20 --limit 200 --repeats 1 --preset $C/xiao_idealadc_indep.json \
  --vary weight.n_slices=1,2,4,7 --vary device.prog_sigma_rel=0.04,0.08 --out $OUT/b_slicing_resnet20.jsonl

# (e2) PCM drift, with and without global drift compensation
$SWEEP --weights $R20 --limit 150 --repeats 2 --preset $C/rasch2023_sqrtread.json \
  --vary device.drift_compensation=true,false --vary device.t_inference_s=1,3600,86400,3.15e7 \
  --out $OUT/e2_drift_resnet20.jsonl

# (a) on ResNet-56, fewer points and images
$SWEEP --weights $R56 --limit 100 --repeats 1 --preset $C/xiao_idealadc_indep.json \
  --vary mapping.scheme=differential_one_sided,offset \
  --vary device.prog_sigma_rel=0.02,0.04,0.06 --out $OUT/a_prog_error_resnet56.jsonl

# (a) state-independent programming error: proportional (differential one-sided) vs offset mapping
$SWEEP --weights $R20 --limit 500 --repeats 2 --preset $C/xiao_idealadc_indep.json \
  --vary mapping.scheme=differential_one_sided,offset \
  --vary device.prog_sigma_rel=0.02,0.04,0.06,0.08,0.1 --out $OUT/a_prog_error_resnet20.jsonl

# ---- second pass (the CPU was freer than budgeted): more repeats and points; resumes the files above
# (a) a third repeat and two more error levels
$SWEEP --weights $R20 --limit 500 --repeats 3 --preset $C/xiao_idealadc_indep.json \
  --vary mapping.scheme=differential_one_sided,offset \
  --vary device.prog_sigma_rel=0.02,0.03,0.04,0.05,0.06,0.08,0.1 --out $OUT/a_prog_error_resnet20.jsonl
# (c) 5 and 7 bits
$SWEEP --weights $R20 --limit 300 --repeats 1 --calibrate 32 --preset $C/xiao_noerr.json \
  --vary mapping.scheme=differential_one_sided,offset --vary adc.bits=4,5,6,7,8 \
  --out $OUT/c_adc_bits_resnet20.jsonl
# (d) smaller resistances; and 288-row arrays
$SWEEP --weights $R20 --limit 200 --repeats 1 --preset $C/xiao_idealadc_144x64.json \
  --vary mapping.scheme=differential_one_sided,offset \
  --vary wire.r_row_ohm+wire.r_col_ohm=0,0.03,0.1,0.3,1,3,10,30 --out $OUT/d_wires_resnet20.jsonl
$SWEEP --weights $R20 --limit 200 --repeats 1 --preset $C/xiao_idealadc_288x64.json \
  --vary mapping.scheme=differential_one_sided,offset \
  --vary wire.r_row_ohm+wire.r_col_ohm=0,0.1,1,10 --out $OUT/d_wires288_resnet20.jsonl
# (b) a second repeat
$SWEEP --weights $R20 --limit 200 --repeats 2 --preset $C/xiao_idealadc_indep.json \
  --vary weight.n_slices=1,2,4,7 --vary device.prog_sigma_rel=0.04,0.08 --out $OUT/b_slicing_resnet20.jsonl
# (e1) coarser converters and larger output noise
$E1 --repeats 1 --vary dac.bits=2,3,4,6,8
$E1 --repeats 1 --vary adc.range_mode=fixed --vary adc.range_A=5e-05 --vary adc.bits=3,4,5,6,8
$E1 --repeats 2 --vary device.out_noise_reference=unit_current --vary device.out_noise_rel=0.02,0.05,0.1,0.2,0.5,1.0
# (a) ResNet-56: a second repeat
$SWEEP --weights $R56 --limit 100 --repeats 2 --preset $C/xiao_idealadc_indep.json \
  --vary mapping.scheme=differential_one_sided,offset \
  --vary device.prog_sigma_rel=0.02,0.04,0.06 --out $OUT/a_prog_error_resnet56.jsonl

# ---- third pass: drift with a third repeat; ResNet-56 on more images, and its ADC claim
$SWEEP --weights $R20 --limit 150 --repeats 3 --preset $C/rasch2023_sqrtread.json \
  --vary device.drift_compensation=true,false --vary device.t_inference_s=1,3600,86400,3.15e7 \
  --out $OUT/e2_drift_resnet20.jsonl
$SWEEP --weights $R56 --limit 200 --repeats 1 --calibrate 32 --preset $C/xiao_noerr.json \
  --vary mapping.scheme=differential_one_sided,offset --vary adc.bits=4,6,8 \
  --out $OUT/c_adc_bits_resnet56.jsonl
$SWEEP --weights $R56 --limit 300 --repeats 2 --preset $C/xiao_idealadc_indep.json \
  --vary mapping.scheme=differential_one_sided,offset \
  --vary device.prog_sigma_rel=0.02,0.04,0.06,0.08 --out $OUT/a_prog_error_resnet56_300.jsonl
# the unmodified xiao2022_resnet50 preset ("max" ADC range) vs an ideal ADC, for reference
$SWEEP --weights $R20 --limit 200 --repeats 1 --preset xiao2022_resnet50 --no-calibrate --vary adc.bits=null,8 \
  --out $OUT/x_preset_adc_max_resnet20.jsonl
# (e2) check of the read-noise substitute: the unmodified aihwkit_noise_managed (per-cell PCM 1/f read noise, slow)
$SWEEP --weights $R20 --limit 60 --repeats 1 --preset aihwkit_noise_managed \
  --vary device.t_inference_s=1,3.15e7 --out $OUT/e2_drift_pcm_read_resnet20.jsonl
