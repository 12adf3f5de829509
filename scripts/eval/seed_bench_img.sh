#!/usr/bin/env bash
# SEED-Bench image questions (option letter).
# Usage: scripts/eval/seed_bench_img.sh MODEL DATA_ROOT [llava-tc eval flags ...]   (NPROC=8 for 8 GPUs; see _eval.sh)
set -euo pipefail
SPLIT_FLAG=()
if [[ -n "${SPLIT:-}" ]]; then SPLIT_FLAG=(--split "$SPLIT"); fi
exec "$(dirname "$0")/_eval.sh" seed_bench_img "$@" "${SPLIT_FLAG[@]}"
