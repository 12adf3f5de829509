"""The results table: one row per (run, benchmark, split, metric) score, in a CSV or JSONL file that the scaling
analysis reads, plus the benchmark x run summary with the paper-style average.

Appends are crash-safe: the file is rewritten to a temporary sibling, fsynced and atomically renamed over the old one
(under an exclusive lock, so concurrent evaluations cannot lose each other's rows), so a crash leaves either the old
or the new table, never a torn line.

Every row records the scoring protocol that produced it (`protocol`: "official", the default, or "lenient"; see
docs/benchmarks.md). Tables written before that column existed are read with protocol "lenient", because the
scorers of that time are today's lenient readings (up to one bug fix in the lenient option-letter parser); appending
to such a table rewrites it once with the column added (logged). Summaries use one protocol, "official" unless told.

Paper-style average (the scaling-law target of "Inference Optimal VLMs Need Fewer Visual Tokens and More Parameters"):
the mean over MME, GQA, AI2D, MMBench, MMMU, ScienceQA-IMG, MathVista, POPE and ChartQA of each benchmark's primary
metric, every one on [0, 1]: MME perception points are divided by their maximum, 2000; POPE uses its mean F1; all
others are already accuracies in [0, 1]. A run missing any of those benchmarks has no average (shown as missing),
never an average with a zero in it.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import fcntl
import io
import json
import logging
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from llava_tc.atomic import write_atomic
from llava_tc.eval.benchmarks import BENCHMARKS, DEFAULT_PROTOCOL, PROTOCOLS, get_benchmark
from llava_tc.eval.benchmarks.base import check_protocol
from llava_tc.eval.benchmarks.mme import PERCEPTION_MAX

log = logging.getLogger(__name__)

PAPER_AVERAGE = ("mme", "gqa", "ai2d", "mmbench", "mmmu", "scienceqa_img", "mathvista", "pope", "chartqa")
# Divisors that put a benchmark's primary metric on [0, 1]; benchmarks not listed are already there.
NORMALISERS: dict[str, float] = {"mme": PERCEPTION_MAX}

_INT_FIELDS = ("llm_params", "num_visual_tokens", "n")
LEGACY_PROTOCOL = "lenient"  # what rows of tables without a protocol column were scored by


@dataclass
class ResultRow:
    """One score of one run; `llm_params` is the LLM's parameter count, `protocol` the scoring protocol ("official"
    or "lenient"), `timestamp` ISO-8601 UTC."""

    run: str
    llm: str
    llm_params: int
    vision_tower: str
    compressor: str
    num_visual_tokens: int
    benchmark: str
    split: str
    protocol: str = field(default=DEFAULT_PROTOCOL, kw_only=True)
    metric: str
    value: float
    n: int
    timestamp: str

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"ResultRow.protocol must be one of {', '.join(PROTOCOLS)}, got {self.protocol!r}")
        for name in _INT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"ResultRow.{name} must be a non-negative int, got {value!r}")
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)) or not math.isfinite(self.value):
            raise ValueError(f"ResultRow.value must be a finite number, got {self.value!r}")
        self.value = float(self.value)
        try:
            parsed = datetime.fromisoformat(self.timestamp)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"ResultRow.timestamp must be ISO-8601, got {self.timestamp!r}") from exc
        if parsed.utcoffset() is None or parsed.utcoffset().total_seconds() != 0:
            raise ValueError(
                f"ResultRow.timestamp must be UTC (e.g. 2025-01-31T12:00:00+00:00), got {self.timestamp!r}"
            )


COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(ResultRow))
LEGACY_COLUMNS: tuple[str, ...] = tuple(c for c in COLUMNS if c != "protocol")


def utc_now() -> str:
    """The current time as an ISO-8601 UTC timestamp, for `ResultRow.timestamp`."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise ValueError(f"results file {path} must end in .csv or .jsonl")
    return suffix[1:]


