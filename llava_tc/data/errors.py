"""The one error type for bad data, with a machine-readable reason so skips can be counted per cause."""

from __future__ import annotations

BAD_SAMPLE_REASONS = (
    "malformed",  # not a dict, missing/invalid `conversations`, a turn without `from`/`value`, unknown role
    "empty_conversation",
    "starts_with_assistant",
    "roles_not_alternating",
    "no_assistant_reply",  # training sample whose last turn is a question
    "placeholder_without_image",  # `<image>` in the text but no `image` field
    "image_without_placeholder",  # `image` field but no `<image>` in any human turn
    "placeholder_count_mismatch",  # e.g. two `<image>` for one image, or `<image>` in an assistant turn
    "missing_image",
    "corrupt_image",
    "too_long",  # cannot fit `model_max_length` without cutting the image or every supervised token
    "tokenization_mismatch",  # this sample's turn-by-turn ids differ from the full-text ids
)


class BadSampleError(ValueError):
    """A sample that cannot be used; `reason` is one of `BAD_SAMPLE_REASONS`, `sample_id` names the record."""

    def __init__(self, reason: str, message: str, sample_id: str | None = None) -> None:
        if reason not in BAD_SAMPLE_REASONS:
            raise ValueError(f"unknown bad-sample reason {reason!r}; valid: {BAD_SAMPLE_REASONS}")
        self.reason = reason
        self.sample_id = sample_id
        where = f"sample {sample_id!r}: " if sample_id is not None else ""
        super().__init__(f"{where}{message} [{reason}]")
