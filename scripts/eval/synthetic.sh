#!/usr/bin/env bash
# the synthetic visual-reasoning eval split (DATA_ROOT = the dataset folder from `llava-tc data synth`).
# Usage: scripts/eval/synthetic.sh MODEL DATA_ROOT [llava-tc eval flags ...]   (NPROC=8 for 8 GPUs; see _eval.sh)
set -euo pipefail
SPLIT_FLAG=()
if [[ -n "${SPLIT:-}" ]]; then SPLIT_FLAG=(--split "$SPLIT"); fi
exec "$(dirname "$0")/_eval.sh" synthetic "$@" "${SPLIT_FLAG[@]}"
