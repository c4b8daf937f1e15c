"""Every error mloop raises, in one tree.

::

    MloopError
    ├── InvalidArgument (ValueError)              bad input: a name, a value, a filter  -> 422
    ├── NotFound (LookupError)                    an id or a name that does not exist    -> 404
    ├── Conflict                                  the request contradicts stored state   -> 409
    │   └── AlreadyExists
    ├── Unauthorized (PermissionError)            no or bad credentials                  -> 401
    ├── Forbidden (PermissionError)               credentials without the needed role    -> 403
    ├── PayloadTooLarge (InvalidArgument)         a body or a value over its limit       -> 413
    ├── StoreError                                the metadata or artifact store failed
    │   ├── StoreUnavailable (ConnectionError)    cannot reach the database or server    -> 503
    │   └── MigrationError                        the schema cannot be brought up to date
    ├── TrackingError
    │   ├── ExperimentNotFound (NotFound)
    │   ├── ExperimentAlreadyExists (AlreadyExists)
    │   ├── RunNotFound (NotFound)
    │   ├── ParamConflict (Conflict)              a param logged again with another value
    │   ├── InvalidFilter (InvalidArgument)       a search filter that does not parse
    │   ├── NoActiveRun (RuntimeError)
    │   └── LoggingFailed                         a background write failed; raised at the next call
    ├── ArtifactError
    │   ├── ArtifactNotFound (NotFound, FileNotFoundError)
    │   └── UnsafeArtifactPath (InvalidArgument)  a path that would leave the run's artifact root
    ├── RegistryError
    │   ├── RegisteredModelNotFound (NotFound)
    │   ├── RegisteredModelAlreadyExists (AlreadyExists)
    │   ├── ModelVersionNotFound (NotFound)   also an alias that points nowhere
    │   └── InvalidAliasTarget (Conflict)     an alias moved to an archived version
    ├── DataError
    │   ├── DatasetNotFound (NotFound)
    │   ├── InvalidData (InvalidArgument)     a table that cannot be profiled, checked or compared
    │   └── InvalidChecks (InvalidArgument)   malformed checks; names the column, key and line
    ├── ModelError
    │   ├── ModelIntegrityError                   a model file changed, missing or truncated
    │   ├── SignatureMismatch (InvalidArgument)   rows that do not match the model's signature
    │   ├── UnknownFlavor (InvalidArgument)       a flavor mloop does not know
    │   └── ModelNotFound (NotFound)              no model at that path or URI
    ├── EvaluationError
    │   ├── InvalidEvaluationInput (InvalidArgument)  a missing target, unseen labels, a
    │   │                                     non-numeric regression target
    │   └── PolicyError (InvalidArgument)         a gate policy that does not parse or names an
    │                                             unknown metric; gives the line and column
    ├── ServeError
    │   ├── ServedModelNotFound (NotFound)        a request for a model the server does not serve
    │   ├── InvalidPayload (InvalidArgument)      a predict body that is not JSON or not a format
    │   └── ServerBusy                            too many generations waiting for a model -> 503
    ├── PipelineError
    │   ├── InvalidPipeline (InvalidArgument)     a missing input, a cycle, an unknown param;
    │   │                                         raised before any step runs
    │   └── StepFailed (RuntimeError)             a step raised after its retries; names the step
    │       ├── StepTimeout (TimeoutError)        a step ran past its timeout and was killed
    │       └── UnpicklableResult (TypeError)     a step returned what cannot be stored
    ├── GenAIError
    │   ├── NotAPrompt (InvalidArgument)          a registered model that is not a prompt
    │   ├── PromptVariableError (InvalidArgument)  a variable missing or unknown
    │   └── TraceNotFound (NotFound)              no trace with that id
    └── LoopError
        ├── LoopNotFound (NotFound)               no loop by that name in the store
        ├── LoopLeaseHeld (Conflict)              another controller runs this loop
        └── InvalidLoop (InvalidArgument)         a loop.yaml that does not validate; gives the
                                                  line and column

The generic classes (``NotFound``, ``InvalidArgument``, ...) carry the meaning that the server maps
to an HTTP status; the domain classes say where the error came from. Each specific error also
inherits a built-in exception, so ``except LookupError`` keeps working.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AlreadyExists",
    "ArtifactError",
    "ArtifactNotFound",
    "Conflict",
    "DataError",
    "DatasetNotFound",
    "EvaluationError",
    "ExperimentAlreadyExists",
    "ExperimentNotFound",
    "Forbidden",
    "GenAIError",
    "InvalidAliasTarget",
    "InvalidArgument",
    "InvalidChecks",
    "InvalidData",
    "InvalidEvaluationInput",
    "InvalidFilter",
    "InvalidLoop",
    "InvalidPayload",
    "InvalidPipeline",
    "LoggingFailed",
    "LoopError",
    "LoopLeaseHeld",
    "LoopNotFound",
    "MigrationError",
    "MloopError",
    "ModelError",
    "ModelIntegrityError",
    "ModelNotFound",
    "ModelVersionNotFound",
    "NoActiveRun",
    "NotAPrompt",
    "NotFound",
    "ParamConflict",
    "PayloadTooLarge",
    "PipelineError",
    "PolicyError",
    "PromptVariableError",
    "RegisteredModelAlreadyExists",
    "RegisteredModelNotFound",
    "RegistryError",
    "RunNotFound",
    "ServeError",
    "ServedModelNotFound",
    "ServerBusy",
    "SignatureMismatch",
    "StepFailed",
    "StepTimeout",
    "StoreError",
    "StoreUnavailable",
    "TraceNotFound",
    "TrackingError",
    "Unauthorized",
    "UnknownFlavor",
    "UnpicklableResult",
    "UnsafeArtifactPath",
]


class MloopError(Exception):
    """Root of every error mloop raises.

    Args:
        message: what was wrong and, where it helps, what to do about it.
        details: machine-readable context (ids, positions, column names), sent to HTTP clients.
    """

    code: str = "MLOOP_ERROR"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only details survive pickling (errors cross process and Ray boundaries).
        return (_rebuild, (type(self), self.message, self.details))


def _rebuild(cls: type[MloopError], message: str, details: Any) -> MloopError:
    return cls(message, details=details)


class InvalidArgument(MloopError, ValueError):
    """An argument or a request body is not acceptable."""

    code = "INVALID_ARGUMENT"


class NotFound(MloopError, LookupError):
    """Something named by id or name does not exist."""

    code = "NOT_FOUND"


class Conflict(MloopError):
    """The request contradicts what is already stored."""

    code = "CONFLICT"


class AlreadyExists(Conflict):
    """Something with that name or id exists already."""

    code = "ALREADY_EXISTS"


class Unauthorized(MloopError, PermissionError):
    """No credentials, or credentials that are not valid."""

    code = "UNAUTHORIZED"


class Forbidden(MloopError, PermissionError):
    """Valid credentials without the role the action needs."""

    code = "FORBIDDEN"


class PayloadTooLarge(InvalidArgument):
    """A request body or a single value is larger than its limit."""

    code = "PAYLOAD_TOO_LARGE"


class StoreError(MloopError):
    """The metadata store or the artifact store failed."""

    code = "STORE_ERROR"


class StoreUnavailable(StoreError, ConnectionError):
    """The database or the tracking server cannot be reached (retrying may help)."""

    code = "UNAVAILABLE"


class MigrationError(StoreError):
    """The database schema cannot be brought to the version this mloop needs."""

    code = "MIGRATION_ERROR"


class TrackingError(MloopError):
    """Base of errors from experiment tracking."""

    code = "TRACKING_ERROR"


class ExperimentNotFound(TrackingError, NotFound):
    code = "EXPERIMENT_NOT_FOUND"


class ExperimentAlreadyExists(TrackingError, AlreadyExists):
    code = "EXPERIMENT_ALREADY_EXISTS"


class RunNotFound(TrackingError, NotFound):
    code = "RUN_NOT_FOUND"


class ParamConflict(TrackingError, Conflict):
    """A param was logged again with a different value; params are immutable."""

    code = "PARAM_CONFLICT"


class InvalidFilter(TrackingError, InvalidArgument):
    """A search filter or order-by clause does not parse; ``details`` holds the position."""

    code = "INVALID_FILTER"


class NoActiveRun(TrackingError, RuntimeError):
    """A fluent call that needs an active run was made outside ``mloop.start_run()``."""

    code = "NO_ACTIVE_RUN"


class LoggingFailed(TrackingError):
    """An asynchronous write failed; the cause is chained as ``__cause__``."""

    code = "LOGGING_FAILED"


class ArtifactError(MloopError):
    """Base of errors from the artifact store."""

    code = "ARTIFACT_ERROR"


class ArtifactNotFound(ArtifactError, NotFound, FileNotFoundError):
    code = "ARTIFACT_NOT_FOUND"


class UnsafeArtifactPath(ArtifactError, InvalidArgument):
    """An artifact path that is absolute, contains ``..`` or leaves the root through a link."""

    code = "UNSAFE_ARTIFACT_PATH"


class RegistryError(MloopError):
    """Base of errors from the model registry."""

    code = "REGISTRY_ERROR"


class RegisteredModelNotFound(RegistryError, NotFound):
    code = "REGISTERED_MODEL_NOT_FOUND"


class RegisteredModelAlreadyExists(RegistryError, AlreadyExists):
    code = "REGISTERED_MODEL_ALREADY_EXISTS"


class ModelVersionNotFound(RegistryError, NotFound):
    """No such version, or an alias that names none."""

    code = "MODEL_VERSION_NOT_FOUND"


class InvalidAliasTarget(RegistryError, Conflict):
    """An alias cannot point at an archived version."""

    code = "INVALID_ALIAS_TARGET"


class ModelError(MloopError):
    """Base of errors from saving, loading and running models."""

    code = "MODEL_ERROR"


class ModelIntegrityError(ModelError):
    """A model file is missing, truncated or changed since the model was saved; names the file."""

    code = "MODEL_INTEGRITY_ERROR"


class SignatureMismatch(ModelError, InvalidArgument):
    """Input rows do not match the model's signature; ``details`` lists every bad column."""

    code = "SIGNATURE_MISMATCH"


