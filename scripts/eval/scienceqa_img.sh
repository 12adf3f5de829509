#!/usr/bin/env bash
# ScienceQA-IMG test (option letter).
# Usage: scripts/eval/scienceqa_img.sh MODEL DATA_ROOT [llava-tc eval flags ...]   (NPROC=8 for 8 GPUs; see _eval.sh)
set -euo pipefail
SPLIT_FLAG=()
if [[ -n "${SPLIT:-}" ]]; then SPLIT_FLAG=(--split "$SPLIT"); fi
exec "$(dirname "$0")/_eval.sh" scienceqa_img "$@" "${SPLIT_FLAG[@]}"
