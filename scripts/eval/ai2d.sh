#!/usr/bin/env bash
# AI2D test (option letter, LLaVA-style multiple choice).
# Usage: scripts/eval/ai2d.sh MODEL DATA_ROOT [llava-tc eval flags ...]   (NPROC=8 for 8 GPUs; see _eval.sh)
set -euo pipefail
SPLIT_FLAG=()
if [[ -n "${SPLIT:-}" ]]; then SPLIT_FLAG=(--split "$SPLIT"); fi
exec "$(dirname "$0")/_eval.sh" ai2d "$@" "${SPLIT_FLAG[@]}"
