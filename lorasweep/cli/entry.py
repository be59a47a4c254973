"""The ``lorasweep`` entry point: the command group, every command registered on it, and how
errors end the process.

Errors a user can fix print as one line on stderr and exit with code 2; nothing is written to
the database before the input has been validated. A new command is one module in this package
defining a ``click.Command``, added to :data:`COMMANDS`.
"""

from __future__ import annotations

import os
import sys

import click

from lorasweep.cli.ablation import ablation
from lorasweep.cli.compare import compare
from lorasweep.cli.dashboard import dashboard
from lorasweep.cli.db import db
from lorasweep.cli.export import export
from lorasweep.cli.landscape import landscape
from lorasweep.cli.rank_law import rank_law
from lorasweep.cli.recommend import recommend
from lorasweep.cli.report import report
from lorasweep.cli.spaces import spaces
from lorasweep.cli.tasks import tasks
from lorasweep.cli.trial import trial
from lorasweep.errors import LorasweepError, SearchInterrupted

#: Every command and command group of ``lorasweep``.
COMMANDS: tuple[click.Command, ...] = (
    compare,
    rank_law,
    landscape,
    ablation,
    recommend,
    report,
    export,
    dashboard,
    spaces,
    tasks,
    trial,
    db,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lorasweep")
def cli() -> None:
    """Compare tuning the learning rate with tuning LoRA's α, at equal search budget."""


for _command in COMMANDS:
    cli.add_command(_command)


def exit_after_stop(code: int, own_process: bool) -> None:
    """Exit after a stopped search, whose stop is recorded in the database already.

    As the process's own command (``own_process``), without Python's exit handlers: Ray's would
    shut Ray down gracefully, which takes seconds, and up to a minute when the same signal stopped
    a local Ray's head too (SIGTERM to the process group); ``ray job stop`` kills the driver 3 s
    after its SIGTERM anyway. The trials end with the driver: a local Ray's processes share its
    fate, and a cluster ends the actors of a driver that is gone."""
    if not own_process:
        sys.exit(code)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one line on stderr and exit code 2."""
    try:
        cli.main(args=argv, prog_name="lorasweep", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as e:
        hint = ""
        if isinstance(e, click.UsageError) and e.ctx is not None:
            hint = f" (see {e.ctx.command_path} --help)"
        print(f"error: {e.format_message()}{hint}", file=sys.stderr)
        sys.exit(2)
    except SearchInterrupted as e:  # not an error: what was stopped and how to resume it
        print(e, file=sys.stderr)
        exit_after_stop(e.exit_code, own_process=argv is None)
    except LorasweepError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
