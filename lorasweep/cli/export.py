"""``lorasweep export``: a space's best adapter (PEFT format) and the YAML that reproduces it."""

from __future__ import annotations

from pathlib import Path

import click

from lorasweep.cli.options import experiment_option, out_path, storage_option
from lorasweep.errors import LorasweepError


@click.command("export")
@storage_option
@experiment_option
@click.option("--space", required=True, metavar="NAME", help="The space whose best trial to export.")
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="A new folder for the adapter."
)
def export(storage: str, experiment: str | None, space: str, out: Path) -> None:
    """Write a space's best adapter (PEFT format) and the YAML that reproduces its trial."""
    from lorasweep.export import export_best
    from lorasweep.store import Storage

    out = out_path(out, "folder")
    with Storage.open(storage, readonly=True) as st:
        st.check_schema()
        try:
            done = export_best(st, experiment, space, out)
        except OSError as e:
            raise LorasweepError(f"--out {out}: cannot be written ({e.strerror}); pick another folder") from e
    t = done.trial
    click.echo(
        f"wrote {out}: adapter of Optuna trial #{t.optuna_number} (best {t.best_value:.4g}), r={t.r}, "
        f"alpha={t.alpha:.4g}, LR={t.lr:.3g}"
    )
    click.echo(f"load it: PeftModel.from_pretrained(base_model, {str(out)!r}); re-run it: {done.command}")
