"""llava_tc: LLaVA-style VLMs with pluggable visual-token compressors, for inference-optimal scaling studies."""

__version__ = "0.1.0"
