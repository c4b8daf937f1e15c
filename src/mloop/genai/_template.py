"""Prompt templates: text or chat messages with ``{{variables}}``.

The syntax is deliberately small (the same double braces MLflow's and most prompt hubs' use):
``{{ name }}`` is replaced by the value of ``name``; whitespace inside the braces is ignored;
anything else, single braces included, is kept as written, so JSON examples in a prompt need no
escaping. Formatting checks the variables both ways: one missing or one the template does not use
is an error that names it, since either is nearly always a bug in the caller.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mloop.errors import InvalidArgument, PromptVariableError

_VAR = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_ROLES = frozenset({"system", "user", "assistant", "tool", "developer"})

#: A chat message: ``{"role": "user", "content": "..."}``.
Message = dict[str, str]


def variables_of(text: str) -> list[str]:
    """The variables of ``text`` in order of first use."""
    seen: dict[str, None] = {}
    for m in _VAR.finditer(text):
        seen.setdefault(m.group(1), None)
    return list(seen)


def _check_messages(messages: Sequence[Any]) -> list[Message]:
    out: list[Message] = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, Mapping):
            raise InvalidArgument(
                f"chat message #{i} must be a mapping with 'role' and 'content', "
                f"got {type(msg).__name__}"
            )
        role, content = msg.get("role"), msg.get("content")
        if role not in _ROLES:
            raise InvalidArgument(
                f"chat message #{i} has role {role!r}; expected one of {sorted(_ROLES)}"
            )
        if not isinstance(content, str):
            raise InvalidArgument(f"chat message #{i} needs 'content' as a string")
        extra = set(msg) - {"role", "content"}
        if extra:
            raise InvalidArgument(f"chat message #{i} has unknown keys {sorted(extra)}")
        out.append({"role": role, "content": content})
    if not out:
        raise InvalidArgument("a chat template needs at least one message")
    return out


@dataclass(frozen=True)
class PromptTemplate:
    """A template: ``text`` for a completion prompt, or ``messages`` for a chat prompt.

    Example::

        t = PromptTemplate.parse("Summarize in {{ n }} words: {{text}}")
        t.variables            # ['n', 'text']
        t.format(n=10, text="...")
    """

    text: str | None = None
    messages: tuple[Message, ...] | None = None

    @staticmethod
    def parse(template: Any) -> PromptTemplate:
        """A template from a string or a list of chat messages.

        Raises:
            InvalidArgument: neither, an unknown role, a message without content.
        """
        if isinstance(template, PromptTemplate):
            return template
        if isinstance(template, str):
            if not template.strip():
                raise InvalidArgument("a prompt template must not be empty")
            return PromptTemplate(text=template)
        if isinstance(template, Sequence) and not isinstance(template, bytes | bytearray):
            return PromptTemplate(messages=tuple(_check_messages(template)))
        raise InvalidArgument(
            "a prompt template is a string or a list of chat messages "
            f"({{'role': ..., 'content': ...}}), got {type(template).__name__}"
        )

    @property
    def is_chat(self) -> bool:
        return self.messages is not None

    @property
    def variables(self) -> list[str]:
        """The template's variables in order of first use."""
        if self.text is not None:
            return variables_of(self.text)
        seen: dict[str, None] = {}
        for msg in self.messages or ():
            for v in variables_of(msg["content"]):
                seen.setdefault(v, None)
        return list(seen)

    def format(self, values: Mapping[str, Any] | None = None, /, **kwargs: Any) -> Any:
        """The filled-in prompt: a string for a text template, a list of messages for a chat one.

        Raises:
            PromptVariableError: a variable is missing, or a value names no variable.
        """
        given = {**(values or {}), **kwargs}
        wanted = self.variables
        missing = [v for v in wanted if v not in given]
        extra = sorted(set(given) - set(wanted))
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing {', '.join(map(repr, missing))}")
            if extra:
                parts.append(f"not in the template: {', '.join(map(repr, extra))}")
            raise PromptVariableError(
                f"cannot format the prompt: {'; '.join(parts)} "
                f"(the template's variables: {', '.join(wanted) or 'none'})",
                details={"missing": missing, "extra": extra, "variables": wanted},
            )

        def fill(text: str) -> str:
            return _VAR.sub(lambda m: str(given[m.group(1)]), text)

        if self.text is not None:
            return fill(self.text)
        return [{"role": m["role"], "content": fill(m["content"])} for m in self.messages or ()]

    def to_json(self) -> dict[str, Any]:
        if self.text is not None:
            return {"type": "text", "template": self.text}
        return {"type": "chat", "template": [dict(m) for m in self.messages or ()]}

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> PromptTemplate:
        return PromptTemplate.parse(data["template"])

    def render(self) -> str:
        """The template as text, for display and diffs: chat messages as ``role: content``."""
        if self.text is not None:
            return self.text
        return "\n".join(f"[{m['role']}]\n{m['content']}" for m in self.messages or ())
