"""A procedurally drawn visual-reasoning dataset, written as real LLaVA JSON + PNG files, for offline experiments.

Each scene holds 2-5 objects (shape x colour unique per scene, a size, a cell of a 3 x 3 grid, or a 2 x 2 grid with
`grid_size=2` for bigger objects in small images, with jitter) and,
optionally, a three-letter word in a band at the bottom. From it come:

- `pretrain.json`: one caption record per training scene (for the `plain` pretrain stage);
- `train.json`: `questions_per_scene` questions per training scene, as single-turn records or (a
  `multi_turn_fraction` of scenes) one multi-turn record;
- `eval.json`: held-out scenes (no scene signature shared with training), one question per record, one record per
  question type available for the scene, with `question_type`, `answer` and `choices`;
- `scenes.json`: each image's split, objects and word (for debugging and independent checks); `stats.json`: answer
  distributions and majority-answer rates per split and question type.

Question types: `attribute` (colour/shape/size of an object named by its other attributes), `count`, `exists`
(yes/no), `spatial` (left/right/above/below of one named object relative to another in the same row or column),
`ocr` (the word). Questions name one object among several, so a 1-token compressor must be told what to look at.
Answers are balanced greedily: among a scene's candidate questions of a type, the one whose answer has been used least
so far is asked, which keeps every type's majority answer at or below 40% except the binary `exists` (50%, its floor).
Everything is drawn from `random.Random` streams seeded by the seed and the split, so a seed gives byte-identical files.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from llava_tc.constants import IMAGE_TOKEN

SHAPES = ("circle", "square", "triangle")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 160, 50),
    "blue": (40, 70, 230),
    "yellow": (240, 200, 20),
    "purple": (150, 50, 190),
}
SIZES = ("small", "large")
WORDS = ("CAT", "DOG", "SUN", "BOX", "CUP", "HAT", "KEY", "MAP", "PEN", "BUS", "CAR", "EGG", "FOX", "ICE", "JAR", "OWL")
QUESTION_TYPES = ("attribute", "count", "exists", "spatial", "ocr")
RELATIONS = ("left", "right", "above", "below")
COUNT_CHOICES = tuple(str(n) for n in range(6))
BACKGROUND = (236, 236, 236)
ANSWER_SUFFIX = "\nAnswer the question using a single word or phrase."
CAPTION_PROMPTS = (
    "Describe the image briefly.",
    "Give a short description of the picture.",
    "What is in this image?",
    "Summarize the visual content of the image.",
)
CELL_NAMES: dict[int, tuple[tuple[str, ...], ...]] = {
    2: (("top left", "top right"), ("bottom left", "bottom right")),
    3: (("top left", "top", "top right"), ("left", "center", "right"), ("bottom left", "bottom", "bottom right")),
}
OBJECT_FILL = {"small": 0.45, "large": 0.85}
"""An object's side as a fraction of its cell."""


@dataclass(frozen=True)
class SceneObject:
    shape: str
    colour: str
    size: str
    row: int
    col: int

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"


@dataclass(frozen=True)
class Scene:
    objects: tuple[SceneObject, ...]
    word: str | None

    def signature(self) -> tuple[Any, ...]:
        """What defines a scene semantically; train and eval never share one."""
        return (self.word, tuple(sorted((o.shape, o.colour, o.size, o.row, o.col) for o in self.objects)))


@dataclass(frozen=True)
class Question:
    question_type: str
    question: str
    answer: str
    choices: tuple[str, ...]


@dataclass
class TypeStats:
    num_questions: int
    answers: dict[str, int]
    majority_answer: str
    majority_rate: float
    chance: float
    """Mean of 1 / len(choices): the accuracy of guessing uniformly among the choices."""


