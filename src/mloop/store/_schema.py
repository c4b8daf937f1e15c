"""The metadata schema (SQLAlchemy Core). Alembic migrations in ``migrations/`` create it; this
module is what the queries are written against and what ``alembic check`` compares with.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

# SQLite aliases the rowid only for a column typed exactly INTEGER PRIMARY KEY.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("experiment_id", BigId, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(256), nullable=False, unique=True),
    sa.Column("artifact_location", sa.Text, nullable=False),
    sa.Column("lifecycle_stage", sa.String(16), nullable=False, server_default="active"),
    sa.Column("creation_time", sa.BigInteger, nullable=False),
    sa.Column("last_update_time", sa.BigInteger, nullable=False),
)

experiment_tags = sa.Table(
    "experiment_tags",
    metadata,
    sa.Column(
        "experiment_id",
        BigId,
        sa.ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_pk", BigId, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), nullable=False, unique=True),
    sa.Column(
        "experiment_id",
        BigId,
        sa.ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("run_name", sa.String(256), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("start_time", sa.BigInteger, nullable=False),
    sa.Column("end_time", sa.BigInteger, nullable=True),
    sa.Column("parent_run_id", sa.String(32), nullable=True),
    sa.Column("artifact_uri", sa.Text, nullable=False),
    sa.Column("lifecycle_stage", sa.String(16), nullable=False, server_default="active"),
    sa.Column("user", sa.String(256), nullable=False, server_default=""),
    # Milliseconds of the last sign of life of a RUNNING run's process (NULL: none sent yet);
    # a sweep marks runs KILLED whose heartbeat is older than its timeout.
    sa.Column("heartbeat_time", sa.BigInteger, nullable=True),
    sa.Index("ix_runs_experiment_stage_start", "experiment_id", "lifecycle_stage", "start_time"),
    sa.Index("ix_runs_parent_run_id", "parent_run_id"),
)


def _run_fk() -> sa.ForeignKey:
    return sa.ForeignKey("runs.run_pk", ondelete="CASCADE")


params = sa.Table(
    "params",
    metadata,
    sa.Column("run_pk", BigId, _run_fk(), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Index("ix_params_key_value", "key", "value"),
)

tags = sa.Table(
    "tags",
    metadata,
    sa.Column("run_pk", BigId, _run_fk(), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Index("ix_tags_key_value", "key", "value"),
)

# Every point of every metric. NaN is stored as NULL (SQLite has no NaN) and read back as NaN.
metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("run_pk", BigId, _run_fk(), nullable=False),
    sa.Column("key", sa.String(250), nullable=False),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Column("value", sa.Double, nullable=True),
    # Covering index: a history is read from the index alone, in order.
    sa.Index("ix_metrics_run_key_step", "run_pk", "key", "step", "timestamp", "value"),
)

# The latest point per (run, key): highest step, then latest timestamp. Search reads this table.
latest_metrics = sa.Table(
    "latest_metrics",
    metadata,
    sa.Column("run_pk", BigId, _run_fk(), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Column("value", sa.Double, nullable=True),
    sa.Index("ix_latest_metrics_key_value", "key", "value"),
)

# Ids of the batches written, so a batch sent twice (a retry after a timeout whose first attempt
# did commit, a replayed spool) is written once.
batch_receipts = sa.Table(
    "batch_receipts",
    metadata,
    sa.Column("batch_id", sa.String(64), primary_key=True),
    sa.Column("run_pk", BigId, _run_fk(), nullable=False),
    sa.Column("created_time", sa.BigInteger, nullable=False),
)

artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("run_pk", BigId, _run_fk(), primary_key=True),
    sa.Column("path", sa.String(1024), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("created_time", sa.BigInteger, nullable=False),
)

# -- registry ----------------------------------------------------------------------------------

registered_models = sa.Table(
    "registered_models",
    metadata,
    sa.Column("model_pk", BigId, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(256), nullable=False, unique=True),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("creation_time", sa.BigInteger, nullable=False),
    sa.Column("last_update_time", sa.BigInteger, nullable=False),
)


def _model_fk() -> sa.ForeignKey:
    return sa.ForeignKey("registered_models.model_pk", ondelete="CASCADE")


registered_model_tags = sa.Table(
    "registered_model_tags",
    metadata,
    sa.Column("model_pk", BigId, _model_fk(), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("version_pk", BigId, primary_key=True, autoincrement=True),
    sa.Column("model_pk", BigId, _model_fk(), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("run_id", sa.String(32), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("creation_time", sa.BigInteger, nullable=False),
    sa.Column("last_update_time", sa.BigInteger, nullable=False),
    # The identity that registered the version (the token's name under --auth).
    sa.Column("registered_by", sa.String(256), nullable=False, server_default=""),
    sa.UniqueConstraint("model_pk", "version"),
    sa.Index("ix_model_versions_run_id", "run_id"),
)

model_version_tags = sa.Table(
    "model_version_tags",
    metadata,
    sa.Column(
        "version_pk",
        BigId,
        sa.ForeignKey("model_versions.version_pk", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

model_aliases = sa.Table(
    "model_aliases",
    metadata,
    sa.Column("model_pk", BigId, _model_fk(), primary_key=True),
    sa.Column("alias", sa.String(64), primary_key=True),
    sa.Column(
        "version_pk",
        BigId,
        sa.ForeignKey("model_versions.version_pk", ondelete="CASCADE"),
        nullable=False,
    ),
)

# Append-only: triggers created by the migration refuse UPDATE and DELETE.
registry_audit = sa.Table(
    "registry_audit",
    metadata,
    sa.Column("audit_id", BigId, primary_key=True, autoincrement=True),
    sa.Column("model_name", sa.String(256), nullable=False),
    sa.Column("version", sa.Integer, nullable=True),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(256), nullable=False, server_default=""),
    sa.Column("time", sa.BigInteger, nullable=False),
    sa.Column("before", sa.Text, nullable=True),
    sa.Column("after", sa.Text, nullable=True),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Index("ix_registry_audit_model_name", "model_name", "audit_id"),
)

# -- datasets ----------------------------------------------------------------------------------

# One row per registered version of a dataset. Versions are immutable and content-addressed:
# ``digest`` is the sha256 of the stored Parquet file, unique per name (same content, same row).
datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("dataset_pk", BigId, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("format", sa.String(16), nullable=False),
    sa.Column("num_rows", sa.BigInteger, nullable=False),
    sa.Column("num_columns", sa.Integer, nullable=False),
    sa.Column("schema", sa.Text, nullable=False),  # JSON: [{"name": ..., "type": ...}, ...]
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("tags", sa.Text, nullable=False, server_default="{}"),  # JSON object
    sa.Column("creation_time", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("name", "version"),
    sa.UniqueConstraint("name", "digest"),
)

# Lineage: the dataset versions a run read, and in which role ("train", "eval", ...).
run_inputs = sa.Table(
    "run_inputs",
    metadata,
    sa.Column("run_pk", BigId, _run_fk(), primary_key=True),
    sa.Column(
        "dataset_pk",
        BigId,
        sa.ForeignKey("datasets.dataset_pk", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("context", sa.String(64), primary_key=True),
    sa.Column("creation_time", sa.BigInteger, nullable=False),
    sa.Index("ix_run_inputs_dataset_pk", "dataset_pk"),
)

# The outcome of declarative data checks (``mloop data check``) run on a dataset version: the
# counts, and the failing checks with their examples as JSON. Appended, never changed.
dataset_checks = sa.Table(
    "dataset_checks",
    metadata,
    sa.Column("check_pk", BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "dataset_pk",
        BigId,
        sa.ForeignKey("datasets.dataset_pk", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("checks", sa.Text, nullable=False),
    sa.Column("num_rows", sa.BigInteger, nullable=False),
    sa.Column("num_checks", sa.Integer, nullable=False),
    sa.Column("num_failed", sa.Integer, nullable=False),
    sa.Column("num_errors", sa.Integer, nullable=False),
    sa.Column("failures", sa.Text, nullable=False),  # JSON: [{"check": ..., "column": ...}, ...]
    sa.Column("run_id", sa.String(32), nullable=True),
    sa.Column("actor", sa.String(256), nullable=False, server_default=""),
    sa.Column("time", sa.BigInteger, nullable=False),
    sa.Index("ix_dataset_checks_dataset_pk_check_pk", "dataset_pk", "check_pk"),
)

# -- tuning ------------------------------------------------------------------------------------

# Optuna journals (see ``_sqltune``): the append-only operation log of a namespace of studies.
# ``idx`` counts 0, 1, 2, ... per key with no gaps: it is Optuna's log number itself. Appends to
# one key are serialized (BEGIN IMMEDIATE on SQLite, an advisory lock on PostgreSQL), so the
# committed rows of a key are always a prefix and every reader sees one order.
tune_journal = sa.Table(
    "tune_journal",
    metadata,
    sa.Column("journal_key", sa.String(256), primary_key=True),
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("log", sa.Text, nullable=False),  # one JSON object
    sa.Column("created_time", sa.BigInteger, nullable=False),
)

# -- generative AI: traces -----------------------------------------------------------------------

# One row per finished trace (written with its root span), summarizing it for search: by run,
# served model version, status, name and latency. Times are microseconds since the epoch.
traces = sa.Table(
    "traces",
    metadata,
    sa.Column("trace_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("start_us", sa.BigInteger, nullable=False),
    sa.Column("duration_us", sa.BigInteger, nullable=False),
    sa.Column("run_id", sa.String(32), nullable=True),
    sa.Column("model_name", sa.String(256), nullable=True),
    sa.Column("model_version", sa.Integer, nullable=True),
    sa.Column("span_count", sa.Integer, nullable=False),
    sa.Column("prompt_tokens", sa.BigInteger, nullable=True),
    sa.Column("completion_tokens", sa.BigInteger, nullable=True),
    sa.Column("cost", sa.Float, nullable=True),
    sa.Index("ix_traces_run_id_start_us", "run_id", "start_us"),
    sa.Index("ix_traces_start_us", "start_us"),
    sa.Index("ix_traces_model_name_model_version", "model_name", "model_version"),
)

# Every span of a trace; inputs, outputs and attributes as JSON text.
spans = sa.Table(
    "spans",
    metadata,
    sa.Column("trace_id", sa.String(32), primary_key=True),
    sa.Column("span_id", sa.String(16), primary_key=True),
    sa.Column("parent_id", sa.String(16), nullable=True),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("start_us", sa.BigInteger, nullable=False),
    sa.Column("end_us", sa.BigInteger, nullable=False),
    sa.Column("inputs", sa.Text, nullable=True),
    sa.Column("outputs", sa.Text, nullable=True),
    sa.Column("attributes", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("prompt_tokens", sa.BigInteger, nullable=True),
    sa.Column("completion_tokens", sa.BigInteger, nullable=True),
    sa.Column("cost", sa.Float, nullable=True),
)

# -- identity ----------------------------------------------------------------------------------

# API tokens of a shared server (``_tokens``): only the sha256 of the secret is stored.
api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("token_id", sa.String(16), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("secret_sha256", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("scopes", sa.Text, nullable=False, server_default="{}"),  # JSON object
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.String(256), nullable=False, server_default=""),
    sa.Column("expires_at", sa.BigInteger, nullable=True),
    sa.Column("revoked_at", sa.BigInteger, nullable=True),
    sa.Column("last_used_at", sa.BigInteger, nullable=True),
    sa.Index("ix_api_tokens_name", "name"),
)

# -- deployments and the closed loop -----------------------------------------------------------

# The deployment record of a registered model: the traffic split every ``mloop serve`` replica
# follows. ``generation`` grows by one on every change (a set or a clear), so a replica compares
# one integer to know when to reload; ``spec`` is one ``ModelPolicy`` as JSON, NULL once cleared.
deployments = sa.Table(
    "deployments",
    metadata,
    sa.Column(
        "name",
        sa.String(256),
        sa.ForeignKey("registered_models.name", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("generation", sa.BigInteger, nullable=False),
    sa.Column("spec", sa.Text, nullable=True),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.String(256), nullable=False, server_default=""),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
)

# One row per loop (``loop.yaml``): its state machine, moved only by compare-and-set on ``seq``
# (the number of transitions made), and the lease that keeps one controller per loop.
loops = sa.Table(
    "loops",
    metadata,
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("model_name", sa.String(256), nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("context", sa.Text, nullable=False),  # JSON object: step, versions, timers
    sa.Column("spec", sa.Text, nullable=False),  # JSON: the loop.yaml last applied
    sa.Column("lease_owner", sa.String(256), nullable=True),
    sa.Column("lease_expires", sa.BigInteger, nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

# Every transition of a loop, with its reason and evidence; written in the same transaction as
# the state it leads to. ``seq`` is the loop's ``seq`` after the transition (1, 2, ...).
loop_transitions = sa.Table(
    "loop_transitions",
    metadata,
    sa.Column("transition_id", BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "loop_name",
        sa.String(256),
        sa.ForeignKey("loops.name", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("from_state", sa.String(32), nullable=False),
    sa.Column("to_state", sa.String(32), nullable=False),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("evidence", sa.Text, nullable=False, server_default="{}"),  # JSON object
    sa.Column("actor", sa.String(256), nullable=False, server_default=""),
    sa.Column("time", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("loop_name", "seq"),
)

# Monitor results of a loop, a time series: row counts, label coverage, drift per column,
# verdicts. ``result`` holds the whole result as JSON.
loop_monitor_results = sa.Table(
    "loop_monitor_results",
    metadata,
    sa.Column("result_id", BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "loop_name",
        sa.String(256),
        sa.ForeignKey("loops.name", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("time", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("result", sa.Text, nullable=False),
    sa.Index("ix_loop_monitor_results_loop_name_time", "loop_name", "time"),
)

# Alert deliveries of a loop: one row per alert sent (or deduplicated), with its outcome.
loop_alerts = sa.Table(
    "loop_alerts",
    metadata,
    sa.Column("alert_id", BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "loop_name",
        sa.String(256),
        sa.ForeignKey("loops.name", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("condition", sa.String(256), nullable=False),
    sa.Column("sink", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("error", sa.Text, nullable=False, server_default=""),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("time", sa.BigInteger, nullable=False),
    sa.Index("ix_loop_alerts_loop_name_condition", "loop_name", "condition", "time"),
)
