#!/usr/bin/env bash
# Run (or plan, or submit to SLURM) a sweep: scripts/sweep.sh [plan|run|status|slurm] [SWEEP_FILE]
set -euo pipefail
ACTION=${1:-plan}
SWEEP=${2:-${SWEEP:-configs/sweeps/paper.yaml}}
case "$ACTION" in
  plan|run|status) exec llava-tc sweep "$ACTION" "$SWEEP" ;;
  slurm) llava-tc sweep plan "$SWEEP" --slurm > "${SWEEP%.yaml}.sbatch" && exec sbatch "${SWEEP%.yaml}.sbatch" ;;
  *) echo "usage: $0 [plan|run|status|slurm] [SWEEP_FILE]" >&2; exit 2 ;;
esac