@dataclass
class SyntheticStats:
    out_dir: str
    seed: int
    num_images: dict[str, int]
    num_records: dict[str, int]
    question_types: dict[str, dict[str, TypeStats]] = field(default_factory=dict)
    """split ("train" or "eval") -> question type -> answer statistics."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        """A plain-text table of the majority-answer rate per split and type."""
        lines = [f"{'split':<6} {'type':<10} {'n':>6} {'majority':>10} {'rate':>6} {'chance':>7}"]
        for split, types in self.question_types.items():
            for name, s in types.items():
                lines.append(
                    f"{split:<6} {name:<10} {s.num_questions:>6} {s.majority_answer:>10} {s.majority_rate:>6.1%}"
                    f" {s.chance:>7.1%}"
                )
        return "\n".join(lines)


def sample_scene(
    rng: random.Random, with_word: bool, min_objects: int = 2, max_objects: int = 5, grid_size: int = 3
) -> Scene:
    count = rng.randint(min_objects, max_objects)
    kinds = rng.sample([(s, c) for s in SHAPES for c in COLOURS], count)
    cells = rng.sample([(r, c) for r in range(grid_size) for c in range(grid_size)], count)
    objects = tuple(
        SceneObject(shape, colour, rng.choice(SIZES), row, col)
        for (shape, colour), (row, col) in zip(kinds, cells, strict=True)
    )
    return Scene(objects, rng.choice(WORDS) if with_word else None)


@lru_cache(maxsize=256)
def _word_mask(word: str, font_size: int) -> Image.Image:
    """The word rendered once as an 8-bit mask (rendering text is the slowest part of drawing a scene)."""
    font = ImageFont.load_default(size=font_size)
    left, top, right, bottom = font.getbbox(word)
    mask = Image.new("L", (right - left, bottom - top), 0)
    ImageDraw.Draw(mask).text((-left, -top), word, font=font, fill=255)
    return mask


def draw_scene(scene: Scene, size: int, rng: random.Random, grid_size: int = 3) -> Image.Image:
    """Render a scene; object area is the whole image, or the top three quarters when there is a word below."""
    image = Image.new("RGB", (size, size), BACKGROUND)
    draw = ImageDraw.Draw(image)
    area_height = size * 3 / 4 if scene.word else size
    cell_w, cell_h = size / grid_size, area_height / grid_size
    for obj in scene.objects:
        side = min(cell_w, cell_h) * OBJECT_FILL[obj.size]
        slack_x, slack_y = (cell_w - side) / 2 * 0.6, (cell_h - side) / 2 * 0.6
        cx = (obj.col + 0.5) * cell_w + rng.uniform(-slack_x, slack_x)
        cy = (obj.row + 0.5) * cell_h + rng.uniform(-slack_y, slack_y)
        box = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
        colour = COLOURS[obj.colour]
        if obj.shape == "circle":
            draw.ellipse(box, fill=colour)
        elif obj.shape == "square":
            draw.rectangle(box, fill=colour)
        else:
            draw.polygon([(cx, box[1]), (box[0], box[3]), (box[2], box[3])], fill=colour)
    if scene.word:
        mask = _word_mask(scene.word, max(8, round(size / 6)))
        band_top = area_height
        x = (size - mask.width) / 2 + rng.uniform(-size / 8, size / 8)
        y = band_top + (size - band_top - mask.height) / 2
        image.paste((20, 20, 20), (round(x), round(y)), mask)
    return image


def caption(scene: Scene, grid_size: int = 3) -> str:
    ordered = sorted(scene.objects, key=lambda o: (o.row, o.col))
    parts = [f"a {o.size} {o.colour} {o.shape} at the {CELL_NAMES[grid_size][o.row][o.col]}" for o in ordered]
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    text = listed[0].upper() + listed[1:] + "."
    if scene.word:
        text += f' The word "{scene.word}" is written below.'
    return text


def candidate_questions(scene: Scene) -> dict[str, list[Question]]:
    """Every question of each type that has an unambiguous answer for this scene."""
    objects = scene.objects
    shape_counts = Counter(o.shape for o in objects)
    colour_counts = Counter(o.colour for o in objects)
    attribute = [
        Question("attribute", f"What color is the {o.shape}?", o.colour, tuple(COLOURS))
        for o in objects
        if shape_counts[o.shape] == 1
    ]
    attribute += [
        Question("attribute", f"What shape is the {o.colour} object?", o.shape, SHAPES)
        for o in objects
        if colour_counts[o.colour] == 1
    ]
    attribute += [Question("attribute", f"What size is the {o.name}?", o.size, SIZES) for o in objects]
    count = [Question("count", f"How many {s}s are there?", str(shape_counts[s]), COUNT_CHOICES) for s in SHAPES]
    count += [
        Question("count", f"How many {c} objects are there?", str(colour_counts[c]), COUNT_CHOICES) for c in COLOURS
    ]
    present = {(o.shape, o.colour) for o in objects}
    exists = [
        Question("exists", f"Is there a {c} {s}?", "yes" if (s, c) in present else "no", ("yes", "no"))
        for s in SHAPES
        for c in COLOURS
    ]
    spatial = []
    for a in objects:
        for b in objects:
            if a is b or (a.row != b.row and a.col != b.col):
                continue
            if a.row == b.row:
                relation = "left" if a.col < b.col else "right"
            else:
                relation = "above" if a.row < b.row else "below"
            text = f"Where is the {a.name} relative to the {b.name}? Answer left, right, above or below."
            spatial.append(Question("spatial", text, relation, RELATIONS))
    ocr = [Question("ocr", "What word is written in the image?", scene.word, WORDS)] if scene.word else []
    candidates = {"attribute": attribute, "count": count, "exists": exists, "spatial": spatial, "ocr": ocr}
    return {name: qs for name, qs in candidates.items() if qs}


def pick_balanced(candidates: Sequence[Question], used: Counter[str], rng: random.Random) -> Question:
    """The candidate whose answer has been given least so far (ties broken at random), then count it."""
    fewest = min(used[q.answer] for q in candidates)
    chosen = rng.choice([q for q in candidates if used[q.answer] == fewest])
    used[chosen.answer] += 1
    return chosen


def _turns(questions: Sequence[Question]) -> list[dict[str, str]]:
    turns: list[dict[str, str]] = []
    for k, q in enumerate(questions):
        prefix = f"{IMAGE_TOKEN}\n" if k == 0 else ""
        turns += [{"from": "human", "value": prefix + q.question + ANSWER_SUFFIX}, {"from": "gpt", "value": q.answer}]
    return turns


def _type_stats(questions: Sequence[Question]) -> dict[str, TypeStats]:
    stats: dict[str, TypeStats] = {}
    for name in QUESTION_TYPES:
        of_type = [q for q in questions if q.question_type == name]
        if not of_type:
            continue
        answers = Counter(q.answer for q in of_type)
        majority, top = max(sorted(answers.items()), key=lambda item: item[1])
        chance = sum(1 / len(q.choices) for q in of_type) / len(of_type)
        stats[name] = TypeStats(len(of_type), dict(sorted(answers.items())), majority, top / len(of_type), chance)
    return stats


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _scene_record(scene: Scene, image: str, split: str) -> dict[str, Any]:
    return {"image": image, "split": split, "word": scene.word, "objects": [asdict(o) for o in scene.objects]}


def generate_synthetic(
    out_dir: str | Path,
    *,
    seed: int = 0,
    num_train_scenes: int = 1000,
    num_eval_scenes: int = 200,
    image_size: int = 336,
    questions_per_scene: int = 4,
    with_word: bool = True,
    multi_turn_fraction: float = 0.3,
    min_objects: int = 2,
    max_objects: int = 5,
    grid_size: int = 3,
) -> SyntheticStats:
    """Write the dataset under `out_dir` (see the module docstring) and return its statistics."""
    if grid_size not in CELL_NAMES:
        raise ValueError(f"grid_size must be one of {sorted(CELL_NAMES)} (cells per side), got {grid_size}")
    cells = grid_size * grid_size
    if not 1 <= min_objects <= max_objects <= cells:
        raise ValueError(
            f"need 1 <= min_objects <= max_objects <= {cells} (a {grid_size} x {grid_size} grid),"
            f" got {min_objects}, {max_objects}"
        )
    if image_size < 16 or questions_per_scene < 1 or num_train_scenes < 1 or num_eval_scenes < 1:
        raise ValueError("need image_size >= 16 and at least one train scene, eval scene and question per scene")
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    scenes_meta: list[dict[str, Any]] = []

    def make_scenes(split: str, count: int, accept: Callable[[Scene], bool]) -> list[tuple[Scene, str]]:
        rng = random.Random(f"llava_tc-synthetic:{seed}:{split}")
        made: list[tuple[Scene, str]] = []
        while len(made) < count:
            scene = sample_scene(rng, with_word, min_objects, max_objects, grid_size)
            if not accept(scene):
                continue
            image = f"images/{split}-{len(made):06d}.png"
            draw_scene(scene, image_size, rng, grid_size).save(out / image, format="PNG", compress_level=6)
            made.append((scene, image))
            scenes_meta.append(_scene_record(scene, image, split))
        return made

    train_scenes = make_scenes("train", num_train_scenes, lambda s: True)
    train_signatures = {s.signature() for s, _ in train_scenes}
    eval_signatures: set[tuple[Any, ...]] = set()

    def unseen(scene: Scene) -> bool:
        signature = scene.signature()
        if signature in train_signatures or signature in eval_signatures:
            return False
        eval_signatures.add(signature)
        return True

    eval_scenes = make_scenes("eval", num_eval_scenes, unseen)

    rng = random.Random(f"llava_tc-synthetic:{seed}:questions")
    pretrain = [
        {
            "id": f"pretrain-{k:06d}",
            "image": image,
            "conversations": [
                {"from": "human", "value": f"{IMAGE_TOKEN}\n{rng.choice(CAPTION_PROMPTS)}"},
                {"from": "gpt", "value": caption(scene, grid_size)},
            ],
        }
        for k, (scene, image) in enumerate(train_scenes)
    ]
    used: dict[str, Counter[str]] = {name: Counter() for name in QUESTION_TYPES}
    train: list[dict[str, Any]] = []
    train_questions: list[Question] = []
    for k, (scene, image) in enumerate(train_scenes):
        candidates = candidate_questions(scene)
        types = list(candidates)
        rng.shuffle(types)
        chosen: list[Question] = []
        for j in range(questions_per_scene):
            name = types[j % len(types)]
            remaining = [q for q in candidates[name] if q not in chosen] or candidates[name]
            chosen.append(pick_balanced(remaining, used[name], rng))
        train_questions += chosen
        groups = [chosen] if rng.random() < multi_turn_fraction else [[q] for q in chosen]
        for j, group in enumerate(groups):
            train.append({"id": f"train-{k:06d}-{j}", "image": image, "conversations": _turns(group)})

    used = {name: Counter() for name in QUESTION_TYPES}
    evaluation: list[dict[str, Any]] = []
    eval_questions: list[Question] = []
    for k, (scene, image) in enumerate(eval_scenes):
        for name, candidates in candidate_questions(scene).items():
            q = pick_balanced(candidates, used[name], rng)
            eval_questions.append(q)
            evaluation.append(
                {
                    "id": f"eval-{k:06d}-{name}",
                    "image": image,
                    "conversations": _turns([q]),
                    "question_type": name,
                    "answer": q.answer,
                    "choices": list(q.choices),
                }
            )

    stats = SyntheticStats(
        out_dir=str(out),
        seed=seed,
        num_images={"train": len(train_scenes), "eval": len(eval_scenes)},
        num_records={"pretrain": len(pretrain), "train": len(train), "eval": len(evaluation)},
        question_types={"train": _type_stats(train_questions), "eval": _type_stats(eval_questions)},
    )
    _write_json(out / "pretrain.json", pretrain)
    _write_json(out / "train.json", train)
    _write_json(out / "eval.json", evaluation)
    _write_json(out / "scenes.json", scenes_meta)
    stats_dict = stats.to_dict()
    stats_dict.pop("out_dir")
    _write_json(out / "stats.json", stats_dict)
    return stats
