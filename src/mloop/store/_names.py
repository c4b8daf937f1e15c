"""Readable generated run names such as ``brisk-otter-417``."""

from __future__ import annotations

import random

_ADJECTIVES = [
    "amber",
    "bold",
    "brisk",
    "calm",
    "clever",
    "crisp",
    "eager",
    "fierce",
    "gentle",
    "glad",
    "keen",
    "lucid",
    "merry",
    "nimble",
    "plucky",
    "quiet",
    "rapid",
    "sharp",
    "shy",
    "sly",
    "steady",
    "sunny",
    "swift",
    "tidy",
    "vivid",
    "warm",
    "wise",
    "witty",
    "zesty",
]
_NOUNS = [
    "badger",
    "bee",
    "crane",
    "deer",
    "dove",
    "eel",
    "falcon",
    "fox",
    "gecko",
    "hare",
    "heron",
    "ibis",
    "koala",
    "lark",
    "lynx",
    "mole",
    "moth",
    "newt",
    "otter",
    "owl",
    "panda",
    "puma",
    "quail",
    "raven",
    "seal",
    "shrew",
    "stoat",
    "swan",
    "tern",
    "toad",
    "wolf",
    "wren",
]


def friendly_name() -> str:
    """A readable run name such as ``brisk-otter-417``."""
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randint(100, 999)}"
