#!/usr/bin/env bash
# ChartQA test (relaxed accuracy, human + augmented).
# Usage: scripts/eval/chartqa.sh MODEL DATA_ROOT [llava-tc eval flags ...]   (NPROC=8 for 8 GPUs; see _eval.sh)
set -euo pipefail
SPLIT_FLAG=()
if [[ -n "${SPLIT:-}" ]]; then SPLIT_FLAG=(--split "$SPLIT"); fi
exec "$(dirname "$0")/_eval.sh" chartqa "$@" "${SPLIT_FLAG[@]}"