def _serialise(rows: Iterable[ResultRow], fmt: str, header: bool) -> str:
    buffer = io.StringIO()
    if fmt == "jsonl":
        for row in rows:
            buffer.write(json.dumps(dataclasses.asdict(row)) + "\n")
    else:
        writer = csv.writer(buffer, lineterminator="\n")
        if header:
            writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([getattr(row, c) for c in COLUMNS])
    return buffer.getvalue()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `<path>.lock` so that concurrent appends do not drop each other's rows."""
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def append_results(path: str | Path, rows: Iterable[ResultRow], skip_present: bool = False) -> None:
    """Append rows to a .csv (header written for a new file, checked for an existing one) or .jsonl table.

    A table from before the protocol column is rewritten once in the current format, its rows marked "lenient".
    `skip_present`: rows equal to one already in the table (all columns, timestamp included) are not appended again
    (an evaluation finishing an append that a kill interrupted).
    """
    path = Path(path)
    fmt = _format(path)
    rows = list(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        existing = path.read_text(encoding="utf-8") if path.exists() else ""
        if fmt == "csv" and existing:
            header = tuple(next(csv.reader([existing.splitlines()[0]]), []))
            if header not in (COLUMNS, LEGACY_COLUMNS):
                raise ValueError(
                    f"{path}: its header {','.join(header)} differs from the results columns {','.join(COLUMNS)}; "
                    "refusing to append (write to a new file)"
                )
        if existing and _has_legacy_rows(existing, fmt):
            old = _parse(existing, fmt, path)
            log.warning(
                "%s: adding the protocol column to a table written before it; its %d rows are marked %r",
                path,
                len(old),
                LEGACY_PROTOCOL,
            )
            existing = _serialise(old, fmt, header=True)
        if skip_present and existing:
            present = _parse(existing, fmt, path)
            rows = [row for row in rows if row not in present]
        if existing and not existing.endswith("\n"):
            existing += "\n"
        content = existing + _serialise(rows, fmt, header=not existing)
        write_atomic(path, content)


def _has_legacy_rows(text: str, fmt: str) -> bool:
    """Whether a table holds rows from before the protocol column (lines that are not JSON objects do not count)."""
    if fmt == "csv":
        return tuple(next(csv.reader([text.splitlines()[0]]), [])) == LEGACY_COLUMNS
    for line in text.splitlines():
        try:
            record = json.loads(line) if line.strip() else None
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "protocol" not in record:
            return True
    return False


def _row_from_fields(fields: dict, where: str) -> ResultRow:
    values = {"protocol": LEGACY_PROTOCOL}
    for column in COLUMNS if "protocol" in fields else LEGACY_COLUMNS:
        raw = fields[column]
        try:
            if column in _INT_FIELDS:
                values[column] = int(raw)
            elif column == "value":
                values[column] = float(raw)
            else:
                values[column] = str(raw)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}, column {column!r}: cannot read {raw!r} ({exc})") from exc
    try:
        return ResultRow(**values)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc


def read_results(path: str | Path) -> list[ResultRow]:
    """Read a results table, with errors that name the file, line and column at fault; rows of a table from before
    the protocol column get protocol "lenient"."""
    path = Path(path)
    fmt = _format(path)
    if not path.exists():
        raise FileNotFoundError(f"results file {path} does not exist")
    return _parse(path.read_text(encoding="utf-8"), fmt, path)


def _parse(text: str, fmt: str, path: Path) -> list[ResultRow]:
    rows: list[ResultRow] = []
    if fmt == "jsonl":
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path} line {lineno}: not valid JSON ({exc})") from exc
            if not isinstance(record, dict) or set(record) not in (set(COLUMNS), set(LEGACY_COLUMNS)):
                got = sorted(record) if isinstance(record, dict) else type(record).__name__
                raise ValueError(f"{path} line {lineno}: expected the keys {', '.join(COLUMNS)}; got {got}")
            rows.append(_row_from_fields(record, f"{path} line {lineno}"))
        return rows
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        return rows
    columns = tuple(header)
    if columns not in (COLUMNS, LEGACY_COLUMNS):
        raise ValueError(f"{path} line 1: header {','.join(header)} differs from the columns {','.join(COLUMNS)}")
    for record in reader:
        lineno = reader.line_num
        if not record:
            continue
        if len(record) != len(columns):
            raise ValueError(f"{path} line {lineno}: expected {len(columns)} columns, got {len(record)}")
        rows.append(_row_from_fields(dict(zip(columns, record, strict=True)), f"{path} line {lineno}"))
    return rows


def primary_metric_of(benchmark: str) -> str:
    """A registered benchmark's primary metric; "accuracy" for benchmarks outside the registry."""
    return get_benchmark(benchmark).primary_metric() if benchmark in BENCHMARKS else "accuracy"


