"""The contract every benchmark implements: load samples from the official files, score raw model outputs.

A benchmark is split into a loader (official file layout -> `EvalSample`s) and a pure scorer (samples + raw outputs ->
`Metric`s) so that generation, scoring and re-scoring of saved answers are independent steps.

Every benchmark scores under one of two protocols, chosen when it is built (`get_benchmark(name, protocol=...)`):
`official` (the default) reproduces the evaluation code behind the published numbers, quirks included; `lenient` is
our more forgiving reading of the same answers (docs/benchmarks.md lists, per benchmark, how it differs). Every
`Metric` says which protocol produced it, and so does every row of the results table.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llava_tc.eval.benchmarks.parquet import ParquetRelease

SHORT_ANSWER_PROMPT = "\nAnswer the question using a single word or phrase."
OPTION_LETTER_PROMPT = "\nAnswer with the option's letter from the given choices directly."
PROTOCOLS = ("official", "lenient")
DEFAULT_PROTOCOL = "official"
DATA_LAYOUTS = ("auto", "original", "parquet")
"""`original`: the benchmark's own release files; `parquet`: its lmms-lab parquet release (`parquet.py`); `auto`:
the parquet release where the data root (or its `<repository name>` folder) holds its files, else the original."""


def check_protocol(protocol: str) -> str:
    """Return `protocol` if it is a known scoring protocol, else raise an error listing the valid ones."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown scoring protocol {protocol!r}; valid protocols: {', '.join(PROTOCOLS)}")
    return protocol


@dataclass
class EvalSample:
    """One question as the generation runner sees it.

    `prompt` is the user's turn without the `<image>` placeholder and with the benchmark's conventional suffix; `meta`
    carries whatever the scorer needs (answers, category, options...).
    """

    id: str
    image: Path | None
    prompt: str
    meta: dict[str, Any] = field(default_factory=dict)
    image_bytes: bytes | None = None


@dataclass
class Metric:
    """One score. Accuracy-type values are fractions in [0, 1]; MME totals and subtask scores are in MME's points.
    `protocol` is the scoring protocol that produced it ("official" or "lenient")."""

    name: str
    value: float
    n: int
    protocol: str = DEFAULT_PROTOCOL


