"""Evaluation throughput: questions/s of `llava-tc eval`'s generation loop, batch 1 vs batch 16, on tiny models.

Run `python -m bench.eval_throughput [--compressors quecc identity] [--scenes 10] [--repeats 3]`. It writes a synthetic
eval set (48 px images) to a temporary folder, builds tiny random VLMs (CLIP 4 layers + Llama 2 layers, word-level
tokenizer of the dataset), and times `answer_batches` over the whole set (image loading, prompt encoding, collation,
greedy generation with KV cache, decoding) at each batch size, in interleaved rounds (bench.harness). It also times one
whole `evaluate()` call (answers file, scoring, scores.json) at the largest batch size, the per-call cost the demo pays.
Results: `bench/results/eval_throughput_<stamp>.json` and `eval_throughput_latest.json`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from transformers import CLIPVisionConfig, LlamaConfig

from bench.harness import interleaved, machine_description, paired_ratio, summarize, write_results
from llava_tc.data.synthetic import generate_synthetic
from llava_tc.eval.benchmarks import get_benchmark
from llava_tc.eval.loading import EvalModel, wrap_model
from llava_tc.eval.runner import AnswerGenerator, answer_batches, evaluate
from llava_tc.model import build_model
from llava_tc.tokenizer import build_word_tokenizer, dataset_texts
from llava_tc.tokens import add_image_token

RESULTS = Path(__file__).parent / "results"
IMAGE_SIZE = 48
TOKENS = {"identity": None, "pool": 4, "tokenpacker": 4, "quecc": 4}


def tiny_model(data_dir: Path, compressor: str) -> EvalModel:
    tokenizer = build_word_tokenizer(dataset_texts(data_dir))
    add_image_token(tokenizer)
    torch.manual_seed(0)
    vision = CLIPVisionConfig(
        hidden_size=64, intermediate_size=128, num_hidden_layers=4, num_attention_heads=4, image_size=IMAGE_SIZE,
        patch_size=4,
    )  # fmt: skip
    llm = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, bos_token_id=None, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    model = build_model(vision, llm, compressor=compressor, num_visual_tokens=TOKENS[compressor], tokenizer=tokenizer)
    return wrap_model(model.model.eval(), tokenizer, template="chat", name=f"tiny-{compressor}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compressors", nargs="+", default=["quecc", "identity"], choices=sorted(TOKENS))
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 16])
    parser.add_argument("--scenes", type=int, default=10, help="eval scenes (about 5 questions each)")
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "synthetic"
        generate_synthetic(data_dir, seed=0, num_train_scenes=2, num_eval_scenes=args.scenes, image_size=IMAGE_SIZE)
        samples = get_benchmark("synthetic").load(data_dir)
        for compressor in args.compressors:
            loaded = tiny_model(data_dir, compressor)
            generator = AnswerGenerator(loaded)

            def run_all(batch_size: int, generator: AnswerGenerator = generator) -> None:
                for _ in answer_batches(generator, samples, batch_size, args.max_new_tokens):
                    pass

            contenders = {f"batch {b}": (lambda b=b: run_all(b)) for b in args.batch_sizes}
            seconds = interleaved(contenders, warmup=1, repeats=args.repeats)
            start = time.perf_counter()
            evaluate(
                loaded, "synthetic", data_dir, Path(tmp) / f"out-{compressor}", batch_size=max(args.batch_sizes),
                max_new_tokens=args.max_new_tokens, progress=False,
            )  # fmt: skip
            evaluate_s = time.perf_counter() - start
            for name, times in seconds.items():
                stats = summarize(times)
                rows.append(
                    {
                        "compressor": compressor,
                        "num_visual_tokens": loaded.model.num_visual_tokens,
                        "batch_size": int(name.split()[1]),
                        "questions": len(samples),
                        "seconds": stats,
                        "samples_per_s": round(len(samples) / stats.median, 2),
                    }
                )
            smallest, largest = (f"batch {b}" for b in (min(args.batch_sizes), max(args.batch_sizes)))
            speedup = paired_ratio(seconds[smallest], seconds[largest])
            rows.append(
                {
                    "compressor": compressor,
                    "evaluate_call_s": round(evaluate_s, 3),
                    "questions": len(samples),
                    "speedup": speedup,
                    "speedup_of": f"{largest} over {smallest} (median of per-round ratios)",
                }
            )

    print(f"{'compressor':<12} {'V':>4} {'batch':>6} {'questions/s':>12} {'median s':>9} {'IQR s':>7}")
    for row in rows:
        if "samples_per_s" in row:
            stats = row["seconds"]
            print(
                f"{row['compressor']:<12} {row['num_visual_tokens']:>4} {row['batch_size']:>6} "
                f"{row['samples_per_s']:>12.1f} {stats.median:>9.2f} {stats.iqr:>7.2f}"
            )
        else:
            print(
                f"{row['compressor']:<12} {row['speedup_of']}: x{row['speedup'].median:.2f}; "
                f"one evaluate() call, {row['questions']} questions: {row['evaluate_call_s']} s"
            )
    payload = {
        "benchmark": "eval_throughput",
        "machine": machine_description(),
        "settings": vars(args),
        "rows": rows,
    }
    path = write_results(RESULTS, "eval_throughput", payload)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
