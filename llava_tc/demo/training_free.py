"""The demo's training-free rows: random, VisionZip, FastV and DivPrune at V = 1, 4, 16 on the grid's full-count
run of each LLM size, beside the trained compressors at the same V, with the FLOPs of one inference.

`pool` at V = P (every patch, kernel 1) computes exactly what `identity` computes, so the grid's `pool-...-v64` run
of each size is the trained identity model the training-free methods are applied to: nothing extra is trained. A
plan without that run (the quick plan) gets no training-free rows. FastV prunes after layer K = 2 (the authors'
setting), capped at the LLM's depth minus one; a 1-layer LLM has no layer to prune after and gets no FastV row.
Scores go to `DIR/training_free/results.jsonl` (the law fit reads only the grid's), the table to the report.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from llava_tc.demo.grid import BENCHMARK, STAGE, DemoPlan, LLMSize, run_id
from llava_tc.eval.compare import TRAINING_FREE, ComparisonCell, MethodSpec, format_comparison, inference_flops

TOKENS = (1, 4, 16)
OUT_DIR = "training_free"
SECTION = "## Training-free compressors beside the trained ones"
FASTV_LAYER = 2
BASE_COMPRESSOR = "pool"


def full_count(plan: DemoPlan) -> int:
    return (plan.image_size // plan.patch_size) ** 2


def base_run(plan: DemoPlan, out: Path, size: LLMSize) -> Path | None:
    """The trained full-count `pool` run of this size (= identity), or None when the plan has none."""
    if BASE_COMPRESSOR not in plan.compressors or full_count(plan) not in plan.token_counts:
        return None
    folder = out / "runs" / run_id(BASE_COMPRESSOR, size, full_count(plan)) / STAGE
    return folder if (folder / "config.json").is_file() else None


def methods_for(size: LLMSize) -> list[MethodSpec]:
    specs = []
    for name in TRAINING_FREE:
        if name == "fastv":
            if size.num_layers < 2:
                continue
            specs.append(MethodSpec(name, {"layer": min(FASTV_LAYER, size.num_layers - 1)}))
        else:
            specs.append(MethodSpec(name))
    return specs


def evaluate_training_free(
    plan: DemoPlan, out: Path, batch_size: int, text_tokens: float, tokens: tuple[int, ...] = TOKENS
) -> list[ComparisonCell]:
    """Every training-free method at `tokens` on each size's full-count run (resumable like every evaluation)."""
    from llava_tc.eval.benchmarks import get_benchmark
    from llava_tc.eval.compare import compare_methods
    from llava_tc.eval.loading import load_for_eval

    cells: list[ComparisonCell] = []
    for size in plan.sizes:
        folder = base_run(plan, out, size)
        if folder is None:
            continue
        loaded = dataclasses.replace(load_for_eval(folder), name=run_id(BASE_COMPRESSOR, size, full_count(plan)))
        cells += compare_methods(
            loaded,
            methods_for(size),
            tokens,
            [(get_benchmark(BENCHMARK), out / "data")],
            out / OUT_DIR / size.name,
            text_tokens=round(text_tokens),
            results_path=out / OUT_DIR / "results.jsonl",
            batch_size=batch_size,
            progress=False,
        )
    return cells


def trained_cells(
    plan: DemoPlan, out: Path, results: Path, text_tokens: float, tokens: tuple[int, ...] = TOKENS
) -> list[ComparisonCell]:
    """The grid's trained compressors at `tokens`, as comparison cells with their FLOPs (same cost model)."""
    from llava_tc.eval.results import read_results
    from llava_tc.model.configuration import LlavaTCConfig

    rows = {r.run: r for r in read_results(results) if r.benchmark == BENCHMARK and r.metric == "accuracy"}
    cells = []
    for size in plan.sizes:
        for compressor in plan.compressors:
            for count in tokens:
                row = rows.get(run_id(compressor, size, count))
                if row is None:
                    continue
                config = LlavaTCConfig.from_pretrained(out / "runs" / row.run / STAGE)
                flops = inference_flops(config, MethodSpec(compressor), count, round(text_tokens))
                cells.append(ComparisonCell(row.llm, compressor, count, BENCHMARK, row.metric, row.value, flops))
    return cells


def _mean(cells: list[ComparisonCell], method: str, llms: set[str]) -> float:
    values = [c.value for c in cells if c.method == method and c.llm in llms]
    return sum(values) / len(values)


def finding(cells: list[ComparisonCell], trained: set[str]) -> str:
    """Per V: the training-free method closest to the best trained compressor, each compared on the LLM sizes both
    were scored on (FastV has no 1-layer row), by mean accuracy."""
    lines = []
    for tokens in sorted({c.tokens for c in cells}):
        at = [c for c in cells if c.tokens == tokens]
        scored = {m: {c.llm for c in at if c.method == m} for m in dict.fromkeys(c.method for c in at)}
        common = set.intersection(*(scored[m] for m in scored if m in trained)) if trained & set(scored) else set()
        gaps = []
        for method in (m for m in scored if m not in trained):
            llms = scored[method] & common
            if llms:
                best = max((m for m in scored if m in trained), key=lambda m, llms=llms: _mean(at, m, llms))
                gaps.append((_mean(at, method, llms) - _mean(at, best, llms), method, best, llms))
        if not gaps:
            continue
        _, method, best, llms = max(gaps, key=lambda item: item[0])
        free, kept = _mean(at, method, llms), _mean(at, best, llms)
        verdict = "falls behind" if free < kept else "keeps up with"
        lines.append(
            f"- V = {tokens}: the best training-free method ({method}, {100 * free:.1f}%) {verdict} the best "
            f"trained compressor ({best}, {100 * kept:.1f}%), mean accuracy over the {len(llms)} LLM size(s) both "
            "were scored on."
        )
    return "\n".join(lines)


def append_section(
    plan: DemoPlan,
    out: Path,
    report: Path,
    results: Path,
    text_tokens: float,
    batch_size: int,
    tokens: tuple[int, ...] = TOKENS,
) -> None:
    """Evaluate the training-free rows at `tokens` and append their table and finding to the report."""
    free = evaluate_training_free(plan, out, batch_size, text_tokens, tokens)
    if not free:
        text = f"\n{SECTION}\n\nThis plan has no full-count `{BASE_COMPRESSOR}` run to apply them to.\n"
    else:
        trained = trained_cells(plan, out, results, text_tokens, tokens)
        cells = trained + free
        text = (
            f"\n{SECTION}\n\nEach training-free method is applied at inference to the full-count `{BASE_COMPRESSOR}` "
            f"run of each size (= identity), on the same questions and scorer; GFLOPs of one inference (vision, "
            f"selection, projector, prefill with Q = {text_tokens:g}) from the stage-by-stage cost model.\n\n"
            f"{format_comparison(cells)}\n{finding(cells, set(plan.compressors))}\n"
        )
    with report.open("a", encoding="utf-8") as handle:
        handle.write(text)
