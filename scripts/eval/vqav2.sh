#!/usr/bin/env bash
# VQAv2 test-dev (writes the EvalAI submission file); SPLIT=val scores locally.
# Usage: scripts/eval/vqav2.sh MODEL DATA_ROOT [llava-tc eval flags ...]   (NPROC=8 for 8 GPUs; see _eval.sh)
set -euo pipefail
SPLIT_FLAG=()
if [[ -n "${SPLIT:-}" ]]; then SPLIT_FLAG=(--split "$SPLIT"); fi
exec "$(dirname "$0")/_eval.sh" vqav2 "$@" "${SPLIT_FLAG[@]}"
