"""`llava-tc tokenizer build`: an offline tokenizer from a LLaVA-JSON dataset's text, saved as an HF folder."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from llava_tc.tokenizer.build import KINDS

    commands = parser.add_subparsers(dest="tokenizer_command", required=True, metavar="{build}")
    build = commands.add_parser("build", help="build a word-level or BPE tokenizer from the dataset's own text")
    build.add_argument("--data", required=True, nargs="+", help=".json/.jsonl files or folders of them")
    build.add_argument("--out", required=True, help="output folder (AutoTokenizer.from_pretrained loads it)")
    build.add_argument("--kind", choices=KINDS, default="word", help="word: one id per word; bpe: subword pieces")
    build.add_argument("--vocab-size", type=int, default=1000, help="BPE only: the vocabulary's size at most")
    build.add_argument("--extra-text", nargs="*", default=[], help="more texts whose words the vocabulary must hold")


def run(args: argparse.Namespace) -> int:
    from llava_tc.tokenizer import build_tokenizer, dataset_texts

    texts = dataset_texts(args.data)
    tokenizer = build_tokenizer(texts, args.kind, args.extra_text, args.vocab_size)
    tokenizer.save_pretrained(args.out)
    print(f"{args.kind} tokenizer: {len(tokenizer)} entries from {len(texts)} texts, saved to {args.out}")
    return 0
