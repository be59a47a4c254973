"""The interleaving parts of the Ray adapter, on their own (Ray imported, never started): which
study each new trial goes to, how fixed points alternate, and how trials reach their study's
scheduler. The whole of it runs through Ray in tests/test_search_faults.py."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from ray.tune.schedulers import TrialScheduler
from ray.tune.search import Searcher

from lorasweep.search.plan import StudyPlan, StudyRun
from lorasweep.search.ray_adapter.keys import OPTUNA_NUMBER, POINT, SEED, STUDY, sampled_params, trial_study
from lorasweep.search.ray_adapter.schedulers import PerStudyScheduler
from lorasweep.search.ray_adapter.searchers import InterleavedSearch
from lorasweep.search.ray_adapter.tuner import interleave
from lorasweep.space.resolve import load_space
from lorasweep.store import TrialKind


class FakeSearch:
    """Stands in for one study's StudySearch: numbers its trials and remembers what it was told."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.told: list[tuple[str, str]] = []

    def suggest(self, trial_id: str) -> dict[str, Any]:
        self.asked.append(trial_id)
        return {"lr": 0.1, OPTUNA_NUMBER: len(self.asked) - 1}

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        self.told.append(("result", trial_id))

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        self.told.append(("complete", trial_id))


def _interleaved(budgets: dict[str, int], done: dict[str, int]) -> tuple[InterleavedSearch, dict[str, FakeSearch]]:
    fakes = {key: FakeSearch() for key in budgets}
    return InterleavedSearch(fakes, budgets, done, "accuracy", "max"), fakes  # type: ignore[arg-type]


def _studies(search: InterleavedSearch, n: int) -> list[str | None]:
    out = []
    for i in range(n):
        config = search.suggest(f"t{i}")
        out.append(config if config == Searcher.FINISHED else config[STUDY])  # type: ignore[index]
    return out


def test_new_trials_alternate_between_studies_and_each_gets_its_budget() -> None:
    search, fakes = _interleaved({"a": 3, "b": 3, "c": 3}, {"a": 0, "b": 0, "c": 0})
    assert _studies(search, 10) == ["a", "b", "c"] * 3 + [Searcher.FINISHED]
    assert [len(f.asked) for f in fakes.values()] == [3, 3, 3]


def test_a_resumed_run_gives_the_study_that_did_least_its_trials_first() -> None:
    # a finished 3 of 4 before the crash, b 1 of 4: b catches up first, then they alternate
    search, _ = _interleaved({"a": 1, "b": 3}, {"a": 3, "b": 1})
    assert _studies(search, 5) == ["b", "b", "a", "b", Searcher.FINISHED]


def test_results_and_ends_reach_the_study_that_made_the_trial() -> None:
    search, fakes = _interleaved({"a": 1, "b": 1}, {"a": 0, "b": 0})
    first, second = search.suggest("x"), search.suggest("y")
    assert first == {"lr": 0.1, OPTUNA_NUMBER: 0, STUDY: "a"} and second[STUDY] == "b"  # type: ignore[index]
    search.on_trial_result("y", {"accuracy": 0.5})
    search.on_trial_complete("y", {"accuracy": 0.5})
    search.on_trial_complete("x", None, error=True)
    assert fakes["a"].told == [("complete", "x")]
    assert fakes["b"].told == [("result", "y"), ("complete", "y")]


def test_the_searcher_refuses_budgets_for_other_studies() -> None:
    with pytest.raises(ValueError, match="same studies"):
        InterleavedSearch({"a": FakeSearch()}, {"b": 1}, {"a": 0}, "accuracy", "max")  # type: ignore[dict-item]


def _run(name: str, points: list[dict[str, Any]]) -> StudyRun:
    plan = StudyPlan(space=load_space("lr_only"), rank=4, study_name=f"x/{name}/r4/seeds", kind=TrialKind.SEEDS)
    return StudyRun(plan=plan, study_id=1, trials=len(points), points=tuple(points))


def test_fixed_points_alternate_between_studies_and_name_theirs() -> None:
    a = _run("a", [{"lr": 1.0, SEED: 1}, {"lr": 1.0, SEED: 2}, {"lr": 1.0, SEED: 3}])
    b = _run("b", [{"lr": 2.0, SEED: 1}])
    points = interleave([a, b])
    assert [(p["lr"], p[SEED]) for p in points] == [(1.0, 1), (2.0, 1), (1.0, 2), (1.0, 3)]
    assert [p[STUDY] for p in points] == [a.key, b.key, a.key, a.key]
    config = {POINT: points[1]}
    assert trial_study(config) == b.key and sampled_params(config) == {"lr": 2.0}


class FakeScheduler(TrialScheduler):
    def __init__(self, decision: str) -> None:
        super().__init__()
        self.decision, self.seen = decision, []

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        self.seen.append(("add", trial.trial_id))

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        self.seen.append(("result", trial.trial_id))
        return self.decision

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> None:
        self.seen.append(("complete", trial.trial_id))


def test_each_trial_is_scheduled_by_its_own_study_scheduler() -> None:
    a, b = FakeScheduler(TrialScheduler.CONTINUE), FakeScheduler(TrialScheduler.STOP)
    router = PerStudyScheduler({"a": a, "b": b})
    assert router.set_search_properties("accuracy", "max") and router.metric == "accuracy"
    ta, tb = SimpleNamespace(trial_id="1", config={STUDY: "a"}), SimpleNamespace(trial_id="2", config={STUDY: "b"})
    for t in (ta, tb):
        router.on_trial_add(None, t)
    assert router.on_trial_result(None, ta, {}) == TrialScheduler.CONTINUE
    assert router.on_trial_result(None, tb, {}) == TrialScheduler.STOP
    router.on_trial_complete(None, ta, {})
    assert a.seen == [("add", "1"), ("result", "1"), ("complete", "1")]
    assert b.seen == [("add", "2"), ("result", "2")]
