"""Measured latency per (LLM shape, V): the file `python -m bench.latency` writes, read back for the cost axis.

The file is JSON (`{"machine": {...}, "rows": [...]}`, as the bench writes it) or a CSV with the same row columns, so
latencies measured with another tool (vLLM, TensorRT-LLM) can be fed in too. Columns of a row:

- `llm` (a name), `llm_params_b` (the N, in billions, that the law uses for this LLM), `layers` (decoder layers
  built and timed), `text_tokens` (Q), `num_visual_tokens` (V);
- `prefill_s`: seconds of one batch-1 prefill over Q + V tokens (logits at the last position), median of repeats;
- `decode_s_per_token`: seconds per KV-cached decode step after that prefill, median of repeats.

Latency between two measured token counts of the same LLM and Q is interpolated linearly in V (prefill time is close
to linear in the prompt length at these sizes); outside the measured range it is an error, never an extrapolation.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from llava_tc.scaling.io import ScalingDataError

LATENCY_COLUMNS = (
    "llm",
    "llm_params_b",
    "layers",
    "text_tokens",
    "num_visual_tokens",
    "prefill_s",
    "decode_s_per_token",
)
PARTS = ("prefill", "decode", "total")
"""What a latency cost counts: time to first token, the K - 1 decode steps after it, or both."""


@dataclass(frozen=True)
class LatencyCurve:
    """Prefill and per-token decode seconds of one LLM at one Q, at increasing measured V."""

    llm: str
    n_b: float
    layers: int
    text_tokens: int
    v: np.ndarray
    prefill_s: np.ndarray
    decode_s: np.ndarray


@dataclass(frozen=True)
class LatencyTable:
    """Every measured curve, keyed by (N in billions, Q)."""

    curves: dict[tuple[float, int], LatencyCurve]
    source: str
    machine: dict[str, object]

    @property
    def sizes(self) -> list[float]:
        return sorted({n_b for n_b, _ in self.curves})

    def curve(self, n_b: float, text_tokens: float) -> LatencyCurve:
        for (size, q), curve in self.curves.items():
            if math.isclose(size, n_b, rel_tol=1e-9) and q == text_tokens:
                return curve
        measured = sorted(self.curves)
        raise ScalingDataError(
            f"{self.source}: no latency measured for N = {n_b:g}B at Q = {text_tokens:g} text tokens; measured "
            f"(N, Q): {measured}. Run `python -m bench.latency` for that LLM and Q"
        )

    def seconds(
        self, n_b: float, text_tokens: float, v: float, part: str = "prefill", generated_tokens: int = 1
    ) -> float:
        """Latency of one inference: prefill, the `generated_tokens - 1` decode steps, or their total."""
        if part not in PARTS:
            raise ValueError(f"unknown latency part {part!r}; valid: {', '.join(PARTS)}")
        curve = self.curve(n_b, text_tokens)
        if not curve.v[0] <= v <= curve.v[-1]:
            raise ScalingDataError(
                f"{self.source}: V = {v:g} is outside the token counts measured for {curve.llm} "
                f"({curve.v[0]:g}..{curve.v[-1]:g}); latency is interpolated, never extrapolated"
            )
        prefill = float(np.interp(v, curve.v, curve.prefill_s))
        decode = float(np.interp(v, curve.v, curve.decode_s)) * max(generated_tokens - 1, 0)
        return {"prefill": prefill, "decode": decode, "total": prefill + decode}[part]


def _rows(path: Path) -> tuple[list[tuple[str, dict[str, object]]], dict[str, object]]:
    if not path.is_file():
        raise ScalingDataError(f"{path}: no such latency file")
    if path.suffix == ".json":
        try:
            payload = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ScalingDataError(f"{path}: not valid JSON ({err})") from err
        if not isinstance(payload, dict) or not isinstance(payload.get("rows"), list):
            raise ScalingDataError(f"{path}: expected a JSON object with a list under 'rows' (python -m bench.latency)")
        return [(f"{path}, row {i}", row) for i, row in enumerate(payload["rows"])], dict(payload.get("machine") or {})
    with path.open(newline="") as handle:
        return [(f"{path}, line {i + 2}", row) for i, row in enumerate(csv.DictReader(handle))], {}


def _field(row: dict[str, object], where: str, column: str, positive: bool) -> float:
    raw = row.get(column)
    try:
        value = float(str(raw))
    except ValueError:
        raise ScalingDataError(f"{where}, column {column!r}: {raw!r} is not a number") from None
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ScalingDataError(
            f"{where}, column {column!r}: {raw!r} must be a finite number {'>' if positive else '>='} 0"
        )
    return value


def load_latency(path: str | Path) -> LatencyTable:
    """Read a latency file; errors name the file, the row and the column."""
    path = Path(path)
    rows, machine = _rows(path)
    if not rows:
        raise ScalingDataError(f"{path}: no latency rows")
    grouped: dict[tuple[float, int], list[tuple[float, float, float, str, int]]] = {}
    for where, row in rows:
        missing = [c for c in LATENCY_COLUMNS if c not in row]
        if missing:
            raise ScalingDataError(
                f"{where}: missing column(s) {missing}; a latency row has {', '.join(LATENCY_COLUMNS)}"
            )
        n_b = _field(row, where, "llm_params_b", positive=True)
        q = int(_field(row, where, "text_tokens", positive=False))
        v = _field(row, where, "num_visual_tokens", positive=True)
        prefill = _field(row, where, "prefill_s", positive=True)
        decode = _field(row, where, "decode_s_per_token", positive=True)
        layers = int(_field(row, where, "layers", positive=True))
        grouped.setdefault((n_b, q), []).append((v, prefill, decode, str(row["llm"]), layers))
    curves = {}
    for (n_b, q), entries in sorted(grouped.items()):
        entries.sort()
        counts = [e[0] for e in entries]
        if len(set(counts)) != len(counts):
            raise ScalingDataError(f"{path}: N = {n_b:g}B, Q = {q} has V measured more than once: {counts}")
        curves[(n_b, q)] = LatencyCurve(
            llm=entries[0][3],
            n_b=n_b,
            layers=entries[0][4],
            text_tokens=q,
            v=np.array(counts),
            prefill_s=np.array([e[1] for e in entries]),
            decode_s=np.array([e[2] for e in entries]),
        )
    return LatencyTable(curves, str(path), machine)