class Benchmark(ABC):
    """A benchmark: where its files live, how its questions are prompted and how its answers are officially scored."""

    name: str
    default_split: str
    splits: tuple[str, ...] = ()
    max_new_tokens: int = 16
    layout: str = ""  # the expected files under the data root, quoted in every missing-file error
    parquet: ParquetRelease | None = None  # the lmms-lab parquet release it also reads, if any

    def __init__(self, protocol: str = DEFAULT_PROTOCOL, *, data_layout: str = "auto") -> None:
        self.protocol = check_protocol(protocol)
        if data_layout not in DATA_LAYOUTS:
            raise ValueError(f"unknown data layout {data_layout!r}; valid layouts: {', '.join(DATA_LAYOUTS)}")
        if data_layout == "parquet" and self.parquet is None:
            raise ValueError(f"{self.name} has no parquet layout; it reads only its original files")
        self.data_layout = data_layout

    @property
    def official(self) -> bool:
        """Whether this instance scores by the official protocol."""
        return self.protocol == "official"

    def load(self, data_root: Path, split: str | None = None) -> list[EvalSample]:
        """Read the benchmark's questions under `data_root`, from its original files or its parquet release."""
        split = self.resolve_split(split)
        root = Path(data_root)
        if self.parquet is not None and self.parquet.chosen(self, root, split):
            return self.load_parquet(self.parquet.read(self, root, split), root, split)
        return self.load_files(root, split)

    @abstractmethod
    def load_files(self, data_root: Path, split: str) -> list[EvalSample]:
        """Read the benchmark's original release files under `data_root` into samples."""

    def load_parquet(self, rows: list[dict[str, Any]], data_root: Path, split: str) -> list[EvalSample]:
        """Samples from the rows of the benchmark's parquet release (images as `{"bytes", "path"}` dicts)."""
        raise NotImplementedError(f"{self.name} has no parquet layout")

    def run_settings(self) -> dict[str, Any]:
        """Settings besides the benchmark's name that decide its prompts (an answers folder is reused only for the
        same ones)."""
        return {}

    def score(self, samples: list[EvalSample], answers: dict[str, str]) -> list[Metric]:
        """Score raw model outputs (`answers`: sample id -> text) under this instance's protocol."""
        return [replace(metric, protocol=self.protocol) for metric in self.metrics(samples, answers)]

    @abstractmethod
    def metrics(self, samples: list[EvalSample], answers: dict[str, str]) -> list[Metric]:
        """The scores of raw model outputs under `self.protocol` (`score` stamps the protocol on them)."""

    def write_submission(self, samples: list[EvalSample], answers: dict[str, str], out_dir: Path) -> Path | None:
        """Write the file the benchmark's evaluation server expects (answers processed as `self.protocol` says);
        None where the benchmark has no server."""
        return None

    @abstractmethod
    def primary_metric(self) -> str:
        """The metric name that represents this benchmark in the paper-style average."""

    # Helpers shared by the concrete benchmarks.

    def resolve_split(self, split: str | None) -> str:
        """Return the split to load, rejecting names the benchmark does not have."""
        split = split or self.default_split
        if self.splits and split not in self.splits:
            raise ValueError(f"{self.name}: unknown split {split!r}; valid splits: {', '.join(self.splits)}")
        return split

    def require_file(self, path: Path) -> Path:
        """Return `path` if it exists, else raise an error naming it and the expected layout."""
        if not path.exists():
            raise FileNotFoundError(
                f"{self.name}: missing {path}. Expected layout under the data root:\n{self.layout.strip()}"
            )
        return path

    def read_text(self, path: Path) -> str:
        """A UTF-8 text file's content, naming the file (and the line) when it is missing or not UTF-8."""
        raw = self.require_file(path).read_bytes()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            raise ValueError(f"{self.name}: {path} line {line} is not UTF-8 text: {exc}") from exc

    def read_json(self, path: Path) -> Any:
        """Load a JSON file, naming the file in the error when it is malformed."""
        try:
            return json.loads(self.read_text(path))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{self.name}: {path} is not valid JSON: {exc}") from exc

    def read_jsonl(self, path: Path) -> list[dict[str, Any]]:
        """Load a JSON-lines file, naming the file and line in the error when a line is malformed."""
        records = []
        for lineno, line in enumerate(self.read_text(path).splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{self.name}: {path} line {lineno} is not valid JSON: {exc}") from exc
        return records

    def answers_for(self, samples: list[EvalSample], answers: dict[str, str]) -> list[str]:
        """The raw answer of every sample, in order; refuses to score when any sample has no answer."""
        missing = [s.id for s in samples if s.id not in answers]
        if missing:
            shown = ", ".join(missing[:5])
            raise KeyError(
                f"{self.name}: no answer for {len(missing)} of {len(samples)} samples (e.g. {shown}); "
                "every loaded sample must be answered before scoring"
            )
        return [answers[s.id] for s in samples]

    def require_ground_truth(self, samples: list[EvalSample], key: str) -> None:
        """Refuse to score samples without ground truth (test splits), pointing at the submission file instead."""
        unlabeled = [s.id for s in samples if s.meta.get(key) is None]
        if unlabeled:
            raise ValueError(
                f"{self.name}: {len(unlabeled)} samples have no ground truth {key!r} (e.g. {unlabeled[0]}); "
                "this split is scored by the official server: use write_submission"
            )


def mean(values: list[float]) -> float:
    """Arithmetic mean; 0.0 for no values (callers report n=0 alongside, so it is never mistaken for a score)."""
    return sum(values) / len(values) if values else 0.0


def grouped_accuracy(prefix: str, groups: list[str], correct: list[float]) -> list[Metric]:
    """`prefix/<group>` metrics: the mean of `correct` within each group, groups in sorted order."""
    by_group: dict[str, list[float]] = {}
    for group, value in zip(groups, correct, strict=True):
        by_group.setdefault(group, []).append(value)
    return [Metric(f"{prefix}/{group}", mean(values), len(values)) for group, values in sorted(by_group.items())]
