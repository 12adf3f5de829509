#!/usr/bin/env bash
# LLaVA-1.5 LoRA finetune: LoRA adapters on the LLM (lr 2e-4), compressor + projector fully trained (lr 2e-5).
# Merge afterwards: llava-tc merge-lora RUN_DIR MERGED_DIR
# Every value can be overridden from the environment (NUM_GPUS=4 LR=5e-4 scripts/finetune_lora.sh; shared ones are in
# scripts/_launch.sh) and any `llava-tc train` flag can be appended (scripts/finetune_lora.sh --max-steps 10).
# Multi-node: HOSTFILE=path/to/hostfile NUM_NODES=2.
set -euo pipefail

DATA=${DATA:-data/llava_v1_5_mix665k.json}
IMAGE_FOLDER=${IMAGE_FOLDER:-data}
GLOBAL_BATCH=${GLOBAL_BATCH:-128}
PER_DEVICE_BATCH=${PER_DEVICE_BATCH:-16}
LR=${LR:-2e-4}
MM_LR=${MM_LR:-2e-5}
LORA_R=${LORA_R:-128}
LORA_ALPHA=${LORA_ALPHA:-256}
DEEPSPEED=${DEEPSPEED:-configs/deepspeed/zero3.json}
source "$(dirname "$0")/_launch.sh"
PRETRAINED=${PRETRAINED:-runs/pretrain-${COMPRESSOR}-v${NUM_VISUAL_TOKENS}}
OUTPUT_DIR=${OUTPUT_DIR:-runs/lora-${COMPRESSOR}-v${NUM_VISUAL_TOKENS}}

launch_train --stage lora --output-dir "$OUTPUT_DIR" --pretrained-mm "$PRETRAINED" --template chat \
  --group-by-modality-length --mm-learning-rate "$MM_LR" --lora-r "$LORA_R" --lora-alpha "$LORA_ALPHA" "$@"
