#!/usr/bin/env bash
# TextVQA val with reference OCR tokens in the prompt (LLaVA-1.5).
# Usage: scripts/eval/textvqa_ocr.sh MODEL DATA_ROOT [llava-tc eval flags ...]   (NPROC=8 for 8 GPUs; see _eval.sh)
set -euo pipefail
SPLIT_FLAG=()
if [[ -n "${SPLIT:-}" ]]; then SPLIT_FLAG=(--split "$SPLIT"); fi
exec "$(dirname "$0")/_eval.sh" textvqa_ocr "$@" "${SPLIT_FLAG[@]}"
