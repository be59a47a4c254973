"""The commands lorasweep tells people to run, ready to paste: one function per command line, so
the line an error prints, a verdict's advice and the finding sentence say the same thing. Names are
shell-quoted and a database URL's password is masked."""

from __future__ import annotations

import shlex

from lorasweep.store.secrets import safe_url

__all__ = ["resume_command"]


def resume_command(name: str, storage_url: str | None = None, *, ablation: bool = False, then: str = "") -> str:
    """The command that continues experiment ``name`` (``lorasweep compare --resume --name NAME``),
    with ``--storage`` when ``storage_url`` is given and ``then`` (e.g. ``--seeds auto``,
    ``--repeats K``) after it."""
    line = f"lorasweep {'ablation' if ablation else 'compare'} --resume --name {shlex.quote(name)}"
    if storage_url is not None:
        line += f" --storage {shlex.quote(safe_url(storage_url))}"
    return f"{line} {then}" if then else line
