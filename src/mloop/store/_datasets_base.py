"""The datasets half of the ``Store`` interface: versioned datasets and run inputs (lineage).

A dataset version is immutable and content-addressed. Its bytes are a Parquet file stored in the
artifact store at ``<artifacts>/datasets/<name>/<digest>.parquet``, where ``digest`` is the sha256
of the file; a profile may sit beside it as ``<digest>.profile.bin``. The store writes and reads
these files (:meth:`DatasetStore.put_dataset_file`, :meth:`DatasetStore.open_dataset_file`), so a
client of a shared server never needs access to the artifact store itself.
"""

from __future__ import annotations

import hashlib
import io
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from mloop._core import (
    validate_uri_name,
    validate_version_number,
)
from mloop.errors import DatasetNotFound, InvalidArgument, InvalidData
from mloop.store._checks import (
    MAX_ACTOR,
    MAX_DESCRIPTION,
    check_count,
    check_run_id,
    check_tags,
    check_text,
)
from mloop.store._entities import (
    ArtifactInfo,
    DatasetCheck,
    DatasetColumn,
    DatasetVersion,
    RunInput,
)

MAX_COLUMNS = 100_000
MAX_INPUTS = 1_000
#: Failing checks kept per stored check result, and the most bytes they take as JSON.
MAX_CHECK_FAILURES = 1_000
MAX_CHECK_BYTES = 1 << 20
#: The longest ``checks`` label of a stored check result (a file name, usually).
MAX_CHECKS_LABEL = 1_000
#: The most check results one listing returns.
MAX_CHECK_RESULTS = 1_000
MIN_DIGEST_PREFIX = 8
#: The folder under the artifact root that holds every dataset's files.
DATASETS_FOLDER = "datasets"
DATA_SUFFIX = ".parquet"
PROFILE_SUFFIX = ".profile.bin"

_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_HEX = re.compile(r"^[0-9a-f]+$")
_FILE = re.compile(r"^(?P<digest>[0-9a-f]{64})(?P<suffix>\.parquet|\.profile\.bin)$")
_CONTEXT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}$")
_URI = re.compile(
    r"^datasets:/(?P<name>[A-Za-z0-9][A-Za-z0-9_.\-]{0,255}?)"
    r"(?:/(?P<version>\d+)|@(?P<ref>[A-Za-z0-9]+))?/?$"
)


def validate_dataset_name(name: Any) -> str:
    """Dataset names appear in ``datasets:/<name>/<version>`` URIs and in artifact paths."""
    return validate_uri_name(name, "dataset name")


def validate_dataset_version(version: Any) -> int:
    return validate_version_number(version, "dataset version")


def validate_digest(digest: Any) -> str:
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise InvalidArgument(
            f"a dataset digest is a sha256 in 64 lowercase hex characters, got {digest!r:.80}"
        )
    return digest


def validate_digest_prefix(prefix: Any) -> str:
    if (
        not isinstance(prefix, str)
        or not _HEX.match(prefix)
        or not MIN_DIGEST_PREFIX <= len(prefix) <= 64
    ):
        raise InvalidArgument(
            f"a digest prefix is {MIN_DIGEST_PREFIX} to 64 lowercase hex characters, "
            f"got {prefix!r:.80}"
        )
    return prefix


def validate_context(context: Any) -> str:
    if not isinstance(context, str) or not _CONTEXT.match(context):
        raise InvalidArgument(
            f"an input context such as 'train' or 'eval' holds letters, digits, '_', '.' and '-' "
            f"(at most 64 characters), got {context!r:.80}"
        )
    return context


def dataset_file_name(filename: Any) -> tuple[str, str]:
    """``(digest, suffix)`` of a dataset file name: ``<digest>.parquet`` or
    ``<digest>.profile.bin``."""
    m = _FILE.match(filename) if isinstance(filename, str) else None
    if m is None:
        raise InvalidArgument(
            f"a dataset file is named <sha256>{DATA_SUFFIX} or <sha256>{PROFILE_SUFFIX}, "
            f"got {filename!r:.100}"
        )
    return m.group("digest"), m.group("suffix")


def dataset_file_path(name: str, filename: str) -> str:
    """The file's path relative to the artifact root."""
    return f"{DATASETS_FOLDER}/{name}/{filename}"