class UnknownFlavor(ModelError, InvalidArgument):
    """A flavor name mloop does not know, or a model whose framework it cannot tell."""

    code = "UNKNOWN_FLAVOR"


class ModelNotFound(ModelError, NotFound):
    """No model at that path or URI."""

    code = "MODEL_NOT_FOUND"


class DataError(MloopError):
    """Base of errors from datasets, checks, profiles and drift."""

    code = "DATA_ERROR"


class DatasetNotFound(DataError, NotFound):
    code = "DATASET_NOT_FOUND"


class InvalidData(DataError, InvalidArgument):
    """A table that cannot be profiled, checked or compared; the message says why."""

    code = "INVALID_DATA"


class InvalidChecks(DataError, InvalidArgument):
    """Declarative checks that are malformed: an unknown key, a bad regex, a wrong type; the
    message names the column, the key and the YAML line."""

    code = "INVALID_CHECKS"


class EvaluationError(MloopError):
    """Base of errors from evaluation, gates and promotion."""

    code = "EVALUATION_ERROR"


class PolicyError(EvaluationError, InvalidArgument):
    """A gate policy that is malformed: a syntax error, an unknown metric, a champion rule without
    a champion; the message gives the YAML line and the column in the rule."""

    code = "POLICY_ERROR"


class InvalidEvaluationInput(EvaluationError, InvalidArgument):
    """Data that cannot be evaluated: a missing target column, labels the model never saw, a
    non-numeric target for regression; the message names the columns or labels."""

    code = "INVALID_EVALUATION_INPUT"


