"""lorasweep's Ray Tune searcher on Optuna's ask-and-tell API, driven as Tune drives it (suggest,
on_trial_result, on_trial_complete, save, restore) with scripted results: no training, Ray
imported but never started. What it asked and told is read back from the Optuna study in the
database."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import optuna
import pytest
from ray.tune.search import Searcher
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from lorasweep.config import SamplerConfig
from lorasweep.search.ray_adapter.keys import OPTUNA_NUMBER, STUDY
from lorasweep.search.ray_adapter.searchers import InterleavedSearch, JsonStateSearcher, StudySearch
from lorasweep.search.samplers import make_sampler
from lorasweep.store import Storage, optuna_storage
from lorasweep.train.train import TrialEnd

OtState = optuna.trial.TrialState
#: A space as :func:`lorasweep.space.resolve.distributions` gives it (lr_only at some rank).
DISTS = {"lr": optuna.distributions.FloatDistribution(1e-5, 1e-2, log=True)}


def _search(storage: Any, name: str = "e/lr_only/r4", seed: int = 0, sampler: str = "random", **kw: Any) -> StudySearch:
    return StudySearch(
        space=DISTS,
        metric="accuracy",
        mode="max",
        sampler=make_sampler(SamplerConfig(name=sampler), seed, DISTS, 8),
        storage=storage,
        study_name=name,
        **kw,
    )


@pytest.fixture
def ot_storage(tmp_path: Path) -> Any:
    with Storage.open(f"sqlite:///{tmp_path / 's.db'}", create=True) as st:
        yield optuna_storage(st)


def _result(value: float, step: int, end: TrialEnd | None = None) -> dict[str, Any]:
    return {"accuracy": value, "step": step, **({"end": end.value} if end else {})}


def _trials(storage: Any, name: str = "e/lr_only/r4") -> list[optuna.trial.FrozenTrial]:
    return sorted(optuna.load_study(study_name=name, storage=storage).trials, key=lambda t: t.number)


def test_suggest_asks_the_study_the_same_points_its_sampler_asks_alone(ot_storage: Any) -> None:
    search = _search(ot_storage, sampler="tpe", seed=3)
    configs = [search.suggest(f"t{i}") for i in range(4)]
    assert [c[OPTUNA_NUMBER] for c in configs] == [0, 1, 2, 3]  # type: ignore[index]
    alone = optuna.create_study(sampler=make_sampler(SamplerConfig(name="tpe"), 3, DISTS, 8))
    assert [{k: c[k] for k in DISTS} for c in configs] == [pytest.approx(alone.ask(DISTS).params) for _ in configs]  # type: ignore[index]
    assert [t.state for t in _trials(ot_storage)] == [OtState.RUNNING] * 4
    assert _trials(ot_storage)[2].params == {k: configs[2][k] for k in DISTS}  # type: ignore[index]


def test_each_end_is_told_to_optuna_in_its_own_state(ot_storage: Any) -> None:
    search = _search(ot_storage)
    for i in range(6):
        search.suggest(f"t{i}")
    # complete: two evaluations, the last with the trial's own end
    search.on_trial_result("t0", _result(0.5, 10))
    search.on_trial_result("t0", _result(0.7, 20, TrialEnd.COMPLETE))
    search.on_trial_complete("t0", _result(0.7, 20, TrialEnd.COMPLETE))
    # pruned by the scheduler at the rung: Ray hands the rung's result to on_trial_complete only
    search.on_trial_complete("t1", _result(0.2, 10))
    # raised
    search.on_trial_result("t2", _result(0.4, 10))
    search.on_trial_complete("t2", None, error=True)
    # diverged: its NaN is no intermediate value, and it has no value to rank
    search.on_trial_result("t3", _result(0.3, 10))
    search.on_trial_complete("t3", {**_result(float("nan"), 20), "end": TrialEnd.DIVERGED.value})
    # complete without a finite value: nothing to rank
    search.on_trial_complete("t4", {**_result(float("inf"), 20), "end": TrialEnd.COMPLETE.value})
    trials = _trials(ot_storage)
    assert [t.state for t in trials] == [
        OtState.COMPLETE,
        OtState.PRUNED,
        OtState.FAIL,
        OtState.FAIL,
        OtState.FAIL,
        OtState.RUNNING,  # t5 is still running
    ]
    assert trials[0].value == 0.7 and trials[0].intermediate_values == {10: 0.5, 20: 0.7}
    assert trials[1].value == 0.2 and trials[1].intermediate_values == {10: 0.2}  # the rung value
    assert trials[2].value is None and trials[2].intermediate_values == {10: 0.4}
    assert trials[3].intermediate_values == {10: 0.3}
    # Tune may tell an end twice (a trial errors while it is being stopped): the first one stands
    search.on_trial_complete("t0", None, error=True)
    search.on_trial_complete("t5", _result(0.9, 20, TrialEnd.COMPLETE))
    assert [t.state for t in _trials(ot_storage)][0::5] == [OtState.COMPLETE, OtState.COMPLETE]


def test_an_evaluation_is_reported_once_per_step(ot_storage: Any) -> None:
    search = _search(ot_storage)
    search.suggest("t")
    search.on_trial_result("t", _result(0.5, 10))
    search.on_trial_result("t", _result(0.6, 10))  # a result repeated at the same step
    search.on_trial_complete("t", _result(0.6, 10))  # pruned on it
    (trial,) = _trials(ot_storage)
    assert trial.state == OtState.PRUNED and trial.intermediate_values == {10: 0.5}


def test_warm_points_are_the_first_trials_and_then_the_sampler_asks(ot_storage: Any) -> None:
    points = [{"lr": 3e-4}, {"lr": 1e-3}]
    search = _search(ot_storage, points_to_evaluate=points)
    configs = [search.suggest(f"t{i}") for i in range(3)]
    assert [c["lr"] for c in configs[:2]] == [3e-4, 1e-3]  # type: ignore[index]
    assert configs[2]["lr"] not in (3e-4, 1e-3)  # type: ignore[index]
    assert [t.params["lr"] for t in _trials(ot_storage)][:2] == [3e-4, 1e-3]


def test_a_second_searcher_on_the_study_continues_its_trials(ot_storage: Any) -> None:
    """compare --resume: the study exists, with its finished trials; the new searcher's trials follow them."""
    first = _search(ot_storage)
    first.suggest("a")
    first.on_trial_complete("a", _result(0.5, 20, TrialEnd.COMPLETE))
    again = _search(ot_storage, seed=1)
    assert again.suggest("b")[OPTUNA_NUMBER] == 1  # type: ignore[index]
    again.on_trial_complete("b", _result(0.6, 20, TrialEnd.COMPLETE))
    assert [(t.number, t.value) for t in _trials(ot_storage)] == [(0, 0.5), (1, 0.6)]


