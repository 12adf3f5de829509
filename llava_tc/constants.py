"""Constants shared by the model, the data pipeline and evaluation."""

IGNORE_INDEX = -100
IMAGE_TOKEN = "<image>"
