"""`import llava_tc` is all transformers' Auto classes need for a run directory, and stays light; an HF user's
`AutoProcessor` + `AutoModelForImageTextToText` + `generate` answers exactly what `llava-tc eval` answers, and
`out[:, input_len:]` is that answer. Each check runs in a fresh interpreter, as a user's script would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llava_tc.eval.answers import ANSWERS_FILE
from llava_tc.eval.benchmarks import get_benchmark
from llava_tc.eval.runner import evaluate
from tests.eval_fixtures import save_run, synthetic_dataset

REPO = Path(__file__).resolve().parents[1]
MAX_NEW_TOKENS = 6

HF_USER = """
import json, sys
import llava_tc
from transformers import AutoModelForImageTextToText, AutoProcessor

run, image, prompt = sys.argv[1:4]
processor = AutoProcessor.from_pretrained(run)
model = AutoModelForImageTextToText.from_pretrained(run)
messages = [{"role": "user", "content": [{"type": "image", "path": image}, {"type": "text", "text": prompt}]}]
inputs = processor.apply_chat_template(
    messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
)
out = model.generate(**inputs, max_new_tokens=int(sys.argv[4]), do_sample=False)
input_len = inputs["input_ids"].shape[1]
new = out[0, input_len:].tolist()
stops = model.generation_config.eos_token_id
end = next((k for k, t in enumerate(new) if t in stops), len(new))
print(json.dumps({
    "processor": type(processor).__name__,
    "model": type(model).__name__,
    "prompt_kept": out[0, :input_len].tolist() == inputs["input_ids"][0].tolist(),
    "answer": processor.decode(new[:end], skip_special_tokens=True).strip(),
    "tail_after_stop": new[end + 1 :],
}))
"""


def python(code: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=REPO, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic_dataset(str(tmp_path_factory.mktemp("auto") / "synthetic"), 2)


@pytest.mark.parametrize("compressor", ["identity", "quecc"])
def test_hf_generate_on_a_run_answers_like_llava_tc_eval(tmp_path: Path, data_dir: Path, compressor: str) -> None:
    run = save_run(data_dir, tmp_path / "run", compressor)
    samples = get_benchmark("synthetic").load(data_dir)[:3]
    evaluate(
        run,
        "synthetic",
        data_dir,
        tmp_path / "eval",
        limit=3,
        max_new_tokens=MAX_NEW_TOKENS,
        batch_size=3,
        progress=False,
    )
    answers = {
        r["id"]: r["answer"] for r in map(json.loads, (tmp_path / "eval" / ANSWERS_FILE).read_text().split("\n")[:-1])
    }
    assert any(len(answer.split()) >= 2 for answer in answers.values())  # real answers, not immediate stops
    for sample in samples:
        report = json.loads(python(HF_USER, str(run), str(sample.image), sample.prompt, str(MAX_NEW_TOKENS)))
        assert (report["processor"], report["model"]) == ("LlavaTCProcessor", "LlavaTCForConditionalGeneration")
        assert report["prompt_kept"]
        assert report["answer"] == answers[sample.id]
        assert report["tail_after_stop"] == []  # `out[:, input_len:]` is the answer (and the token that ended it)


def test_import_llava_tc_is_light() -> None:
    code = (
        "import sys, time; start = time.perf_counter(); import llava_tc;"
        " print(time.perf_counter() - start, 'torch' in sys.modules, 'transformers' in sys.modules)"
    )
    seconds, torch_loaded, transformers_loaded = python(code).split()
    assert (torch_loaded, transformers_loaded) == ("False", "False")
    assert float(seconds) < 0.5


AUTO = "from transformers import AutoConfig, AutoProcessor, AutoModelForImageTextToText"
ORDERS = {
    "auto classes after llava_tc": ["import llava_tc", AUTO],
    "llava_tc after the auto classes": [AUTO, "import llava_tc"],
    "llava_tc before model code": [
        "import llava_tc",
        "from transformers import LlamaForCausalLM, Trainer",
        "import peft, accelerate",
        AUTO,
    ],
    "llava_tc after model code": [
        "import peft",
        "from transformers import Trainer, CLIPVisionModel",
        "import llava_tc",
        AUTO,
    ],
}


@pytest.mark.parametrize("order", list(ORDERS))
def test_registration_works_in_any_import_order(tmp_path: Path, data_dir: Path, order: str) -> None:
    run = save_run(data_dir, tmp_path / "run", "pool")
    code = "\n".join(
        [
            *ORDERS[order],
            "import sys",
            "run = sys.argv[1]",
            "print(type(AutoConfig.from_pretrained(run)).__name__, type(AutoProcessor.from_pretrained(run)).__name__,"
            " type(AutoModelForImageTextToText.from_pretrained(run)).__name__)",
        ]
    )
    assert python(code, str(run)).split()[-3:] == [
        "LlavaTCConfig",
        "LlavaTCProcessor",
        "LlavaTCForConditionalGeneration",
    ]
