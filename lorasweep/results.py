"""Results as data: :func:`load` reads a stored experiment into :class:`Results` — the finding and
the verdict every report opens with, the per-space summary, and pandas data frames of its trials and
of every report, named like Optuna's ``study.trials_dataframe()`` where they overlap.

::

    import lorasweep
    res = lorasweep.load("sqlite:///runs.db", "my-exp")
    print(res.finding)
    df = res.trials_dataframe()          # one row per trial, every space and rank
    df.groupby("space").value.max()
    steps = res.steps_dataframe()        # one row per report (evaluation)

Reading opens the database read-only and changes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lorasweep.store import Storage, TrialState

if TYPE_CHECKING:
    import pandas as pd

    from lorasweep.analysis.summary import ExperimentSummary, SpaceSummary
    from lorasweep.store import ReportRecord, StudyRecord, TrialRecord

__all__ = ["OPTUNA_STATE", "Results", "load"]

#: Optuna's state (``TrialState`` name) for each lorasweep state: what the Optuna study records.
OPTUNA_STATE: dict[TrialState, str] = {
    TrialState.RUNNING: "RUNNING",
    TrialState.COMPLETE: "COMPLETE",
    TrialState.PRUNED: "PRUNED",
    TrialState.FAILED: "FAIL",
    TrialState.DIVERGED: "FAIL",
    TrialState.INTERRUPTED: "FAIL",
}


@dataclass(frozen=True, kw_only=True)
class Results:
    """One stored experiment, read: what ``lorasweep report`` shows, as Python data."""

    #: the experiment's name
    experiment: str
    #: the sentences every report opens with (which space reached the better value, at what cost, on what evidence)
    finding: str
    #: the seed verdict, or why there is none (None for an experiment that compares nothing)
    verdict: str | None
    #: the report's warnings, ``{"code", "message"}`` (unequal coverage, best at an edge, too few seeds, ...)
    warnings: list[dict[str, str]]
    #: the ``lorasweep report --json`` document
    report: dict[str, Any] = field(repr=False)
    #: the numbers behind every report (lorasweep.analysis.summary.ExperimentSummary)
    summary: ExperimentSummary = field(repr=False)
    _studies: list[StudyRecord] = field(repr=False)
    _trials: list[TrialRecord] = field(repr=False)
    _reports: list[ReportRecord] = field(repr=False)

    @property
    def test_split(self) -> str | None:
        """How the test split was made (``"held out 200 rows of train with data_seed 0"``, ``"split
        test: ..."``, ``"generated: ..."``), or None when the experiment's config is not known."""
        config = self.summary.config
        return config.task.test_source() if config is not None else None

    @property
    def spaces(self) -> dict[str, SpaceSummary]:
        """Per space: best value and params, trial counts by state, device-seconds, cost to the target."""
        return self.summary.spaces

    def trials_dataframe(self) -> pd.DataFrame:
        """One row per trial (search trials and seed re-runs), ordered by study and Optuna number.

        Columns shared with Optuna's ``study.trials_dataframe()``: ``number``, ``value`` (the final
        value; a pruned trial's last one, as Optuna records it), ``datetime_start``,
        ``datetime_complete``, ``duration``, ``params_<name>`` (the sampled parameters) and ``state``
        (Optuna's name: COMPLETE, PRUNED, FAIL, RUNNING). lorasweep's own: ``space``, ``rank``,
        ``study`` (the Optuna study name), ``kind`` (search, seeds, ablation), ``outcome``
        (complete, pruned, failed, diverged, interrupted), ``seed``, ``alpha``, ``lr``, ``scaling``,
        ``effective_step`` (s·LR), ``use_rslora``, ``best_value``, ``steps``, ``diverged_step``,
        ``device_seconds``, ``wall_seconds``, ``examples``, ``tokens``, ``retries``, ``error``, and the
        test split's (:attr:`test_split` says how it was made): ``test_value`` (the metric on it at
        the trial's end: seed re-runs and ablation points; NaN for search trials, which selected on
        the eval split that ``value`` is measured on) and ``test_<metric>`` for every metric."""
        import pandas as pd

        study = {s.id: s for s in self._studies}
        names = sorted({k for t in self._trials for k in t.params})
        tested = sorted({k for t in self._trials for k in t.test_metrics or {}})
        rows = []
        for t in self._trials:
            s = study[t.study_id]
            end = t.finished_at
            rows.append(
                {
                    "number": t.optuna_number,
                    "value": t.final_value,
                    "datetime_start": t.started_at,
                    "datetime_complete": end,
                    "duration": (end - t.started_at) if end is not None else None,
                    **{f"params_{k}": t.params.get(k) for k in names},
                    "state": OPTUNA_STATE[t.state],
                    "space": s.space,
                    "rank": s.rank,
                    "study": s.optuna_study_name,
                    "kind": t.kind.value,
                    "outcome": t.state.value,
                    "seed": t.seed,
                    "alpha": t.alpha,
                    "lr": t.lr,
                    "scaling": t.scaling,
                    "effective_step": t.effective_step,
                    "use_rslora": t.use_rslora,
                    "best_value": t.best_value,
                    "steps": t.steps,
                    "diverged_step": t.diverged_step,
                    "device_seconds": t.device_seconds,
                    "wall_seconds": t.wall_seconds,
                    "examples": t.examples,
                    "tokens": t.tokens,
                    "retries": t.retries,
                    "error": t.error,
                    "test_value": _number(t.test_value),
                    **{f"test_{m}": _number((t.test_metrics or {}).get(m)) for m in tested},
                }
            )
        frame = pd.DataFrame(rows)
        if frame.empty:
            return frame
        frame["number"] = frame["number"].astype("Int64")
        order = {s.id: i for i, s in enumerate(self._studies)}
        frame["_order"] = [order[t.study_id] for t in self._trials]
        frame = frame.sort_values(["_order", "kind", "number"], kind="stable").drop(columns="_order")
        return frame.reset_index(drop=True)

    def steps_dataframe(self) -> pd.DataFrame:
        """One row per report (each evaluation of each trial): ``space``, ``rank``, ``study``,
        ``number`` (the trial's Optuna number), ``kind``, ``seed``, ``step``, ``value`` (the
        experiment's metric), one column per metric the task reports, ``train_loss``, ``lr``,
        ``examples``, ``tokens``, ``device_seconds``, ``signal``, ``drift``, ``drift_ratio``."""
        import pandas as pd

        study = {s.id: s for s in self._studies}
        trial = {t.id: t for t in self._trials}
        metric_names = sorted({k for r in self._reports for k in r.metrics})
        rows = []
        for r in self._reports:
            t = trial[r.trial_id]
            s = study[t.study_id]
            rows.append(
                {
                    "space": s.space,
                    "rank": s.rank,
                    "study": s.optuna_study_name,
                    "number": t.optuna_number,
                    "kind": t.kind.value,
                    "seed": t.seed,
                    "step": r.step,
                    "value": r.value,
                    **{m: _number(r.metrics.get(m)) for m in metric_names},
                    "train_loss": r.train_loss,
                    "lr": r.lr,
                    "examples": r.examples,
                    "tokens": r.tokens,
                    "device_seconds": r.device_seconds,
                    "signal": r.signal,
                    "drift": r.drift,
                    "drift_ratio": r.drift_ratio,
                }
            )
        frame = pd.DataFrame(rows)
        if not frame.empty:
            frame["number"] = frame["number"].astype("Int64")
        return frame


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else math.nan


def load(storage: str | Storage, experiment: str | None = None) -> Results:
    """Read experiment ``experiment`` (None: the only one in the database) from ``storage`` (a URL
    such as ``sqlite:///runs.db`` or ``postgresql+psycopg://...``, or an open :class:`~lorasweep.store.Storage`)."""
    if isinstance(storage, Storage):
        return _read(storage, experiment)
    with Storage.open(storage, readonly=True) as st:
        return _read(st, experiment)


def _read(st: Storage, experiment: str | None) -> Results:
    from lorasweep.analysis.seeds import seed_comparison, verdict_text
    from lorasweep.analysis.summary import summarize
    from lorasweep.report.sections import Report

    st.check_schema()
    record = st.experiment(experiment)
    summary = summarize(st, record)
    doc = Report.build(summary).json()
    finding = doc.get("finding")
    return Results(
        experiment=record.name,
        finding=finding.get("text", "") if isinstance(finding, dict) else str(finding or ""),
        verdict=verdict_text(summary, seed_comparison(summary)),
        warnings=list(doc.get("warnings") or []),
        report=doc,
        summary=summary,
        _studies=st.studies(record.id),
        _trials=st.trials(record.id),
        _reports=st.reports(record.id),
    )
