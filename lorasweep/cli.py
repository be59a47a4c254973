"""The ``lorasweep`` command line.

Errors a user can fix print as one line on stderr and exit with code 2; nothing is written to
the database before the input has been validated.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from lorasweep.config import MAX_SEED, Direction, SpaceConfig
from lorasweep.errors import ConfigError, LorasweepError, SearchFailedError, SearchInterrupted

DEFAULT_STORAGE = "sqlite:///lorasweep.db"

storage_option = click.option(
    "--storage",
    default=DEFAULT_STORAGE,
    show_default=True,
    envvar="LORASWEEP_STORAGE",
    show_envvar=True,
    metavar="URL",
    help="Database URL (sqlite:///FILE.db or postgresql+psycopg://USER@HOST/DB). Give the password by "
    "LORASWEEP_DB_PASSWORD_FILE, PGPASSWORD or ~/.pgpass rather than in the URL.",
)
experiment_option = click.option(
    "--experiment", default=None, metavar="NAME", help="Experiment name (may be omitted if the database holds one)."
)


def _err() -> Console:
    return Console(stderr=True, highlight=False)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lorasweep")
def cli() -> None:
    """Compare tuning the learning rate with tuning LoRA's α, at equal search budget."""


# -- compare ------------------------------------------------------------------------------------


class _Bars:
    """Progress bars, one per (space, rank) study, with the best value so far."""

    def __init__(self, progress: Progress, direction: Direction) -> None:
        self.progress, self.direction = progress, direction
        self.tasks: dict[str, Any] = {}
        self.best: dict[str, float] = {}

    def _key(self, plan: Any) -> str:
        return plan.study_name

    def study_started(self, plan: Any, total: int) -> None:
        self.tasks[self._key(plan)] = self.progress.add_task(plan.label, total=total, best="best —")

    def trial_done(self, plan: Any, state: Any, value: float | None) -> None:
        key = self._key(plan)
        if value is not None:
            old = self.best.get(key)
            self.best[key] = value if old is None or self.direction.better(value, old) else old
        best = self.best.get(key)
        self.progress.update(self.tasks[key], advance=1, best=f"best {best:.4g}" if best is not None else "best —")

    def study_done(self, plan: Any) -> None:
        pass


def default_name(config: str) -> str:
    """``CONFIG-YYYYmmdd-HHMMSS``, with the config's file stem made safe for a name."""
    stem = Path(config).stem if config.endswith((".yaml", ".yml")) else Path(config).name
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._")[:40] or "experiment"
    return f"{stem}-{dt.datetime.now():%Y%m%d-%H%M%S}"


def _count(name: str, value: int | None, minimum: int = 1, maximum: int | None = None) -> int | None:
    if value is not None and value < minimum:
        raise ConfigError(f"--{name} must be at least {minimum}, got {value}")
    if value is not None and maximum is not None and value > maximum:
        raise ConfigError(f"--{name} must be at most {maximum}, got {value}; pick a smaller one")
    return value


def _seed(value: int | None) -> int | None:
    return _count("seed", value, minimum=0, maximum=MAX_SEED)


def _search_options(fn: Any) -> Any:
    """The options every search command shares (the same as compare's)."""
    for option in reversed(
        [
            click.option(
                "--config",
                "config",
                default="default",
                show_default=True,
                metavar="NAME|PATH",
                help="Experiment YAML: a built-in name or a path.",
            ),
            storage_option,
            click.option("--name", default=None, metavar="NAME", help="Experiment name (default: config name + time)."),
            click.option("--trials", type=int, default=None, help="Trials per space and rank."),
            click.option("--max-steps", type=int, default=None, help="Steps per trial."),
            click.option("--seed", type=int, default=None, help="Seed for sampler, data order and LoRA init."),
            click.option("--verbose", is_flag=True, help="Show Ray, Optuna and transformers output."),
        ]
    ):
        fn = option(fn)
    return fn


@dataclass(frozen=True)
class SearchArgs:
    """The options every search command shares (see :func:`_search_options`)."""

    config: str
    storage: str
    name: str | None
    trials: int | None
    max_steps: int | None
    seed: int | None
    verbose: bool


