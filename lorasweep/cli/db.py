"""``lorasweep db upgrade``: create lorasweep's tables or migrate them."""

from __future__ import annotations

import click

from lorasweep.cli.options import storage_option


@click.group("db")
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@storage_option
def db_upgrade(storage: str) -> None:
    """Create lorasweep's tables or migrate them to this release."""
    from lorasweep.store import Storage

    with Storage.open(storage, create=True) as st:
        st.upgrade()
        click.echo(f"schema at {st.schema_revision()}")
