"""`llava-tc import-hf-llava HF_LLAVA_DIR RUN_DIR`: an HF LlavaForConditionalGeneration folder as a llava_tc run."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from llava_tc.choices import ASPECTS
    from llava_tc.data.templates import TEMPLATES

    parser.add_argument(
        "hf_dir", type=Path, help="a LlavaForConditionalGeneration folder (weights, tokenizer, processor)"
    )
    parser.add_argument("run_dir", type=Path, help="where to write the llava_tc run (identity + mlp2x_gelu)")
    parser.add_argument(
        "--template",
        choices=sorted(TEMPLATES),
        default=None,
        help="conversation template of the run (default: chat if the tokenizer has a chat template, else vicuna_v1)",
    )
    parser.add_argument(
        "--image-aspect",
        choices=ASPECTS,
        default=None,
        help="image policy (default: pad if the folder's image processor pads to a square, else crop)",
    )


def run(args: argparse.Namespace) -> int:
    from llava_tc.model.import_hf import import_hf_llava

    if not (args.hf_dir / "config.json").is_file():
        raise FileNotFoundError(f"{args.hf_dir}: no config.json; expected a LlavaForConditionalGeneration folder")
    out = import_hf_llava(args.hf_dir, args.run_dir, template=args.template, image_aspect=args.image_aspect)
    print(f"wrote a llava_tc run (identity + mlp2x_gelu) to {out}")
    return 0