@dataclass(frozen=True, slots=True)
class DatasetUri:
    """A parsed ``datasets:/`` URI: a version, a digest prefix, or neither (the latest)."""

    name: str
    version: int | None = None
    digest_prefix: str | None = None


def parse_datasets_uri(uri: Any) -> DatasetUri:
    """Split ``datasets:/<name>/<version>``, ``datasets:/<name>@latest``,
    ``datasets:/<name>@<digest-prefix>`` (at least 8 hex characters) or ``datasets:/<name>``.

    Raises:
        InvalidArgument: ``uri`` has none of these forms.
    """
    m = _URI.match(uri) if isinstance(uri, str) else None
    if m is None:
        raise InvalidArgument(
            "expected datasets:/<name>/<version>, datasets:/<name>@latest or "
            f"datasets:/<name>@<digest-prefix>, got {uri!r:.200}"
        )
    name, version, ref = m.group("name"), m.group("version"), m.group("ref")
    if version is not None:
        return DatasetUri(name, version=validate_dataset_version(int(version)))
    if ref is None or ref.lower() == "latest":
        return DatasetUri(name)
    ref = ref.lower()
    if not _HEX.match(ref) or len(ref) < MIN_DIGEST_PREFIX:
        raise InvalidArgument(
            f"in {uri!r}, @{ref} is neither @latest nor a digest prefix of at least "
            f"{MIN_DIGEST_PREFIX} hex characters"
        )
    return DatasetUri(name, digest_prefix=validate_digest_prefix(ref))


def _columns(columns: Iterable[Any]) -> list[DatasetColumn]:
    out: list[DatasetColumn] = []
    for i, col in enumerate(columns):
        if isinstance(col, DatasetColumn):
            out.append(col)
            continue
        if isinstance(col, Mapping):
            name, type_ = col.get("name"), col.get("type")
        else:
            try:
                name, type_ = col
            except (TypeError, ValueError):
                raise InvalidArgument(
                    f"column #{i} must be (name, type) or a DatasetColumn, got {col!r:.60}"
                ) from None
        if not isinstance(name, str) or not isinstance(type_, str) or not type_:
            raise InvalidArgument(f"column #{i} needs a string name and a string type")
        out.append(DatasetColumn(name=name, type=type_))
        if len(out) > MAX_COLUMNS:
            raise InvalidArgument(f"a dataset holds at most {MAX_COLUMNS} columns")
    return out


@dataclass(frozen=True, slots=True)
class CheckRecord:
    """A check report reduced to what a store keeps (see :func:`validate_check_report`)."""

    passed: bool
    checks: str
    num_rows: int
    num_checks: int
    num_failed: int
    num_errors: int
    failures: list[dict[str, Any]]
    failures_json: str

    def to_report(self) -> dict[str, Any]:
        """The shape :meth:`DatasetStore.log_dataset_check` takes (for the HTTP store)."""
        return {
            "passed": self.passed,
            "checks": self.checks,
            "num_rows": self.num_rows,
            "summary": {
                "checks": self.num_checks,
                "failed": self.num_failed,
                "error": self.num_errors,
            },
            "failures": self.failures,
        }


def _report_count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**53:
        raise InvalidArgument(f"report {what} must be a non-negative integer, got {value!r:.40}")
    return value


