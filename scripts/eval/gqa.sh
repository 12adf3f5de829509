#!/usr/bin/env bash
# GQA testdev-balanced (exact match, LLaVA-1.5 protocol).
# Usage: scripts/eval/gqa.sh MODEL DATA_ROOT [llava-tc eval flags ...]   (NPROC=8 for 8 GPUs; see _eval.sh)
set -euo pipefail
SPLIT_FLAG=()
if [[ -n "${SPLIT:-}" ]]; then SPLIT_FLAG=(--split "$SPLIT"); fi
exec "$(dirname "$0")/_eval.sh" gqa "$@" "${SPLIT_FLAG[@]}"
