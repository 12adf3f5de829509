#!/usr/bin/env bash
# MathVista testmini (rule-based answer extraction).
# Usage: scripts/eval/mathvista.sh MODEL DATA_ROOT [llava-tc eval flags ...]   (NPROC=8 for 8 GPUs; see _eval.sh)
set -euo pipefail
SPLIT_FLAG=()
if [[ -n "${SPLIT:-}" ]]; then SPLIT_FLAG=(--split "$SPLIT"); fi
exec "$(dirname "$0")/_eval.sh" mathvista "$@" "${SPLIT_FLAG[@]}"
