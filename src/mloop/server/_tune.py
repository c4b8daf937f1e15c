"""``/api/v1/tune`` routes: the Optuna journals that studies of a shared server are stored in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from mloop._web._errors import ERROR_RESPONSES
from mloop.server._auth import IdentityDep
from mloop.server._scoped import check_journal_scope
from mloop.server._tracking import StoreDep, _Body
from mloop.store._base import MAX_JOURNAL_LOGS, decode_journal_log, encode_journal_log

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)

_LOG_TEXT = (
    "one log: a JSON object as JSON text (so NaN and Infinity, which Optuna may write, survive)"
)


class AppendJournalBody(_Body):
    logs: list[str] = Field(
        max_length=MAX_JOURNAL_LOGS,
        description=f"the logs to append, in order (at most {MAX_JOURNAL_LOGS}); "
        f"each is {_LOG_TEXT}",
    )


class AppendJournalResult(BaseModel):
    first_index: int = Field(description="the index the first log got")
    count: int = Field(description="how many logs were appended")


class JournalEntry(BaseModel):
    index: int = Field(description="the log's position in the journal: 0, 1, 2, ... per key")
    log: str = Field(description=_LOG_TEXT)


class JournalPage(BaseModel):
    logs: list[JournalEntry]


@router.post("/tune/journals/{key}/logs", status_code=201, tags=["tune"])
def append_journal_logs(
    key: str, body: AppendJournalBody, store: StoreDep, identity: IdentityDep
) -> AppendJournalResult:
    """Append logs to a journal in one transaction. Indexes count up with no gaps in commit
    order, also when many clients append at once. A token scoped to experiments may use only
    the journals of their studies (keys ``<experiment id>:<study name>``)."""
    check_journal_scope(identity, key)
    logs = [decode_journal_log(text, i) for i, text in enumerate(body.logs)]
    first = store.append_tune_journal(key, logs)
    return AppendJournalResult(first_index=first, count=len(logs))


@router.get("/tune/journals/{key}/logs", tags=["tune"])
def read_journal_logs(
    key: str,
    store: StoreDep,
    identity: IdentityDep,
    start: Annotated[int, Query(description="the first index to read")] = 0,
    limit: Annotated[
        int, Query(description=f"the most logs to return (1 to {MAX_JOURNAL_LOGS})")
    ] = MAX_JOURNAL_LOGS,
) -> JournalPage:
    """The logs from index ``start`` on, in order (empty for a key nobody appended to); read
    again from the next index while a page comes back full."""
    check_journal_scope(identity, key)
    return JournalPage(
        logs=[
            JournalEntry(index=idx, log=encode_journal_log(log, idx))
            for idx, log in store.read_tune_journal(key, start, limit)
        ]
    )
