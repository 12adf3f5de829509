"""Pluggable visual-token compressors: `build_compressor(name, geometry, num_visual_tokens, ...)`.

Importing this package registers every built-in method; researchers can use them on plain tensors:

    from llava_tc.model.compressors import VisionGeometry, build_compressor
    compressor = build_compressor("pool", VisionGeometry(grid_size=24, hidden_size=1024), num_visual_tokens=16)
    tokens = compressor(torch.randn(2, 24, 24, 1024))   # [2, 16, 1024]
"""

from llava_tc.model.compressors.base import (
    TokenCompressor,
    TowerAttention,
    VisionFeatures,
    VisionGeometry,
    achievable_square_counts,
)
from llava_tc.model.compressors.divprune import DivPrune
from llava_tc.model.compressors.fastv import FastV
from llava_tc.model.compressors.identity import IdentityCompressor
from llava_tc.model.compressors.llava_mini import LlavaMiniCompressor
from llava_tc.model.compressors.m3 import M3Compressor
from llava_tc.model.compressors.nested import NestedCompressor, is_nested
from llava_tc.model.compressors.pool import PoolCompressor
from llava_tc.model.compressors.quecc import QueCC
from llava_tc.model.compressors.random_prune import RandomPrune
from llava_tc.model.compressors.registry import (
    build_compressor,
    get_compressor_class,
    list_compressors,
    register_compressor,
)
from llava_tc.model.compressors.resampler import ResamplerCompressor
from llava_tc.model.compressors.tokenpacker import TokenPackerCompressor
from llava_tc.model.compressors.visionzip import VisionZip

__all__ = [
    "DivPrune",
    "FastV",
    "IdentityCompressor",
    "LlavaMiniCompressor",
    "M3Compressor",
    "NestedCompressor",
    "PoolCompressor",
    "QueCC",
    "RandomPrune",
    "ResamplerCompressor",
    "TokenCompressor",
    "TokenPackerCompressor",
    "TowerAttention",
    "VisionFeatures",
    "VisionGeometry",
    "VisionZip",
    "achievable_square_counts",
    "build_compressor",
    "get_compressor_class",
    "is_nested",
    "list_compressors",
    "register_compressor",
]
