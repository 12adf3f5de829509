"""`llava-tc train`: a config file and/or one flag per config field (LLaVA's spellings too); flags override the file.

The config is read and validated before anything heavy is imported, so a mistyped value fails in seconds.
"""

from __future__ import annotations

import argparse
import logging
import os

from llava_tc.train.flags import add_config_arguments, config_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    # The deepspeed launcher appends --local_rank=N; the rank also arrives as LOCAL_RANK in the environment.
    parser.add_argument("--local_rank", "--local-rank", type=int, default=-1, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    rank = int(os.environ.get("RANK", "0"))
    logging.basicConfig(
        level=logging.INFO if rank == 0 else logging.WARNING,
        format=f"%(asctime)s [rank{rank}] %(levelname)s %(name)s: %(message)s",
    )
    config = config_from_args(args)  # every value checked before the model code is even imported
    from llava_tc.train.run import train

    result = train(config)
    if rank == 0:
        state = "already finished" if result.skipped else f"{result.global_step} steps"
        print(f"{result.run_dir}: {result.stage} {state}, loss {result.first_loss} -> {result.final_loss}")
    return 0
