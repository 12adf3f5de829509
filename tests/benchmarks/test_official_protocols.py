"""The official protocol of every benchmark, case by case, from reading the official code (issue 13's list); each case
also pins what the lenient reading (the pre-protocol scorers) gives, to show the two apart."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pandas as pd
import pytest

from llava_tc.eval.benchmarks import EvalSample, get_benchmark
from llava_tc.eval.benchmarks.mathvista import official_extraction, official_prediction
from llava_tc.eval.benchmarks.mmbench import PANDAS_MISSING, vlmevalkit_infer
from llava_tc.eval.benchmarks.options import parse_option_letter
from llava_tc.eval.benchmarks.scienceqa import parse_scienceqa_official
from llava_tc.eval.benchmarks.vqa_eval import (
    VIZWIZ_CONTRACTIONS,
    VQA_CONTRACTIONS,
    evalai_answer_processor,
    process_punctuation,
)
from llava_tc.eval.benchmarks.yes_no import parse_pope_official, parse_yes_no


def both(name: str, samples: list[EvalSample], answers: dict[str, str], metric: str | None = None) -> tuple:
    """(official, lenient) value of `metric` (default: the primary one)."""
    values = []
    for protocol in ("official", "lenient"):
        bench = get_benchmark(name, protocol)
        by_name = {m.name: m.value for m in bench.score(samples, answers)}
        values.append(by_name[metric or bench.primary_metric()])
    return tuple(values)


def one(name: str, response: str, /, **meta) -> tuple:
    """(official, lenient) primary score of a single answered question with `meta`."""
    return both(name, [EvalSample("q", None, "prompt", meta)], {"q": response})


def vqa(answer: str, humans: list[str], name: str = "vqav2") -> tuple:
    extra = {"image_id": "i", "question": "q?"} if name.startswith("textvqa") else {}
    return one(name, answer, answers=humans, answer_type="other", **extra)


# VQAv2 / TextVQA / VizWiz


def test_vqav2_ten_identical_humans_are_compared_raw() -> None:
    """vqaEval.py normalises only `if len(set(gtAnswers)) > 1`."""
    assert vqa("t shirt", ["t-shirt"] * 10) == (0.0, 1.0)
    assert vqa("T-shirt", ["t-shirt"] * 10) == (0.0, 1.0)  # EvalAI processing turns the hyphen into a space
    assert vqa("t shirt", ["t-shirt"] * 9 + ["tshirt"]) == (1.0, 1.0)  # humans disagree: normalised, 10 match


def test_vqav2_uses_the_official_contraction_table() -> None:
    assert len(VQA_CONTRACTIONS) == 120
    assert {"lets", "shes", "somebodyd", "wed", "its"}.isdisjoint(VQA_CONTRACTIONS)
    assert VQA_CONTRACTIONS["somebody'd"] == "somebodyd" and VQA_CONTRACTIONS["let's"] == "let's"
    assert VQA_CONTRACTIONS["Im"] == "I'm"  # capitalised key: never matches lowercased text
    assert vqa("lets go", ["let's go"] * 9 + ["lets go"]) == (pytest.approx(0.3), 1.0)  # one human typed "lets go"


def test_vqav2_predictions_go_through_the_evalai_processor(data_root: Path, tmp_path: Path) -> None:
    """LLaVA's convert_vqav2_for_submission.py runs EvalAIAnswerProcessor on every prediction."""
    assert evalai_answer_processor("He's happy") == "he 's happy"
    assert evalai_answer_processor("Yes, it is?") == "yes it is"
    assert vqa("He's happy", ["he's happy"] * 10) == (0.0, 1.0)  # "he 's happy" is not the raw "he's happy"
    bench = get_benchmark("vqav2")
    out = bench.write_submission(bench.load(data_root), {"2001": "He's happy", "2002": "The cat."}, tmp_path)
    assert [r["answer"] for r in json.loads(out.read_text())] == ["he 's happy", "cat", ""]


def test_the_period_rule_stops_after_32_periods() -> None:
    """`periodStrip.sub("", outText, re.UNICODE)`: re.UNICODE (32) lands in `count`; "(?!<=\\d)" is no lookbehind."""
    assert process_punctuation("a." * 40) == "a" * 32 + "a." * 8
    assert process_punctuation("3.5 m.") == "3.5 m"


def test_textvqa_m4c_evaluator_deletes_commas_and_question_marks() -> None:
    """TextVQAAccuracyEvaluator processes prediction and humans with EvalAIAnswerProcessor, always."""
    assert vqa("red,white", ["red white"] * 10, "textvqa") == (0.0, 1.0)  # "redwhite" officially
    assert vqa("what?no", ["what no"] * 10, "textvqa") == (0.0, 1.0)
    assert vqa("McDonald's", ["mcdonald's"] * 10, "textvqa") == (1.0, 1.0)  # both sides become "mcdonald 's"
    with pytest.raises(ValueError, match="question q has 9 human answers; the evaluator needs 10"):
        vqa("x", ["x"] * 9, "textvqa")