def validate_check_report(report: Any) -> CheckRecord:
    """The parts of ``CheckReport.to_dict()`` a store keeps, checked: consistent counts, and
    failures that are JSON objects of at most :data:`MAX_CHECK_BYTES` in all.

    Raises:
        InvalidArgument: saying which part is wrong.
    """
    import orjson

    if not isinstance(report, Mapping):
        raise InvalidArgument(
            f"a check report is an object (CheckReport.to_dict()), got {type(report).__name__}"
        )
    passed = report.get("passed")
    if not isinstance(passed, bool):
        raise InvalidArgument("report passed must be true or false")
    checks = check_text(report.get("checks", ""), "report checks", MAX_CHECKS_LABEL)
    num_rows = _report_count(report.get("num_rows"), "num_rows")
    summary = report.get("summary")
    if not isinstance(summary, Mapping):
        raise InvalidArgument("report summary must be an object with checks, failed and error")
    num_checks = _report_count(summary.get("checks"), "summary.checks")
    num_failed = _report_count(summary.get("failed"), "summary.failed")
    num_errors = _report_count(summary.get("error", 0), "summary.error")
    if num_failed + num_errors > num_checks:
        raise InvalidArgument(
            f"report summary counts {num_failed} failed and {num_errors} errors of only "
            f"{num_checks} checks"
        )
    if passed != (num_failed + num_errors == 0):
        raise InvalidArgument(
            f"report passed is {str(passed).lower()} but the summary counts {num_failed} failed "
            f"and {num_errors} errors"
        )
    failures = report.get("failures", [])
    if not isinstance(failures, list | tuple) or not all(isinstance(f, Mapping) for f in failures):
        raise InvalidArgument("report failures must be a list of objects")
    if len(failures) > MAX_CHECK_FAILURES:
        raise InvalidArgument(f"a report keeps at most {MAX_CHECK_FAILURES} failures")
    try:
        data = orjson.dumps([dict(f) for f in failures], option=orjson.OPT_SERIALIZE_NUMPY)
    except TypeError as exc:
        raise InvalidArgument(f"report failures must be plain JSON: {exc}") from None
    if len(data) > MAX_CHECK_BYTES:
        raise InvalidArgument(
            f"report failures take {len(data):,} bytes as JSON, more than {MAX_CHECK_BYTES:,}"
        )
    return CheckRecord(
        passed=passed,
        checks=checks,
        num_rows=num_rows,
        num_checks=num_checks,
        num_failed=num_failed,
        num_errors=num_errors,
        failures=orjson.loads(data),
        failures_json=data.decode(),
    )


class _VerifyingReader(io.RawIOBase):
    """Reads through ``stream`` while hashing; at the end, refuses bytes whose sha256 is not
    ``digest``. The artifact store sees the refusal as the stream's own error and keeps no
    file, so a file named ``<digest>.parquet`` always holds bytes with that digest."""

    def __init__(self, stream: IO[bytes], digest: str, name: str) -> None:
        self._stream = stream
        self._digest = digest
        self._name = name
        self._sha = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        data = self._stream.read(len(view))
        if not data:
            actual = self._sha.hexdigest()
            if actual != self._digest:
                raise InvalidData(
                    f"the uploaded file of dataset {self._name!r} has sha256 {actual}, not the "
                    f"digest {self._digest} it is named by; nothing was stored",
                    details={"name": self._name, "digest": self._digest, "sha256": actual},
                )
            return 0
        self._sha.update(data)
        view[: len(data)] = data
        return len(data)


