"""The `llava-tc` command line: one subcommand per subsystem, each imported only when it is run.

A subcommand lives in its own module, which exposes `add_arguments(parser)` and `run(args) -> int`. Importing lazily
keeps `llava-tc --help` instant and keeps heavy or optional libraries out of commands that do not need them.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "info": ("llava_tc.info", "print library versions and the registered compressors, projectors and benchmarks"),
    "data": ("llava_tc.data.cli", "dataset tools (synthetic dataset generation, validation)"),
    "tokenizer": ("llava_tc.tokenizer.cli", "build an offline word-level or BPE tokenizer from a dataset's text"),
    "tower": ("llava_tc.tower.cli", "pretrain a small CLIP vision tower on your own image-caption pairs"),
    "train": ("llava_tc.train.cli", "train a model (pretrain, finetune or lora stage)"),
    "merge-lora": ("llava_tc.train.merge_cli", "merge a LoRA run's adapters into a full model"),
    "sweep": ("llava_tc.train.sweep_cli", "plan, run or inspect a sweep over LLM sizes x token counts"),
    "eval": ("llava_tc.eval.cli", "generate answers on a benchmark and score them"),
    "compare": (
        "llava_tc.eval.compare_cli",
        "training-free compressors at several V on one trained model: a comparison table with FLOPs",
    ),
    "results": ("llava_tc.eval.results_cli", "summarise a results table"),
    "scaling": ("llava_tc.scaling.cli", "inference cost, scaling-law fit and the inference-optimal frontier"),
    "export": (
        "llava_tc.model.export_cli",
        "export an identity + mlp2x_gelu model to HF LlavaForConditionalGeneration (+ LlavaProcessor)",
    ),
    "import-hf-llava": (
        "llava_tc.model.import_cli",
        "import an HF LlavaForConditionalGeneration folder as a llava_tc run",
    ),
    "import-projector": (
        "llava_tc.model.import_projector_cli",
        "load the QueCC or TokenPacker authors' weights into a model folder",
    ),
    "demo": ("llava_tc.demo.cli", "the paper in miniature: synthetic data, a grid of tiny VLMs, eval, law fit, report"),
}


def _top_level_parser() -> argparse.ArgumentParser:
    width = max(map(len, COMMANDS))
    parser = argparse.ArgumentParser(
        prog="llava-tc",
        description="llava_tc: inference-optimal vision-language models with pluggable visual-token compressors.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n" + "\n".join(f"  {name:<{width}} {text}" for name, (_, text) in COMMANDS.items()),
    )
    parser.add_argument("command", choices=sorted(COMMANDS), metavar="command", help="one of the commands below")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Dispatch `llava-tc COMMAND ...` to the module that implements COMMAND."""
    argv = list(sys.argv[1:] if argv is None else argv)
    top = _top_level_parser()
    if not argv or argv[0] in ("-h", "--help"):
        top.print_help()
        return 0
    top.parse_args(argv[:1])
    name = argv[0]
    module_name, text = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"llava-tc {name}", description=text)
    module.add_arguments(parser)
    args = parser.parse_args(argv[1:])
    try:
        return int(module.run(args) or 0)
    except (ValueError, FileNotFoundError) as error:
        print(f"llava-tc {name}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