def test_textvqa_finds_humans_by_image_and_lowercased_question() -> None:
    """eval_textvqa.py keys annotations by (image_id, question.lower()): a repeated question uses the later one."""
    samples = [
        EvalSample("1", None, "p", {"answers": ["cat"] * 10, "image_id": "i", "question": "What is it?"}),
        EvalSample("2", None, "p", {"answers": ["dog"] * 10, "image_id": "i", "question": "what is it?"}),
    ]
    assert both("textvqa", samples, {"1": "cat", "2": "dog"}) == (0.5, 1.0)


def test_vizwiz_compares_raw_human_answers_and_maps_no_refusal() -> None:
    """The VizWiz API processes the prediction only; LLaVA submits EvalAI-processed text, refusals unmapped."""
    assert one("vizwiz", "Cannot be determined.", answers=["unanswerable"] * 10, answer_type="unanswerable") == (
        0.0,
        1.0,
    )
    assert one("vizwiz", "Unanswerable", answers=["unanswerable"] * 10, answer_type="unanswerable") == (1.0, 1.0)
    assert one("vizwiz", "T-Shirt", answers=["T-Shirt"] * 10, answer_type="other") == (0.0, 1.0)
    # EvalAI writes "don't"; the VizWiz table knows only "dont" (-> "don’t"); the humans stay "dont know"
    assert one("vizwiz", "dont know", answers=["dont know"] * 10, answer_type="other") == (0.0, 1.0)
    assert VIZWIZ_CONTRACTIONS["dont"] == "don\u2019t" and VIZWIZ_CONTRACTIONS["couldnt"] == "couldn't"
    assert VIZWIZ_CONTRACTIONS["weve"] == "we've" and "couldn'tve" in VIZWIZ_CONTRACTIONS
    assert VIZWIZ_CONTRACTIONS["\u2019ows\u2019at"] == "\u2019ow\u2019s\u2019at" and len(VIZWIZ_CONTRACTIONS) == 120


def test_vizwiz_submission_is_evalai_processed(data_root: Path, tmp_path: Path) -> None:
    bench = get_benchmark("vizwiz")
    test = bench.load(data_root, "test")
    out = bench.write_submission(
        test, {"VizWiz_test_00000000.jpg": "", "VizWiz_test_00000001.jpg": "A red car."}, tmp_path
    )
    assert [r["answer"] for r in json.loads(out.read_text())] == ["", "red car"]


# POPE and MME


@pytest.mark.parametrize(
    ("text", "official", "lenient"),
    [
        ("NO", "yes", "no"),  # case-sensitive words
        ("Not really.", "yes", "no"),
        ("Nope.", "yes", "no"),
        ("There isn't a dog.", "yes", "no"),
        ("Yes, there is no doubt.", "no", "yes"),  # any "no" in the first sentence
        ("No, there is not.", "no", "no"),
        ("There is a dog. It is not a cat.", "yes", "yes"),  # first sentence only
    ],
)
def test_pope_reads_yes_no_as_eval_pope_does(text: str, official: str, lenient: str) -> None:
    assert (parse_pope_official(text), parse_yes_no(text)) == (official, lenient)


def test_pope_scores_uppercase_no_as_yes() -> None:
    labels_answers = [("yes", "Yes"), ("no", "NO"), ("no", "Not really."), ("no", "No")]
    samples = [
        EvalSample(str(i), None, "p", {"category": "random", "label": lab}) for i, (lab, _) in enumerate(labels_answers)
    ]
    answers = {str(i): a for i, (_, a) in enumerate(labels_answers)}
    # official: TP 1, FP 2, TN 1 -> precision 1/3, recall 1, F1 0.5; lenient: all right -> F1 1
    assert both("pope", samples, answers) == (pytest.approx(0.5), 1.0)


def test_mme_subtask_score_is_summed_as_calculation_py_does() -> None:
    """task_score += acc*100, then += acc_plus*100: 70.0 + 45.0 == 115.0, where 100 * (0.7 + 0.45) is not."""
    samples, answers = [], {}
    for image in range(20):
        for k, label in enumerate(("yes", "no")):
            sample_id = f"existence/{image}.jpg/{k}"
            samples.append(
                EvalSample(sample_id, None, "p", {"subtask": "existence", "image_key": image, "answer": label})
            )
            right = image < 9 or (image < 19 and k == 0)  # 9 images both right, 10 one right: 28 of 40
            answers[sample_id] = label.capitalize() if right else {"yes": "No", "no": "Yes"}[label]
    assert both("mme", samples, answers, "score/existence") == (115.0, 115.0)
    assert 100 * (0.7 + 0.45) != 115.0


