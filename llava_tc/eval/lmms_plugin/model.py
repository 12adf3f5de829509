"""The lmms-eval model class `llava_tc` (imported by lmms-eval only; needs the `lmms-eval` extra).

    lmms-eval --model llava_tc --model_args pretrained=RUN_DIR,dtype=bfloat16 --tasks mme --batch_size 8
    accelerate launch --num_processes 8 -m lmms_eval --model llava_tc --model_args pretrained=RUN_DIR --tasks gqa

`model_args`: `pretrained` (run directory or save_pretrained folder), `dtype` (auto | float32 | bfloat16 | float16),
`template`, `image_aspect` (override the run's), `device`. Prompts use the run's processor: its conversation
template, one `<image>` per visual in front of the question, and the question as QueCC's query, exactly as
`llava-tc eval` does. Log-likelihood requests return a loss (the negated log-likelihood), as lmms-eval expects.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from accelerate import Accelerator
from lmms_eval.api import instance as lmms_instance
from lmms_eval.api.instance import Instance
from lmms_eval.api.model import lmms
from PIL import Image
from tqdm.auto import tqdm

from llava_tc.eval.distributed import Shard, default_device
from llava_tc.eval.lmms_plugin.core import GenerationRequest, as_lmms_loss, generate_until, loglikelihood
from llava_tc.eval.loading import load_for_eval
from llava_tc.eval.runner import AnswerGenerator


def loglikelihood_response(value: tuple[float, bool]) -> Any:
    """lmms-eval 0.7.3 passes every response through `unwrap_generation_output`, which turns a (logprob, is_greedy)
    tuple into its string and breaks every log-likelihood / multiple-choice task; a `GenerationResult` is unwrapped
    to its payload untouched, so the tuple travels inside one where that class exists."""
    wrapper = getattr(lmms_instance, "GenerationResult", None)
    return value if wrapper is None else wrapper(text=value)  # type: ignore[arg-type]


class LlavaTCLmms(lmms):
    is_simple = True

    def __init__(
        self,
        pretrained: str,
        dtype: str = "auto",
        template: str | None = None,
        image_aspect: str | None = None,
        device: str | None = None,
        batch_size: int | str = 1,
        **extra: Any,
    ) -> None:
        super().__init__()
        if not str(batch_size).isdigit() or int(batch_size) < 1:
            raise ValueError(f"llava_tc: --batch_size must be a positive integer, got {batch_size!r}")
        unknown = sorted(k for k, v in extra.items() if k != "max_batch_size" and v is not None)
        if unknown:
            raise ValueError(
                f"llava_tc: unknown model_args {unknown}; valid: pretrained, dtype, template, image_aspect, device"
            )
        accelerator = Accelerator()
        self._rank, self._world_size = accelerator.process_index, accelerator.num_processes
        shard = Shard(rank=self._rank, world_size=self._world_size, local_rank=accelerator.local_process_index)
        target = torch.device(device) if device and self._world_size == 1 else default_device(shard)
        self.loaded = load_for_eval(
            pretrained, dtype=dtype, device=target, template=template, image_aspect=image_aspect
        )
        self.generator = AnswerGenerator(self.loaded)
        self.batch_size_per_gpu = int(batch_size)
        self.accelerator = accelerator

    @property
    def model(self) -> torch.nn.Module:
        return self.loaded.model

    @property
    def tokenizer(self) -> Any:
        return self.loaded.tokenizer

    @property
    def batch_size(self) -> int:
        return self.batch_size_per_gpu

    @property
    def device(self) -> torch.device:
        return self.loaded.device

    def _images(self, doc_to_visual: Any, doc_id: int, task: str, split: str) -> list[Image.Image]:
        """The request's visuals; only still images are supported (a VLM of single images)."""
        if doc_to_visual is None:
            return []
        visuals = doc_to_visual(self.task_dict[task][split][doc_id]) or []
        unsupported = [type(v).__name__ for v in visuals if not isinstance(v, Image.Image)]
        if unsupported:
            raise ValueError(f"llava_tc: task {task!r} doc {doc_id} gives {unsupported}; only PIL images are supported")
        return [v.convert("RGB") for v in visuals]

    def generate_until(self, requests: list[Instance]) -> list[str]:
        prepared = []
        for request in requests:
            context, generation_kwargs, doc_to_visual, doc_id, task, split = request.args
            load = functools.partial(self._images, doc_to_visual, doc_id, task, split)
            prepared.append(GenerationRequest(context, dict(generation_kwargs or {}), load))
        return generate_until(self.generator, prepared, self.batch_size, progress=self.rank == 0)

    def loglikelihood(self, requests: list[Instance]) -> list[Any]:
        results = []
        for request in tqdm(requests, desc="llava_tc: loglikelihood", disable=self.rank != 0):
            context, doc_to_target, doc_to_visual, doc_id, task, split = request.args
            document = self.task_dict[task][split][doc_id]
            continuation = doc_to_target if isinstance(doc_to_target, str) else doc_to_target(document)
            images = self._images(doc_to_visual, doc_id, task, split)
            score = loglikelihood(self.generator, context, str(continuation), images)
            results.append(loglikelihood_response(as_lmms_loss(*score)))
        return results

    def generate_until_multi_round(self, requests: list[Instance]) -> list[str]:
        raise NotImplementedError("llava_tc: multi-round generation is not supported")
