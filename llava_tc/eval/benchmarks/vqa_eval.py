"""The official VQA-accuracy evaluators behind the published VQAv2, VizWiz and TextVQA numbers, quirks included.

Three tools, one family of answer processing (punctuation, periods, number words, articles, contractions):

- GT-Vision-Lab/VQA `PythonEvaluationTools/vqaEvaluation/vqaEval.py` (commit a013f0043c1e), which EvalAI runs on
  VQAv2 submissions: `vqa_eval_accuracy`. It normalises the prediction and the humans only when the humans disagree
  (ten identical human answers are compared raw with the stripped prediction, so "t shirt" scores 0 against ten
  "t-shirt"); it drops a human answer from a leave-one-out set by identity (each release answer has its own
  `answer_id`, so exactly one).
- LLaVA `llava/eval/m4c_evaluator.py` (haotian-liu/LLaVA c121f0432da2): `evalai_answer_processor` is its
  `EvalAIAnswerProcessor`, which `scripts/convert_vqav2_for_submission.py` and `convert_vizwiz_for_submission.py`
  run on every prediction before upload (lowercase, delete "," and "?", "'s" -> " 's", then the VQA processing);
  `textvqa_accuracy` is its `TextVQAAccuracyEvaluator` (`eval_textvqa.py`), which processes humans and prediction
  alike, always.
- The VizWiz VQA API `vqaEval.py` (Qing Li, distributed by vizwiz.org; no public commit), run by the VizWiz EvalAI
  challenge: `vizwiz_eval_accuracy` processes the prediction only and compares it with the raw human answers; its
  contraction table spells most apostrophes as U+2019 ("dont" -> "don’t").

Quirks kept from all three: the period pattern `(?!<=\\d)(\\.)(?!\\d)` (its "lookbehind" is a lookahead that never
fires, so it is "a period not before a digit"), applied with `count=re.UNICODE`, i.e. to the first 32 periods only;
punctuation deleted everywhere as soon as any one punctuation mark touches a space or a digit-comma-digit occurs, else
turned into spaces; number words only up to "ten" ("none" -> "0"); the exact contraction tables (no "lets", "shes",
"wed"; "somebody'd" -> "somebodyd"; capitalised keys that never match lowercased text). We read the tools with
Python 3 semantics (vqaEval.py is Python 2 code; `\\d` there matches ASCII digits only, which differs only for
non-ASCII digits).
"""

from __future__ import annotations

import re

from llava_tc.eval.benchmarks.base import Metric, grouped_accuracy, mean

# The contraction table of vqaEval.py, identical entry for entry (120 keys) in m4c_evaluator.py, written here as
# "value: key key ..." groups separated by "|".
_CONTRACTION_GROUPS = """
ain't: aint | aren't: arent | can't: cant | could've: couldve | couldn't: couldnt
couldn't've: couldn'tve couldnt've | didn't: didnt | doesn't: doesnt | don't: dont | hadn't: hadnt
hadn't've: hadnt've hadn'tve | hasn't: hasnt | haven't: havent | he'd: hed | he'd've: hed've he'dve | he's: hes
how'd: howd | how'll: howll | how's: hows | I'd've: Id've I'dve | I'm: Im | I've: Ive | isn't: isnt | it'd: itd
it'd've: itd've it'dve | it'll: itll | let's: let's | ma'am: maam | mightn't: mightnt
mightn't've: mightnt've mightn'tve | might've: mightve | mustn't: mustnt | must've: mustve | needn't: neednt
not've: notve | o'clock: oclock | oughtn't: oughtnt | 'ow's'at: ow's'at 'ows'at 'ow'sat | shan't: shant
she'd've: shed've she'dve | she's: she's | should've: shouldve | shouldn't: shouldnt
shouldn't've: shouldnt've shouldn'tve | somebodyd: somebody'd | somebody'd've: somebodyd've somebody'dve
somebody'll: somebodyll | somebody's: somebodys | someone'd: someoned | someone'd've: someoned've someone'dve
someone'll: someonell | someone's: someones | something'd: somethingd
something'd've: somethingd've something'dve | something'll: somethingll | that's: thats | there'd: thered
there'd've: thered've there'dve | there're: therere | there's: theres | they'd: theyd
they'd've: theyd've they'dve | they'll: theyll | they're: theyre | they've: theyve | 'twas: twas | wasn't: wasnt
we'd've: wed've we'dve | we've: weve | weren't: werent | what'll: whatll | what're: whatre | what's: whats
what've: whatve | when's: whens | where'd: whered | where's: wheres | where've: whereve | who'd: whod
who'd've: whod've who'dve | who'll: wholl | who's: whos | who've: whove | why'll: whyll | why're: whyre
why's: whys | won't: wont | would've: wouldve | wouldn't: wouldnt | wouldn't've: wouldnt've wouldn'tve
y'all: yall | y'all'll: yall'll y'allll | y'all'd've: yall'd've y'alld've y'all'dve | you'd: youd
you'd've: youd've you'dve | you'll: youll | you're: youre | you've: youve
"""


