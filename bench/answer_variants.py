"""Seeded generators of benchmark samples and of the varied answers models write for them.

For every registered benchmark, `generate(name, seed, n)` returns (samples, answers): `EvalSample`s with the `meta`
the benchmark's loader would produce, and one answer per sample, trimmed as the eval runner stores it. Answers are
drawn from the surface forms real models produce: the right answer bare, in another case, with a trailing period,
as a sentence, with an article or a number word; an option letter bare, bracketed, with a period, with the option
text, inside "The answer is ..."; refusals; wrong answers. Used by `bench/scoring_protocols.py` (how much the lenient
reading moves each score) and by tests/benchmarks (official scorers against references written from the official
rules).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from llava_tc.eval.benchmarks.base import EvalSample
from llava_tc.eval.benchmarks.mme import COGNITION, PERCEPTION
from llava_tc.eval.benchmarks.options import LETTERS
from llava_tc.eval.benchmarks.pope import CATEGORIES

Generated = tuple[list[EvalSample], dict[str, str]]

# Short answers with the spellings that VQA-style processing treats differently.
_VQA_ANSWERS = {
    "t-shirt": ["t-shirt", "T-shirt", "t shirt", "tshirt"],
    "let's go": ["let's go", "lets go", "Let's go"],
    "2": ["2", "two", "Two", "2.", "two dogs"],
    "he's happy": ["he's happy", "He's happy", "hes happy", "happy"],
    "don't know": ["don't know", "dont know", "I don't know"],
    "coca cola": ["coca cola", "coca-cola", "Coca-Cola", "coke"],
    "1000": ["1000", "1,000", "one thousand"],
    "3.5": ["3.5", "3.5.", "3,5"],
    "yes": ["yes", "Yes", "Yes.", "yes!", "Yes, it is."],
    "no": ["no", "No", "No.", "no way"],
    "red and white": ["red and white", "red/white", "Red and white.", "red, white"],
    "cat": ["cat", "the cat", "A cat.", "cats"],
    "new york": ["new york", "New York", "New York City", "NYC"],
    "what's up": ["what's up", "whats up", "What's up?"],
    "stop sign": ["stop sign", "Stop sign", "stop-sign", "a stop sign."],
    "10:30": ["10:30", "10:30.", "half past ten"],
    "somebody'd": ["somebody'd", "somebodyd"],
    "unanswerable": ["unanswerable", "Unanswerable", "Unanswerable.", "cannot be determined", "not answerable", ""],
}
_POPE_OBJECTS = ("dog", "car", "person", "bottle", "chair")
_OPTION_SETS = (
    ["A cat", "A dog", "A bird", "A fish"],
    ["red", "blue", "green", "yellow"],
    ["Earth", "Mars", "Venus"],
    ["3", "4", "5", "6"],
    ["sunny", "rainy"],
    ["the left one", "the right one", "neither", "both"],
    ["increase", "decrease", "stay the same", "cannot tell"],
    ["None", "1", "2", "3"],
)
_GQA_ANSWERS = ("yes", "no", "left", "right", "black", "white", "table", "man", "wood", "large")
_GQA_STRUCTURAL = ("verify", "query", "choose", "logical", "compare")
_CHART_TARGETS = ("12", "45%", "0", "1.5", "2019", "37.8", "Brazil", "Yes", "No", "Male", "150")


def _letter_answer(rng: random.Random, options: list[str], letter: str) -> str:
    """One way of giving the option `letter`: half the time the bare letter, else one of the other forms models write
    (a few of them give no usable answer at all)."""
    if rng.random() < 0.5:
        return letter
    text = options[LETTERS.index(letter)]
    forms = [
        letter.lower(),
        f"{letter}.",
        f"{letter.lower()}.",
        f"({letter})",
        f"{letter})",
        f"{letter}. {text}",
        f"{letter}: {text}",
        f"({letter}) {text}",
        f"{letter} {text}",
        text,
        text.lower(),
        f"{text}.",
        f"The answer is {letter}.",
        f"The answer is {letter}",
        f"The answer is ({letter}).",
        f"Answer: {letter}",
        f"The correct answer is **{letter}**.",
        f"I think it is {letter} because the picture shows {text.lower()}.",
        f"{letter}\u200b",
        f"Option {letter}",
        f"{letter}, {text}",
        "I don't know",
        "I cannot tell from the image.",
        "None",
        "N/A",
    ]
    return rng.choice(forms)


def _pick_letter(rng: random.Random, n: int, gold: str, p_right: float = 0.7) -> str:
    return gold if rng.random() < p_right else rng.choice(LETTERS[:n])


def _vqa_humans(rng: random.Random, key: str) -> list[str]:
    spellings = _VQA_ANSWERS[key]
    if rng.random() < 0.4:
        return [spellings[0]] * 10
    k = rng.randint(1, 9)
    others = [rng.choice(_VQA_ANSWERS[rng.choice(list(_VQA_ANSWERS))]) for _ in range(10 - k)]
    humans = [rng.choice(spellings[:2]) for _ in range(k)] + others
    rng.shuffle(humans)
    return humans


def _vqa_prediction(rng: random.Random, key: str) -> str:
    if rng.random() < 0.2:
        key = rng.choice(list(_VQA_ANSWERS))
    return rng.choice(_VQA_ANSWERS[key])


def _vqa(name: str, rng: random.Random, n: int) -> Generated:
    samples, answers = [], {}
    types = ("yes/no", "number", "other") if name != "vizwiz" else ("yes/no", "number", "other", "unanswerable")
    for i in range(n):
        key = rng.choice(list(_VQA_ANSWERS))
        humans = _vqa_humans(rng, key)
        meta: dict = {"answers": humans, "answer_type": rng.choice(types), "question_id": i, "split": "val"}
        if name.startswith("textvqa"):  # now and then the same question about the same image again
            if samples and rng.random() < 0.1:
                image_id, question = samples[-1].meta["image_id"], samples[-1].meta["question"]
            else:
                image_id, question = f"img{i}", f"what is on sign {i}?"
            meta |= {"image_id": image_id, "question": rng.choice([question, question.upper()])}
        samples.append(EvalSample(f"{name}-{i}", None, "q", meta))
        answers[f"{name}-{i}"] = _vqa_prediction(rng, key)
    return samples, answers


def _yes_no_answer(rng: random.Random, label: str, thing: str) -> str:
    said = label if rng.random() < 0.8 else ("no" if label == "yes" else "yes")
    if said == "yes":
        forms = [
            "Yes",
            "yes",
            "Yes.",
            "YES",
            f"Yes, there is a {thing} in the image.",
            f"There is a {thing}.",
            "Yes, but it is not clear.",
            "Yes there is",
            f"I can see a {thing}.",
        ]
    else:
        forms = [
            "No",
            "no",
            "No.",
            "NO",
            f"No, there is no {thing}.",
            f"There is no {thing}.",
            "Not really.",
            f"There isn't a {thing} in the image.",
            "Nope.",
            "No there is not",
            "I don't think so.",
            "not sure",
        ]
    return rng.choice(forms)


def _pope(name: str, rng: random.Random, n: int) -> Generated:
    samples, answers = [], {}
    for i in range(n):
        category, label, thing = rng.choice(CATEGORIES), rng.choice(("yes", "no")), rng.choice(_POPE_OBJECTS)
        samples.append(
            EvalSample(f"{category}-{i}", None, "q", {"category": category, "label": label, "question_id": i})
        )
        answers[f"{category}-{i}"] = _yes_no_answer(rng, label, thing)
    return samples, answers


def _mme(name: str, rng: random.Random, n: int) -> Generated:
    samples, answers = [], {}
    for i in range(max(1, n // 2)):
        subtask = rng.choice(PERCEPTION + COGNITION)
        for k, label in enumerate(rng.sample(["yes", "no"], 2)):
            sample_id = f"{subtask}/{i}.jpg/{k}"
            samples.append(
                EvalSample(sample_id, None, "q", {"subtask": subtask, "image_key": f"{i}.jpg", "answer": label})
            )
            answers[sample_id] = _yes_no_answer(rng, label, "thing")
    return samples, answers


def _letters(name: str, rng: random.Random, n: int, group: str | None) -> Generated:
    samples, answers = [], {}
    for i in range(n):
        options = list(rng.choice(_OPTION_SETS))
        gold = rng.choice(LETTERS[: len(options)])
        meta = {"options": options, "answer": gold}
        if group:
            meta[group] = rng.choice(("natural science", "social science", "language science"))
        samples.append(EvalSample(f"{name}-{i}", None, "q", meta))
        answers[f"{name}-{i}"] = _letter_answer(rng, options, _pick_letter(rng, len(options), gold))
    return samples, answers


def _mmbench(name: str, rng: random.Random, n: int) -> Generated:
    samples, answers = [], {}
    for index in range(max(1, n // 4)):
        options = list(rng.choice(_OPTION_SETS))
        gold = rng.randrange(len(options))
        p_right = rng.choice((0.6, 0.9, 1.0))
        for k in range(len(options)):
            shown = options[k:] + options[:k]
            letter = LETTERS[(gold - k) % len(options)]
            sample_id = str(index + k * 1_000_000)
            meta = {
                "index": int(sample_id),
                "group": index,
                "rotation": k,
                "options": shown,
                "answer": letter,
                "category": rng.choice(("ocr", "scene")),
                "l2_category": "FP-S",
                "split": "dev",
                "tsv_row": True,
            }
            samples.append(EvalSample(sample_id, None, "q", meta))
            answers[sample_id] = _letter_answer(rng, shown, _pick_letter(rng, len(shown), letter, p_right))
    return samples, answers


def _gqa(name: str, rng: random.Random, n: int) -> Generated:
    samples, answers = [], {}
    for i in range(n):
        gold = rng.choice(_GQA_ANSWERS)
        said = gold if rng.random() < 0.7 else rng.choice(_GQA_ANSWERS)
        forms = [
            said,
            said,
            said.capitalize(),
            f"{said.capitalize()}.",
            f"{said} .",
            f"{said}..",
            said.upper(),
            f"The {said}",
            f"{said} side",
            f"{said.capitalize()}, it is.",
            f"{said}!",
        ]
        meta = {"answer": gold, "structural": rng.choice(_GQA_STRUCTURAL), "balanced": rng.random() < 0.95}
        samples.append(EvalSample(str(i), None, "q", meta))
        answers[str(i)] = rng.choice(forms)
    return samples, answers


def _chart_answer(rng: random.Random, target: str) -> str:
    number = target.rstrip("%")
    if number.replace(".", "").isdigit():
        value = float(number)
        forms = [
            target,
            number,
            f"{value * rng.uniform(0.9, 1.1):.1f}",
            f"{value:.2f}",
            f"{target}.",
            f"The answer is {target}",
            f"{number} million",
            f"{target}%",
            f"{value / 100:.2f}",
        ]
    else:
        forms = [target, target.lower(), f"{target}.", f"{target.upper()}", f"The answer is {target}.", "Unknown"]
    return rng.choice(forms)


def _chartqa(name: str, rng: random.Random, n: int) -> Generated:
    samples, answers = [], {}
    for i in range(n):
        target = rng.choice(_CHART_TARGETS)
        samples.append(EvalSample(str(i), None, "q", {"answer": target, "subset": rng.choice(("human", "augmented"))}))
        answers[str(i)] = _chart_answer(rng, target if rng.random() < 0.75 else rng.choice(_CHART_TARGETS))
    return samples, answers


_MMMU_OPEN = (
    ("b", ["b", "It is b.", "bad", "option b is wrong", "a"]),
    ("3.14", ["3.14", "3.1416", "The answer is 3.14.", "about 3.1", "pi"]),
    ("1200", ["1,200", "The total is 1200 dollars.", "1200.0", "12000"]),
    ("photosynthesis", ["Photosynthesis", "The process is photosynthesis.", "respiration"]),
    ("24", ["24", "So the result is 24\nThus x = 24", "x = 25"]),
)


def _mmmu(name: str, rng: random.Random, n: int) -> Generated:
    samples, answers = [], {}
    subjects = ("Art", "Math", "Physics", "Accounting")
    for i in range(n):
        subject = rng.choice(subjects)
        if rng.random() < 0.7:
            options = list(rng.choice(_OPTION_SETS))
            gold = rng.choice(LETTERS[: len(options)])
            meta = {"options": options, "answer": gold, "question_type": "multiple-choice", "subject": subject}
            answer = _letter_answer(rng, options, _pick_letter(rng, len(options), gold))
            if rng.random() < 0.15:
                answer = f"Looking at the image carefully, I believe the best choice is {options[0].lower()} here"
        else:
            gold, forms = rng.choice(_MMMU_OPEN)
            meta = {"options": [], "answer": gold, "question_type": "open", "subject": subject}
            answer = rng.choice(forms)
        samples.append(EvalSample(f"validation_{subject}_{i}", None, "q", meta))
        answers[f"validation_{subject}_{i}"] = answer
    return samples, answers


def _mathvista(name: str, rng: random.Random, n: int) -> Generated:
    samples, answers = [], {}
    for i in range(n):
        kind = rng.choice(("multi_choice", "multi_choice", "integer", "float", "list"))
        meta = {"question_type": "free_form", "answer_type": kind, "choices": None, "precision": None, "task": "x"}
        if kind == "multi_choice":
            options = list(rng.choice(_OPTION_SETS))
            gold = rng.choice(LETTERS[: len(options)])
            meta |= {"question_type": "multi_choice", "answer_type": "text", "choices": options}
            meta["answer"] = options[LETTERS.index(gold)]
            said = _pick_letter(rng, len(options), gold)
            text = options[LETTERS.index(said)]
            answer = rng.choice([_letter_answer(rng, options, said), text, f'The answer is "{text}".'])
        elif kind == "integer":
            meta["answer"] = str(rng.randint(0, 20))
            answer = rng.choice(["{}", "{}.0", "The answer is {}.", "There are {} apples.", "{} apples"]).format(
                meta["answer"] if rng.random() < 0.75 else rng.randint(0, 20)
            )
        elif kind == "float":
            meta |= {"precision": rng.choice((1.0, 2.0)), "answer": str(round(rng.uniform(0, 10), 1))}
            answer = rng.choice(["{}", "The answer is {}", "{}0", "about {}"]).format(meta["answer"])
        else:
            meta["answer"] = "[1, 2, 3]"
            answer = rng.choice(["[1, 2, 3]", "The list is [1, 2, 3].", "[1,2,3]", "1, 2, 3"])
        samples.append(EvalSample(str(i), None, "q", meta))
        answers[str(i)] = answer
    return samples, answers


def _synthetic(name: str, rng: random.Random, n: int) -> Generated:
    samples, answers = [], {}
    for i in range(n):
        gold = rng.choice(("red", "3", "yes", "left", "hello"))
        samples.append(EvalSample(str(i), None, "q", {"question_type": "attribute", "answer": gold, "choices": None}))
        answers[str(i)] = rng.choice([gold, gold.capitalize(), f"{gold}.", "blue"])
    return samples, answers


def _custom(name: str, rng: random.Random, n: int) -> Generated:
    """A custom question file scored by the `vqa` metric (the one whose protocols differ): ten human answers, or now
    and then a single gold answer."""
    samples, answers = [], {}
    for i in range(n):
        key = rng.choice(list(_VQA_ANSWERS))
        gold = _vqa_humans(rng, key) if rng.random() < 0.7 else [_VQA_ANSWERS[key][0]]
        meta = {"metric": "vqa", "answers": gold, "options": [], "category": rng.choice(("a", "b")), "question": "q"}
        samples.append(EvalSample(f"{name}-{i}", None, "q", meta))
        answers[f"{name}-{i}"] = _vqa_prediction(rng, key)
    return samples, answers


GENERATORS: dict[str, Callable[[str, random.Random, int], Generated]] = {
    "vqav2": _vqa,
    "vizwiz": _vqa,
    "textvqa": _vqa,
    "textvqa_ocr": _vqa,
    "pope": _pope,
    "mme": _mme,
    "mmbench": _mmbench,
    "scienceqa_img": lambda name, rng, n: _letters(name, rng, n, "subject"),
    "seed_bench_img": lambda name, rng, n: _letters(name, rng, n, "question_type"),
    "ai2d": lambda name, rng, n: _letters(name, rng, n, None),
    "gqa": _gqa,
    "chartqa": _chartqa,
    "mmmu": _mmmu,
    "mathvista": _mathvista,
    "synthetic": _synthetic,
    "custom": _custom,
}


def generate(name: str, seed: int = 0, n: int = 1000) -> Generated:
    """About `n` generated samples of benchmark `name` with one varied answer each, reproducible from `seed`."""
    if name not in GENERATORS:
        raise ValueError(f"no answer generator for benchmark {name!r}; have: {', '.join(sorted(GENERATORS))}")
    return GENERATORS[name](name, random.Random(f"{name}-{seed}"), n)