def _search_args(fn: Any) -> Any:
    """Hand the shared options to the command as one ``args: SearchArgs``."""

    @functools.wraps(fn)
    def command(**kwargs: Any) -> Any:
        shared = {f.name: kwargs.pop(f.name) for f in dataclasses.fields(SearchArgs)}
        return fn(SearchArgs(**shared), **kwargs)

    return _search_options(command)


@cli.command()
@click.option("--seeds", type=int, default=None, help="Re-run each space's best configs on N new seeds.")
@click.option("--top-k", type=int, default=None, help="How many best configs per space --seeds re-runs.")
@click.option(
    "--resume",
    is_flag=True,
    help="Continue experiment --name after its driver died: keep what finished, run the rest of the budget "
    "(the experiment's stored config is used). With --seeds N, also add seed re-runs to a complete experiment.",
)
@click.option(
    "--warm-start",
    default=None,
    metavar="EXPERIMENT",
    help="Evaluate the best configs of this earlier experiment (same database, same spaces) first.",
)
@click.option(
    "--allow-changed-data",
    is_flag=True,
    help="With --resume: continue although the task's data files changed since the experiment ran.",
)
@_search_args
def compare(
    args: SearchArgs,
    seeds: int | None,
    top_k: int | None,
    resume: bool,
    warm_start: str | None,
    allow_changed_data: bool,
) -> None:
    """Run an LR-only search and a LoRA-α search at equal budget and compare them."""
    if resume:  # --seeds N: re-run the best configs on N seeds, also once the experiment is complete
        extra = {"--top-k": top_k, "--warm-start": warm_start}
        _resume(args, extra=extra, seeds=_count("seeds", seeds), allow_changed_data=allow_changed_data)
        return
    if allow_changed_data:
        raise ConfigError("--allow-changed-data goes with --resume (a new experiment fingerprints its data)")
    overrides: dict[str, Any] = {}
    if warm_start is not None:
        overrides["warm_start.experiment"] = warm_start
    if _count("seeds", seeds, minimum=0) is not None:
        overrides["seeds.n"] = seeds
    if _count("top-k", top_k) is not None:
        overrides["seeds.top_k"] = top_k
    _search(args, overrides)


def _resume(args: SearchArgs, extra: dict[str, Any], seeds: int | None = None, allow_changed_data: bool = False) -> Any:
    """``--resume``: continue experiment ``args.name`` from the database, with its stored config
    (``seeds``: with that many seed re-runs, see :func:`lorasweep.search.runner.resumable`)."""
    if args.name is None:
        raise ConfigError("--resume needs --name NAME: the experiment to continue")
    given = {"--trials": args.trials, "--max-steps": args.max_steps, "--seed": args.seed, **extra}
    clash = [k for k, v in given.items() if v is not None]
    if clash:
        raise ConfigError(f"--resume continues with the experiment's stored config; drop {', '.join(clash)}")
    from lorasweep.search.runner import resumable
    from lorasweep.store import Storage

    with Storage.open(args.storage, readonly=True) as st:
        exp, ablation = resumable(st, args.name, seeds, allow_changed_data)
    return _search(args, {}, ablation=ablation, resume=exp)


