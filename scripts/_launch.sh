# Shared by pretrain.sh, finetune.sh and finetune_lora.sh (sourced, not run): the defaults every stage shares, the
# gradient accumulation that keeps GLOBAL_BATCH fixed across GPU counts, and the deepspeed launch line.
# The calling script sets its own stage defaults (DATA, LR, GLOBAL_BATCH, DEEPSPEED, ...) before sourcing this.

VISION=${VISION:-checkpoints/clip-vit-large-patch14-336}
LLM=${LLM:-checkpoints/Qwen1.5-0.5B-Chat}
COMPRESSOR=${COMPRESSOR:-quecc}
NUM_VISUAL_TOKENS=${NUM_VISUAL_TOKENS:-16}
NUM_GPUS=${NUM_GPUS:-8}
NUM_NODES=${NUM_NODES:-1}
EPOCHS=${EPOCHS:-1}
WARMUP=${WARMUP:-0.03}
MAX_LENGTH=${MAX_LENGTH:-2048}
WORKERS=${WORKERS:-4}
REPORT_TO=${REPORT_TO:-jsonl tensorboard}
HOSTFILE=${HOSTFILE:-}
MASTER_PORT=${MASTER_PORT:-29500}

# launch_train STAGE_FLAGS... -- EXTRA_USER_FLAGS...: run `llava_tc.train` under the deepspeed launcher.
launch_train() {
  local accum=$(( GLOBAL_BATCH / (PER_DEVICE_BATCH * NUM_GPUS * NUM_NODES) ))
  if (( accum < 1 || accum * PER_DEVICE_BATCH * NUM_GPUS * NUM_NODES != GLOBAL_BATCH )); then
    echo "GLOBAL_BATCH=$GLOBAL_BATCH is not a multiple of PER_DEVICE_BATCH x GPUs = $(( PER_DEVICE_BATCH * NUM_GPUS * NUM_NODES ))" >&2
    exit 1
  fi
  local launch=(deepspeed --num_gpus "$NUM_GPUS" --master_port "$MASTER_PORT")
  if [[ -n "$HOSTFILE" ]]; then
    launch=(deepspeed --hostfile "$HOSTFILE" --num_nodes "$NUM_NODES" --master_port "$MASTER_PORT")
  fi
  # shellcheck disable=SC2086
  exec "${launch[@]}" --module llava_tc.train \
    --vision "$VISION" --llm "$LLM" --compressor "$COMPRESSOR" --num-visual-tokens "$NUM_VISUAL_TOKENS" \
    --data "$DATA" --image-folder "$IMAGE_FOLDER" --model-max-length "$MAX_LENGTH" \
    --learning-rate "$LR" --per-device-train-batch-size "$PER_DEVICE_BATCH" --gradient-accumulation-steps "$accum" \
    --num-train-epochs "$EPOCHS" --warmup-ratio "$WARMUP" --lr-scheduler-type cosine --weight-decay 0 \
    --bf16 --gradient-checkpointing --deepspeed "$DEEPSPEED" --dataloader-num-workers "$WORKERS" \
    --save-steps 500 --save-total-limit 1 --report-to $REPORT_TO --resume \
    "$@"
}
