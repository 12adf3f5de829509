"""llava_tc: LLaVA-style VLMs with pluggable visual-token compressors, for inference-optimal scaling studies.

`import llava_tc` is all transformers needs to load a run directory with its Auto classes
(`AutoProcessor`, `AutoModelForImageTextToText`, `AutoConfig`); it stays light (see `llava_tc.hf_auto`).
"""

from llava_tc import hf_auto

__version__ = "0.1.0"

hf_auto.install()
