"""A CLI command added by one file, the way README's "Extending lorasweep" says: a module defining a
``click.Command``; registering it is one line (``COMMANDS`` in ``lorasweep/cli/entry.py`` for a
built-in one). ``tests/test_extending.py`` registers it and runs it through ``lorasweep``'s entry point."""

from __future__ import annotations

import click

from lorasweep.cli.options import storage_option
from lorasweep.errors import ConfigError


@click.command("hello")
@storage_option
@click.option("--times", type=int, default=1, show_default=True, help="How many greetings.")
def hello(storage: str, times: int) -> None:
    """Greet every experiment stored in --storage."""
    from lorasweep.store import Storage

    if times < 1:
        raise ConfigError(f"--times {times}: must be 1 or more; give --times 1")
    with Storage.open(storage, readonly=True) as st:
        names = st.experiment_names()
    for name in names * times:
        click.echo(f"hello {name}")