# Multiple choice


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("A", "A"),
        ("A. shiny", "A"),
        ("The answer is B.", "B"),
        ("(A)", None),
        ("A.", None),
        ("a", None),
        ("The answer is B", None),
        ("E", None),
        ("C", "C"),
    ],
)
def test_scienceqa_letter_parsing_is_strict(text: str, letter: str | None) -> None:
    assert parse_scienceqa_official(text, 3) == letter


def test_scienceqa_bracketed_and_dotted_letters_fail() -> None:
    meta = {"options": ["shiny", "sticky", "soft"], "answer": "A", "subject": "natural science"}
    assert one("scienceqa_img", "(A)", **meta) == (0.0, 1.0)
    assert one("scienceqa_img", "A.", **meta) == (0.0, 1.0)
    assert one("scienceqa_img", "A", **meta) == (1.0, 1.0)


def test_seed_bench_needs_the_exact_letter() -> None:
    meta = {"options": ["Mars", "Venus", "Earth", "Jupiter"], "answer": "C", "question_type": "Scene Understanding"}
    assert one("seed_bench_img", "C. Earth", **meta) == (0.0, 1.0)
    assert one("seed_bench_img", "C", **meta) == (1.0, 1.0)


@pytest.mark.parametrize(
    ("text", "official"),
    [
        ("The answer is A.", 0.0),
        ("A: sunny", 0.0),
        ("A sunny", 0.0),
        ("A", 1.0),
        ("a", 1.0),
        ("(A)", 1.0),
        ("A.", 1.0),
        ("A. sunny", 1.0),
        ("A\x00", 1.0),  # numpy string arrays ignore trailing NULs
    ],
)
def test_ai2d_uses_the_lmms_eval_filter_and_exact_match(text: str, official: float) -> None:
    assert one("ai2d", text, options=["sunny", "rainy"], answer="A") == (official, 1.0)


def test_mmbench_exact_matching_rejects_lowercase_letters_and_zero_width_spaces() -> None:
    options = ["cat", "dog", "fish", "bird"]
    assert vlmevalkit_infer("a.", options) is None and parse_option_letter("a.", options) == "A"
    assert vlmevalkit_infer("B\u200b", options) is None and parse_option_letter("B\u200b", options) == "B"
    assert vlmevalkit_infer("(B) dog", options) == "B" and vlmevalkit_infer("the dog", options) == "B"
    # a letter counts only among the last four tokens; else "answer is X"
    assert vlmevalkit_infer("B is the one I would choose here", options) is None
    assert vlmevalkit_infer("Cannot determine the answer", options) == "Z"
    meta = {"group": 0, "options": options, "answer": "A", "category": "c", "l2_category": "l"}
    samples = [EvalSample(str(k), None, "p", meta | {"rotation": k}) for k in range(2)]
    assert both("mmbench", samples, {"0": "A", "1": "a."}) == (0.0, 1.0)


def test_mmbench_reads_answers_that_pandas_takes_for_missing_as_nan() -> None:
    """VLMEvalKit reads its prediction sheet back with pandas: "None", "N/A", "" become NaN, i.e. "nan"."""
    from pandas._libs.parsers import STR_NA_VALUES

    assert PANDAS_MISSING == STR_NA_VALUES and pd.isna(pd.read_csv(io.StringIO('x\n"None"\n'))["x"][0])
    options = ["None", "1", "2", "3"]
    assert vlmevalkit_infer("None", options) is None and vlmevalkit_infer("none", options) == "A"
    meta = {"group": 0, "options": options, "answer": "A", "category": "c", "l2_category": "l", "rotation": 0}
    assert both("mmbench", [EvalSample("0", None, "p", meta)], {"0": "None"}) == (0.0, 1.0)


# Open answers


def test_gqa_does_not_trim_whitespace() -> None:
    """convert_gqa_for_eval.py: `text.rstrip('.').lower()` and nothing else; eval.py: `predicted == gold`."""
    meta = {"answer": "black", "structural": "query", "balanced": True}
    assert one("gqa", "black .", **meta) == (0.0, 1.0)
    assert one("gqa", "Black..", **meta) == (1.0, 1.0)


def test_gqa_counts_balanced_questions_only() -> None:
    samples = [
        EvalSample("1", None, "p", {"answer": "yes", "structural": "verify", "balanced": True}),
        EvalSample("2", None, "p", {"answer": "no", "structural": "verify", "balanced": False}),
    ]
    assert both("gqa", samples, {"1": "yes", "2": "yes"}) == (1.0, 0.5)