def _parse_groups(text: str) -> dict[str, str]:
    table: dict[str, str] = {}
    for group in text.replace("\n", "|").split("|"):
        if group.strip():
            value, keys = group.split(": ")
            table.update(dict.fromkeys(keys.split(), value.strip()))
    return table


VQA_CONTRACTIONS: dict[str, str] = _parse_groups(_CONTRACTION_GROUPS)

# The VizWiz table is the same table with U+2019 for every apostrophe, except where the VizWiz file kept "'".
_CURLY = "\u2019"
_VIZWIZ_STRAIGHT_KEYS = frozenset({"couldn'tve", "hadn'tve"})
_VIZWIZ_STRAIGHT_VALUES = frozenset({"aint", "arent", "cant", "couldve", "couldnt", "weve", "wheres", "whove"})
VIZWIZ_CONTRACTIONS: dict[str, str] = {
    (key if key in _VIZWIZ_STRAIGHT_KEYS else key.replace("'", _CURLY)): (
        value if key in _VIZWIZ_STRAIGHT_VALUES else value.replace("'", _CURLY)
    )
    for key, value in VQA_CONTRACTIONS.items()
}

NUMBER_WORDS = {
    "none": "0",
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
}
ARTICLES = ("a", "an", "the")
PUNCTUATION = (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!")
PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
PERIOD_STRIP_COUNT = int(re.UNICODE)  # the tools pass re.UNICODE (= 32) where `sub` takes its `count`
VQA_COMMA = re.compile(r"(\d)(\,)(\d)")  # vqaEval.py and the VizWiz API
M4C_COMMA = re.compile(r"(?<=\d)(\,)+(?=\d)")  # m4c_evaluator.py


def process_punctuation(text: str, comma: re.Pattern[str] = VQA_COMMA) -> str:
    """`processPunctuation`: the tests look at the input text, the replacements accumulate on the output."""
    out = text
    for p in PUNCTUATION:
        if (p + " " in text or " " + p in text) or comma.search(text) is not None:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return PERIOD_STRIP.sub("", out, count=PERIOD_STRIP_COUNT)


def process_digit_article(text: str, contractions: dict[str, str] = VQA_CONTRACTIONS) -> str:
    """`processDigitArticle`: lowercase, number words to digits, articles out, then contractions word by word."""
    words = [NUMBER_WORDS.get(word, word) for word in text.lower().split()]
    words = [word for word in words if word not in ARTICLES]
    return " ".join(contractions.get(word, word) for word in words)


def _clean(text: str) -> str:
    return text.replace("\n", " ").replace("\t", " ").strip()


def evalai_answer_processor(text: str) -> str:
    """LLaVA's `EvalAIAnswerProcessor` (what its submission scripts upload): "He's happy" -> "he 's happy"."""
    text = text.lower().replace(",", "").replace("?", "").replace("'s", " 's").strip()
    return process_digit_article(process_punctuation(_clean(text), M4C_COMMA))


def leave_one_out_accuracy(prediction: str, humans: list[str]) -> float:
    """min(#other humans who gave `prediction` / 3, 1), averaged over leaving out each human in turn."""
    if not humans:
        raise ValueError("VQA accuracy needs at least one human answer")
    per_human = [min(1.0, sum(h == prediction for j, h in enumerate(humans) if j != i) / 3) for i in range(len(humans))]
    return sum(per_human) / len(per_human)


def vqa_eval_accuracy(prediction: str, human_answers: list[str]) -> float:
    """vqaEval.py's accuracy of one (already submitted) prediction: normalisation only when the humans disagree."""
    humans = [_clean(h) for h in human_answers]
    prediction = _clean(prediction)
    if len(set(humans)) > 1:
        humans = [process_digit_article(process_punctuation(h)) for h in humans]
        prediction = process_digit_article(process_punctuation(prediction))
    return leave_one_out_accuracy(prediction, humans)


def vizwiz_eval_accuracy(prediction: str, human_answers: list[str]) -> float:
    """The VizWiz API's accuracy: the prediction processed (curly-apostrophe contractions), the humans raw."""
    prediction = process_digit_article(process_punctuation(_clean(prediction)), VIZWIZ_CONTRACTIONS)
    return leave_one_out_accuracy(prediction, list(human_answers))


def textvqa_accuracy(prediction: str, human_answers: list[str]) -> float:
    """m4c's `TextVQAAccuracyEvaluator` on one prediction; it asserts exactly ten human answers."""
    if len(human_answers) != 10:
        raise ValueError(f"the TextVQA evaluator needs exactly 10 human answers, got {len(human_answers)}")
    return leave_one_out_accuracy(
        evalai_answer_processor(prediction), [evalai_answer_processor(h) for h in human_answers]
    )


def vqa_metrics(scores: list[float], answer_types: list[str] | None = None) -> list[Metric]:
    """Overall VQA accuracy plus, given answer types, `accuracy/<answer_type>`, as the official tools report them."""
    overall = Metric("accuracy", mean(scores), len(scores))
    return [overall, *grouped_accuracy("accuracy", answer_types, scores)] if answer_types else [overall]
