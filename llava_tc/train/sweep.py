"""Sweeps: a grid of LLMs x visual-token counts x compressors, each run a chain of stages then evaluations.

A sweep file (see configs/sweeps/paper.yaml):

    root: runs/paper                      # run directories go under root/RUN_ID/STAGE
    compressors: [tokenpacker, quecc]
    llms: {qwen1.5-0.5b: checkpoints/Qwen1.5-0.5B-Chat, ...}   # a path, or a mapping of model fields
    num_visual_tokens: [1, 4, 16, 36, 64, 144, 576]
    base: {model: ..., data: ..., training: ...}               # shared by every stage
    stages: {pretrain: {...}, finetune: {...}}                 # in order; each is merged over base
    eval: {benchmarks: [gqa, mme], data_root: data/eval}
    launcher: "deepspeed --num_gpus 8"                        # empty: run `llava-tc` in this process
    slurm: {gpus_per_node: 8, time: "24:00:00", partition: null}

A compressor entry is a name or `{name: NAME, options: {...}}` (its `compressor_options`). A nested compressor (`m3`,
`resampler` with `nested: true`) trains once per LLM at the largest count, covering every count of the sweep, and is
evaluated at each count (`llava-tc eval --num-visual-tokens V`): the paper's 4 LLMs x 7 counts are 4 trainings and
28 evaluations instead of 28 trainings.

`plan` writes each stage's resolved config to root/RUN_ID/STAGE.yaml and lists the exact commands; a stage after
`pretrain` starts from its compressor + projector (`pretrained_mm`). A step is finished when its DONE file exists,
so re-running a sweep skips everything already done.
"""

from __future__ import annotations

import copy
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from llava_tc.train.arguments import STAGES, config_from_dict, read_config_file
from llava_tc.train.checkpoints import DONE, checkpoint_dirs

EVAL_DONE_FILES = (DONE, "scores.json")
SWEEP_KEYS = ("name", "root", "compressors", "llms", "num_visual_tokens", "base", "stages", "eval", "launcher", "slurm")


@dataclass
class Step:
    kind: str
    """A stage name (pretrain, finetune, lora, full) or `eval:BENCHMARK`."""
    out_dir: Path
    command: list[str]
    config_path: Path | None = None

    @property
    def done(self) -> bool:
        files = (DONE,) if self.config_path is not None else EVAL_DONE_FILES
        return any((self.out_dir / name).is_file() for name in files)

    @property
    def started(self) -> bool:
        return bool(checkpoint_dirs(self.out_dir)) if self.config_path is not None else self.out_dir.is_dir()

    def shell(self) -> str:
        return shlex.join(self.command)


@dataclass
class PlannedRun:
    run_id: str
    compressor: str
    llm: str
    num_visual_tokens: int
    steps: list[Step] = field(default_factory=list)
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    eval_counts: list[int] = field(default_factory=list)
    """The token counts this run is evaluated at: its own V, or every count of the sweep for a nested run."""

    @property
    def done(self) -> bool:
        return all(step.done for step in self.steps)

    @property
    def evaluations(self) -> int:
        """Token counts evaluated (each on every benchmark): 1, or every count of the sweep for a nested run."""
        return len(self.eval_counts) or 1


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; `extra` wins; neither input is modified."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@dataclass(frozen=True)
class CompressorEntry:
    name: str
    options: dict[str, Any]
    nested: bool

    def options_for(self, counts: list[int]) -> dict[str, Any]:
        """The compressor options of its runs: a nested one's cover every count of the sweep."""
        if not self.nested:
            return self.options
        from llava_tc.model.compressors import get_compressor_class

        return get_compressor_class(self.name).options_for_counts(self.options, counts)


def _compressor_entry(entry: Any, where: str) -> CompressorEntry:
    from llava_tc.model.compressors import NestedCompressor, get_compressor_class

    if isinstance(entry, str):
        name, options = entry, {}
    elif isinstance(entry, dict) and isinstance(entry.get("name"), str) and set(entry) <= {"name", "options"}:
        name, options = entry["name"], dict(entry.get("options") or {})
    else:
        raise ValueError(f"{where}: a compressors entry is a name or {{name: NAME, options: {{...}}}}, got {entry!r}")
    cls = get_compressor_class(name)
    nested = issubclass(cls, NestedCompressor) and cls.trains_nested(options)
    return CompressorEntry(name, options, nested)


def _llm_fields(name: str, source: Any, where: str) -> dict[str, Any]:
    if isinstance(source, str):
        return {"llm": source}
    if isinstance(source, dict):
        return dict(source)
    raise ValueError(f"{where}: llms.{name} must be a path or a mapping of model fields, got {type(source).__name__}")


