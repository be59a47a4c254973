"""Stops and crashes: SIGINT and SIGTERM to a running search and its resume; a driver killed with
SIGKILL mid-search and resumed; a Ray worker killed mid-trial."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
from ray import cloudpickle

from lorasweep.config import load_experiment
from lorasweep.search.plan import StudyPlan
from lorasweep.search.ray_adapter.trainable import lorasweep_trainable
from lorasweep.search.reconcile import INTERRUPTED, close_open_trials, finished
from lorasweep.search.runner import run_compare
from lorasweep.search.signals import RunInterrupted, StopRequest, stop_signals
from lorasweep.store import Storage, TrialKind, TrialState

from conftest import OPTUNA_STATE, TINY, both_stores, run_cli
from factories import lora_params

LORASWEEP = str(Path(sys.executable).with_name("lorasweep"))


def _wait_for(url: str, name: str, done: int, timeout: float = 300) -> None:
    """Until experiment ``name`` has ``done`` finished trials and one running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.2)
        try:
            with Storage.open(url) as st:
                trials = st.trials(st.experiment(name).id)
        except Exception:  # the database or the experiment is not there yet
            continue
        if sum(finished(t) for t in trials) >= done and any(t.state == TrialState.RUNNING for t in trials):
            return
    raise AssertionError(f"experiment {name} never reached {done} finished trials")