def _search(args: SearchArgs, overrides: dict[str, Any], ablation: bool = False, resume: Any | None = None) -> Any:
    """Load the experiment with ``overrides`` and the CLI's, run it with progress bars, print the
    table; return the summary. ``ablation``: run the experiment's ablation instead of its searches.
    ``resume``: the stored config of experiment ``args.name``, to continue."""
    from lorasweep.config import load_experiment

    config, storage, verbose = args.config, args.storage, args.verbose
    if resume is not None:
        exp, exp_name = resume, args.name
    else:
        overrides = dict(overrides)
        if _count("trials", args.trials) is not None:
            overrides["budget.trials"] = args.trials
        if _count("max-steps", args.max_steps) is not None:
            overrides["budget.max_steps"] = args.max_steps
        if _seed(args.seed) is not None:
            overrides["seed"] = args.seed
        if args.name is not None:
            overrides["name"] = args.name
        exp = load_experiment(config, overrides)
        exp_name = exp.name or default_name(config)

    from lorasweep.store import Storage

    if verbose:
        _verbose_log()
    with Storage.open(storage, create=True) as st:
        if not verbose:
            _quiet()
        from lorasweep.analysis.summary import summarize
        from lorasweep.report.table import terminal_report
        from lorasweep.search.runner import preflight, run_compare

        console = _err()
        columns = [
            TextColumn("{task.description:<24}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[best]}"),
            TimeElapsedColumn(),
        ]
        plans = preflight(exp, st, exp_name, verbose, ablation=ablation, resume=resume is not None)
        if ablation and exp.ablation is not None:
            a = exp.ablation
            console.print(
                f"[bold]{exp_name}[/]: alpha × k vs LR × k from r={a.rank}, alpha={a.alpha:g}, LR={a.lr:g}; "
                f"k in {', '.join(f'{k:g}' for k in a.ks)}; {exp.budget.max_steps} steps each"
            )
        else:
            console.print(
                f"[bold]{exp_name}[/]: {' vs '.join(s.name for s in exp.spaces)}, rank {exp.ranks}, "
                f"{exp.budget.trials} trials × {exp.budget.max_steps} steps each, "
                f"{exp.sampler.name} + {exp.scheduler.name.value}"
            )
        with Progress(*columns, console=console, transient=False) as progress:
            bars = _Bars(progress, exp.metric.resolved_direction)
            from lorasweep.report.optuna_dashboard import publish

            record = run_compare(
                exp, st, exp_name, bars, verbose, plans=plans, resume=resume is not None, publish=publish
            )
        summary = summarize(st, record)
        Console().print(terminal_report(summary))
        # SQLite: the absolute path (works from any folder); a server: the URL as given, password masked
        report_line = _report_command(st.url if st.url.startswith("sqlite") else storage, exp_name)
        _none_completed(summary, report_line)
        _print_failures(console, summary)
        console.print(f"Report: {report_line}", soft_wrap=True)
        return summary


def _report_command(url: str, experiment: str) -> str:
    """The command that shows an experiment's report: ready to paste, every password masked."""
    import shlex

    return f"lorasweep report --storage {shlex.quote(_shown(url))} --experiment {experiment} --out report.html"


def _none_completed(summary: Any, report_line: str) -> None:
    """A search in which every trial raised (bad data path, out of memory, ...) is an error: exit 1."""
    from lorasweep.store import TrialState

    trials = [t for s in summary.spaces.values() for t in s.trials]
    trials += [t for ts in summary.ablation_trials.values() for t in ts]
    if trials and all(t.state == TrialState.FAILED for t in trials):
        first = " ".join((trials[0].error or "no error recorded").split())
        raise SearchFailedError(
            f"no trial completed: all {len(trials)} failed; the first with: {first} (see {report_line})"
        )


def _space(space: str) -> SpaceConfig:
    """A space by name or path."""
    from lorasweep.space.resolve import load_space

    return load_space(space)


def _given_path(name_or_path: str) -> str:
    """A file named on the command line is relative to the working directory, not to the config."""
    path = Path(name_or_path).expanduser()
    return str(path.absolute()) if path.suffix in (".yaml", ".yml") and path.is_file() else name_or_path


def _ranks(text: str) -> list[int]:
    try:
        ranks = [int(x) for x in text.split(",") if x.strip()]
    except ValueError as e:
        raise ConfigError(f"--ranks {text!r}: give comma-separated integers, e.g. 4,8,16") from e
    if len(ranks) < 2 or min(ranks) < 1:
        raise ConfigError(f"--ranks {text!r}: give at least two ranks, each at least 1")
    return ranks


