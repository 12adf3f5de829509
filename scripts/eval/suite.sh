#!/usr/bin/env bash
# Evaluate one model on a list of benchmarks, then print the results summary (paper-style average).
# Usage: scripts/eval/suite.sh MODEL DATA_ROOT [llava-tc eval flags ...]
# BENCHMARKS (default: the paper's nine) chooses the list; NPROC, RESULTS, BATCH_SIZE as in _eval.sh. A benchmark that
# fails does not stop the others; the script exits 1 at the end if any failed (rerun it: finished ones resume instantly).
set -uo pipefail

if (( $# < 2 )); then
  echo "usage: $(basename "$0") MODEL DATA_ROOT [llava-tc eval flags ...]" >&2
  exit 2
fi
HERE=$(dirname "$0")
BENCHMARKS=${BENCHMARKS:-mme gqa ai2d mmbench mmmu scienceqa_img mathvista pope chartqa}
export RESULTS=${RESULTS:-results/results.csv}
FAILED=()
for benchmark in $BENCHMARKS; do
  echo "== $benchmark"
  OUT= "$HERE/_eval.sh" "$benchmark" "$@" || FAILED+=("$benchmark")  # OUT= : one folder per benchmark
done
if [[ -f "$RESULTS" ]]; then
  llava-tc results summary "$RESULTS" --benchmarks $BENCHMARKS
fi
if (( ${#FAILED[@]} )); then
  echo "failed: ${FAILED[*]}" >&2
  exit 1
fi
