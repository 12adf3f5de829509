"""`python -m llava_tc.train ...`: the same as `llava-tc train ...` (what the `deepspeed` launcher runs)."""

import argparse
import sys

from llava_tc.train.cli import add_arguments, run


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m llava_tc.train", description="train a llava_tc model")
    add_arguments(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
