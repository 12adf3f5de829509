"""The question vector: last real token of a no-grad LLM pass, independent of padding side; or embedding mean."""

import torch

from llava_tc.model import build_model
from llava_tc.model.query import QueryEncoder, last_real_index
from tests.batches import pad
from tests.tiny import clip_config, llama_config

QUESTIONS = [[5, 6, 7, 8], [9, 10], [11, 12, 13]]


def llm():
    torch.manual_seed(0)
    return build_model(clip_config(), llama_config(), compressor="quecc", num_visual_tokens=4).model.language_model


def test_last_real_index_for_both_padding_sides() -> None:
    assert last_real_index(torch.tensor([[1, 1, 0], [1, 1, 1], [0, 0, 0]])).tolist() == [1, 2, -1]
    assert last_real_index(torch.tensor([[0, 1, 1], [0, 0, 1]])).tolist() == [2, 2]


def test_llm_last_is_the_same_for_left_right_and_unpadded_questions() -> None:
    model = llm().eval()
    encoder = QueryEncoder("llm_last")
    right = encoder(model, *pad(QUESTIONS, "right"))
    left = encoder(model, *pad(QUESTIONS, "left"))
    for row, question in enumerate(QUESTIONS):
        alone = encoder(model, torch.tensor([question]), torch.ones(1, len(question), dtype=torch.long))
        reference = model.get_decoder()(input_ids=torch.tensor([question])).last_hidden_state[0, -1]
        assert torch.allclose(alone[0], reference, atol=1e-6)
        assert torch.allclose(right[row], reference, atol=1e-5)
        assert torch.allclose(left[row], reference, atol=1e-5)


def test_llm_last_takes_no_gradient_and_empty_questions_give_zeros() -> None:
    model = llm()
    ids, mask = pad([[5, 6], []], "right", min_length=2)
    vectors = QueryEncoder("llm_last")(model, ids, mask)
    assert not vectors.requires_grad
    assert torch.equal(vectors[1], torch.zeros_like(vectors[1]))


def test_embed_mean_is_the_mean_input_embedding() -> None:
    model = llm()
    ids, mask = pad(QUESTIONS, "left")
    vectors = QueryEncoder("embed_mean")(model, ids, mask)
    table = model.get_input_embeddings().weight
    for row, question in enumerate(QUESTIONS):
        assert torch.allclose(vectors[row], table[question].mean(0), atol=1e-6)