@cli.command("rank-law")
@click.option("--space", default="lora_alpha", show_default=True, help="A space that searches α (or c) at fixed LR.")
@click.option("--ranks", "ranks_text", default="4,8,16,32,64", show_default=True, help="Comma-separated ranks.")
@_search_args
def rank_law_cmd(args: SearchArgs, space: str, ranks_text: str) -> None:
    """Search α at each rank and fit α* = c·r^p (OLS in log space, t-intervals from 3 ranks)."""
    from lorasweep.analysis.science import rank_law

    if not _space(space).searches_alpha:
        raise ConfigError(f"--space {space} does not search alpha; pick a space that searches alpha or c")
    overrides = {"spaces": [_given_path(space)], "ranks": _ranks(ranks_text)}
    summary = _search(args, overrides)
    law = rank_law(summary)
    if law is None:  # the space searches α (checked above): no trial ran at 2 ranks or more
        raise ConfigError(f"--space {space} has trials at fewer than 2 ranks; nothing to fit: see the table above")
    click.echo(f"space: {law.space_reason}")
    for r, a in law.alpha_star.items():
        click.echo(f"alpha*(r={r}) = {a:.4g}  (c = {a / r**0.5:.4g})")
    for r, why in law.excluded.items():
        click.echo(f"rank {r} left out of the fit: {why}")
    if law.at_edge:
        click.echo(
            f"warning: alpha* lies at the edge of the searched range at rank(s) {', '.join(map(str, law.at_edge))}; "
            "the optimum may lie outside it, so the fit describes the range more than the task: widen the space"
        )
    if law.fit is None:
        click.echo(f"no fit: {law.reason}")
        return
    f = law.fit
    if f.c_ci is not None and f.p_ci is not None:
        click.echo(
            f"fit: alpha* = {f.c:.4g} · r^{f.p:.3f};  c in [{f.c_ci[0]:.4g}, {f.c_ci[1]:.4g}], "
            f"p in [{f.p_ci[0]:.3f}, {f.p_ci[1]:.3f}] ({f.interval_method})"
        )
    else:
        click.echo(f"fit: alpha* = {f.c:.4g} · r^{f.p:.3f}  (no interval: {f.interval_method})")
    click.echo(law.verdict)


@cli.command("landscape")
@click.option("--space", default="joint", show_default=True, help="A space that searches LR and α together.")
@click.option("--points", type=click.IntRange(2, 20), default=5, show_default=True, help="Grid points per axis.")
@_search_args
def landscape_cmd(args: SearchArgs, space: str, points: int) -> None:
    """Grid LR × α; show whether the metric follows the effective step s·LR."""
    from lorasweep.analysis.science import landscape

    sp = _space(space)
    if not (sp.searches_lr and sp.searches_alpha):
        raise ConfigError(f"--space {space} does not search both LR and alpha; use joint or a space like it")
    overrides = {
        "spaces": [_given_path(space)],
        "sampler": {"name": "grid", "options": {"points_per_param": points}},
        "scheduler": {"name": "fifo"},
        "budget.trials": args.trials or points * points,
    }
    summary = _search(dataclasses.replace(args, trials=None), overrides)
    land = landscape(summary)
    if land is None:
        raise ConfigError(f"--space {space} does not search both LR and α; use joint or a space like it")
    for label, value in (("s·LR", land.effective_step_r2), ("alpha", land.alpha_r2), ("LR", land.lr_r2)):
        shown = "—" if value is None else f"{value:.0%}"
        click.echo(f"{label:<6} alone explains {shown} of the {summary.metric} spread over the grid")


