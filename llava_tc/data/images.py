"""Image loading and preprocessing for any vision tower's image processor (CLIP/SigLIP PIL processors, ...).

`aspect` decides how a non-square image becomes the tower's square input:
- `pad` (LLaVA-1.5): paste the image centred on a square of the processor's mean colour, then let the processor resize,
  so nothing is cut and the padding normalises to zero;
- `resize`: squash to the processor's output size (aspect ratio lost, nothing cut, no padding);
- `crop`: the processor's own behaviour (CLIP: shortest edge, then centre crop; borders are lost).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from llava_tc.choices import ASPECTS, Aspect
from llava_tc.data.errors import BadSampleError

logger = logging.getLogger(__name__)


def to_rgb(image: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """RGB whatever the mode: alpha is composited on `background` (dropping it would turn transparency black),
    CMYK/grayscale/palette are converted, 16/32-bit grayscale is rescaled to 8 bits rather than clipped."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        array = np.asarray(image, dtype=np.float64)
        low, high = float(array.min()), float(array.max())
        scaled = (array - low) * (255.0 / (high - low)) if high > low else np.zeros_like(array)
        return Image.fromarray(scaled.round().astype(np.uint8), mode="L").convert("RGB")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, background)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")


def resolve_image_path(
    folder: str | Path, image: str, sample_id: str | None = None, *, allow_outside: bool = False
) -> Path:
    """`folder / image`, refused (`image_outside_folder`) when `image` is absolute or climbs out of `folder` with `..`,
    unless `allow_outside` (LLaVA's `os.path.join` opens any path a data file names). The check is on the path as
    written: symlinks the user put inside the folder (e.g. `coco -> /datasets/coco`) are followed as usual."""
    normalised = os.path.normpath(image)
    if allow_outside or not (os.path.isabs(normalised) or normalised.split(os.sep)[0] == os.pardir):
        return Path(folder) / image
    raise BadSampleError(
        "image_outside_folder",
        f"image path {image!r} leaves the image folder {folder} (set allow_images_outside_folder to accept it)",
        sample_id,
        field="image",
    )


def load_image(path: str | Path, sample_id: str | None = None, *, exif_transpose: bool = False) -> Image.Image:
    """Open and fully decode an image as RGB; a missing, unreadable or decompression-bomb file is a `BadSampleError`.

    Like LLaVA (`Image.open(path).convert('RGB')`) the EXIF orientation tag is ignored unless `exif_transpose`.
    Images over `PIL.Image.MAX_IMAGE_PIXELS` load (PIL's and LLaVA's behaviour) with a warning naming the sample;
    over twice that, or over it when PIL's `DecompressionBombWarning` is made an error, they are `image_too_large`.
    """
    path = Path(path)
    if not path.is_file():
        raise BadSampleError("missing_image", f"image file not found: {path}", sample_id, field="image")
    try:
        with warnings.catch_warnings(record=True) as caught, Image.open(path) as image:
            image.load()
            rgb = to_rgb(ImageOps.exif_transpose(image) if exif_transpose else image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise BadSampleError(
            "image_too_large",
            f"{path}: {error} (the limit is PIL.Image.MAX_IMAGE_PIXELS = {Image.MAX_IMAGE_PIXELS})",
            sample_id,
            field="image",
        ) from error
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise BadSampleError(
            "corrupt_image", f"cannot decode image {path}: {error}", sample_id, field="image"
        ) from error
    for warning in caught:
        if issubclass(warning.category, Image.DecompressionBombWarning):
            logger.warning("sample %r: image %s: %s (loaded anyway, as PIL does)", sample_id, path, warning.message)
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return rgb


def processor_mean_rgb(processor: Any) -> tuple[int, int, int]:
    """The processor's normalisation mean as an 8-bit colour, truncated as LLaVA does (`tuple(int(x*255) for x in
    image_processor.image_mean)`, haotian-liu/LLaVA llava/mm_utils.py and llava/train/train.py, c121f04; HF's
    `LlavaImageProcessor(do_pad=True)` too): the pad colour that normalises to (nearly) zero."""
    mean = getattr(processor, "image_mean", None) or (0.5, 0.5, 0.5)
    r, g, b = (int(float(m) * 255) for m in mean)
    return (r, g, b)


def processor_output_size(processor: Any) -> tuple[int, int]:
    """(height, width) of the processor's output, from `crop_size` when it centre-crops, else from `size`."""
    size = processor.crop_size if getattr(processor, "do_center_crop", False) else processor.size
    size = dict(size) if not isinstance(size, int) else {"height": size, "width": size}
    if "height" in size and "width" in size:
        return int(size["height"]), int(size["width"])
    edge = size.get("shortest_edge") or size.get("longest_edge")
    if edge is None:
        raise ValueError(f"cannot tell the output size of {type(processor).__name__} from size={size}")
    return int(edge), int(edge)


def expand_to_square(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """Centre `image` on a square canvas of `background` (LLaVA's `expand2square`)."""
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    canvas = Image.new(image.mode, (side, side), background)
    canvas.paste(image, ((side - width) // 2, (side - height) // 2))
    return canvas


def preprocess_images(images: Sequence[Image.Image], processor: Any, aspect: Aspect = "pad") -> torch.Tensor:
    """Float tensor [N, 3, H, W] normalised by the tower's own processor, after the `aspect` policy."""
    if aspect not in ASPECTS:
        raise ValueError(f"unknown image aspect policy {aspect!r}; valid: {ASPECTS}")
    mean = processor_mean_rgb(processor)
    prepared = [to_rgb(image, mean) for image in images]
    if aspect == "pad":
        prepared = [expand_to_square(image, mean) for image in prepared]
    elif aspect == "resize":
        height, width = processor_output_size(processor)
        prepared = [image.resize((width, height), Image.Resampling.BICUBIC) for image in prepared]
    pixel_values = processor(images=prepared, return_tensors="pt")["pixel_values"]
    return torch.as_tensor(pixel_values, dtype=torch.float32)
