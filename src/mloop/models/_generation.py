"""What a text generation produces, shared by the one-at-a-time generator
(:mod:`mloop.models._transformers`) and the batching loop (:mod:`mloop.models._genbatch`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Generation", "StepModel", "TextDecoder"]


@dataclass(frozen=True)
class Generation:
    """A finished completion: its text, token counts and why it stopped (``stop``: the end
    token or a stop sequence; ``length``: ``max_tokens`` reached)."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


class TextDecoder:
    """The text of a completion as its tokens come: each :meth:`push` returns the new piece of
    text (empty while a multi-byte character is incomplete) and whether a stop sequence
    appeared (the text is then cut before it)."""

    def __init__(self, tokenizer: Any, stop: Sequence[str] = ()) -> None:
        self._tokenizer = tokenizer
        self._stop = [s for s in stop if s]
        self.tokens: list[int] = []
        self.sent = ""

    def push(self, token: int) -> tuple[str, bool]:
        self.tokens.append(token)
        text = self._tokenizer.decode(self.tokens, skip_special_tokens=True)
        cut = min((text.find(s) for s in self._stop if s in text), default=-1)
        if cut >= 0:
            text = text[:cut]
        elif text.endswith("\ufffd"):  # half a multi-byte character: wait
            return "", False
        piece = ""
        if len(text) > len(self.sent):
            piece, self.sent = text[len(self.sent) :], text
        return piece, cut >= 0


class StepModel(Protocol):
    """What the batching loop needs of a generator: the model and tokenizer, the end token, an
    incremental decoder and its token pick."""

    model: Any
    tokenizer: Any
    eos_id: int | None

    def decoder(self, stop: Sequence[str] = ()) -> TextDecoder: ...

    def _pick(self, logits: Any, temperature: float, top_p: float, gen: Any) -> int: ...