class ServeError(MloopError):
    """Base of errors from the inference server."""

    code = "SERVE_ERROR"


class ServedModelNotFound(ServeError, NotFound):
    """A request names a model the server does not serve; ``details`` lists those it does."""

    code = "SERVED_MODEL_NOT_FOUND"


class InvalidPayload(ServeError, InvalidArgument):
    """A prediction request body that is not valid JSON or not in an accepted format; the
    message names the field and the formats accepted."""

    code = "INVALID_PAYLOAD"


class ServerBusy(ServeError):
    """A text generation model has as many requests waiting for a place in its batch as it
    accepts (``mloop serve --max-waiting``); retrying later may succeed (HTTP 503)."""

    code = "SERVER_BUSY"


class PipelineError(MloopError):
    """Base of errors from pipelines and their steps."""

    code = "PIPELINE_ERROR"


class InvalidPipeline(PipelineError, InvalidArgument):
    """A pipeline that cannot run as written: a missing argument, a step output that is never
    produced, a cycle, an unknown param. Raised before any step runs."""

    code = "INVALID_PIPELINE"


class StepFailed(PipelineError, RuntimeError):
    """A step raised (after its retries). ``step`` names it, ``traceback`` holds the step's own
    traceback (also stored in the step's run as ``traceback.txt``), ``run`` is the
    :class:`~mloop.pipeline.PipelineRun` as far as it got."""

    code = "STEP_FAILED"

    def __init__(
        self,
        message: str,
        *,
        step: str = "",
        traceback: str = "",
        details: Any = None,
    ) -> None:
        super().__init__(message, details=details)
        self.step = step
        self.traceback = traceback
        self.run: Any = None


class StepTimeout(StepFailed, TimeoutError):
    """A step ran past its ``timeout=`` and was killed."""

    code = "STEP_TIMEOUT"


class UnpicklableResult(StepFailed, TypeError):
    """A step returned a value that cannot be stored (a generator, a lock, an open file)."""

    code = "UNPICKLABLE_RESULT"


class GenAIError(MloopError):
    """Base of errors from prompts, traces and LLM evaluation."""

    code = "GENAI_ERROR"


class NotAPrompt(GenAIError, InvalidArgument):
    """A ``prompts:/`` URI names a registered model that is not a prompt (or the reverse)."""

    code = "NOT_A_PROMPT"


class PromptVariableError(GenAIError, InvalidArgument):
    """Formatting a prompt with a variable missing or one the template does not use; the message
    names them and lists the template's variables."""

    code = "PROMPT_VARIABLE_ERROR"


class TraceNotFound(GenAIError, NotFound):
    """No trace with that id."""

    code = "TRACE_NOT_FOUND"


class LoopError(MloopError):
    """Base of errors from the closed loop (``loop.yaml`` and its controller)."""

    code = "LOOP_ERROR"


class LoopNotFound(LoopError, NotFound):
    code = "LOOP_NOT_FOUND"


class LoopLeaseHeld(LoopError, Conflict):
    """Another controller holds the lease of the loop (one controller per loop at a time)."""

    code = "LOOP_LEASE_HELD"


class InvalidLoop(LoopError, InvalidArgument):
    """A ``loop.yaml`` with an unknown key or a bad value; the message gives the line."""

    code = "INVALID_LOOP"
