#!/usr/bin/env bash
# LLaVA-1.5 / paper pretrain: compressor + projector on caption data (vision tower and LLM frozen).
# Every value can be overridden from the environment (NUM_GPUS=4 LR=5e-4 scripts/pretrain.sh; shared ones are in
# scripts/_launch.sh) and any `llava-tc train` flag can be appended (scripts/pretrain.sh --max-steps 10).
# Multi-node: HOSTFILE=path/to/hostfile NUM_NODES=2.
set -euo pipefail

DATA=${DATA:-data/LLaVA-Pretrain/blip_laion_cc_sbu_558k.json}
IMAGE_FOLDER=${IMAGE_FOLDER:-data/LLaVA-Pretrain/images}
GLOBAL_BATCH=${GLOBAL_BATCH:-256}
PER_DEVICE_BATCH=${PER_DEVICE_BATCH:-32}
LR=${LR:-1e-3}
DEEPSPEED=${DEEPSPEED:-configs/deepspeed/zero2.json}
source "$(dirname "$0")/_launch.sh"
OUTPUT_DIR=${OUTPUT_DIR:-runs/pretrain-${COMPRESSOR}-v${NUM_VISUAL_TOKENS}}

launch_train --stage pretrain --output-dir "$OUTPUT_DIR" --template plain --no-group-by-modality-length "$@"
