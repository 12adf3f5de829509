"""Load (N, V, error) points for the law from a simple scaling CSV or from the evaluation results table.

Two inputs are accepted, told apart by their columns:
- a scaling CSV: `llm_params_b, num_visual_tokens, accuracy` (optional `llm`; optional `score_max` when the accuracy
  is not a fraction, e.g. 100 for percentages), the shipped paper files' format;
- a results table (CSV or JSONL) as written by `llava_tc.eval`: one row per (run, benchmark, metric), `llm_params`
  an integer count. Rows are kept for one scoring protocol only (`protocol`, default "official"; the protocols are
  never mixed in one fit), then filtered by benchmark/metric/compressor; each score is divided by its declared
  maximum (`llava_tc.scaling.normalise`: MME points, percentages, fractions), averaged per benchmark, then averaged
  across benchmarks with equal weight, per (llm_params, num_visual_tokens).
Every error names the file, the line and the column, and says what would be valid.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from llava_tc.eval.benchmarks.base import DEFAULT_PROTOCOL, PROTOCOLS
from llava_tc.eval.results import LEGACY_PROTOCOL
from llava_tc.scaling.normalise import declared_maximum, default_metric

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
PAPER_DATA = {"reasoning": "paper_visual_reasoning.csv", "ocr": "paper_ocr.csv"}
"""The paper's shipped grids by task family (see `paper_data_path`)."""


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
    protocol: str | None = None
    """The scoring protocol of the results rows these points come from (None: a scaling CSV or arrays)."""
    other_protocol_rows: int = 0
    """Rows of the results table scored by another protocol, left out of these points."""

    def __post_init__(self) -> None:
        sizes = {len(self.n_b), len(self.v), len(self.error), len(self.llm)}
        if len(sizes) != 1:
            raise ScalingDataError(f"{self.source}: n_b, v, error and llm must have the same length")

    def __len__(self) -> int:
        return len(self.error)

    @property
    def description(self) -> str:
        """The source, with the scoring protocol fitted and the rows of other protocols left out."""
        if self.protocol is None:
            return self.source
        return f"{self.source} [protocol {self.protocol}; {self.other_protocol_rows} rows of other protocols left out]"

    def subset(self, mask: np.ndarray) -> ScalingPoints:
        labels = tuple(label for label, keep in zip(self.llm, mask, strict=True) if keep)
        return dataclasses.replace(self, n_b=self.n_b[mask], v=self.v[mask], error=self.error[mask], llm=labels)


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


def _score(raw: object, where: str, column: str, maximum: float = 1.0, declare: str = "") -> float:
    """A score in [0, maximum], returned as a fraction of `maximum`; `declare` says how to change the maximum."""
    valid = f"a score in [0, {maximum:g}] (higher is better)"
    value = _number(raw, where, column, valid)
    if not 0.0 <= value <= maximum:
        raise ScalingDataError(f"{where}, column {column!r}: {raw!r} is out of range; expected {valid}{declare}")
    return value / maximum


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
    declare = "; a score on another scale needs a score_max column (e.g. 100 for percentages, 2800 for MME)"
    for line_no, row in rows:
        where = f"{path}, line {line_no}"
        n_b.append(_positive(row.get("llm_params_b"), where, "llm_params_b", "LLM size in billions, > 0"))
        v.append(_positive(row.get("num_visual_tokens"), where, "num_visual_tokens", "an integer >= 1", integer=True))
        raw_max = row.get("score_max")
        maximum = 1.0 if raw_max in (None, "") else _positive(raw_max, where, "score_max", "a maximum score > 0")
        acc.append(_score(row.get("accuracy"), where, "accuracy", maximum, declare))
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


def _metric_per_benchmark(
    path: Path,
    rows: list[tuple[int, dict[str, object]]],
    benchmarks: set[str],
    metric: str | None,
    metrics: Mapping[str, str] | None,
) -> dict[str, str]:
    """The metric of each benchmark: `metrics[b]`, else `metric`, else the only one, else the registered primary."""
    chosen = {}
    for name in sorted(benchmarks):
        present = {str(r.get("metric")) for _, r in rows if str(r.get("benchmark")) == name}
        wanted = (metrics or {}).get(name, metric)
        if wanted is None and len(present) > 1:
            wanted = default_metric(name, present)
        flag = f"--metric (or --metric {name}=METRIC)"
        (chosen[name],) = _choose(path, f"metric of benchmark {name!r}", present, [wanted] if wanted else None, flag)
    return chosen


def check_protocol(protocol: str) -> str:
    """`protocol`, if it is one of PROTOCOLS (a ValueError that lists them otherwise)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown scoring protocol {protocol!r}; valid: {', '.join(PROTOCOLS)}")
    return protocol


def _row_protocol(row: dict[str, object], where: str) -> str:
    """A row's scoring protocol; a row without the column (a table from before it) is LEGACY_PROTOCOL."""
    raw = row.get("protocol", LEGACY_PROTOCOL)
    if raw not in PROTOCOLS:
        raise ScalingDataError(
            f"{where}, column 'protocol': {raw!r} is not a scoring protocol; expected one of {', '.join(PROTOCOLS)}"
        )
    return str(raw)


