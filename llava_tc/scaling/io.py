"""Load (N, V, error) points for the law from a simple scaling CSV or from the evaluation results table.

Two inputs are accepted, told apart by their columns:
- a scaling CSV: `llm_params_b, num_visual_tokens, accuracy` (optional `llm`), the shipped paper file's format;
- a results table (CSV or JSONL) as written by `llava_tc.eval`: one row per (run, benchmark, metric), `llm_params`
  an integer count. Rows are filtered by benchmark/metric/compressor, averaged per benchmark, then averaged across
  benchmarks with equal weight, per (llm_params, num_visual_tokens).
Every error names the file, the line and the column, and says what would be valid.
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

SCALING_COLUMNS = ("llm_params_b", "num_visual_tokens", "accuracy")
RESULTS_COLUMNS = (
    "run",
    "llm",
    "llm_params",
    "vision_tower",
    "compressor",
    "num_visual_tokens",
    "benchmark",
    "split",
    "metric",
    "value",
    "n",
    "timestamp",
)
PAPER_DATA = "paper_visual_reasoning.csv"


class ScalingDataError(ValueError):
    """Input that cannot be turned into scaling points; the message says where and what is valid."""


@dataclass(frozen=True)
class ScalingPoints:
    """Observations for the law: N in billions, V visual tokens, error = 1 - accuracy, and an LLM label per point."""

    n_b: np.ndarray
    v: np.ndarray
    error: np.ndarray
    llm: tuple[str, ...]
    source: str = "<memory>"

    def __post_init__(self) -> None:
        sizes = {len(self.n_b), len(self.v), len(self.error), len(self.llm)}
        if len(sizes) != 1:
            raise ScalingDataError(f"{self.source}: n_b, v, error and llm must have the same length")

    def __len__(self) -> int:
        return len(self.error)

    def subset(self, mask: np.ndarray) -> ScalingPoints:
        labels = tuple(label for label, keep in zip(self.llm, mask, strict=True) if keep)
        return ScalingPoints(self.n_b[mask], self.v[mask], self.error[mask], labels, self.source)


def points_from_arrays(
    n_b: list[float] | np.ndarray,
    v: list[float] | np.ndarray,
    accuracy: list[float] | np.ndarray,
    llm: list[str] | None = None,
) -> ScalingPoints:
    """Points from in-memory sequences (accuracy in [0, 1]); labels default to the size, e.g. '7B'."""
    n_arr, v_arr, acc = (np.asarray(x, dtype=float) for x in (n_b, v, accuracy))
    labels = tuple(llm) if llm is not None else tuple(f"{n:g}B" for n in n_arr)
    for name, values in (("n_b", n_arr), ("v", v_arr)):
        if not np.all(np.isfinite(values) & (values > 0)):
            raise ScalingDataError(f"{name} must be finite and > 0, got {values.tolist()}")
    if not np.all(np.isfinite(acc) & (acc >= 0) & (acc <= 1)):
        raise ScalingDataError(f"accuracy must be finite and in [0, 1], got {acc.tolist()}")
    return ScalingPoints(n_arr, v_arr, 1.0 - acc, labels)


def _number(raw: object, where: str, column: str, valid: str, integer: bool = False) -> float:
    text = str(raw).strip() if raw is not None else ""
    try:
        value = float(text)
    except ValueError:
        raise ScalingDataError(f"{where}, column {column!r}: {text!r} is not a number; expected {valid}") from None
    if not math.isfinite(value):
        raise ScalingDataError(f"{where}, column {column!r}: {text!r} is not a finite number; expected {valid}")
    if integer and value != int(value):
        raise ScalingDataError(f"{where}, column {column!r}: {text!r} is not an integer; expected {valid}")
    return value


def _positive(raw: object, where: str, column: str, valid: str, integer: bool = False) -> float:
    value = _number(raw, where, column, valid, integer)
    if value <= 0:
        raise ScalingDataError(f"{where}, column {column!r}: {raw!r} is not valid; expected {valid}")
    return value


def _score(raw: object, where: str, column: str) -> float:
    valid = "a score in [0, 1] (higher is better)"
    value = _number(raw, where, column, valid)
    if not 0.0 <= value <= 1.0:
        raise ScalingDataError(f"{where}, column {column!r}: {raw!r} is out of range; expected {valid}")
    return value


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, object]]]]:
    """Column names and (line number, row) pairs from a CSV or a JSONL file."""
    if not path.is_file():
        raise ScalingDataError(f"{path}: no such file")
    if path.suffix in (".jsonl", ".json"):
        rows: list[tuple[int, dict[str, object]]] = []
        columns: list[str] = []
        for line_no, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise ScalingDataError(f"{path}, line {line_no}: not valid JSON ({err})") from err
            if not isinstance(row, dict):
                raise ScalingDataError(f"{path}, line {line_no}: expected a JSON object per line")
            columns.extend(key for key in row if key not in columns)
            rows.append((line_no, row))
        return columns, rows
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        columns = [name.strip() for name in reader.fieldnames or []]
        reader.fieldnames = columns
        return columns, [(index + 2, dict(row)) for index, row in enumerate(reader)]


def _load_scaling_csv(path: Path, rows: list[tuple[int, dict[str, object]]]) -> ScalingPoints:
    n_b, v, acc, labels = [], [], [], []
    for line_no, row in rows:
        where = f"{path}, line {line_no}"
        n_b.append(_positive(row.get("llm_params_b"), where, "llm_params_b", "LLM size in billions, > 0"))
        v.append(_positive(row.get("num_visual_tokens"), where, "num_visual_tokens", "an integer >= 1", integer=True))
        acc.append(_score(row.get("accuracy"), where, "accuracy"))
        label = str(row.get("llm") or "").strip()
        labels.append(label or f"{n_b[-1]:g}B")
    return ScalingPoints(np.array(n_b), np.array(v), 1.0 - np.array(acc), tuple(labels), str(path))


def _choose(path: Path, what: str, present: set[str], chosen: list[str] | None, flag: str) -> set[str]:
    """The chosen values of one column; with none chosen, the only value present (an error if there are several)."""
    if chosen:
        missing = sorted(set(chosen) - present)
        if missing:
            raise ScalingDataError(f"{path}: no rows with {what} {missing}; valid: {sorted(present)}")
        return set(chosen)
    if len(present) > 1:
        raise ScalingDataError(f"{path}: rows hold several {what} values {sorted(present)}; pick with {flag}")
    return present


def _load_results_table(
    path: Path,
    rows: list[tuple[int, dict[str, object]]],
    benchmarks: list[str] | None,
    metric: str | None,
    compressor: str | None,
) -> ScalingPoints:
    all_benchmarks = {str(row.get("benchmark")) for _, row in rows}
    wanted_benchmarks = set(benchmarks) if benchmarks else all_benchmarks
    _choose(path, "benchmark", all_benchmarks, sorted(wanted_benchmarks), "--benchmark")
    rows = [(line, row) for line, row in rows if str(row.get("benchmark")) in wanted_benchmarks]
    present = {str(r.get("compressor")) for _, r in rows}
    compressors = _choose(path, "compressor", present, [compressor] if compressor else None, "--compressor")
    rows = [(line, row) for line, row in rows if str(row.get("compressor")) in compressors]
    for name in sorted(wanted_benchmarks):
        metrics = {str(r.get("metric")) for _, r in rows if str(r.get("benchmark")) == name}
        _choose(path, f"metric of benchmark {name!r}", metrics, [metric] if metric else None, "--metric")
    if metric:
        rows = [(line, row) for line, row in rows if str(row.get("metric")) == metric]

    per_benchmark: dict[tuple[int, int], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    names: dict[int, str] = {}
    for line_no, row in rows:
        where = f"{path}, line {line_no}"
        params = int(_positive(row.get("llm_params"), where, "llm_params", "a parameter count (integer) > 0", True))
        tokens = int(_positive(row.get("num_visual_tokens"), where, "num_visual_tokens", "an integer >= 1", True))
        per_benchmark[(params, tokens)][str(row.get("benchmark"))].append(_score(row.get("value"), where, "value"))
        names.setdefault(params, str(row.get("llm")))
    if not per_benchmark:
        raise ScalingDataError(f"{path}: no rows left after filtering by benchmark, metric and compressor")
    n_b, v, acc, labels = [], [], [], []
    for (params, tokens), scores in sorted(per_benchmark.items()):
        missing = sorted(wanted_benchmarks - set(scores))
        if missing:
            raise ScalingDataError(
                f"{path}: llm_params={params}, num_visual_tokens={tokens} has no rows for benchmark(s) {missing}; "
                "every (LLM, token count) needs every chosen benchmark, or pick benchmarks with --benchmark"
            )
        n_b.append(params / 1e9)
        v.append(tokens)
        acc.append(float(np.mean([np.mean(values) for _, values in sorted(scores.items())])))
        labels.append(names[params])
    return ScalingPoints(np.array(n_b), np.array(v, dtype=float), 1.0 - np.array(acc), tuple(labels), str(path))


def load_points(
    path: str | Path,
    benchmarks: list[str] | None = None,
    metric: str | None = None,
    compressor: str | None = None,
) -> ScalingPoints:
    """Read a scaling CSV or a results table; benchmark/metric/compressor filters apply to results tables only."""
    path = Path(path)
    columns, rows = _read_rows(path)
    if all(name in columns for name in SCALING_COLUMNS):
        points = _load_scaling_csv(path, rows)
    elif all(name in columns for name in RESULTS_COLUMNS):
        points = _load_results_table(path, rows, benchmarks, metric, compressor)
    else:
        closest = SCALING_COLUMNS if "accuracy" in columns or "llm_params_b" in columns else RESULTS_COLUMNS
        missing = [name for name in closest if name not in columns]
        raise ScalingDataError(
            f"{path}: missing column(s) {missing}; expected either a scaling CSV with columns "
            f"{', '.join(SCALING_COLUMNS)} (optional llm) or a results table with columns {', '.join(RESULTS_COLUMNS)}"
        )
    if len(points) == 0:
        raise ScalingDataError(f"{path}: no data rows")
    return points


def paper_data_path() -> Path:
    """The shipped paper grid (Qwen-1.5 0.5/1.8/4/7B x V in 1..576, average visual-reasoning accuracy)."""
    return Path(str(resources.files("llava_tc.scaling") / "data" / PAPER_DATA))


def load_paper_points() -> ScalingPoints:
    return load_points(paper_data_path())