def normalised(benchmark: str, value: float) -> float:
    """A primary-metric value on [0, 1] (MME perception points / 2000; the others unchanged)."""
    return value / NORMALISERS.get(benchmark, 1.0)


@dataclass
class Summary:
    """Primary metric per (run, benchmark) and the paper-style average of one scoring protocol; None marks a missing
    score."""

    protocol: str
    runs: list[str]
    benchmarks: list[str]
    average_over: list[str]
    values: dict[str, dict[str, float | None]]
    averages: dict[str, float | None]
    run_info: dict[str, ResultRow]


def _latest(rows: list[ResultRow]) -> dict[tuple[str, str, str, str], ResultRow]:
    """The latest row per (run, benchmark, split, metric): newest timestamp, later row on a tie."""
    latest: dict[tuple[str, str, str, str], ResultRow] = {}
    for row in rows:
        key = (row.run, row.benchmark, row.split, row.metric)
        if key not in latest or datetime.fromisoformat(row.timestamp) >= datetime.fromisoformat(latest[key].timestamp):
            latest[key] = row
    return latest


def summarise(
    rows: list[ResultRow], average_over: Iterable[str] = PAPER_AVERAGE, protocol: str = DEFAULT_PROTOCOL
) -> Summary:
    """Build the run x benchmark table of primary metrics and each run's average over `average_over`, from the rows
    scored by `protocol` only (the protocols are never mixed).

    Per (run, benchmark) the benchmark's default split is used when the run has it, else the latest row of any split.
    Columns are the averaged benchmarks, then any other benchmark present in `rows`.
    """
    rows = [row for row in rows if row.protocol == check_protocol(protocol)]
    average_over = list(average_over)
    latest = _latest(rows)
    runs = list(dict.fromkeys(row.run for row in rows))
    present = sorted({row.benchmark for row in rows} - set(average_over))
    benchmarks = average_over + present
    values: dict[str, dict[str, float | None]] = {run: dict.fromkeys(benchmarks) for run in runs}
    for run in runs:
        for benchmark in benchmarks:
            metric = primary_metric_of(benchmark)
            candidates = [r for (ru, b, _, m), r in latest.items() if ru == run and b == benchmark and m == metric]
            if not candidates:
                continue
            default = get_benchmark(benchmark).default_split if benchmark in BENCHMARKS else None
            preferred = [r for r in candidates if r.split == default] or candidates
            values[run][benchmark] = max(preferred, key=lambda r: datetime.fromisoformat(r.timestamp)).value
    averages: dict[str, float | None] = {}
    for run in runs:
        scores = [values[run][b] for b in average_over]
        averages[run] = (
            sum(normalised(b, v) for b, v in zip(average_over, scores, strict=True)) / len(scores)
            if scores and all(v is not None for v in scores)
            else None
        )
    run_info = {}
    for row in rows:
        run_info.setdefault(row.run, row)
    return Summary(protocol, runs, benchmarks, average_over, values, averages, run_info)


def _cell(benchmark: str, value: float | None) -> str:
    """Display value: MME in points, everything else as a percentage; "—" when missing."""
    if value is None:
        return "—"
    return f"{value:.1f}" if benchmark in NORMALISERS else f"{100 * value:.1f}"


def format_summary(summary: Summary, fmt: str = "markdown") -> str:
    """The summary as a markdown table (percentages, MME in points) or CSV (raw values, empty when missing)."""
    head = ["run", "llm", "V", *summary.benchmarks, f"avg({len(summary.average_over)})"]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(head)
        for run in summary.runs:
            info = summary.run_info[run]
            cells = [summary.values[run][b] for b in summary.benchmarks] + [summary.averages[run]]
            writer.writerow([run, info.llm, info.num_visual_tokens, *("" if v is None else repr(v) for v in cells)])
        return buffer.getvalue()
    if fmt != "markdown":
        raise ValueError(f"unknown summary format {fmt!r}; valid: markdown, csv")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for run in summary.runs:
        info = summary.run_info[run]
        cells = [_cell(b, summary.values[run][b]) for b in summary.benchmarks]
        average = summary.averages[run]
        avg = "—" if average is None else f"{100 * average:.1f}"
        lines.append("| " + " | ".join([run, info.llm, str(info.num_visual_tokens), *cells, avg]) + " |")
    return "\n".join(lines) + "\n"
