#!/usr/bin/env bash
# Figures and tables of docs/results/README.md from the JSONL results (run from the repository root).
# `python -m refsim.cli.sweep plot` is the same command as `refsim plot`; each prints its Markdown table.
set -uo pipefail
R=docs/results
PLOT="python -m refsim.cli.sweep plot"
$PLOT $R/a_prog_error_resnet20.jsonl --x device.prog_sigma_rel --hue mapping.scheme \
  --title "(a) ResNet-20, state-independent programming error" --xlabel "prog_sigma_rel (sigma / G_max)" \
  --out $R/a_prog_error_resnet20.png
$PLOT $R/a_prog_error_resnet56.jsonl --x device.prog_sigma_rel --hue mapping.scheme \
  --title "(a) ResNet-56, state-independent programming error" --xlabel "prog_sigma_rel (sigma / G_max)" \
  --out $R/a_prog_error_resnet56.png
$PLOT $R/a_prog_error_resnet56_300.jsonl --x device.prog_sigma_rel --hue mapping.scheme \
  --title "(a) ResNet-56 (300 images), state-independent programming error" \
  --xlabel "prog_sigma_rel (sigma / G_max)" --out $R/a_prog_error_resnet56_300.png
$PLOT $R/b_slicing_resnet20.jsonl --x weight.n_slices --hue device.prog_sigma_rel \
  --title "(b) ResNet-20, 8-bit weights in n slices, same per-cell error" --xlabel "weight slices" \
  --out $R/b_slicing_resnet20.png
$PLOT $R/c_adc_bits_resnet20.jsonl --x adc.bits --hue mapping.scheme \
  --title "(c) ResNet-20, calibrated ADC ranges" --xlabel "ADC bits" --out $R/c_adc_bits_resnet20.png
$PLOT $R/c_adc_bits_resnet56.jsonl --x adc.bits --hue mapping.scheme \
  --title "(c) ResNet-56, calibrated ADC ranges" --xlabel "ADC bits" --out $R/c_adc_bits_resnet56.png
$PLOT $R/d_wires_resnet20.jsonl --x wire.r_row_ohm --hue mapping.scheme --xlog \
  --title "(d) ResNet-20, 144x64 arrays, wire resistance" --xlabel "r_row_ohm = r_col_ohm (ohm per segment)" \
  --out $R/d_wires_resnet20.png
$PLOT $R/d_wires288_resnet20.jsonl --x wire.r_row_ohm --hue mapping.scheme --xlog \
  --title "(d) ResNet-20, 288x64 arrays, wire resistance" --xlabel "r_row_ohm = r_col_ohm (ohm per segment)" \
  --out $R/d_wires288_resnet20.png
$PLOT $R/e1_io_vs_weight_resnet20.jsonl --x "device.out_noise_rel|device.prog_sigma_rel" --xlog \
  --title "(e) ResNet-20, output noise vs weight noise" --xlabel "sigma (output: g_max v_read units; weight: G_max)" \
  --out $R/e1_noise_resnet20.png
$PLOT $R/e1_io_vs_weight_resnet20.jsonl --x "dac.bits|adc.bits" \
  --title "(e) ResNet-20, DAC and ADC resolution" --xlabel "bits" --out $R/e1_bits_resnet20.png
$PLOT $R/e2_drift_resnet20.jsonl --x device.t_inference_s --hue device.drift_compensation --xlog \
  --title "(e) ResNet-20, PCM drift" --xlabel "t_inference (s)" --out $R/e2_drift_resnet20.png
$PLOT $R/x_preset_adc_max_resnet20.jsonl --x adc.bits \
  --title "xiao2022_resnet50 preset: ADC 'max' range vs ideal ADC" --xlabel "ADC bits (null = ideal)" \
  --out $R/x_preset_adc_max_resnet20.png
