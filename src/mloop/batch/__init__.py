"""Batch scoring: a model over a table larger than memory, in chunks, locally or on Ray."""

from __future__ import annotations

from mloop.batch._score import ScoreResult, score
from mloop.batch._sources import open_source

__all__ = ["ScoreResult", "open_source", "score"]