@pytest.mark.slow
def test_resume_after_sigkill_keeps_finished_trials_and_runs_the_rest(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    driver = subprocess.Popen(
        [LORASWEEP, "compare", "--config", str(TINY), "--storage", url, "--name", "k", "--trials", "5"],
        start_new_session=True,  # its own process group: the kill takes Ray's local processes too
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    try:
        _wait_for(url, "k", done=2)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()

    with Storage.open(url) as st:
        before = {t.id: t for t in st.trials(st.experiment("k").id)}
    kept = {i: t for i, t in before.items() if finished(t)}
    cut = [t for t in before.values() if t.state == TrialState.RUNNING]
    assert len(kept) >= 2 and len(cut) == 1

    code, _, err = run_cli("compare", "--resume", "--name", "k", "--trials", "9", "--storage", url)
    assert code == 2 and "drop --trials" in err
    code, _, err = run_cli("compare", "--resume", "--name", "k", "--storage", url)
    assert code == 0, err

    with Storage.open(url) as st:
        exp = st.experiment("k")
        after = st.trials(exp.id)
        studies = st.studies(exp.id)
    assert exp.status.value == "complete"
    for i, t in kept.items():  # finished trials: neither lost nor changed
        assert next(a for a in after if a.id == i) == t
    interrupted = next(a for a in after if a.id == cut[0].id)
    # failed as interrupted; or, if the kill fell between Optuna's record of its end and
    # lorasweep's, ended as Optuna recorded it (checked against Optuna below)
    assert interrupted.state != TrialState.RUNNING
    if interrupted.state == TrialState.INTERRUPTED:
        assert not finished(interrupted) and (interrupted.error or "").startswith(INTERRUPTED)
    for s in studies:  # the budget counts what finished: 5 per study, no more, no less
        own = [t for t in after if t.study_id == s.id and t.kind == TrialKind.SEARCH]
        assert sum(finished(t) for t in own) == 5
        numbers = [t.optuna_number for t in own]
        assert len(numbers) == len(set(numbers))  # nothing duplicated
        study = optuna.load_study(study_name=s.optuna_study_name, storage=url)
        states = {t.number: t.state.name for t in study.trials}
        assert len(study.trials) == len(own)
        for t in own:  # both stores agree on every trial
            assert states[t.optuna_number] == OPTUNA_STATE[t.state.value]

    code, _, err = run_cli("compare", "--resume", "--name", "k", "--storage", url)
    assert code == 2 and "is complete; nothing to resume" in err


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_whole_search_and_resume_completes_every_study(tmp_path: Path, sig: int) -> None:
    """SIGINT (Ctrl-C) or SIGTERM to the process group of a running compare: the running trial is
    recorded as interrupted in both stores, with the time it ran; no other trial starts; the
    experiment stays resumable; the command exits 128 + the signal with one line that says how to
    resume; ``--resume`` then runs every study to its budget."""
    url = f"sqlite:///{tmp_path / 'i.db'}"
    # long trials: the signal lands while the first one runs (resume runs 2 trials per study)
    args = ["--config", str(TINY), "--storage", url, "--name", "i", "--trials", "2", "--max-steps", "600"]
    driver = subprocess.Popen(
        [LORASWEEP, "compare", *args],
        start_new_session=True,  # its own process group, as a shell gives a command run in the foreground
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    try:
        _wait_for(url, "i", done=0)
        os.killpg(driver.pid, sig)
        sent = time.monotonic()
        _, err = driver.communicate(timeout=300)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()
    name = signal.Signals(sig).name
    assert driver.returncode == 128 + sig, err[-3000:]
    resume = f"lorasweep compare --resume --name i --storage {shlex.quote(url)}"
    lines = [line for line in err.splitlines() if "interrupted" in line]
    assert lines == [
        f"interrupted by {name}: 1 running trial recorded as interrupted, experiment 'i' kept as interrupted; "
        f"resume with: {resume}"
    ], err[-3000:]
    assert time.monotonic() - sent < 60  # it stops at once, not after the budget

    exp, trials, optuna_trials = both_stores(url, "i")
    assert exp.status.value == "interrupted"
    (cut,) = trials  # the trial that ran; none started after the signal, in either study
    assert cut.state == TrialState.INTERRUPTED and cut.error == f"{INTERRUPTED} by {name}" and not finished(cut)
    assert cut.wall_seconds > 0 and cut.device_seconds == pytest.approx(cut.wall_seconds)  # CPU: share 1
    assert [t.state for ts in optuna_trials.values() for t in ts] == [optuna.trial.TrialState.FAIL]
    code, out, _ = run_cli("report", "--storage", url, "--experiment", "i", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["status"] == "interrupted" and doc["spaces"]["lr_only"]["n_interrupted"] == 1
    assert doc["spaces"]["lr_only"]["device_seconds"] == pytest.approx(cut.device_seconds)  # its cost counts

    resumed = subprocess.run(
        [LORASWEEP, "compare", "--resume", "--name", "i", "--storage", url],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    exp, trials, _ = both_stores(url, "i")
    assert exp.status.value == "complete"
    assert next(t for t in trials if t.id == cut.id) == cut  # kept as it was
    for study_id in {t.study_id for t in trials}:  # every study at its budget of 2 finished trials
        assert sum(finished(t) for t in trials if t.study_id == study_id) == 2
    assert len({t.study_id for t in trials}) == 2

    code, _, err = run_cli("compare", "--resume", "--name", "i", "--storage", url)
    assert code == 2 and "is complete; nothing to resume" in err


def test_a_stop_signal_asks_for_the_stop_and_the_handlers_are_restored_after() -> None:
    """The first signal only asks: the Tune loop obeys at its next step (``StopRequest.check``)."""
    stop = StopRequest()
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with stop_signals(stop, grace=600):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0)  # the handler runs in this thread at the next bytecode
        assert stop.requested and stop.signum == signal.SIGTERM and stop.at is not None
        with pytest.raises(RunInterrupted) as info:
            stop.check()
        assert info.value.signum == signal.SIGTERM
    assert {s: signal.getsignal(s) for s in before} == before


def test_a_run_that_does_not_obey_the_stop_is_interrupted_after_the_grace() -> None:
    """If the loop never reaches a check (busy in Ray calls, say), the stop is forced."""
    stop = StopRequest()
    deadline = time.monotonic() + 120
    with pytest.raises(RunInterrupted) as info, stop_signals(stop, grace=0.5):
        os.kill(os.getpid(), signal.SIGINT)
        while time.monotonic() < deadline:  # never checks the stop
            time.sleep(0.01)
    assert info.value.signum == signal.SIGINT and time.monotonic() < deadline


def test_signals_while_the_stop_is_recorded_are_ignored() -> None:
    stop = StopRequest()
    with stop_signals(stop, grace=0.1):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0)
        stop.closing = True  # what run_compare sets before it records the stop
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.5)  # past the grace: nothing is forced either
    assert stop.signum == signal.SIGINT


#: Where die_on_first_attempt leaves its markers (pickled with the function, by value).
MARKERS: list[str] = []


def die_on_first_attempt(config: dict[str, Any], **kwargs: Any) -> None:
    """The real trial, but the first attempt's worker process is killed outright."""
    marker = Path(MARKERS[0]) / f"{config['optuna_number']}"
    if not marker.exists():
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    lorasweep_trainable(config, **kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("max_failures", [0, 1])
def test_a_killed_worker_is_retried_per_max_failures_and_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_failures: int
) -> None:
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers cannot import tests/
    monkeypatch.setattr(sys.modules[__name__], "MARKERS", [str(tmp_path)])
    exp = load_experiment(
        TINY,
        {"budget.trials": 1, "spaces": ["lr_only"], "ray.max_failures": max_failures, "scheduler.name": "fifo"},
    )
    with Storage.open(f"sqlite:///{tmp_path / 'w.db'}", create=True) as st:
        record = run_compare(exp, st, f"w{max_failures}", trainable=die_on_first_attempt)
        (trial,) = st.trials(record.id)
        reports = st.reports(record.id)
    if max_failures:
        assert trial.state == TrialState.COMPLETE and trial.retries == 1 and trial.error is None
        assert [r.step for r in reports] == [10, 20]  # the re-run's reports only
        # the killed attempt held its device too: its (wall) time is part of the trial's cost
        assert trial.device_seconds > reports[-1].device_seconds
    else:
        assert trial.state == TrialState.FAILED and trial.retries == 0
        assert "died" in trial.error.lower() or "actor" in trial.error.lower(), trial.error


def test_a_crash_between_optuna_and_lorasweep_records_the_end_optuna_has(tmp_path: Path) -> None:
    """Ray tells the searcher (Optuna) before the store callback: a kill in between leaves the
    trial finished in Optuna and RUNNING in lorasweep. Closing keeps the two stores in agreement."""
    from lorasweep.config import Direction
    from lorasweep.space.resolve import load_space
    from lorasweep.store import TrialStart, optuna_storage

    url = f"sqlite:///{tmp_path / 'c.db'}"
    space = load_space("lr_only")
    with Storage.open(url, create=True) as st:
        st.upgrade()
        record = st.create_experiment("c", "", {})
        row = st.add_study(
            record.id,
            space="lr_only",
            rank=4,
            optuna_study_name="c/lr_only/r4",
            metric="accuracy",
            direction=Direction.MAXIMIZE,
            space_config={},
        )
        ot_storage = optuna_storage(st)
        study = optuna.create_study(storage=ot_storage, study_name="c/lr_only/r4", direction="maximize")
        lora = lora_params()
        ids = []
        for number, end in enumerate(["pruned", "running"]):
            ot = study.ask()
            ot.report(0.6 + number / 10, 20)
            if end == "pruned":
                study.tell(ot, state=optuna.trial.TrialState.PRUNED)
            ids.append(
                st.start_trial(
                    TrialStart(
                        study_id=row.id,
                        ray_trial_id=f"t{number}",
                        optuna_number=ot.number,
                        params={"lr": 1e-3},
                        lora=lora,
                        seed=0,
                    )
                )
            )
        close_open_trials(
            st, record, [StudyPlan(space=space, rank=4, study_name="c/lr_only/r4")], ot_storage, reason=INTERRUPTED
        )
        trials = {t.id: t for t in st.trials(record.id)}
    told = trials[ids[0]]
    assert told.state == TrialState.PRUNED and told.final_value == pytest.approx(0.6) and told.steps == 20
    assert finished(told)
    cut = trials[ids[1]]
    assert cut.state == TrialState.INTERRUPTED and cut.error == INTERRUPTED and not finished(cut)
    assert cut.device_seconds == 0.0  # a crash: when it ended is not known
    states = [t.state for t in optuna.load_study(study_name="c/lr_only/r4", storage=url).trials]
    assert states == [optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL]


@pytest.mark.slow
def test_seed_reruns_can_be_added_to_a_complete_experiment(tmp_path: Path) -> None:
    """``compare --resume --seeds N`` on a complete experiment runs only the re-runs: the search
    trials and the studies' times stay as they were, and asking again adds nothing."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    args = ["compare", "--config", str(TINY), "--storage", url, "--name", "s", "--trials", "2"]
    code, _, err = run_cli(*args, "--max-steps", "10")
    assert code == 0, err
    with Storage.open(url) as st:
        record = st.experiment("s")
        before, studies = st.trials(record.id), st.studies(record.id)
    assert record.status.value == "complete" and not [t for t in before if t.kind == TrialKind.SEEDS]
    code, _, err = run_cli("compare", "--resume", "--name", "s", "--storage", url, "--seeds", "0")
    assert code == 2 and "--seeds must be at least 1" in err

    code, out, err = run_cli("compare", "--resume", "--name", "s", "--storage", url, "--seeds", "3")
    assert code == 0, err
    assert "no verdict possible yet between lr_only and lora_alpha from 3 seeds" in " ".join(out.split())
    with Storage.open(url) as st:
        record = st.experiment("s")
        after, studies_after = st.trials(record.id), st.studies(record.id)
    assert record.status.value == "complete"
    assert [t for t in after if t.kind == TrialKind.SEARCH] == before
    assert studies_after == studies  # a finished study keeps its end: wall times do not grow
    reruns = [t for t in after if t.kind == TrialKind.SEEDS]
    assert len(reruns) == 6 and {t.seed for t in reruns} == {1, 2, 3}  # top_k 1 per space, 3 seeds

    code, _, err = run_cli("compare", "--resume", "--name", "s", "--storage", url, "--seeds", "3")
    assert code == 0, err
    with Storage.open(url) as st:
        assert st.trials(st.experiment("s").id) == after  # nothing left to run
