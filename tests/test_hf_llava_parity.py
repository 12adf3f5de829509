"""identity + mlp2x_gelu computes exactly what HF LlavaForConditionalGeneration computes; checkpoints go both ways:
`llava-tc import-hf-llava` (same logits as HF) and `llava-tc export` (stock HF processor + model give our answer)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image
from transformers import (
    AutoModelForImageTextToText,
    AutoProcessor,
    CLIPImageProcessorPil,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
)

from llava_tc.cli import main
from llava_tc.data.image_processor import image_processor_for
from llava_tc.data.images import ASPECTS
from llava_tc.eval.loading import load_for_eval
from llava_tc.eval.runner import AnswerGenerator
from llava_tc.model import LlavaTCForConditionalGeneration, LlavaTCProcessor, build_model
from llava_tc.model.export import to_hf_llava
from tests.batches import two_image_batch
from tests.eval_fixtures import save_run, synthetic_dataset, word_tokenizer
from tests.tiny import IMAGE_SIZE, PATCH, clip_config, llama_config, siglip_config, text_configs, vision_configs

PROMPT = "What colour is the circle?"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic_dataset(str(tmp_path_factory.mktemp("hf") / "synthetic"), 2)


def scene(seed: int) -> Image.Image:
    """A non-square picture (so pad, crop and resize differ) with some structure."""
    generator = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (IMAGE_SIZE // 2, IMAGE_SIZE, 3), generator=generator, dtype=torch.uint8)
    return Image.fromarray(pixels.numpy(), mode="RGB")


@pytest.mark.parametrize("vision_name", ["clip", "siglip"])
@pytest.mark.parametrize("text_name", ["llama", "qwen2"])
def test_logits_equal_hf_llava(vision_name: str, text_name: str) -> None:
    torch.manual_seed(0)
    model = build_model(vision_configs()[vision_name], text_configs()[text_name], compressor="identity").model.eval()
    hf_model = to_hf_llava(model)
    batch = two_image_batch(model)
    inputs = {key: batch[key] for key in ("input_ids", "attention_mask", "pixel_values")}
    with torch.no_grad():
        ours, theirs = model(**inputs), hf_model(**inputs)
    real = batch["attention_mask"].bool()
    assert ours.logits.shape == theirs.logits.shape
    assert torch.allclose(ours.logits[real], theirs.logits[real], atol=1e-5, rtol=0)


def hf_llava_folder(folder: Path, data_dir: Path, strategy: str = "default") -> Path:
    """A LlavaForConditionalGeneration folder as HF writes one: random weights, tokenizer with <image>, processor."""
    torch.manual_seed(3)
    tokenizer = word_tokenizer(data_dir)
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    config = LlavaConfig(
        vision_config=clip_config(initializer_range=0.5).to_dict(),
        text_config=llama_config(vocab_size=len(tokenizer), initializer_range=0.5).to_dict(),
        image_token_id=image_id,
        vision_feature_layer=-2,
        vision_feature_select_strategy=strategy,
        projector_hidden_act="gelu",
        image_seq_length=(IMAGE_SIZE // PATCH) ** 2,
    )
    LlavaForConditionalGeneration(config).eval().save_pretrained(folder)
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=PATCH,
        vision_feature_select_strategy=strategy,
        num_additional_image_tokens=1,
    )
    processor.save_pretrained(folder)
    return folder


def test_imported_checkpoint_gives_hf_logits(tmp_path: Path, data_dir: Path) -> None:
    folder = hf_llava_folder(tmp_path / "hf", data_dir)
    assert main(["import-hf-llava", str(folder), str(tmp_path / "run"), "--template", "chat"]) == 0
    ours = AutoModelForImageTextToText.from_pretrained(tmp_path / "run").eval()
    processor = AutoProcessor.from_pretrained(tmp_path / "run")
    assert isinstance(ours, LlavaTCForConditionalGeneration) and isinstance(processor, LlavaTCProcessor)
    assert (ours.config.compressor, ours.config.projector, processor.image_aspect) == ("identity", "mlp2x_gelu", "crop")
    theirs = LlavaForConditionalGeneration.from_pretrained(folder).eval()
    prompts = [f"<image>\n{PROMPT}", f"Two pictures: <image> and <image>\n{PROMPT}"]
    images = [scene(0), scene(1), scene(2)]
    inputs = processor(images=images, text=prompts, padding_side="right")
    hf_inputs = LlavaProcessor.from_pretrained(folder)(images=images, text=prompts, padding=True, return_tensors="pt")
    assert torch.equal(inputs["input_ids"], hf_inputs["input_ids"])  # the same ids as HF's own processor
    assert torch.equal(inputs["pixel_values"], hf_inputs["pixel_values"])
    with torch.no_grad():
        ours_logits = ours(**inputs).logits
        hf_logits = theirs(**inputs).logits
    real = inputs["attention_mask"].bool()
    difference = float((ours_logits[real] - hf_logits[real]).abs().max())
    print(f"import-hf-llava: max |logit difference| vs HF = {difference:.3g} (float32)")
    assert ours_logits.dtype == torch.float32 and difference <= 1e-5
    assert float(hf_logits[real].abs().max()) > 1.0  # logits far from zero: the bound is not vacuous


def test_import_refuses_what_llava_tc_cannot_compute(tmp_path: Path, data_dir: Path, capsys) -> None:
    folder = hf_llava_folder(tmp_path / "hf", data_dir, strategy="full")
    assert main(["import-hf-llava", str(folder), str(tmp_path / "run")]) == 2
    assert "keeps the CLS token" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def answer_tokens(sequence: torch.Tensor, stops: list[int]) -> list[int]:
    tokens = sequence.tolist()
    return tokens[: next((k for k, t in enumerate(tokens) if t in stops), len(tokens))]


@pytest.mark.parametrize("aspect", ASPECTS)
def test_exported_folder_answers_like_llava_tc_with_stock_hf(tmp_path: Path, data_dir: Path, aspect: str) -> None:
    run = save_run(data_dir, tmp_path / "run", "identity")
    processor = LlavaTCProcessor.from_pretrained(run)
    processor.image_aspect = aspect
    processor.save_pretrained(run)
    assert main(["export", str(run), str(tmp_path / "hf")]) == 0

    hf_processor = AutoProcessor.from_pretrained(tmp_path / "hf")
    hf_model = LlavaForConditionalGeneration.from_pretrained(tmp_path / "hf").eval()
    assert isinstance(hf_processor, LlavaProcessor)
    image = scene(4)
    messages = [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": PROMPT}]}]
    inputs = hf_processor.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
    )
    generator = AnswerGenerator(load_for_eval(run))
    ours = generator.collator([generator.encode("q", PROMPT, [image])])
    assert torch.equal(inputs["input_ids"], ours["input_ids"])
    assert torch.equal(inputs["pixel_values"], ours["pixel_values"])

    out = hf_model.generate(**inputs, max_new_tokens=6, do_sample=False)
    input_len = inputs["input_ids"].shape[1]
    hf_answer = hf_processor.decode(answer_tokens(out[0, input_len:], generator.stop_ids), skip_special_tokens=True)
    our_answer = generator.generate(ours, 6)[0]
    assert len(our_answer.split()) >= 2  # a real answer, not an immediate stop
    assert hf_answer.strip() == our_answer


def test_export_refuses_a_compressed_model() -> None:
    model = build_model(vision_configs()["clip"], text_configs()["llama"], compressor="pool", num_visual_tokens=4).model
    with pytest.raises(ValueError, match="compressor is 'pool'"):
        to_hf_llava(model)


def test_export_of_a_siglip_run_and_of_a_folder_without_processor(tmp_path: Path, data_dir: Path, capsys) -> None:
    tokenizer = word_tokenizer(data_dir)
    model = build_model(siglip_config(), llama_config(vocab_size=len(tokenizer)), tokenizer=tokenizer).model.eval()
    model.save_pretrained(tmp_path / "bare")
    assert main(["export", str(tmp_path / "bare"), str(tmp_path / "none")]) == 2  # no tokenizer: no processor
    assert "tokenizer_config.json" in capsys.readouterr().err
    LlavaTCProcessor.for_model(model, tokenizer, image_processor_for(model.config.vision_config)).save_pretrained(
        tmp_path / "bare"
    )
    assert main(["export", str(tmp_path / "bare"), str(tmp_path / "hf")]) == 0
    reloaded = LlavaForConditionalGeneration.from_pretrained(tmp_path / "hf")
    assert reloaded.config.vision_feature_select_strategy == "full"  # SigLIP has no CLS token to drop
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert config["image_seq_length"] == model.num_visual_tokens == (IMAGE_SIZE // PATCH) ** 2
    hf_processor = AutoProcessor.from_pretrained(tmp_path / "hf")
    hf_inputs = hf_processor(images=scene(5), text=f"<image>\n{PROMPT}", return_tensors="pt")
    assert (hf_inputs["input_ids"] == model.config.image_token_id).sum() == model.num_visual_tokens
