"""Running a search from the command line, shared by compare, rank-law, landscape and ablation:
the experiment with the command's overrides (or the stored one, to resume), the checks before
Ray starts, the run with progress bars, the table and what to do next."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from rich.console import Console

from lorasweep.cli.console import (
    StudyBars,
    err,
    print_failures,
    quiet,
    report_command,
    search_progress,
    verbose_log,
)
from lorasweep.cli.options import SearchArgs, default_name, search_overrides
from lorasweep.errors import ConfigError, SearchFailedError

if TYPE_CHECKING:
    from lorasweep.analysis.summary import ExperimentSummary
    from lorasweep.config import ExperimentConfig
    from lorasweep.search.plan import RunPlan


def resume(
    args: SearchArgs,
    extra: dict[str, Any],
    seeds: int | Literal["auto"] | None = None,
    repeats: int | None = None,
    allow_changed_data: bool = False,
) -> ExperimentSummary:
    """``--resume``: continue experiment ``args.name`` from the database, with its stored config
    (``seeds``: with that many seed re-runs; ``repeats``: with that many repeated searches; see
    :func:`lorasweep.search.studies.resume_plan`)."""
    if args.name is None:
        raise ConfigError("--resume needs --name NAME: the experiment to continue")
    given = {"--trials": args.trials, "--max-steps": args.max_steps, "--seed": args.seed, **extra}
    clash = [k for k, v in given.items() if v is not None]
    if clash:
        raise ConfigError(f"--resume continues with the experiment's stored config; drop {', '.join(clash)}")
    from lorasweep.search.studies import resume_plan
    from lorasweep.store import Storage

    with Storage.open(args.storage, readonly=True) as st:
        plan = resume_plan(st, args.name, seeds, repeats, allow_changed_data=allow_changed_data)
    return run_search(args, {}, resume=plan)


def experiment(args: SearchArgs, overrides: dict[str, Any]) -> tuple[ExperimentConfig, str]:
    """The experiment ``args.config`` with the command's ``overrides`` and the shared options', and its name."""
    from lorasweep.config import load_experiment

    exp = load_experiment(args.config, search_overrides(args, overrides))
    return exp, exp.name or default_name(args.config)


def headline(run: RunPlan) -> str:
    """The line before the progress bars: what runs."""
    exp, name = run.exp, run.name
    if run.ablation and exp.ablation is not None:
        a = exp.ablation
        return (
            f"[bold]{name}[/]: alpha × k vs LR × k from r={a.rank}, alpha={a.alpha:g}, LR={a.lr:g}; "
            f"k in {', '.join(f'{k:g}' for k in a.ks)}; {exp.budget.max_steps} steps each"
        )
    return (
        f"[bold]{name}[/]: {' vs '.join(s.name for s in exp.spaces)}, rank {exp.ranks}, "
        f"{exp.budget.trials} trials × {exp.budget.max_steps} steps each"
        f"{f', {exp.repeats} repeated searches' if exp.repeats > 1 else ''}, "
        f"{exp.sampler.name} + {exp.scheduler.name.value}"
    )


def check_completed(summary: ExperimentSummary, report_line: str) -> None:
    """A search in which every trial raised (bad data path, out of memory, ...) is an error: exit 1."""
    from lorasweep.store import TrialState

    trials = [t for s in summary.spaces.values() for t in s.trials]
    trials += [t for ts in summary.ablation_trials.values() for t in ts]
    if trials and all(t.state == TrialState.FAILED for t in trials):
        first = " ".join((trials[0].error or "no error recorded").split())
        raise SearchFailedError(
            f"no trial completed: all {len(trials)} failed; the first with: {first} (see {report_line})"
        )


def run_search(
    args: SearchArgs,
    overrides: dict[str, Any],
    ablation: bool = False,
    resume: RunPlan | None = None,
) -> ExperimentSummary:
    """Load the experiment with ``overrides`` and the CLI's, plan it, run it with progress bars,
    print the table; return the summary. ``ablation``: run the experiment's ablation instead of
    its searches. ``resume``: the plan of stored experiment ``args.name``, to continue."""
    if resume is None:
        exp, name = experiment(args, overrides)

    from lorasweep.store import Storage

    if args.verbose:
        verbose_log()
    with Storage.open(args.storage, create=True) as st:
        if not args.verbose:
            quiet()
        from lorasweep.analysis.seeds import next_seed_look
        from lorasweep.analysis.summary import summarize
        from lorasweep.report.optuna_dashboard import publish
        from lorasweep.report.table import terminal_report
        from lorasweep.search.runner import preflight, run_plan
        from lorasweep.search.studies import ablation_plan, compare_plan

        console = err()
        planned = resume or (ablation_plan(exp, name) if ablation else compare_plan(exp, name))
        run = preflight(planned, st, args.verbose)
        name = run.name
        console.print(headline(run))
        with search_progress(console) as progress:
            bars = StudyBars(progress, run.exp.metric.resolved_direction, run.exp.metric.name)
            record = run_plan(
                run, st, progress=bars, verbose=args.verbose, publish=publish, next_seed_look=next_seed_look
            )
        summary = summarize(st, record)
        Console().print(terminal_report(summary))
        # SQLite: the absolute path (works from any folder); a server: the URL as given, password masked
        report_line = report_command(st.url if st.url.startswith("sqlite") else args.storage, name)
        check_completed(summary, report_line)
        print_failures(console, summary)
        console.print(f"Report: {report_line}", soft_wrap=True)
        return summary