@dataclass
class Sweep:
    path: Path
    spec: dict[str, Any]

    @classmethod
    def load(cls, path: str | Path) -> Sweep:
        spec = read_config_file(path)
        unknown = sorted(set(spec) - set(SWEEP_KEYS))
        if unknown:
            raise ValueError(f"{path}: unknown key(s) {unknown}; valid: {list(SWEEP_KEYS)}")
        for key in ("compressors", "llms", "num_visual_tokens", "stages"):
            if not spec.get(key):
                raise ValueError(f"{path}: `{key}` is required and must not be empty")
        return cls(Path(path), spec)

    @property
    def root(self) -> Path:
        return Path(self.spec.get("root") or f"runs/{self.path.stem}")

    @property
    def launcher(self) -> list[str]:
        return shlex.split(self.spec.get("launcher") or "")

    def stages(self) -> list[tuple[str, dict[str, Any]]]:
        """The stages in training order (pretrain before finetune/lora), whatever their order in the file."""
        stages = self.spec["stages"]
        unknown = sorted(set(stages) - set(STAGES))
        if unknown:
            raise ValueError(f"{self.path}: unknown stage(s) {unknown} under `stages`; valid: {list(STAGES)}")
        return [(name, stages[name] or {}) for name in STAGES if name in stages]

    def _train_command(self, config_path: Path) -> list[str]:
        if self.launcher:
            return [*self.launcher, "--module", "llava_tc.train", "--config", str(config_path)]
        return ["llava-tc", "train", "--config", str(config_path)]

    def runs(self) -> list[PlannedRun]:
        """Every run, in file order: compressor-major, then LLM, then token count."""
        evaluation = self.spec.get("eval") or {}
        counts = [int(tokens) for tokens in self.spec["num_visual_tokens"]]
        planned = []
        for raw_entry in self.spec["compressors"]:
            entry = _compressor_entry(raw_entry, f"{self.path}: compressors")
            compressor = entry.name
            for llm_name, source in self.spec["llms"].items():
                # A nested compressor: one training at the largest count serves every count.
                trainings = [max(counts)] if entry.nested else counts
                for tokens in trainings:
                    run_id = f"{compressor}-{llm_name}-" + ("nested" if entry.nested else f"v{tokens}")
                    run = PlannedRun(run_id, compressor, llm_name, tokens, eval_counts=counts if entry.nested else [])
                    options = entry.options_for(counts)
                    model_fields = {
                        **_llm_fields(llm_name, source, str(self.path)),
                        "compressor": compressor,
                        "num_visual_tokens": tokens,
                        **({"compressor_options": options} if options else {}),
                    }
                    previous: dict[str, Path] = {}
                    for stage, stage_spec in self.stages():
                        out_dir = self.root / run_id / stage
                        config = _merge(self.spec.get("base") or {}, stage_spec)
                        config = _merge(config, {"stage": stage, "output_dir": str(out_dir), "model": model_fields})
                        config.setdefault("training", {})["resume"] = True  # a re-run continues a killed stage
                        if stage in ("finetune", "lora") and "pretrain" in previous:
                            config["model"]["pretrained_mm"] = str(previous["pretrain"])
                        config_from_dict(config, f"{self.path}: stages.{stage}")  # fail at plan time, not at 3 am
                        config_path = self.root / run_id / f"{stage}.yaml"
                        run.configs[stage] = config
                        run.steps.append(Step(stage, out_dir, self._train_command(config_path), config_path))
                        previous[stage] = out_dir
                    model_dir = run.steps[-1].out_dir
                    for count in run.eval_counts or [None]:
                        for benchmark in evaluation.get("benchmarks") or []:
                            run.steps.append(self._eval_step(model_dir, benchmark, evaluation, run, count))
                    planned.append(run)
        return planned

    @staticmethod
    def _eval_step(
        model_dir: Path, benchmark: str, evaluation: dict[str, Any], run: PlannedRun, count: int | None
    ) -> Step:
        """`llava-tc eval` of one benchmark; for a nested run at one count, under its own folder and run name."""
        out = model_dir / "eval" / (f"v{count}/{benchmark}" if count is not None else benchmark)
        command = ["llava-tc", "eval", "--model", str(model_dir), "--benchmark", benchmark]
        command += ["--data-root", str(evaluation.get("data_root", "data/eval")), "--out", str(out)]
        if count is not None:
            name = run.run_id.removesuffix("-nested") + f"-v{count}"
            command += ["--num-visual-tokens", str(count), "--run-name", name]
        kind = f"eval:{benchmark}" if count is None else f"eval:{benchmark}@v{count}"
        return Step(kind, out, command)

    def write_configs(self, runs: list[PlannedRun]) -> None:
        """Each stage's resolved config to root/RUN_ID/STAGE.yaml (what the commands read)."""
        for run in runs:
            for step in run.steps:
                if step.config_path is not None:
                    step.config_path.parent.mkdir(parents=True, exist_ok=True)
                    text = yaml.safe_dump(run.configs[step.kind], sort_keys=False)
                    step.config_path.write_text(text, encoding="utf-8")

    def slurm_script(self, runs: list[PlannedRun]) -> str:
        """A SLURM array script: task i runs `llava-tc sweep run SWEEP --index i` (which skips finished steps)."""
        slurm = self.spec.get("slurm") or {}
        gpus = int(slurm.get("gpus_per_node", 8))
        lines = [
            "#!/bin/bash",
            f"#SBATCH --job-name={self.spec.get('name') or self.path.stem}",
            f"#SBATCH --array=0-{len(runs) - 1}",
            "#SBATCH --nodes=1",
            f"#SBATCH --gres=gpu:{gpus}",
            f"#SBATCH --cpus-per-task={int(slurm.get('cpus_per_task', 8 * gpus))}",
            f"#SBATCH --time={slurm.get('time', '24:00:00')}",
            f"#SBATCH --output={self.root}/slurm-%A_%a.out",
        ]
        if slurm.get("partition"):
            lines.append(f"#SBATCH --partition={slurm['partition']}")
        lines += [f"#SBATCH {option}" for option in slurm.get("extra", [])]
        lines += ["set -euo pipefail", f"llava-tc sweep run {shlex.quote(str(self.path))} --index $SLURM_ARRAY_TASK_ID"]
        return "\n".join(lines) + "\n"


def run_step(step: Step) -> int:
    """`llava-tc ...` runs in this process (cheap for many tiny runs); anything else (a launcher) as a subprocess."""
    if step.command[0] == "llava-tc":
        from llava_tc.cli import main

        return main(step.command[1:])
    import subprocess

    return subprocess.run(step.command, check=False).returncode