def _of_protocol(
    path: Path, rows: list[tuple[int, dict[str, object]]], protocol: str
) -> list[tuple[int, dict[str, object]]]:
    """The rows scored by `protocol`; an error naming the protocols present when there are none."""
    protocols = [_row_protocol(row, f"{path}, line {line}") for line, row in rows]
    if protocol not in protocols:
        raise ScalingDataError(
            f"{path}: no rows scored by protocol {protocol!r}; the table holds {sorted(set(protocols))} (rows "
            f"without a protocol column are {LEGACY_PROTOCOL!r}, from before the column existed); pick one with "
            "--protocol"
        )
    return [entry for entry, of in zip(rows, protocols, strict=True) if of == protocol]


def _load_results_table(
    path: Path,
    rows: list[tuple[int, dict[str, object]]],
    benchmarks: list[str] | None,
    metric: str | None,
    compressor: str | None,
    metrics: Mapping[str, str] | None = None,
    scales: Mapping[str, float] | None = None,
    protocol: str = DEFAULT_PROTOCOL,
) -> ScalingPoints:
    kept = _of_protocol(path, rows, protocol)
    other_protocol_rows = len(rows) - len(kept)
    rows = kept
    all_benchmarks = {str(row.get("benchmark")) for _, row in rows}
    wanted_benchmarks = set(benchmarks) if benchmarks else all_benchmarks
    _choose(path, "benchmark", all_benchmarks, sorted(wanted_benchmarks), "--benchmark")
    unknown = sorted(set(scales or {}) - wanted_benchmarks)
    if unknown:
        raise ScalingDataError(f"{path}: scales declared for {unknown}, which are not among the chosen benchmarks")
    rows = [(line, row) for line, row in rows if str(row.get("benchmark")) in wanted_benchmarks]
    present = {str(r.get("compressor")) for _, r in rows}
    compressors = _choose(path, "compressor", present, [compressor] if compressor else None, "--compressor")
    rows = [(line, row) for line, row in rows if str(row.get("compressor")) in compressors]
    chosen = _metric_per_benchmark(path, rows, wanted_benchmarks, metric, metrics)
    rows = [(line, row) for line, row in rows if chosen[str(row.get("benchmark"))] == str(row.get("metric"))]

    per_benchmark: dict[tuple[int, int], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    names: dict[int, str] = {}
    for line_no, row in rows:
        where = f"{path}, line {line_no}"
        params = int(_positive(row.get("llm_params"), where, "llm_params", "a parameter count (integer) > 0", True))
        tokens = int(_positive(row.get("num_visual_tokens"), where, "num_visual_tokens", "an integer >= 1", True))
        benchmark, name = str(row.get("benchmark")), str(row.get("metric"))
        maximum = declared_maximum(benchmark, name, scales)
        declare = f" for {benchmark}/{name}; declare its scale with --scale {benchmark}=MAX (a number, or percent)"
        per_benchmark[(params, tokens)][benchmark].append(_score(row.get("value"), where, "value", maximum, declare))
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
    return ScalingPoints(
        np.array(n_b),
        np.array(v, dtype=float),
        1.0 - np.array(acc),
        tuple(labels),
        str(path),
        protocol=protocol,
        other_protocol_rows=other_protocol_rows,
    )


def load_points(
    path: str | Path,
    benchmarks: list[str] | None = None,
    metric: str | None = None,
    compressor: str | None = None,
    metrics: Mapping[str, str] | None = None,
    scales: Mapping[str, float] | None = None,
    protocol: str = DEFAULT_PROTOCOL,
) -> ScalingPoints:
    """Read a scaling CSV or a results table; the filters, `metrics` (per-benchmark metric), `scales`
    (per-benchmark maximum score, see `llava_tc.scaling.normalise`) and `protocol` (the scoring protocol whose rows
    are fitted, never a mix) apply to results tables only."""
    path = Path(path)
    check_protocol(protocol)
    columns, rows = _read_rows(path)
    if all(name in columns for name in SCALING_COLUMNS):
        points = _load_scaling_csv(path, rows)
    elif all(name in columns for name in RESULTS_COLUMNS):
        points = _load_results_table(path, rows, benchmarks, metric, compressor, metrics, scales, protocol)
    else:
        closest = SCALING_COLUMNS if "accuracy" in columns or "llm_params_b" in columns else RESULTS_COLUMNS
        missing = [name for name in closest if name not in columns]
        raise ScalingDataError(
            f"{path}: missing column(s) {missing}; expected either a scaling CSV with columns "
            f"{', '.join(SCALING_COLUMNS)} (optional llm) or a results table with columns {', '.join(RESULTS_COLUMNS)} "
            "(optional protocol)"
        )
    if len(points) == 0:
        raise ScalingDataError(f"{path}: no data rows")
    return points


def paper_data_path(family: str = "reasoning") -> Path:
    """A shipped paper grid (Qwen-1.5 0.5/1.8/4/7B x V in 1..576), from the authors' `scaling_law_code/values.py`.

    `reasoning`: the average over the 9 visual-reasoning benchmarks (the file the authors' script fits); `ocr`: the
    OCR-task average the same file carries commented out (27 points; see docs/scaling.md for how it was read).
    """
    if family not in PAPER_DATA:
        raise ValueError(f"unknown task family {family!r}; the paper's data has {', '.join(PAPER_DATA)}")
    return Path(str(resources.files("llava_tc.scaling") / "data" / PAPER_DATA[family]))


def load_paper_points(family: str = "reasoning") -> ScalingPoints:
    return load_points(paper_data_path(family))
