"""Repeated searches (``compare --repeats K``): plans and paired sampler seeds, the simulation
through the real searcher and store (no training), censoring in the cost to target, repeats
added by ``--resume --repeats``, and one end-to-end run on the tiny model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import optuna
import pytest
from repeat_sim import simulate

from lorasweep.analysis.anytime_band import band
from lorasweep.analysis.repeat_outcomes import SearchRepeat, cost_to_target_km, target_race
from lorasweep.analysis.repeats import repeat_comparison
from lorasweep.analysis.summary import summarize
from lorasweep.config import Direction, load_experiment
from lorasweep.errors import ConfigError, LorasweepError
from lorasweep.report.sections import Report
from lorasweep.search.repeats import sampler_seed, search_plans
from lorasweep.search.studies import resume_plan
from lorasweep.store import Storage

from conftest import TINY, run_cli

MATCHED = {"effective_step": {"low": 1e-5, "high": 1e-1}}


def peak(space: str, step: float, rng: np.random.Generator) -> float:
    """The same function of s·LR for every space (each space a reparametrisation of it), with noise."""
    return 0.9 - 0.05 * (math.log10(step) + 2.5) ** 2 + rng.normal(0, 0.01)


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    with Storage.open(f"sqlite:///{tmp_path / 'repeats.db'}", create=True) as st:
        yield st


def test_repeat_i_of_every_space_shares_its_sampler_seed_and_the_first_keeps_the_single_search_name() -> None:
    exp = load_experiment(TINY, {"repeats": 3, "ranks": [4, 8]})
    plans = search_plans(exp, "e")
    assert len(plans) == 2 * 3 * 2
    assert [p.study_name for p in plans[:4]] == [
        "e/lr_only/r4",
        "e/lora_alpha/r4",
        "e/lr_only/r4/repeat1",
        "e/lora_alpha/r4/repeat1",
    ]
    seeds = {(p.rank, p.repeat): {sampler_seed(exp, p.rank, p.repeat)} for p in plans}
    assert all(len(s) == 1 for s in seeds.values())  # the same for every space
    assert len({next(iter(s)) for s in seeds.values()}) == len(seeds)  # and different for each (rank, repeat)
    assert sampler_seed(exp, 4, 0) == exp.seed  # one repeat: today's seed


def test_repeats_in_the_yaml_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"field .repeats.: Input should be greater than or equal to 1"):
        load_experiment(TINY, {"repeats": 0})


def test_simulated_repeats_pair_across_spaces_through_the_searcher_and_store(storage: Storage) -> None:
    exp = load_experiment(TINY, {"repeats": 3, "budget.trials": 3, **MATCHED})
    record = simulate(storage, "sim", exp, peak, noise_seed=1)
    studies = storage.studies(record.id)
    assert sorted((s.space, s.repeat) for s in studies) == sorted(
        (space, i) for space in ("lr_only", "lora_alpha") for i in range(3)
    )
    trials = storage.trials(record.id)
    assert len(trials) == 3 * 2 * 3
    by_study = {s.id: s for s in studies}
    first = {}
    for t in sorted(trials, key=lambda t: t.id):
        s = by_study[t.study_id]
        first.setdefault((s.space, s.repeat), t.effective_step)
    for i in range(3):  # the same seed, the same matched range: the same first effective step
        assert first[("lr_only", i)] == pytest.approx(first[("lora_alpha", i)], rel=1e-9)
    assert len({first[("lr_only", i)] for i in range(3)}) == 3  # and each repeat its own
    attrs = optuna.load_study(study_name="sim/lora_alpha/r4/repeat2", storage=storage.url).user_attrs
    assert attrs["repeat"] == 2 and attrs["space"] == "lora_alpha"
    rc = repeat_comparison(summarize(storage, record))
    assert rc is not None and rc.repeats == 3 and len(rc.runs) == 6
    assert rc.target is not None and "median of the best values all 6 searches" in rc.target_source
    doc = Report.build(summarize(storage, record)).json()
    assert doc["repeats"]["repeats"] == 3 and doc["finding"]["n_repeats"] == 3
    assert doc["finding"]["text"].startswith("Over 3 repeated searches of 3 trials per space")


def test_a_space_that_never_reaches_the_target_is_censored_not_free(storage: Storage) -> None:
    def lower(space: str, step: float, rng: np.random.Generator) -> float:
        return peak(space, step, rng) - (0.5 if space == "lora_alpha" else 0.0)

    exp = load_experiment(TINY, {"repeats": 4, "budget.trials": 3, "target.value": 0.5, **MATCHED})
    record = simulate(storage, "cens", exp, lower, noise_seed=2, device_seconds=lambda space, step: 2.0)
    rc = repeat_comparison(summarize(storage, record))
    assert rc is not None and rc.target == 0.5 and rc.target_source == "target.value in the experiment"
    never = rc.cost["lora_alpha"]
    assert (never.n, never.reached, never.median) == (4, 0, None)
    assert never.censored_at == pytest.approx(6.0)  # its whole budget: 3 trials × 2 device-seconds
    assert all(not r.reached and r.cost_to_target is None for r in rc.of("lora_alpha"))
    assert rc.cost["lr_only"].reached == 4 and rc.cost["lr_only"].median is not None
    race = rc.race[4]
    assert (race.first_a, race.first_b, race.ties) == (4, 0, 0)
    assert race.sentence().startswith("lr_only reached the target first in 4 of 4 repeats")


def _run(space: str, repeat: int, cost: float | None, budget: float) -> SearchRepeat:
    return SearchRepeat(
        space=space, rank=8, repeat=repeat, n_trials=4, best=None, value=None, budget=budget, by_cost=(),
        cost_to_target=cost,
    )  # fmt: skip


def test_kaplan_meier_counts_censored_repeats_at_their_budget() -> None:
    # 4 of 8 reached by 10..40; the other 4 ran 100 device-seconds without reaching it
    runs = [_run("a", i, float(10 * (i + 1)), 100.0) for i in range(4)] + [
        _run("a", i, None, 100.0) for i in range(4, 8)
    ]
    km = cost_to_target_km(runs)
    assert (km.n, km.reached) == (8, 4)
    assert km.median == 40.0  # S drops to 1/2 at the 4th event: the censored ones still count in the risk set
    dropped = cost_to_target_km(runs[:4])  # had they been dropped, the median would look half as big
    assert dropped.median == 20.0
    assert km.hi is None  # the interval is open above: beyond what the budget shows
    assert target_race("a", "b", runs[:2], [_run("b", 0, None, 100.0), _run("b", 1, 5.0, 100.0)]).first_a == 1


def test_the_band_counts_a_repeat_with_nothing_yet_as_the_worst() -> None:
    curves = [((1.0, None), (2.0, 0.8)), ((1.0, 0.5), (2.0, 0.6)), ((1.0, None), (2.0, None))]
    b = band(curves, [1.0, 2.0], Direction.MAXIMIZE)
    assert b.median == (None, 0.6)  # at 1.0 two of three have nothing: no median yet
    assert b.hi == (0.5, 0.8)


def test_resume_with_more_repeats_adds_repeats_that_pair_with_the_other_space(tmp_path: Path) -> None:
    base = {"budget.trials": 3, **MATCHED}
    with Storage.open(f"sqlite:///{tmp_path / 'a.db'}", create=True) as st:
        simulate(st, "grow", load_experiment(TINY, {"repeats": 1, **base}), peak, noise_seed=3)
        with pytest.raises(LorasweepError, match="complete; nothing to resume"):
            resume_plan(st, "grow")
        plan = resume_plan(st, "grow", repeats=3)
        exp = plan.exp
        assert exp.repeats == 3 and not plan.ablation
        record = simulate(st, "grow", exp, peak, noise_seed=3, resume=True)
        with pytest.raises(LorasweepError, match="has 3 repeats already"):
            resume_plan(st, "grow", repeats=2)
        grown = {(s.space, s.repeat): s for s in st.studies(record.id)}
        grown_trials = st.trials(record.id)
    with Storage.open(f"sqlite:///{tmp_path / 'b.db'}", create=True) as st:
        fresh_record = simulate(st, "grow", load_experiment(TINY, {"repeats": 3, **base}), peak, noise_seed=3)
        fresh = {(s.space, s.repeat): s for s in st.studies(fresh_record.id)}
        fresh_trials = st.trials(fresh_record.id)
    assert set(grown) == set(fresh) == {(sp, i) for sp in ("lr_only", "lora_alpha") for i in range(3)}

    def steps(trials: list, studies: dict, key: tuple[str, int]) -> list[float]:
        return [t.effective_step for t in sorted(trials, key=lambda t: t.id) if t.study_id == studies[key].id]

    for i in range(3):  # added repeat i is the same search as repeat i of a fresh K = 3 run: pairing kept
        for space in ("lr_only", "lora_alpha"):
            assert steps(grown_trials, grown, (space, i)) == pytest.approx(steps(fresh_trials, fresh, (space, i)))
        assert steps(grown_trials, grown, ("lr_only", i))[0] == pytest.approx(
            steps(grown_trials, grown, ("lora_alpha", i))[0]
        )


@pytest.mark.slow
def test_compare_with_two_repeats_on_the_tiny_model_end_to_end(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'e2e.db'}"
    common = ["--config", str(TINY), "--storage", url, "--name", "rep"]
    code, out, err = run_cli("compare", *common, "--repeats", "2", "--trials", "2")
    assert code == 0, err
    code, out, err = run_cli("report", "--storage", url, "--experiment", "rep", "--json")
    doc = json.loads(out)
    assert doc["repeats"]["repeats"] == 2
    assert len(doc["repeats"]["runs"]) == 4
    assert doc["finding"]["text"].startswith("Over 2 repeated searches of 2 trials per space")
    assert {k for k in doc["repeats"]["cost_to_target"]} == {"lr_only", "lora_alpha"}
    code, out, err = run_cli("compare", "--storage", url, "--name", "rep", "--resume", "--repeats", "3")
    assert code == 0, err
    with Storage.open(url, readonly=True) as st:
        studies = st.studies(st.experiment("rep").id)
    assert sorted((s.space, s.repeat) for s in studies) == sorted(
        (sp, i) for sp in ("lr_only", "lora_alpha") for i in range(3)
    )


def _verdicts_per_block(storage: Storage, record, ks: tuple[int, ...]) -> dict[int, list[str | None]]:
    """The repeat verdict of disjoint blocks of K repeats of one simulated experiment (each block
    is an experiment of K independent searches: repeats share nothing but their seeds' pairing)."""
    from lorasweep.analysis.repeats import repeat_verdict

    summary = summarize(storage, record)
    rc = repeat_comparison(summary)
    assert rc is not None
    out: dict[int, list[str | None]] = {}
    for k in ks:
        out[k] = []
        for start in range(0, rc.repeats - k + 1, k):
            block = [r for r in rc.runs if start <= r.repeat < start + k]
            block = [SearchRepeat(**{**r.__dict__, "repeat": r.repeat - start}) for r in block]
            out[k].append(repeat_verdict(block, rc.spaces, [], summary).winner)
    return out


@pytest.mark.slow  # ~400 simulated trials through Optuna's RDB storage: about a minute, no Ray
def test_the_repeat_verdict_names_no_false_winner_between_reparametrised_spaces_and_finds_a_better_one(
    storage: Storage,
) -> None:
    exp = load_experiment(TINY, {"repeats": 60, "budget.trials": 2, **MATCHED})
    null = _verdicts_per_block(storage, simulate(storage, "null", exp, peak, noise_seed=4), (3, 5, 10))
    for k, winners in null.items():  # the same function of s·LR, independent noise: no winner
        false = sum(w is not None for w in winners)
        assert false / len(winners) <= 0.07, (k, winners)

    def better(space: str, step: float, rng: np.random.Generator) -> float:
        return peak(space, step, rng) + (0.1 if space == "lora_alpha" else 0.0)

    exp10 = load_experiment(TINY, {"repeats": 10, "budget.trials": 2, **MATCHED})
    record = simulate(storage, "better", exp10, better, noise_seed=5)
    rc = repeat_comparison(summarize(storage, record))
    assert rc is not None and rc.verdict.winner == "lora_alpha"
    assert "lora_alpha beat lr_only on 10 of 10 search repeats" in rc.verdict.text
    assert "repeat verdict: lora_alpha beat lr_only" in Report.build(summarize(storage, record)).finding()[0]
