"""Alembic environment: migrations run on the connection mloop hands over (see ``_migrate``)."""

from __future__ import annotations

from alembic import context

from mloop.store._schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - mloop always passes its connection
    raise RuntimeError("mloop migrations run through `mloop db upgrade` or on first use")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
