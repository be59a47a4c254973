"""Alembic environment for lorasweep's tables.

Runs only on a connection handed over by :meth:`lorasweep.store.Storage.upgrade`, and keeps its
own version table so that it never touches Optuna's ``alembic_version``.
"""

from __future__ import annotations

from alembic import context

from lorasweep.store.schema import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("lorasweep migrations run through Storage.upgrade(), which passes a connection")


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Only lorasweep's tables: the database also holds Optuna's."""
    return type_ != "table" or bool(name and name.startswith("lorasweep_"))


context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=config.get_main_option("version_table"),
    include_name=include_name,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
