#!/usr/bin/env bash
# Shared by scripts/eval/<benchmark>.sh: `_eval.sh BENCHMARK MODEL DATA_ROOT [llava-tc eval flags ...]`.
# Environment: NPROC (processes; > 1 launches `torchrun --nproc_per_node NPROC`, one per GPU), OUT (output folder,
# default MODEL/eval/BENCHMARK), RESULTS (results table, default results/results.csv), BATCH_SIZE (default 8),
# MASTER_PORT (torchrun rendezvous port, default 29501). A rerun with the same OUT resumes.
set -euo pipefail

if (( $# < 3 )); then
  echo "usage: $(basename "$0") BENCHMARK MODEL DATA_ROOT [llava-tc eval flags ...]" >&2
  exit 2
fi
BENCHMARK=$1
MODEL=$2
DATA_ROOT=$3
shift 3

NPROC=${NPROC:-1}
OUT=${OUT:-${MODEL%/}/eval/${BENCHMARK}}
RESULTS=${RESULTS:-results/results.csv}
BATCH_SIZE=${BATCH_SIZE:-8}
MASTER_PORT=${MASTER_PORT:-29501}

if (( NPROC > 1 )); then
  LAUNCH=(torchrun --nproc_per_node "$NPROC" --master_port "$MASTER_PORT" -m llava_tc)
else
  LAUNCH=(llava-tc)
fi

exec "${LAUNCH[@]}" eval --model "$MODEL" --benchmark "$BENCHMARK" --data-root "$DATA_ROOT" \
  --out "$OUT" --results "$RESULTS" --batch-size "$BATCH_SIZE" "$@"
