"""The second layout of a benchmark loader: its lmms-lab parquet release on the Hugging Face Hub, read with `datasets`.

Many users now download `lmms-lab/<Benchmark>` (what lmms-eval evaluates) instead of the original files. Such a
folder, as `huggingface-cli download lmms-lab/POPE --repo-type dataset --local-dir DATA/POPE` leaves it, holds
`<config>/<split>-00000-of-0000N.parquet` files (`data/` for the default config) whose image columns are
`{"bytes", "path"}` structs. `--data-root` may point at that folder or at its parent (`DATA`, the folder named as
the repository). Each benchmark module maps the release's columns to the same samples its original files give
(`Benchmark.load_parquet`); docs/benchmarks.md lists the columns per benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llava_tc.eval.benchmarks.base import Benchmark


@dataclass(frozen=True)
class ParquetRelease:
    """Where a benchmark's parquet release keeps a split, and the columns its loader needs."""

    repo: str
    """The Hub dataset, e.g. `lmms-lab/POPE`; its last part is also the folder name looked for under the data root."""
    splits: dict[str, str]
    """Our split name -> the release's split name (the file-name prefix)."""
    columns: tuple[str, ...]
    """Columns the loader reads; a file without one of them is an error that names it."""
    config: str = "data"
    """The subfolder holding the split's files (the dataset config; `data` for the default one)."""

    @property
    def folder_name(self) -> str:
        return self.repo.split("/")[-1]

    def files(self, root: Path, split: str, config: str | None = None) -> list[Path]:
        """The release's parquet files of `split` under `root` or under `root/<repository name>`."""
        pattern = f"{config or self.config}/{self.splits.get(split, split)}-*.parquet"
        for base in (root, root / self.folder_name):
            found = sorted(base.glob(pattern))
            if found:
                return found
        return []

    def chosen(self, bench: Benchmark, root: Path, split: str) -> bool:
        """Whether `bench` reads this release: asked for (`data_layout="parquet"`), or found and the layout `auto`."""
        if bench.data_layout == "auto":
            return bool(self.files(root, split))
        return bench.data_layout == "parquet"

    def read(
        self, bench: Benchmark, root: Path, split: str, config: str | None = None, columns: tuple[str, ...] = ()
    ) -> list[dict[str, Any]]:
        """The rows of `split` (of `config`, default the release's), images as `{"bytes", "path"}` dicts."""
        files = self.files(root, split, config)
        if not files:
            where = f"{config or self.config}/{self.splits.get(split, split)}-*.parquet"
            raise FileNotFoundError(
                f"{bench.name}: no {where} under {root} or {root / self.folder_name} (the parquet layout of "
                f"{self.repo}; download it with `huggingface-cli download {self.repo} --repo-type dataset "
                f"--local-dir {root / self.folder_name}`)"
            )
        rows: list[dict[str, Any]] = []
        for path in files:
            rows += read_parquet_rows(path, columns or self.columns, bench.name)
        return rows


def read_parquet_rows(path: Path, columns: tuple[str, ...], benchmark: str) -> list[dict[str, Any]]:
    """One parquet file's rows as dicts, via `datasets`, image columns left encoded (`datasets.Image(decode=False)`)."""
    import datasets
    import pyarrow.parquet as pq
    from datasets.table import InMemoryTable
    from datasets.utils.tqdm import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    table = pq.read_table(path)
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        names = ", ".join(map(repr, missing))
        raise ValueError(f"{benchmark}: {path} has no column {names} (columns: {', '.join(table.column_names)})")
    dataset = datasets.Dataset(InMemoryTable(table))
    encoded = datasets.Features({name: _undecoded(feature) for name, feature in dataset.features.items()})
    if encoded != dataset.features:
        quiet = are_progress_bars_disabled()
        disable_progress_bars()
        try:
            dataset = dataset.cast(encoded)
        finally:
            if not quiet:
                enable_progress_bars()
    return dataset.to_list()


def _undecoded(feature: Any) -> Any:
    import datasets

    if isinstance(feature, datasets.Image):
        return datasets.Image(decode=False)
    if isinstance(feature, datasets.List):
        return datasets.List(_undecoded(feature.feature))
    return feature


def image_bytes(value: Any, benchmark: str, where: str, base: Path) -> bytes:
    """The encoded image of an image cell (`{"bytes", "path"}`, the path relative to `base` when there are no bytes)."""
    if isinstance(value, dict) and value.get("bytes"):
        return bytes(value["bytes"])
    path = value.get("path") if isinstance(value, dict) else value
    if isinstance(path, str) and path and (base / path).is_file():
        return (base / path).read_bytes()
    raise ValueError(f"{benchmark}: {where} has no image (neither bytes nor a readable path under {base}): {path!r}")