def test_an_ask_cut_off_by_an_outage_is_retried_and_its_orphan_failed(tmp_path: Path) -> None:
    """The database goes away once while a new trial's parameters are written: the trial's row
    is there (RUNNING), the ask's answer is lost. The retried ask gets a new trial; the orphan,
    which no Ray trial runs, is closed as FAIL."""
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'o.db'}")
    cut: list[str] = []

    def outage(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("INSERT INTO trial_params") and not cut:
            cut.append(statement)
            raise OperationalError(statement, {}, Exception("server closed the connection unexpectedly"))

    event.listen(storage.engine, "before_cursor_execute", outage)
    search = _search(storage)
    config = search.suggest("t")
    assert cut and config[OPTUNA_NUMBER] == 1  # type: ignore[index]
    assert [t.state for t in _trials(storage)] == [OtState.FAIL, OtState.RUNNING]


def test_neither_the_pickle_nor_the_checkpoint_holds_the_database(ot_storage: Any, tmp_path: Path) -> None:
    search = _search(ot_storage)
    interleaved = InterleavedSearch({"k": search}, {"k": 2}, {"k": 0}, "accuracy", "max")
    interleaved.suggest("t0")
    interleaved.on_trial_result("t0", _result(0.5, 10))
    url = ot_storage.url.encode()
    assert b"s.db" in url
    blob = pickle.dumps(interleaved)
    assert url not in blob and b"s.db" not in blob
    checkpoint = tmp_path / "searcher.json"
    interleaved.save(str(checkpoint))
    assert "s.db" not in checkpoint.read_text()
    assert json.loads(checkpoint.read_text())["studies"]["k"]["numbers"] == {"t0": 0}
    copy = pickle.loads(blob)  # what Ray keeps in its experiment state: no database to ask
    with pytest.raises(Exception, match="compare --resume"):
        copy.suggest("t1")


def test_a_restored_searcher_finishes_the_trials_asked_before_its_checkpoint(ot_storage: Any, tmp_path: Path) -> None:
    before = InterleavedSearch({"a": _search(ot_storage, "e/a"), "b": _search(ot_storage, "e/b")},
                               {"a": 2, "b": 2}, {"a": 0, "b": 0}, "accuracy", "max")  # fmt: skip
    assert [before.suggest(t)[STUDY] for t in ("t0", "t1", "t2")] == ["a", "b", "a"]  # type: ignore[index]
    before.on_trial_result("t0", _result(0.5, 10))
    before.on_trial_complete("t1", _result(0.4, 20, TrialEnd.COMPLETE))
    checkpoint = tmp_path / "searcher.json"
    before.save(str(checkpoint))

    after = InterleavedSearch({"a": _search(ot_storage, "e/a"), "b": _search(ot_storage, "e/b")},
                              {"a": 2, "b": 2}, {"a": 0, "b": 0}, "accuracy", "max")  # fmt: skip
    after.restore(str(checkpoint))
    after.on_trial_result("t0", _result(0.5, 10))  # Tune replays a result it had: not reported twice
    after.on_trial_result("t0", _result(0.8, 20, TrialEnd.COMPLETE))
    after.on_trial_complete("t0", _result(0.8, 20, TrialEnd.COMPLETE))
    after.on_trial_complete("t1", None, error=True)  # told before the checkpoint: stays complete
    assert after.suggest("t3")[STUDY] == "b"  # type: ignore[index]
    assert after.suggest("t4") == Searcher.FINISHED
    a, b = _trials(ot_storage, "e/a"), _trials(ot_storage, "e/b")
    assert (a[0].state, a[0].value, a[0].intermediate_values) == (OtState.COMPLETE, 0.8, {10: 0.5, 20: 0.8})
    assert [(t.state, t.value) for t in b] == [(OtState.COMPLETE, 0.4), (OtState.RUNNING, None)]

    other = InterleavedSearch({"c": _search(ot_storage, "e/c")}, {"c": 1}, {"c": 0}, "accuracy", "max")
    with pytest.raises(Exception, match="holds studies"):
        other.restore(str(checkpoint))


def test_a_bad_mode_is_refused(ot_storage: Any) -> None:
    with pytest.raises(ValueError, match="mode"):
        StudySearch(
            space=DISTS,
            metric="accuracy",
            mode="maximize",
            sampler=optuna.samplers.RandomSampler(),
            storage=ot_storage,
            study_name="x",
        )


def test_a_password_never_reaches_the_pickle_or_the_checkpoint(
    pg_server: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from postgres import fresh_database

    password: str = pg_server.password  # type: ignore[attr-defined]
    monkeypatch.setenv("PGPASSWORD", password)
    url = fresh_database(pg_server)  # type: ignore[arg-type]
    monkeypatch.delenv("PGPASSWORD")
    with Storage.open(url.replace("lorasweep@", f"lorasweep:{password}@"), create=True) as st:
        search = _search(optuna_storage(st))
        interleaved = InterleavedSearch({"k": search}, {"k": 1}, {"k": 0}, "accuracy", "max")
        interleaved.suggest("t0")
        interleaved.on_trial_complete("t0", _result(0.5, 20, TrialEnd.COMPLETE))
        checkpoint = tmp_path / "searcher.json"
        interleaved.save(str(checkpoint))
        assert password.encode() not in pickle.dumps(interleaved)
        assert password not in checkpoint.read_text()
        assert _trials(optuna_storage(st))[0].value == 0.5


def test_a_searcher_without_both_state_methods_cannot_be_made() -> None:
    """Checkpoints are get_state() as JSON; a searcher that forgot set_state failed only when Ray
    restored it. Now it cannot be made at all."""

    class Half(JsonStateSearcher):
        def get_state(self) -> dict[str, Any]:
            return {}

    with pytest.raises(TypeError, match="set_state"):
        Half()

    class Whole(Half):
        def set_state(self, state: dict[str, Any]) -> None:
            self.state = state

    w = Whole()
    w.set_state({"a": 1})
    assert w.state == {"a": 1}
