"""`llava-tc data synth` (write the synthetic dataset) and `llava-tc data validate` (scan a LLaVA JSON dataset)."""

from __future__ import annotations

import argparse
import json
import logging
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="data_command", required=True, metavar="{synth,validate}")
    synth = commands.add_parser("synth", help="write the synthetic visual-reasoning dataset (LLaVA JSON + PNG)")
    synth.add_argument("--out", required=True, help="output folder")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--train-scenes", type=int, default=1000)
    synth.add_argument("--eval-scenes", type=int, default=200)
    synth.add_argument("--image-size", type=int, default=336)
    synth.add_argument("--questions-per-scene", type=int, default=4)
    synth.add_argument("--multi-turn-fraction", type=float, default=0.3)
    synth.add_argument(
        "--grid-size", type=int, default=3, choices=(2, 3), help="object grid cells per side (2: bigger objects)"
    )
    synth.add_argument("--min-objects", type=int, default=2)
    synth.add_argument("--max-objects", type=int, default=5)
    synth.add_argument("--no-word", action="store_true", help="draw no word (and ask no ocr question)")

    validate = commands.add_parser("validate", help="tokenise every sample (and open its images) and count bad ones")
    validate.add_argument("--data", required=True, nargs="+", help=".json/.jsonl files or folders of them")
    validate.add_argument("--image-folder", default=None, help="image root (default: each data file's folder)")
    validate.add_argument("--tokenizer", required=True, help="tokenizer folder (AutoTokenizer.from_pretrained)")
    validate.add_argument("--template", default="vicuna_v1", help="plain, vicuna_v1 or chat")
    validate.add_argument(
        "--image-processor", default=None, help="image processor folder; without it images are only checked to exist"
    )
    validate.add_argument(
        "--allow-images-outside-folder", action="store_true", help="accept absolute and ../ image paths"
    )
    validate.add_argument("--model-max-length", type=int, default=2048)
    validate.add_argument("--num-visual-tokens", type=int, default=576)


def _synth(args: argparse.Namespace) -> int:
    from llava_tc.data.synthetic import generate_synthetic

    start = time.perf_counter()
    stats = generate_synthetic(
        args.out,
        seed=args.seed,
        num_train_scenes=args.train_scenes,
        num_eval_scenes=args.eval_scenes,
        image_size=args.image_size,
        questions_per_scene=args.questions_per_scene,
        with_word=not args.no_word,
        multi_turn_fraction=args.multi_turn_fraction,
        min_objects=args.min_objects,
        max_objects=args.max_objects,
        grid_size=args.grid_size,
    )
    print(
        f"wrote {stats.num_images} images and {stats.num_records} records to {args.out}"
        f" in {time.perf_counter() - start:.1f} s"
    )
    print(stats.table())
    return 0


def _validate(args: argparse.Namespace) -> int:
    from transformers import AutoImageProcessor, AutoTokenizer, CLIPImageProcessorPil

    from llava_tc.data.llava_json import DataSource, LlavaJsonDataset
    from llava_tc.model.processing import LlavaTCProcessor
    from llava_tc.tokens import add_image_token

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    add_image_token(tokenizer)
    # Without --image-processor the images are only checked to exist, so the default processor never runs.
    image_processor = (
        AutoImageProcessor.from_pretrained(args.image_processor) if args.image_processor else CLIPImageProcessorPil()
    )
    processor = LlavaTCProcessor(
        image_processor, tokenizer, template=args.template, num_image_tokens=args.num_visual_tokens, needs_query=True
    )
    dataset = LlavaJsonDataset(
        [DataSource(path, args.image_folder) for path in args.data],
        processor,
        model_max_length=args.model_max_length,
        allow_images_outside_folder=args.allow_images_outside_folder,
    )
    counts = dataset.validate(load_images=args.image_processor is not None)
    print(json.dumps({"samples": len(dataset), "bad": dict(counts), "truncated": dataset.truncated}, indent=1))
    return 1 if counts else 0


def run(args: argparse.Namespace) -> int:
    return _synth(args) if args.data_command == "synth" else _validate(args)
