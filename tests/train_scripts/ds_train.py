"""Train the tiny model under DeepSpeed ZeRO-2 and ZeRO-3 (full stage) and ZeRO-3 (pretrain stage), in one process or
under `deepspeed --num_gpus N` on CPU (gloo), saving a checkpoint at the last step. Rank 0 writes {run name:
first-step loss} to OUT/results.json.

    python tests/train_scripts/ds_train.py --assets DIR --out DIR --global-batch 4
    deepspeed --num_gpus 2 tests/train_scripts/ds_train.py --assets DIR --out DIR --global-batch 4
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from llava_tc.train import train
from tests.train_scripts.common import prepare_assets, tiny_config

REPO = Path(__file__).resolve().parents[2]
RUNS = {
    "zero2-full": ("full", "zero2.json"),
    "zero3-full": ("full", "zero3.json"),
    "zero3-pretrain": ("pretrain", "zero3.json"),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assets", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--global-batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--local_rank", type=int, default=-1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    assets = prepare_assets(args.assets)
    results = {}
    for name, (stage, zero) in RUNS.items():
        config = tiny_config(
            assets,
            args.out / name,
            stage,
            "quecc",
            max_steps=args.steps,
            save_steps=args.steps,
            per_device_train_batch_size=args.global_batch // world,
            group_by_modality_length=False,
            deepspeed=str(REPO / "configs" / "deepspeed" / zero),
        )
        results[name] = train(config).first_loss
    if int(os.environ.get("RANK", "0")) == 0:
        (args.out / "results.json").write_text(json.dumps(results))
    torch.distributed.barrier()


if __name__ == "__main__":
    main()
