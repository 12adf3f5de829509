#!/usr/bin/env bash
# LLaVA-1.5 / paper finetune: LLM + compressor + projector on instruction data, from a pretrain run.
# Every value below can be overridden from the environment (NUM_GPUS=4 LR=5e-4 scripts/finetune.sh) and any
# `llava-tc train` flag can be appended (scripts/finetune.sh --max-steps 10). Multi-node: HOSTFILE=path/to/hostfile.
set -euo pipefail

VISION=${VISION:-checkpoints/clip-vit-large-patch14-336}
LLM=${LLM:-checkpoints/Qwen1.5-0.5B-Chat}
COMPRESSOR=${COMPRESSOR:-quecc}
NUM_VISUAL_TOKENS=${NUM_VISUAL_TOKENS:-16}
DATA=${DATA:-data/llava_v1_5_mix665k.json}
IMAGE_FOLDER=${IMAGE_FOLDER:-data}
PRETRAINED=${PRETRAINED:-runs/pretrain-${COMPRESSOR:-quecc}-v${NUM_VISUAL_TOKENS:-16}}
OUTPUT_DIR=${OUTPUT_DIR:-runs/finetune-${COMPRESSOR}-v${NUM_VISUAL_TOKENS}}
NUM_GPUS=${NUM_GPUS:-8}
NUM_NODES=${NUM_NODES:-1}
GLOBAL_BATCH=${GLOBAL_BATCH:-128}
PER_DEVICE_BATCH=${PER_DEVICE_BATCH:-16}
LR=${LR:-2e-5}
EPOCHS=${EPOCHS:-1}
WARMUP=${WARMUP:-0.03}
MAX_LENGTH=${MAX_LENGTH:-2048}
DEEPSPEED=${DEEPSPEED:-configs/deepspeed/zero3.json}
WORKERS=${WORKERS:-4}
REPORT_TO=${REPORT_TO:-jsonl tensorboard}
HOSTFILE=${HOSTFILE:-}
MASTER_PORT=${MASTER_PORT:-29500}

ACCUM=$(( GLOBAL_BATCH / (PER_DEVICE_BATCH * NUM_GPUS * NUM_NODES) ))
if (( ACCUM < 1 || ACCUM * PER_DEVICE_BATCH * NUM_GPUS * NUM_NODES != GLOBAL_BATCH )); then
  echo "GLOBAL_BATCH=$GLOBAL_BATCH is not a multiple of PER_DEVICE_BATCH x GPUs = $(( PER_DEVICE_BATCH * NUM_GPUS * NUM_NODES ))" >&2
  exit 1
fi
LAUNCH=(deepspeed --num_gpus "$NUM_GPUS" --master_port "$MASTER_PORT")
if [[ -n "$HOSTFILE" ]]; then LAUNCH=(deepspeed --hostfile "$HOSTFILE" --num_nodes "$NUM_NODES" --master_port "$MASTER_PORT"); fi

# shellcheck disable=SC2086
exec "${LAUNCH[@]}" --module llava_tc.train \
  --stage finetune --output-dir "$OUTPUT_DIR" \
  --vision "$VISION" --llm "$LLM" --pretrained-mm "$PRETRAINED" --compressor "$COMPRESSOR" --num-visual-tokens "$NUM_VISUAL_TOKENS" \
  --data "$DATA" --image-folder "$IMAGE_FOLDER" --template chat --model-max-length "$MAX_LENGTH" \
  --group-by-modality-length \
  --learning-rate "$LR" --per-device-train-batch-size "$PER_DEVICE_BATCH" --gradient-accumulation-steps "$ACCUM" \
  --num-train-epochs "$EPOCHS" --warmup-ratio "$WARMUP" --lr-scheduler-type cosine --weight-decay 0 \
  --bf16 --gradient-checkpointing --deepspeed "$DEEPSPEED" --dataloader-num-workers "$WORKERS" \
  --save-steps 500 --save-total-limit 1 --report-to $REPORT_TO --resume \
  "$@"
