"""Question vectors for query-conditioned compressors (QueCC).

`llm_last` (the paper's default): a no-grad pass of the LLM's decoder over the question tokens and the final hidden
state at the last real token. Position ids follow the attention mask, so left- and right-padded batches give the same
vector as an unpadded one. The LM head is never run: only the decoder's hidden states are needed.
`embed_mean`: the mean of the LLM's input embeddings over the question, no LLM pass (cheaper, weaker).
"""

from __future__ import annotations

import torch
from torch import nn

from llava_tc.choices import QUERY_SOURCES


def last_real_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of the last position whose mask is 1 in each row (works for left and right padding)."""
    length = attention_mask.shape[1]
    positions = torch.arange(length, device=attention_mask.device).expand_as(attention_mask)
    return torch.where(attention_mask.bool(), positions, -1).amax(dim=1)


def positions_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids that count only real tokens, so padding on either side does not shift them."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


class QueryEncoder(nn.Module):
    """Maps (query_input_ids, query_attention_mask) to one vector per sample, using the wrapped LLM."""

    def __init__(self, source: str = "llm_last") -> None:
        super().__init__()
        if source not in QUERY_SOURCES:
            raise ValueError(f"unknown query source {source!r}; valid: {', '.join(QUERY_SOURCES)}")
        self.source = source

    def forward(
        self, language_model: nn.Module, query_input_ids: torch.Tensor, query_attention_mask: torch.Tensor
    ) -> torch.Tensor:
        mask = query_attention_mask.to(query_input_ids.device)
        if self.source == "embed_mean":
            embeds = language_model.get_input_embeddings()(query_input_ids)
            weights = mask.to(embeds.dtype).unsqueeze(-1)
            return (embeds * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        return self._last_hidden(language_model, query_input_ids, mask)

    @staticmethod
    @torch.no_grad()
    def _last_hidden(language_model: nn.Module, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        decoder = language_model.get_decoder()
        outputs = decoder(
            input_ids=input_ids, attention_mask=mask, position_ids=positions_from_mask(mask), use_cache=False
        )
        hidden = outputs.last_hidden_state
        index = last_real_index(mask).clamp(min=0)
        picked = hidden[torch.arange(hidden.shape[0], device=hidden.device), index]
        has_query = (mask.sum(1) > 0).unsqueeze(-1)
        return torch.where(has_query, picked, torch.zeros_like(picked))
