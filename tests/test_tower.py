"""`llava_tc.tower`: scene labels and heads, image-caption pairs, CLIP's contrastive loss against a hand-written
symmetric InfoNCE, retrieval accuracy, and `llava-tc tower pretrain` learning on the demo's scenes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from llava_tc.cli import main
from llava_tc.data.synthetic import generate_synthetic
from llava_tc.tower import (
    REPORT_FILE,
    TOWER_VISION,
    TowerSettings,
    pairs_data,
    pretrain_tower,
    read_pairs,
    scenes_data,
    split_pairs,
    tower_processor,
)
from llava_tc.tower.contrastive import (
    MAX_LOGIT_SCALE,
    CaptionEncoder,
    build_clip,
    clamp_temperature,
    retrieval_accuracy,
)
from llava_tc.tower.heads import CELL_CLASSES, KINDS, SceneHeads, scene_labels
from llava_tc.tower.settings import TextEncoderSettings

SMALL_VISION = {**TOWER_VISION, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2}


def test_scene_labels_by_hand() -> None:
    scenes = [
        {
            "image": "a.png",
            "word": "DOG",
            "objects": [
                {"shape": "circle", "colour": "red", "size": "large", "row": 1, "col": 0},
                {"shape": "square", "colour": "blue", "size": "small", "row": 0, "col": 1},
            ],
        }
    ]
    labels = scene_labels(scenes, grid_size=2)
    assert labels.presence[0].nonzero().flatten().tolist() == sorted(
        [KINDS.index(("circle", "red")), KINDS.index(("square", "blue"))]
    )
    empty = len(CELL_CLASSES)
    assert labels.cells[0].tolist() == [
        empty,
        CELL_CLASSES.index(("square", "blue", "small")),
        CELL_CLASSES.index(("circle", "red", "large")),
        empty,
    ]
    assert labels.word.tolist() == [1]  # WORDS = ("CAT", "DOG", ...)
    with pytest.raises(ValueError, match=r"a\.png: word 'ZZZ' is not one of"):
        scene_labels([{**scenes[0], "word": "ZZZ"}], grid_size=2)


def test_each_head_reads_only_its_region() -> None:
    """8 x 8 patches, a word band of 2 patch rows, 2 x 2 cells of 3 x 4 patches above it."""
    torch.manual_seed(0)
    heads = SceneHeads(width=16, patches_per_side=8, grid_size=2)
    assert heads.row_edges == [0, 3, 6] and heads.col_edges == [0, 4, 8] and heads.area_rows == 6
    grid = torch.randn(1, 8, 8, 16)
    changed = grid.clone()
    changed[0, 4, 5] += 10.0  # a patch of cell (row 1, col 1)
    before, after = heads.logits(grid), heads.logits(changed)
    moved = (before["cell"] - after["cell"]).abs().amax(-1)[0]
    assert moved[3] > 0 and torch.equal(moved[:3], torch.zeros(3))
    assert torch.equal(before["word"], after["word"])
    band = grid.clone()
    band[0, 7, 0] += 10.0
    assert not torch.equal(heads.logits(band)["word"], before["word"])
    assert torch.equal(heads.logits(band)["cell"], before["cell"])


def test_pairs_read_first_reply_and_split_by_image(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    records = [
        {"id": str(i), "image": f"img/{i % 5}.png", "conversations": [
            {"from": "human", "value": "<image>\nDescribe."}, {"from": "gpt", "value": f" caption {i % 5} "},
            {"from": "human", "value": "More?"}, {"from": "gpt", "value": "ignored"}]}
        for i in range(10)
    ]  # fmt: skip
    records.append({"id": "text-only", "conversations": [{"from": "gpt", "value": "no image"}]})
    path = tmp_path / "data.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    pairs = read_pairs([path])
    assert len(pairs) == 10 and "1 records without an image" in caplog.text
    assert (pairs[3].image, pairs[3].caption, pairs[3].key) == (tmp_path / "img/3.png", "caption 3", "img/3.png")
    assert read_pairs([path], image_folder="/root")[0].image == Path("/root/img/0.png")
    train, held = split_pairs(pairs, 0.2, seed=1)
    assert {p.key for p in train}.isdisjoint({p.key for p in held}) and len({p.key for p in held}) == 1
    assert len(train) + len(held) == 10
    assert split_pairs(pairs, 0.2, seed=1) == (train, held)
    with pytest.raises(ValueError, match=r"held_out_fraction must be in \(0, 1\)"):
        split_pairs(pairs, 1.0, seed=0)


def test_captions_end_in_the_eos_that_clip_pools_at() -> None:
    encoder = CaptionEncoder(["a red circle .", "a blue square at the top ."])
    batch = encoder(["a red circle .", "a square"])
    eos = encoder.tokenizer.eos_token_id
    assert encoder.length == 8 and batch["input_ids"].shape == (2, 8)
    assert batch["input_ids"][0, 4] == eos and batch["attention_mask"][0].tolist() == [1] * 5 + [0] * 3
    assert batch["input_ids"][1, 2] == eos and batch["attention_mask"][1].sum() == 3


def test_contrastive_loss_is_symmetric_info_nce_with_the_learned_temperature() -> None:
    """HF's loss against the rule written out: cross-entropy both ways over exp(t) * cosine similarities."""
    torch.manual_seed(0)
    captions = ["a red circle", "a blue square", "a green triangle", "two things"]
    encoder = CaptionEncoder(captions)
    clip = build_clip(SMALL_VISION, encoder, TextEncoderSettings(hidden_size=32, num_layers=1, projection_dim=16))
    assert math.isclose(float(clip.logit_scale.detach()), math.log(1 / 0.07), rel_tol=1e-4)  # CLIP initial
    with torch.no_grad():
        clip.logit_scale.fill_(1.3)
    pixels = torch.randn(4, 3, 64, 64)
    out = clip(**encoder(captions), pixel_values=pixels, return_loss=True)
    image = F.normalize(clip.get_image_features(pixel_values=pixels).pooler_output, dim=-1)
    text = F.normalize(clip.get_text_features(**encoder(captions)).pooler_output, dim=-1)
    logits = math.exp(1.3) * image @ text.T
    truth = torch.arange(4)
    expected = (F.cross_entropy(logits, truth) + F.cross_entropy(logits.T, truth)) / 2
    torch.testing.assert_close(out.loss, expected, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        clip.logit_scale.fill_(9.0)
    clamp_temperature(clip)
    assert float(clip.logit_scale.detach()) == pytest.approx(MAX_LOGIT_SCALE)

    # Retrieval: a hit when the best caption (among the distinct ones) is the image's own.
    held = ["a red circle", "a blue square", "a red circle"]
    result = retrieval_accuracy(clip, pixels[:3], held, encoder)
    candidates = sorted(set(held))
    scores = image[:3] @ F.normalize(clip.get_text_features(**encoder(candidates)).pooler_output, dim=-1).T
    hits = [candidates[int(i)] == c for i, c in zip(scores.argmax(-1), held, strict=True)]
    assert result["image_to_caption"] == pytest.approx(sum(hits) / 3)
    assert (result["chance"], result["num_captions"]) == (0.5, 2)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tower") / "data"
    generate_synthetic(
        out, seed=3, num_train_scenes=300, num_eval_scenes=60, image_size=64, min_objects=1, max_objects=3, grid_size=2
    )
    return out


@pytest.mark.slow
def test_heads_tower_learns_saves_and_is_reused(scenes: Path, tmp_path: Path) -> None:
    """The demo's tower: heads only, on the scenes' labels."""
    from transformers import AutoImageProcessor, CLIPVisionModel

    settings = TowerSettings(steps=120, batch_size=32)
    processor = tower_processor(TOWER_VISION)
    train, held = (scenes_data(scenes, split, processor, 2) for split in ("train", "eval"))
    report = pretrain_tower(TOWER_VISION, train, held, tmp_path / "tower", settings, 0, processor)
    accuracy = report["held_out_accuracy"]
    # Held-out scenes: the most frequent cell content (an empty cell) is ~40% of the cells and one word in 16 is 6%.
    cells = json.loads((scenes / "scenes.json").read_text())
    empty_rate = 1 - sum(len(s["objects"]) for s in cells if s["split"] == "eval") / (4 * 60)
    assert accuracy["cell"] > empty_rate + 0.1, (accuracy, empty_rate)
    assert set(accuracy) == {"presence_f1", "cell", "word"} and "held_out_retrieval" not in report

    tower = CLIPVisionModel.from_pretrained(tmp_path / "tower")
    assert tower.config.image_size == 64 and tower.config.patch_size == 8
    assert AutoImageProcessor.from_pretrained(tmp_path / "tower").crop_size["height"] == 64
    assert not (tmp_path / "tower.partial").exists()

    weights = tmp_path / "tower" / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    assert pretrain_tower(TOWER_VISION, train, held, tmp_path / "tower", settings, 0, processor) == report
    assert weights.stat().st_mtime_ns == stamp
    assert json.loads((tmp_path / "tower" / REPORT_FILE).read_text()) == report


@pytest.mark.slow
def test_cli_contrastive_retrieval_beats_chance(scenes: Path, tmp_path: Path, capsys) -> None:
    """`llava-tc tower pretrain` on the demo's captions alone: held-out image->caption retrieval above chance."""
    from transformers import CLIPVisionModel

    out = tmp_path / "tower"
    args = ["tower", "pretrain", "--data", str(scenes / "pretrain.json"), "--out", str(out), "--steps", "150"]
    assert main(args) == 0
    assert "held-out image->caption retrieval" in capsys.readouterr().out
    retrieval = json.loads((out / REPORT_FILE).read_text())["held_out_retrieval"]
    assert retrieval["num_images"] == 30 and retrieval["chance"] == 1 / retrieval["num_captions"]
    assert retrieval["image_to_caption"] >= retrieval["chance"] + 0.1, retrieval
    assert CLIPVisionModel.from_pretrained(out).config.hidden_size == TOWER_VISION["hidden_size"]
    bad = ["tower", "pretrain", "--data", str(scenes / "pretrain.json"), "--out", str(tmp_path / "x")]
    assert main([*bad, "--objective", "heads"]) == 2  # heads need --scene-labels


def test_scene_labels_must_cover_every_image(scenes: Path) -> None:
    pairs = read_pairs([scenes / "pretrain.json"])[:2]
    processor = tower_processor(TOWER_VISION)
    data = pairs_data(pairs, processor, scenes / "scenes.json")
    assert data.labels is not None and data.pixels.shape == (2, 3, 64, 64)
    moved = [type(p)(p.image, p.caption, "elsewhere/" + p.key) for p in pairs]
    with pytest.raises(ValueError, match=r"scenes\.json: no scene for 2 images"):
        pairs_data(moved, processor, scenes / "scenes.json")
