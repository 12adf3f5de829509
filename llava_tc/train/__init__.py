"""Training: `train(config) -> RunResult` (HF Trainer + optional DeepSpeed), stages, resume, LoRA merge and sweeps.

from llava_tc.train import train
result = train("configs/models/tiny.yaml", stage="full", output_dir="runs/tiny")
"""

from llava_tc.train.arguments import DataArguments, ModelArguments, TrainConfig, TrainingArgs, load_config
from llava_tc.train.run import RunResult, train

__all__ = ["DataArguments", "ModelArguments", "RunResult", "TrainConfig", "TrainingArgs", "load_config", "train"]