class DatasetStore(ABC):
    """Versioned, content-addressed datasets, their files, and the datasets runs read."""

    def create_dataset_version(
        self,
        name: str,
        *,
        digest: str,
        num_rows: int,
        num_columns: int,
        columns: Sequence[DatasetColumn | tuple[str, str] | Mapping[str, str]],
        size_bytes: int,
        format: str = "parquet",
        description: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> DatasetVersion:
        """Register the uploaded file ``<digest>.parquet`` (see :meth:`put_dataset_file`) as the
        next version of ``name``. Content that ``name`` holds already (the same digest) gives
        the existing version back, unchanged. Version numbers count up from 1 with no gaps,
        also when many processes register at once.

        Raises:
            InvalidArgument: the file was not uploaded first, or an argument is not valid.
        """
        cols = _columns(columns)
        num_columns = check_count(num_columns, "num_columns")
        if num_columns != len(cols):
            raise InvalidArgument(f"num_columns is {num_columns} but {len(cols)} columns are given")
        if format != "parquet":
            raise InvalidArgument(f"datasets are stored as parquet, not {format!r:.40}")
        return self._create_dataset_version(
            validate_dataset_name(name),
            validate_digest(digest),
            format,
            check_count(num_rows, "num_rows"),
            num_columns,
            cols,
            check_count(size_bytes, "size_bytes"),
            check_text(description, "description", MAX_DESCRIPTION),
            check_tags(tags),
        )

    def get_dataset_version(self, name: str, version: int) -> DatasetVersion:
        """Raises: DatasetNotFound."""
        return self._get_dataset_version(
            validate_dataset_name(name), validate_dataset_version(version)
        )

    def get_latest_dataset_version(self, name: str) -> DatasetVersion:
        """The newest version of ``name``. Raises: DatasetNotFound."""
        return self._get_latest_dataset_version(validate_dataset_name(name))

    def get_dataset_version_by_digest(self, name: str, digest_prefix: str) -> DatasetVersion:
        """The version of ``name`` whose digest starts with ``digest_prefix`` (at least 8 hex
        characters).

        Raises:
            DatasetNotFound: no version has such a digest.
            InvalidArgument: the prefix is ambiguous (the message lists the candidates).
        """
        name = validate_dataset_name(name)
        prefix = validate_digest_prefix(
            digest_prefix.lower() if isinstance(digest_prefix, str) else digest_prefix
        )
        found = self.find_dataset_versions(name, prefix)
        if not found:
            raise DatasetNotFound(
                f"dataset {name!r} has no version with a digest starting {prefix!r}",
                details={"name": name, "digest_prefix": prefix},
            )
        if len(found) > 1:
            candidates = ", ".join(f"version {v.version} ({v.digest[:16]})" for v in found)
            raise InvalidArgument(
                f"digest prefix {prefix!r} of dataset {name!r} is ambiguous: {candidates}; "
                "give more characters or the version number",
                details={"name": name, "versions": [v.version for v in found]},
            )
        return found[0]

    def find_dataset_versions(self, name: str, digest_prefix: str) -> list[DatasetVersion]:
        """Every version of ``name`` whose digest starts with ``digest_prefix`` (8 to 64 hex
        characters), oldest first.

        Raises:
            DatasetNotFound: no dataset named ``name``.
        """
        prefix = validate_digest_prefix(
            digest_prefix.lower() if isinstance(digest_prefix, str) else digest_prefix
        )
        return self._find_dataset_versions(validate_dataset_name(name), prefix)

    def get_dataset_version_by_uri(self, uri: str) -> DatasetVersion:
        """The version a ``datasets:/`` URI names (see :func:`parse_datasets_uri`)."""
        parsed = parse_datasets_uri(uri)
        if parsed.version is not None:
            return self.get_dataset_version(parsed.name, parsed.version)
        if parsed.digest_prefix is not None:
            return self.get_dataset_version_by_digest(parsed.name, parsed.digest_prefix)
        return self.get_latest_dataset_version(parsed.name)

    def list_dataset_versions(self, name: str) -> list[DatasetVersion]:
        """Every version of a dataset, newest first. Raises: DatasetNotFound."""
        return self._list_dataset_versions(validate_dataset_name(name))

    def list_datasets(self) -> list[DatasetVersion]:
        """The latest version of every dataset, by name."""
        return self._list_datasets()

    def put_dataset_file(self, name: str, filename: str, stream: IO[bytes]) -> ArtifactInfo:
        """Store the bytes of ``stream`` as ``datasets/<name>/<filename>`` under the artifact
        root (streamed, atomic). ``filename`` is ``<digest>.parquet``, whose bytes must have
        that sha256 (else nothing is stored), or ``<digest>.profile.bin``.

        Raises:
            InvalidData: the bytes of a ``.parquet`` file do not have the digest of its name.
        """
        name = validate_dataset_name(name)
        digest, suffix = dataset_file_name(filename)
        if suffix == DATA_SUFFIX:
            stream = io.BufferedReader(_VerifyingReader(stream, digest, name))
        return self._put_dataset_file(name, filename, stream)

    def open_dataset_file(self, name: str, filename: str) -> IO[bytes]:
        """A binary stream of one of the dataset's files; close it when done.

        Raises:
            ArtifactNotFound: no such file.
        """
        name = validate_dataset_name(name)
        dataset_file_name(filename)
        return self._open_dataset_file(name, filename)

    def log_inputs(self, run_id: str, inputs: Iterable[tuple[str, int, str]]) -> None:
        """Record that a run read these dataset versions, each as ``(name, version, context)``
        with a context such as ``"train"`` or ``"eval"``. Recording one again changes nothing.

        Raises:
            RunNotFound: no such run.
            DatasetNotFound: a version that does not exist (nothing is recorded).
        """
        if not isinstance(run_id, str) or not run_id or len(run_id) > 64:
            raise InvalidArgument("run id must be a non-empty string of at most 64 characters")
        rows: list[tuple[str, int, str]] = []
        for i, item in enumerate(inputs):
            try:
                name, version, context = item
            except (TypeError, ValueError):
                raise InvalidArgument(
                    f"input #{i} must be (dataset name, version, context), got {item!r:.80}"
                ) from None
            rows.append(
                (
                    validate_dataset_name(name),
                    validate_dataset_version(version),
                    validate_context(context),
                )
            )
        if len(rows) > MAX_INPUTS:
            raise InvalidArgument(f"at most {MAX_INPUTS} inputs at once")
        self._log_inputs(run_id, list(dict.fromkeys(rows)))

    def get_run_inputs(self, run_id: str) -> list[RunInput]:
        """The dataset versions a run read, in the order they were recorded.

        Raises:
            RunNotFound: no such run.
        """
        if not isinstance(run_id, str) or not run_id or len(run_id) > 64:
            raise InvalidArgument("run id must be a non-empty string of at most 64 characters")
        return self._get_run_inputs(run_id)

    def log_dataset_check(
        self,
        name: str,
        version: int,
        report: Mapping[str, Any],
        *,
        run_id: str | None = None,
        actor: str = "",
    ) -> DatasetCheck:
        """Store the outcome of data checks run on a dataset version (``mloop data check``
        does this when it checks a ``datasets:/`` URI).

        Args:
            report: ``CheckReport.to_dict()``: ``passed``, ``checks``, ``num_rows``, ``summary``
                (``checks``, ``failed``, ``error``) and ``failures`` (each failing check with
                its examples); other keys are ignored.
            run_id: the run active when the checks ran.
            actor: who ran them (a server with auth records the token's identity instead).

        Raises:
            DatasetNotFound: no such dataset version.
            InvalidArgument: a report of another shape, or failures over 1 MiB as JSON.
        """
        clean = validate_check_report(report)
        return self._log_dataset_check(
            validate_dataset_name(name),
            validate_dataset_version(version),
            clean,
            None if run_id is None else check_run_id(run_id),
            check_text(actor, "actor", MAX_ACTOR),
        )

    def list_dataset_checks(
        self, name: str, version: int | None = None, *, max_results: int = 100
    ) -> list[DatasetCheck]:
        """Stored check results of a dataset (of one version when ``version`` is given),
        newest first, at most ``max_results`` (1 to 1,000).

        Raises:
            DatasetNotFound: no such dataset, or no such version.
        """
        if (
            isinstance(max_results, bool)
            or not isinstance(max_results, int)
            or not 1 <= max_results <= MAX_CHECK_RESULTS
        ):
            raise InvalidArgument(f"max_results must be between 1 and {MAX_CHECK_RESULTS}")
        return self._list_dataset_checks(
            validate_dataset_name(name),
            None if version is None else validate_dataset_version(version),
            max_results,
        )

    # -- hooks ---------------------------------------------------------------------------------

    @abstractmethod
    def _create_dataset_version(
        self,
        name: str,
        digest: str,
        format: str,
        num_rows: int,
        num_columns: int,
        columns: list[DatasetColumn],
        size_bytes: int,
        description: str,
        tags: dict[str, str],
    ) -> DatasetVersion: ...

    @abstractmethod
    def _get_dataset_version(self, name: str, version: int) -> DatasetVersion: ...

    @abstractmethod
    def _get_latest_dataset_version(self, name: str) -> DatasetVersion: ...

    @abstractmethod
    def _find_dataset_versions(self, name: str, digest_prefix: str) -> list[DatasetVersion]: ...

    @abstractmethod
    def _list_dataset_versions(self, name: str) -> list[DatasetVersion]: ...

    @abstractmethod
    def _list_datasets(self) -> list[DatasetVersion]: ...

    @abstractmethod
    def _put_dataset_file(self, name: str, filename: str, stream: IO[bytes]) -> ArtifactInfo: ...

    @abstractmethod
    def _open_dataset_file(self, name: str, filename: str) -> IO[bytes]: ...

    @abstractmethod
    def _log_inputs(self, run_id: str, inputs: list[tuple[str, int, str]]) -> None: ...

    @abstractmethod
    def _get_run_inputs(self, run_id: str) -> list[RunInput]: ...

    @abstractmethod
    def _log_dataset_check(
        self,
        name: str,
        version: int,
        report: CheckRecord,
        run_id: str | None,
        actor: str,
    ) -> DatasetCheck: ...

    @abstractmethod
    def _list_dataset_checks(
        self, name: str, version: int | None, max_results: int
    ) -> list[DatasetCheck]: ...
