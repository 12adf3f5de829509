"""Image loading and preprocessing: colour modes, LLaVA pad-to-square, resize, the tower's own normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import SiglipImageProcessorPil

from llava_tc.data.errors import BadSampleError
from llava_tc.data.images import load_image, preprocess_images, processor_mean_rgb, to_rgb

pytest_plugins = ["tests.data_fixtures"]

CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073])
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711])


def normalised(rgb: tuple[int, int, int]) -> np.ndarray:
    return (np.array(rgb) / 255 - CLIP_MEAN) / CLIP_STD


def test_pad_to_square_uses_processor_mean(clip_processor) -> None:
    red = (200, 30, 30)
    image = Image.new("RGB", (64, 16), red)  # wide: padding above and below
    pixels = preprocess_images([image], clip_processor, "pad")
    assert pixels.shape == (1, 3, 32, 32) and pixels.dtype == torch.float32
    top, centre = pixels[0, :, 1, 16].numpy(), pixels[0, :, 16, 16].numpy()
    assert np.allclose(top, 0.0, atol=0.02)  # mean colour normalises to ~0
    assert np.allclose(centre, normalised(red), atol=0.02)
    assert processor_mean_rgb(clip_processor) == (122, 116, 104)  # LLaVA's expand2square colour for CLIP


def test_resize_keeps_everything_crop_loses_borders(clip_processor) -> None:
    image = Image.new("RGB", (64, 16), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 8, 16))  # red left eighth
    resized = preprocess_images([image], clip_processor, "resize")[0]
    cropped = preprocess_images([image], clip_processor, "crop")[0]
    assert np.allclose(resized[:, 16, 0].numpy(), normalised((255, 0, 0)), atol=0.05)
    assert np.allclose(cropped[:, 16, 0].numpy(), normalised((0, 0, 255)), atol=0.05)
    with pytest.raises(ValueError, match="valid"):
        preprocess_images([image], clip_processor, "stretch")  # type: ignore[arg-type]


def test_siglip_processor_normalisation() -> None:
    processor = SiglipImageProcessorPil(size={"height": 24, "width": 24})
    pixels = preprocess_images([Image.new("RGB", (10, 30), (255, 255, 255))], processor, "pad")
    assert pixels.shape == (1, 3, 24, 24)
    assert torch.allclose(pixels[0, :, 12, 12], torch.ones(3), atol=1e-3)  # (1 - 0.5) / 0.5
    assert torch.allclose(pixels[0, :, 12, 0], torch.zeros(3), atol=0.01)  # padding = mean grey


@pytest.mark.parametrize(
    ("mode", "make"),
    [
        ("L", lambda: Image.new("L", (8, 8), 128)),
        ("CMYK", lambda: Image.new("CMYK", (8, 8), (0, 255, 255, 0))),  # red in CMYK
        ("P", lambda: Image.new("RGB", (8, 8), (0, 0, 255)).convert("P")),
        ("I;16", lambda: Image.fromarray(np.tile(np.array([0, 65535], dtype=np.uint16), (8, 4)))),
    ],
)
def test_colour_modes_become_rgb(tmp_path, mode: str, make) -> None:
    path = tmp_path / f"img-{mode.replace(';', '')}.{'jpg' if mode == 'CMYK' else 'png'}"
    make().save(path)
    image = load_image(path)
    assert image.mode == "RGB" and image.size == (8, 8)
    array = np.asarray(image)
    if mode == "CMYK":
        assert array[4, 4, 0] > 200 and array[4, 4, 1] < 60
    if mode == "I;16":
        assert array[:, 0].max() == 0 and array[:, 1].min() == 255  # rescaled, not clipped to white


def test_transparency_composited_not_black(tmp_path) -> None:
    rgba = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    rgba.paste((0, 255, 0, 255), (0, 0, 4, 8))
    path = tmp_path / "alpha.png"
    rgba.save(path)
    array = np.asarray(load_image(path))
    assert tuple(array[0, 0]) == (0, 255, 0)
    assert tuple(array[0, 7]) == (255, 255, 255)  # transparent -> white, not the hidden red nor black
    assert tuple(np.asarray(to_rgb(rgba, (1, 2, 3)))[0, 7]) == (1, 2, 3)


def test_missing_and_corrupt_images(tmp_path) -> None:
    with pytest.raises(BadSampleError, match="not found") as missing:
        load_image(tmp_path / "nope.png", "s1")
    assert missing.value.reason == "missing_image" and missing.value.sample_id == "s1"
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(BadSampleError) as corrupt:
        load_image(tmp_path / "bad.png")
    assert corrupt.value.reason == "corrupt_image"
    full = tmp_path / "full.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(full)
    (tmp_path / "cut.png").write_bytes(full.read_bytes()[:400])  # truncated file
    with pytest.raises(BadSampleError) as truncated:
        load_image(tmp_path / "cut.png")
    assert truncated.value.reason == "corrupt_image"