def _floats(option: str, text: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError as e:
        raise ConfigError(f"--{option} {text!r}: give comma-separated numbers, e.g. 1,2,4,8") from e
    if len(values) < 2 or min(values) <= 0:
        raise ConfigError(f"--{option} {text!r}: give at least two numbers, each above 0")
    return values


@cli.command("ablation")
@click.option(
    "--config",
    "config",
    default="ablation",
    show_default=True,
    metavar="NAME|PATH",
    help="Experiment YAML with an ablation section (built-in: the synthetic MLP).",
)
@storage_option
@click.option("--name", default=None, metavar="NAME", help="Experiment name (default: config name + time).")
@click.option("--ks", "ks_text", default=None, metavar="K,K,...", help="Multipliers (default: 1,2,4,...,256).")
@click.option("--rank", type=int, default=None, help="LoRA rank of every point.")
@click.option("--alpha", type=float, default=None, help="Base alpha.")
@click.option("--lr", type=float, default=None, help="Base learning rate.")
@click.option("--max-steps", type=int, default=None, help="Steps per point.")
@click.option("--seed", type=int, default=None, help="Seed of every point (data order, LoRA init).")
@click.option("--verbose", is_flag=True, help="Show Ray, Optuna and transformers output.")
@click.option("--resume", is_flag=True, help="Continue ablation --name after its driver died.")
def ablation_cmd(
    config: str,
    storage: str,
    name: str | None,
    ks_text: str | None,
    rank: int | None,
    alpha: float | None,
    lr: float | None,
    max_steps: int | None,
    seed: int | None,
    verbose: bool,
    resume: bool,
) -> None:
    """Matched-step ablation: alpha × k vs LR × k from one base point, same seed and steps."""
    if resume:
        extra = {"--ks": ks_text, "--rank": rank, "--alpha": alpha, "--lr": lr}
        _resume(SearchArgs(config, storage, name, None, max_steps, seed, verbose), extra)
        return
    overrides: dict[str, Any] = {}
    if ks_text is not None:
        overrides["ablation.ks"] = _floats("ks", ks_text)
    if _count("rank", rank) is not None:
        overrides["ablation.rank"] = rank
    for option, value in (("alpha", alpha), ("lr", lr)):
        if value is not None and not value > 0:
            raise ConfigError(f"--{option} must be above 0, got {value}")
        if value is not None:
            overrides[f"ablation.{option}"] = value
    args = SearchArgs(config, storage, name, None, max_steps, seed, verbose)
    _search(args, overrides, ablation=True)


def _print_failures(console: Console, summary: Any) -> None:
    from lorasweep.store import TrialState

    failed = [t for s in summary.spaces.values() for t in s.trials if t.state == TrialState.FAILED]
    failed += [t for ts in summary.ablation_trials.values() for t in ts if t.state == TrialState.FAILED]
    if failed:
        console.print(f"[red]{len(failed)} trial(s) failed[/]; first error: {failed[0].error}", markup=True)
    if summary.config is not None and summary.config.ablation is None:
        from lorasweep.analysis.coverage import coverage_warnings

        for warning in coverage_warnings(summary):
            console.print(f"[yellow]Warning:[/] {warning['message']}", markup=True, highlight=False)


def _quiet() -> None:
    import logging
    import warnings

    from lorasweep.train.model import quiet_transformers

    quiet_transformers()
    for module in ("transformers", "peft", "torch", "ray", "accelerate"):
        warnings.filterwarnings("ignore", module=module)
    # Trial failures are recorded and summarized after the table; Ray's tracebacks are --verbose.
    logging.getLogger("ray").setLevel(logging.CRITICAL)
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")


def _verbose_log() -> None:
    """--verbose: lorasweep's own log (database retries, warnings) on stderr."""
    import logging

    logger = logging.getLogger("lorasweep")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


def _out_path(out: Path, what: str) -> Path:
    """``--out`` as an absolute path whose folder exists and is writable (checked before anything runs)."""
    out = out.expanduser().absolute()
    folder = out.parent
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        raise LorasweepError(f"--out {out}: {existing} is a file, not a folder; give a path inside a folder")
    if existing != folder:
        raise LorasweepError(f"--out {out}: folder {folder} does not exist; create it or pick another path")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise LorasweepError(
            f"--out {out}: folder {folder} is not writable; pick another {what} or fix its permissions"
        )
    return out


def _shown(url: str) -> str:
    from lorasweep.store import safe_url

    return safe_url(url)


@cli.command("recommend")
@storage_option
@click.option("--rank", type=click.IntRange(min=1), required=True, help="The LoRA rank you will train at.")
@click.option("--task", default=None, metavar="NAME", help="Use only studies of this task.")
@click.option("--rslora", is_flag=True, help="Recommend α for rsLoRA (s = α/√r), from rsLoRA studies; default s = α/r.")
@click.option("--json", "as_json", is_flag=True, help="Print the recommendation as JSON.")
def recommend_cmd(storage: str, rank: int, task: str | None, rslora: bool, as_json: bool) -> None:
    """Propose α (and the LR to use with it) for a rank, from the α* of stored studies."""
    from lorasweep.analysis.recommend import recommend
    from lorasweep.store import Storage

    with Storage.open(storage, readonly=True) as st:
        st.check_schema()
        rec = recommend(st, rank, task, use_rslora=rslora)
    if as_json:
        click.echo(json.dumps(rec.as_dict(), indent=2))
        return
    if rec.sources:
        click.echo(f"used ({len(rec.sources)}):")
    for src in rec.sources:
        edge = "  at the edge of its range" if src.at_edge else ""
        click.echo(
            f"  {src.study:<40} r={src.rank:<4} alpha*={src.alpha_star:<10.4g} LR={src.lr:.3g}  "
            f"(best {src.value:.4g}){edge}"
        )
    if rec.excluded:
        click.echo(f"left out ({len(rec.excluded)}):")
    for ex in rec.excluded:
        click.echo(
            f"  {ex.source.study:<40} r={ex.source.rank:<4} alpha*={ex.source.alpha_star:<10.4g} "
            f"{ex.reason.value.replace('_', ' ')}: {ex.detail}"
        )
    edges = [s for s in rec.sources if s.at_edge]
    if edges:
        click.echo(
            f"warning: {len(edges)} of {len(rec.sources)} studies found alpha* at the edge of the range they searched; "
            "the optimum may lie beyond it, so treat the law as a bound and widen those spaces"
        )
    if rec.fit is not None and rec.alpha is not None:
        f = rec.fit
        interval = f"p in [{f.p_ci[0]:.3f}, {f.p_ci[1]:.3f}]" if f.p_ci is not None else "no interval"
        click.echo(f"law from {f.n} studies: alpha* = {f.c:.4g} · r^{f.p:.3f}  ({interval}; {f.interval_method})")
        shown = (
            f"[{rec.alpha_ci[0]:.4g}, {rec.alpha_ci[1]:.4g}] (95 % prediction interval)"
            if rec.alpha_ci is not None
            else "(point estimate, no interval)"
        )
        click.echo(f"rank {rank}: alpha = {rec.alpha:.4g} {shown}, with LR = {rec.lr:.3g}")
        return
    click.echo(f"not enough data: {rec.reason}")
    if rec.alpha is not None:
        click.echo(f"rank {rank} was searched: alpha* = {rec.alpha:.4g} with LR = {rec.lr:.3g} (no law, no interval)")


# -- report -------------------------------------------------------------------------------------


@cli.command()
@storage_option
@experiment_option
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write the HTML report here.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option(
    "--to-dashboard",
    is_flag=True,
    help="Write (or refresh) the comparison note and charts on every Optuna study of the experiment, "
    "for lorasweep dashboard; notes of your own on those studies are kept.",
)
def report(storage: str, experiment: str | None, out: Path | None, as_json: bool, to_dashboard: bool) -> None:
    """Show an experiment's comparison: table, JSON, a self-contained HTML page, or notes in optuna-dashboard."""
    from lorasweep.analysis.summary import summarize
    from lorasweep.report.sections import Report
    from lorasweep.store import Storage

    if out is not None:
        out = _out_path(out, "file")
    with Storage.open(storage, readonly=True) as st:
        st.check_schema()
        record = st.experiment(experiment)
        summary = summarize(st, record)
        built = Report.build(summary)
        if as_json:
            from lorasweep.report.json_report import to_json

            click.echo(json.dumps(to_json(summary, built), indent=2))
        if out is not None:
            from lorasweep.report.html import write_html

            try:
                write_html(summary, out, built)
            except OSError as e:
                raise LorasweepError(f"--out {out}: cannot be written ({e.strerror}); pick another path") from e
            _err().print(f"Wrote {out}", soft_wrap=True)
        if to_dashboard:
            from lorasweep.report.optuna_dashboard import publish

            done = publish(st, record)
            console = _err()
            for what, names in (
                ("note written on", done.notes),
                ("charts saved on", done.charts),
                ("already up to date", done.unchanged),
            ):
                if names:
                    console.print(f"optuna-dashboard: {what} {', '.join(names)}")
            for name, why in done.skipped.items():
                console.print(f"[yellow]optuna-dashboard: left study {name} unchanged: {why}[/]")
        if not as_json and out is None and not to_dashboard:
            from lorasweep.report.table import terminal_report

            console = Console()
            console.print(terminal_report(summary, built))
            _print_failures(console, summary)


# -- export -------------------------------------------------------------------------------------


@cli.command()
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

    out = _out_path(out, "folder")
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


# -- dashboard ----------------------------------------------------------------------------------


@cli.command()
@storage_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (127.0.0.1: this machine only).")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
def dashboard(storage: str, host: str, port: int) -> None:
    """Browse the Optuna studies in optuna-dashboard (same database)."""
    from lorasweep.report.optuna_dashboard import serve
    from lorasweep.store import Storage

    _check_listen(host, port)
    with Storage.open(storage, readonly=True) as st:
        st.check_schema()
        if not _loopback(host):
            click.echo(
                f"warning: --host {host}: the dashboard can write to the database (rename, delete, annotate studies) "
                "and is reachable from the network, without a password; use --host 127.0.0.1 unless you mean it",
                err=True,
            )
        click.echo(f"optuna-dashboard on http://{host}:{port} (Ctrl-C to stop)", err=True)
        try:
            serve(st, host=host, port=port)
        except OSError as e:  # the port was taken between the check and the start
            raise LorasweepError(f"--port {port}: cannot listen on {host}:{port} ({e.strerror}); pick another") from e


def _loopback(host: str) -> bool:
    """Whether ``host`` is this machine only (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to an outside address
        return False


def _check_listen(host: str, port: int) -> None:
    """The dashboard's address must be free and bindable, before anything else starts."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        reason = getattr(e, "strerror", None) or str(e)
        raise LorasweepError(f"--host {host}: not an address of this machine ({reason}); use e.g. 127.0.0.1") from e
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the HTTP server does
        try:
            sock.bind(address)
        except OSError as e:
            raise LorasweepError(
                f"--port {port}: cannot listen on {host}:{port} ({e.strerror}); pick another port with --port "
                "or stop what uses it"
            ) from e


# -- spaces -------------------------------------------------------------------------------------


@cli.group()
def spaces() -> None:
    """Built-in search spaces."""


@spaces.command("list")
def spaces_list() -> None:
    """List the built-in spaces."""
    from lorasweep.space.resolve import builtin_space_names, load_space, searched

    for name in builtin_space_names():
        space = load_space(name)
        names = ", ".join(searched(space)) or "nothing"
        click.echo(f"{name:<20} searches {names:<7} {space.description}")


@spaces.command("show")
@click.argument("name")
def spaces_show(name: str) -> None:
    """Print a space (built-in name or path) as validated YAML."""
    from lorasweep.space.resolve import load_space

    _echo_yaml(load_space(name))


def _echo_yaml(model: Any) -> None:
    """A validated config, printed back as YAML (a valid file of its kind)."""
    import yaml

    click.echo(yaml.safe_dump(model.model_dump(mode="json"), sort_keys=False).rstrip())


@spaces.command("validate")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def spaces_validate(path: Path) -> None:
    """Check a space YAML file; print what it searches."""
    from lorasweep.space.resolve import load_space, searched

    space = load_space(_existing(path, "space"))
    matched = f" ({space.matched} matched to the experiment's effective_step)" if space.matched else ""
    click.echo(f"ok: space {space.name} searches {', '.join(searched(space))}{matched}")


def _existing(path: Path, kind: str) -> Path:
    """A validate command's file: it must exist (a built-in name is not a file to validate)."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such file; give the path of a {kind} YAML file")
    return path


# -- tasks --------------------------------------------------------------------------------------


@cli.group()
def tasks() -> None:
    """Built-in tasks."""


@tasks.command("list")
def tasks_list() -> None:
    """List the built-in tasks."""
    from lorasweep.config import builtin_names, load_task

    for name in builtin_names("task"):
        task = load_task(name)
        click.echo(f"{name:<20} {task.kind:<21} {task.n_train} train / {task.n_eval} eval  {task.description}")


@tasks.command("kinds")
def tasks_kinds() -> None:
    """List the task kinds (``kind:``) and the metrics each reports, with their directions."""
    from lorasweep.config import TASK_KINDS

    for name in TASK_KINDS:
        metrics = ", ".join(f"{m.name} ({m.direction.value})" for m in TASK_KINDS.get(name).metrics)
        click.echo(f"{name:<21} {metrics}")


@tasks.command("show")
@click.argument("name")
def tasks_show(name: str) -> None:
    """Print a task (built-in name or path) as validated YAML."""
    from lorasweep.config import load_task

    _echo_yaml(load_task(name))


@tasks.command("validate")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def tasks_validate(path: Path) -> None:
    """Check a task YAML file, its generator and params (no model is loaded)."""
    from lorasweep.config import load_task

    task = load_task(_existing(path, "task"))
    try:
        task.check_data()
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from e
    click.echo(f"ok: task {task.name} ({task.kind}, {task.n_train} train / {task.n_eval} eval)")


# -- trial --------------------------------------------------------------------------------------


@cli.command()
@click.option("--config", "config", default="default", show_default=True, metavar="NAME|PATH")
@click.option("--space", default="lr_only", show_default=True, metavar="NAME|PATH")
@click.option("--rank", type=click.IntRange(min=1), default=None, help="LoRA rank (default: the first of ranks).")
@click.option("--params", default="{}", metavar="JSON", help="Sampled values, e.g. '{\"lr\": 0.003}'.")
@click.option("--seed", type=click.IntRange(min=0, max=MAX_SEED), default=None)
@click.option("--verbose", is_flag=True)
def trial(config: str, space: str, rank: int | None, params: str, seed: int | None, verbose: bool) -> None:
    """Run one trial without Ray and print its reports as JSON lines."""
    from lorasweep.config import load_experiment
    from lorasweep.space.resolve import at_rank, contains, distributions, load_space, resolve
    from lorasweep.train.train import run_trial

    exp = load_experiment(config)
    rank = rank or exp.ranks[0]
    sp = at_rank(load_space(space), rank, exp.effective_step)
    try:
        sampled = json.loads(params)
    except ValueError as e:  # JSONDecodeError, or an integer of more digits than Python converts
        reason = e.msg if isinstance(e, json.JSONDecodeError) else str(e).split(";")[0]
        raise ConfigError(f"--params is not JSON lorasweep can read ({reason}); write e.g. '{{\"lr\": 0.003}}'") from e
    dists = distributions(sp)
    if not isinstance(sampled, dict) or set(sampled) != set(dists):
        raise ConfigError(f"--params for space {sp.name} needs exactly the keys {sorted(dists)}; got {_clip(params)}")
    for key, dist in dists.items():
        value = sampled[key]
        try:
            inside = not isinstance(value, bool) and isinstance(value, int | float) and contains(dist, float(value))
        except OverflowError:  # an integer too large for a float
            inside = False
        if not inside:
            raise ConfigError(
                f"--params {key}={_clip(repr(value))} is outside space {sp.name}'s range [{dist.low}, {dist.high}]; "
                "give a number inside it"
            )
    if not verbose:
        _quiet()
    import torch

    torch.set_num_threads(max(1, int(exp.resources.cpus_per_trial)))  # as a Ray worker runs it: same kernels
    lora = resolve(sp, sampled, rank)
    click.echo(json.dumps({"lora": lora.as_dict()}))
    outcome = run_trial(exp, lora, exp.seed if seed is None else seed, lambda r: click.echo(_json_line(r.as_dict())))
    click.echo(_json_line({"end": outcome.end.value, "steps": outcome.steps, "final": outcome.final_metrics}))


def _clip(text: str, limit: int = 60) -> str:
    """A value a user typed, shortened for a one-line message."""
    return text if len(text) <= limit else f"{text[: limit - 12]}... ({len(text)} characters)"


def _json_line(doc: dict[str, Any]) -> str:
    """Strict JSON: NaN (no value, e.g. after divergence) becomes null."""
    return json.dumps({k: (None if isinstance(v, float) and v != v else v) for k, v in doc.items()})


# -- db -----------------------------------------------------------------------------------------


@cli.group()
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


def _exit_after_stop(code: int, own_process: bool) -> None:
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
        _exit_after_stop(e.exit_code, own_process=argv is None)
    except LorasweepError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
