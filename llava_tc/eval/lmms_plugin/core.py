"""What the lmms-eval model does, without lmms-eval: greedy generation with stop strings, and continuation
log-likelihoods, on our prompt layout (the run's processor: the same template, `<image>` placement and QueCC query as
`llava-tc eval`).

Kept apart from the lmms-eval class so it is tested on every machine, lmms-eval installed or not.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image
from tqdm.auto import tqdm

from llava_tc.constants import IMAGE_TOKEN
from llava_tc.eval.runner import AnswerGenerator

logger = logging.getLogger(__name__)

DEFAULT_MAX_NEW_TOKENS = 128


def _no_images() -> list[Image.Image]:
    return []


@dataclass
class GenerationRequest:
    """One lmms-eval `generate_until` request. Images are loaded only when its batch runs (`load_images`), so a
    task of thousands of images never holds them all in memory."""

    context: str
    generation_kwargs: dict[str, Any] = field(default_factory=dict)
    load_images: Callable[[], list[Image.Image]] = _no_images


def question_text(context: str) -> str:
    """The context without `<image>` placeholders: each image gets its own `<image>\\n` in front, as in training."""
    return context.replace(IMAGE_TOKEN, "").strip()


def stop_strings(generation_kwargs: dict[str, Any]) -> list[str]:
    until = generation_kwargs.get("until") or []
    if isinstance(until, str):
        return [until]
    if not isinstance(until, list) or not all(isinstance(s, str) for s in until):
        raise ValueError(f"generation_kwargs['until'] must be a string or a list of strings, got {until!r}")
    return until


def cut_at_stops(text: str, stops: Sequence[str]) -> str:
    """`text` up to the first occurrence of any stop string."""
    cut = min((text.find(s) for s in stops if s and s in text), default=len(text))
    return text[:cut]


def _max_new_tokens(generation_kwargs: dict[str, Any]) -> int:
    return int(generation_kwargs.get("max_new_tokens") or DEFAULT_MAX_NEW_TOKENS)


def generate_until(
    generator: AnswerGenerator, requests: list[GenerationRequest], batch_size: int = 1, progress: bool = False
) -> list[str]:
    """Greedy answers in request order. Requests are batched with others of the same generation kwargs; sampling
    settings (temperature, top_p) are ignored: benchmark evaluation here is greedy."""
    groups: dict[str, list[int]] = {}
    for index, request in enumerate(requests):
        key = json.dumps(request.generation_kwargs, sort_keys=True, default=str)
        groups.setdefault(key, []).append(index)
    answers: list[str] = [""] * len(requests)
    bar = tqdm(total=len(requests), desc="llava_tc: generating", disable=not progress)
    for indices in groups.values():
        kwargs = requests[indices[0]].generation_kwargs
        stops = stop_strings(kwargs)
        if kwargs.get("do_sample") or float(kwargs.get("temperature") or 0) > 0:
            logger.warning("llava_tc decodes greedily; ignoring sampling settings %s", kwargs)
        for start in range(0, len(indices), batch_size):
            chunk = indices[start : start + batch_size]
            items = [
                generator.encode(str(i), question_text(requests[i].context), requests[i].load_images()) for i in chunk
            ]
            texts = generator.generate(generator.collator(items), _max_new_tokens(kwargs))
            for i, text in zip(chunk, texts, strict=True):
                answers[i] = cut_at_stops(text, stops).strip()
            bar.update(len(chunk))
    bar.close()
    return answers


@torch.no_grad()
def loglikelihood(
    generator: AnswerGenerator, context: str, continuation: str, images: Sequence[Image.Image] = ()
) -> tuple[float, bool]:
    """(sum of log-probabilities of `continuation` after the generation prompt of `context`, whether greedy decoding
    would produce exactly it). The continuation is tokenised on its own, with no special tokens."""
    tokenizer = generator.tokenizer
    target = tokenizer(continuation, add_special_tokens=False)["input_ids"]
    if not target:
        raise ValueError(f"continuation {continuation!r} tokenises to nothing")
    item = generator.encode("loglikelihood", question_text(context), list(images))
    item["input_ids"] = torch.cat([item["input_ids"], torch.tensor(target, dtype=torch.long)])
    logits = generator.model(**generator.model_inputs(generator.collator([item]))).logits
    log_probs = torch.log_softmax(logits[0, -len(target) - 1 : -1].float(), dim=-1)
    target_ids = torch.tensor(target, device=log_probs.device)
    total = float(log_probs.gather(1, target_ids.unsqueeze(1)).sum())
    greedy = bool((log_probs.argmax(dim=-1) == target_ids).all())
    return total, greedy


def as_lmms_loss(log_likelihood: float, is_greedy: bool) -> tuple[float, bool]:
    """lmms-eval's convention for a log-likelihood request's result: a loss. Its models return their LM loss, so
    multiple-choice scoring takes the choice with the *smallest* value (`np.argmin(lls)` in
    `ConfigurableTask.process_results`, lmms-eval 0.7.x; lm-eval-harness takes the largest log-likelihood instead).
    The negated sum ranks choices exactly as lm-eval-harness does, for `acc` and for the length-normalised
    `acc_norm`."""
    return -log_likelihood, is_greedy