@pytest.mark.parametrize(
    ("prediction", "target", "official", "lenient"),
    [("Brazil.", "Brazil", 0.0, 1.0), ("12.5", "12", 1.0, 1.0), ("45%%", "45%", 1.0, 0.0), ("1e1", "10", 1.0, 1.0)],
)
def test_chartqa_keeps_a_trailing_period(prediction: str, target: str, official: float, lenient: float) -> None:
    assert one("chartqa", prediction, answer=target, subset="human") == (official, lenient)


def test_mmmu_one_letter_open_answer_matches_anywhere() -> None:
    """normalize_str turns "b" into " b" / "b "; eval_open checks `norm_ans in pred`."""
    meta = {"options": [], "answer": "b", "question_type": "open", "subject": "Math"}
    assert one("mmmu", "b and c", **meta) == (1.0, 0.0)


def test_mmmu_lowercases_before_splitting_sentences() -> None:
    meta = {"options": [], "answer": "3", "question_type": "open", "subject": "Math"}
    assert one("mmmu", "The answer is 3. So it is 4", **meta) == (0.0, 1.0)  # one sentence: the shortest tail "4"


# CAT_SHORT2LONG's order in mmmu/utils/data_utils.py, the order main_parse_and_eval.py and main_eval_only.py walk
MMMU_SUBJECTS = [
    "Accounting",
    "Agriculture",
    "Architecture_and_Engineering",
    "Art",
    "Art_Theory",
    "Basic_Medical_Science",
    "Biology",
    "Chemistry",
    "Clinical_Medicine",
    "Computer_Science",
    "Design",
    "Diagnostics_and_Laboratory_Medicine",
    "Economics",
    "Electronics",
    "Energy_and_Power",
    "Finance",
    "Geography",
    "History",
    "Literature",
    "Manage",
    "Marketing",
    "Materials",
    "Math",
    "Mechanical_Engineering",
    "Music",
    "Pharmacy",
    "Physics",
    "Psychology",
    "Public_Health",
    "Sociology",
]


def test_mmmu_guesses_unparseable_choices_from_the_seeded_stream() -> None:
    """random.seed(42) at import; one random.choice per unparseable answer, subjects in the script's order, which
    is the alphabetical order the scorer uses."""
    assert sorted(MMMU_SUBJECTS) == MMMU_SUBJECTS
    guesses = random.Random(42)
    expected = [guesses.choice("ABCD") for _ in range(3)]  # ["A", "A", "C"]
    samples = [
        EvalSample(
            f"{subject}-{i}",
            None,
            "p",
            {"options": ["w", "x", "y", "z"], "answer": gold, "question_type": "multiple-choice", "subject": subject},
        )
        for subject, i, gold in [("Math", 0, expected[2]), ("Art", 0, expected[0]), ("Art", 1, "B")]
    ]
    official, lenient = both("mmmu", samples, dict.fromkeys((s.id for s in samples), "I cannot tell"))
    # Art-0 gets the first guess (right), Art-1 the second ("A" != "B"), Math-0 the third (right)
    assert (official, lenient) == (pytest.approx(2 / 3), 0.0)


def mathvista_choice(answer: str) -> dict:
    choices = ["A cat", "A dog", "A bird"]
    return {"question_type": "multi_choice", "answer_type": "text", "choices": choices, "answer": answer, "task": "x"}


def test_mathvista_option_text_starting_with_a_is_not_the_letter_a() -> None:
    meta = mathvista_choice("A bird")
    assert parse_option_letter("A bird", meta["choices"]) == "C"
    assert one("mathvista", "A bird", **meta) == (1.0, 1.0)


def test_mathvista_without_gpt_a_bare_letter_becomes_the_nearest_choice() -> None:
    """extract_answer.py returns "" when no rule applies (no GPT); calculate_score.py takes the nearest choice."""
    meta = mathvista_choice("A dog")
    assert official_extraction("B", meta) == "" and official_prediction("", meta, "1") == "A cat"
    assert one("mathvista", "B", **meta) == (0.0, 1.0)
    assert one("mathvista", 'The answer is "A dog".', **meta) == (1.0, 1.0)
    assert one("mathvista", "(B) A dog", **meta) == (0.0, 1.0)
    integer = {
        "question_type": "free_form",
        "answer_type": "integer",
        "choices": None,
        "precision": None,
        "answer": "7",
        "task": "x",
    }
    assert one("mathvista", "7", **integer) == (1.0, 1.0)
    assert one("mathvista", "There are 7 apples.", **integer) == (0.0, 1.0)
    # calculate_score.py's `except Exception` around str(int(float(x))): an infinite extraction is simply wrong
    assert official_prediction("inf", integer, "1") is None
    assert one("mathvista", 'The answer is "inf".', **integer) == (0.0, 0.0)
