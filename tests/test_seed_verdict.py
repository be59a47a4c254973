"""The seed verdict: the paired t-interval's calibration at normal noise (kept as the "before" of
issue 21, lorasweep.analysis.stats), and the report's verdict (lorasweep.analysis.paired through
lorasweep.analysis.seeds): failed or diverged re-runs lose their seed, and every report (table,
JSON, HTML) says the same thing.

The reports are built from a store filled by hand (no training, no Ray): the numbers are chosen,
so nothing here depends on floating-point trajectories of training."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from scipy import stats

from lorasweep.analysis.seeds import NO_SEEDS_VERDICT, seed_comparison
from lorasweep.analysis.stats import paired_difference, paired_t_power, verdict
from lorasweep.analysis.summary import ExperimentSummary, summarize
from lorasweep.config import load_experiment
from lorasweep.report.html import write_html
from lorasweep.report.json_report import to_json
from lorasweep.report.table import terminal_report
from lorasweep.store import Storage, TrialFinish, TrialKind, TrialStart, TrialState

from factories import lora_params

TINY = Path(__file__).parent / "data" / "tiny.yaml"
LORA = lora_params()

# -- calibration ---------------------------------------------------------------------------------

SIMS = 4000


def _simulate(n: int, effect: float, rng: np.random.Generator) -> tuple[int, int]:
    """(verdicts naming a, verdicts naming b) over SIMS experiments of ``n`` paired seeds with
    a_i = m + u_i + e_ai + δ, b_i = m + u_i + e_bi: a per-seed component u_i shared by both
    spaces (SD 0.05, five times the noise) and independent noise e (SD 0.01). δ = effect ·
    SD(a_i - b_i), so ``effect`` is the standardized effect of the paired t-test."""
    sd_e = 0.01
    delta = effect * sd_e * math.sqrt(2)
    a_wins = b_wins = 0
    for _ in range(SIMS):
        u = rng.normal(0.0, 0.05, n)
        a = 0.8 + u + rng.normal(0.0, sd_e, n) + delta
        b = 0.8 + u + rng.normal(0.0, sd_e, n)
        winner = verdict(paired_difference(a, b), "a", "b", "maximize", "accuracy").winner
        a_wins += winner == "a"
        b_wins += winner == "b"
    return a_wins, b_wins


@pytest.mark.parametrize("n", [3, 5, 10])
def test_false_positive_rate_is_nominal_at_few_seeds(n: int) -> None:
    """Under the null (no difference) the verdict names a winner ~5 % of the time. With 4000
    simulations the rate's Monte Carlo SD is sqrt(0.05 · 0.95 / 4000) = 0.0034; [0.03, 0.07]
    is ±0.02 = ±5.8 SD, so a correct method fails this by chance with p ≈ 1e-8, while the
    percentile bootstrap it replaces (0.25 at 3 seeds, 0.16 at 5, 0.09 at 10) fails it at every n."""
    a_wins, b_wins = _simulate(n, 0.0, np.random.default_rng(17_000 + n))
    fpr = (a_wins + b_wins) / SIMS
    assert 0.03 <= fpr <= 0.07, fpr
    # two-sided: each side about half of it (SD of one side's rate 0.0025; ±0.015 is ±6 SD)
    assert abs(a_wins - b_wins) / SIMS <= 0.03, (a_wins, b_wins)


@pytest.mark.parametrize(("n", "effect"), [(5, 1.5), (10, 1.0)])
def test_power_matches_the_paired_t_test_theory(n: int, effect: float) -> None:
    """At a true standardized effect of 1.5 SD of the paired difference with 5 seeds (1.0 with
    10), the verdict names the better space as often as scipy's noncentral t says the paired
    t-test rejects (theory: 0.80 and 0.80). Monte Carlo SD of the rate is at most
    sqrt(0.25 / 4000) = 0.0079; ±0.035 is ±4.4 SD (fails by chance with p ≈ 1e-5)."""
    crit = stats.t.ppf(0.975, n - 1)
    nc = effect * math.sqrt(n)
    theory = stats.nct.sf(crit, n - 1, nc) + stats.nct.cdf(-crit, n - 1, nc)
    assert theory == pytest.approx(paired_t_power(effect, n))
    a_wins, b_wins = _simulate(n, effect, np.random.default_rng(27_000 + n))
    assert abs(a_wins / SIMS - theory) <= 0.035, (a_wins / SIMS, theory)
    assert b_wins / SIMS <= 0.002  # the wrong side is (almost) never named


# -- reports from a store ------------------------------------------------------------------------


def _trial(
    st: Storage,
    study: int,
    key: str,
    state: TrialState,
    value: float | None,
    seed: int,
    kind: TrialKind,
    test_value: float | None = None,
) -> None:
    trial = st.start_trial(
        TrialStart(
            study_id=study, ray_trial_id=key, optuna_number=None, params={"lr": 1e-3}, lora=LORA, seed=seed, kind=kind
        )
    )
    if state == TrialState.RUNNING:
        return
    final = value if state == TrialState.COMPLETE else None
    st.finish_trial(
        trial,
        TrialFinish(
            state=state,
            final_value=final,
            best_value=value,
            steps=20,
            diverged_step=None,
            error=None,
            device_seconds=1.0,
            wall_seconds=1.0,
            examples=16,
            tokens=160,
            reports=(),
            test_value=test_value if state == TrialState.COMPLETE else None,
        ),
    )


def _experiment(
    tmp_path: Path,
    reruns: dict[str, list[tuple[TrialState, float | None]]],
    search: dict[str, list[tuple[TrialState, float | None]]] | None = None,
    overrides: dict | None = None,
    tests: dict[str, list[float]] | None = None,
) -> ExperimentSummary:
    """lr_only and lora_alpha with the given search trials and seed re-runs (i-th re-run on seed i+1)."""
    search = search or {
        "lr_only": [(TrialState.COMPLETE, 0.85), (TrialState.COMPLETE, 0.30)],
        "lora_alpha": [(TrialState.COMPLETE, 0.75)],
    }
    exp = load_experiment(TINY, overrides)
    st = Storage.open(f"sqlite:///{tmp_path / 'v.db'}", create=True)
    st.upgrade()
    record = st.create_experiment("v", "", exp.model_dump(mode="json"))
    metric, direction = exp.metric.name, exp.metric.resolved_direction
    for space in ("lr_only", "lora_alpha"):
        study = st.add_study(
            record.id,
            space=space,
            rank=4,
            optuna_study_name=f"v/{space}/r4",
            metric=metric,
            direction=direction,
            space_config={},
        ).id
        for i, (state, value) in enumerate(search.get(space, [])):
            _trial(st, study, f"{space}-search-{i}", state, value, 0, TrialKind.SEARCH)
        for i, (state, value) in enumerate(reruns.get(space, [])):
            test = (tests or {}).get(space)
            _trial(st, study, f"{space}-seed-{i}", state, value, i + 1, TrialKind.SEEDS, test[i] if test else None)
    summary = summarize(st, st.experiment("v"))
    st.close()
    return summary


def _reports(summary: ExperimentSummary, tmp_path: Path) -> tuple[str, dict, str]:
    """The terminal report (as printed, then once more with rich's wrapping undone), the JSON and the HTML."""
    console = Console(width=200, record=True)
    console.print(terminal_report(summary))
    write_html(summary, tmp_path / "r.html")
    text = console.export_text()
    flat = " ".join(text.split())
    return f"{text}\n{flat}", to_json(summary), (tmp_path / "r.html").read_text(encoding="utf-8")


def _done(values: list[float]) -> list[tuple[TrialState, float | None]]:
    return [(TrialState.COMPLETE, v) for v in values]


#: ten seeds on which lr_only beats lora_alpha every time
LR_ONLY = [0.80, 0.82, 0.81, 0.83, 0.80, 0.82, 0.84, 0.81, 0.80, 0.83]
LORA_ALPHA = [0.70, 0.71, 0.69, 0.72, 0.70, 0.73, 0.70, 0.71, 0.69, 0.72]


def test_clear_winner_is_starred_in_every_report(tmp_path: Path) -> None:
    summary = _experiment(tmp_path, {"lr_only": _done(LR_ONLY), "lora_alpha": _done(LORA_ALPHA)})
    text, doc, page = _reports(summary, tmp_path)
    seeds = doc["seed_verdict"]
    assert seeds["winner"] == "lr_only" and seeds["n_seeds"] == 10 and seeds["min_seeds"] == 7
    assert seeds["method"].startswith("exact sign test on paired seeds, stratified by rank")
    assert seeds["estimand"].startswith("how often lr_only beats lora_alpha on a new seed at the same rank")
    assert doc["verdict"].startswith("lr_only beat lora_alpha on 10 of 10 seeds at rank 4 (win rate 100 %)")
    assert doc["difference"]["n"] == 10 and doc["difference"]["median"] > 0 and doc["difference"]["ci"] is not None
    assert not [w for w in doc["warnings"] if w["code"] == "too_few_seeds"]
    assert "lr_only ★" in text and "lora_alpha ★" not in text and "Verdict ★ lr_only: lr_only beat lora_alpha" in text
    assert "Verdict ★ lr_only:" in page
    opening = doc["finding"]["sentences"][1]
    assert opening.startswith("Re-run on 10 new seeds at rank 4: lr_only beat lora_alpha on 10 of 10 seeds")
    assert text.startswith(doc["finding"]["sentences"][0][:60]) and opening[:60] in page


def test_a_diverged_rerun_of_the_winner_loses_its_seed_and_is_said_beside_the_winner(tmp_path: Path) -> None:
    """The same re-runs, but lr_only's re-run on seed 3 diverged: it loses that seed (never
    dropped, no value invented), 9 of 10 still decides, and the winner's sentence says it failed."""
    runs = _done(LR_ONLY)
    runs[2] = (TrialState.DIVERGED, 0.81)  # its best before diverging; a diverged run has no final value
    summary = _experiment(tmp_path, {"lr_only": runs, "lora_alpha": _done(LORA_ALPHA)})
    seeds = seed_comparison(summary)
    assert seeds is not None and seeds.paired is not None
    assert seeds.per_seed["lr_only"][4][3] is None and seeds.n_seeds == 10  # the seed is kept, not dropped
    assert (seeds.paired.pooled.wins_a, seeds.paired.pooled.wins_b) == (9, 1)
    assert seeds.winner == "lr_only"
    head = (seeds.verdict or "").split(";")[0]
    assert head == (
        "lr_only beat lora_alpha on 9 of 10 seeds at rank 4 (win rate 90 %), "
        "but lr_only did not complete on 1 of 10 seeds where lora_alpha did"
    )
    text, doc, page = _reports(summary, tmp_path)
    assert doc["seed_verdict"]["reruns"]["lr_only"]["n_diverged"] == 1
    assert any(w["code"] == "seed_reruns_incomplete" for w in doc["warnings"])
    assert "1 of 10 re-runs did not complete" in text and "did not complete on 1 of 10 seeds" in page


def test_a_failed_rerun_loses_when_minimizing(tmp_path: Path) -> None:
    """Minimizing eval loss: lora_alpha is lower on 6 seeds, but failed on the 7th: it loses that
    seed, and 6 of 7 does not decide (7 of 7 is the least that can at the first look)."""
    search = {"lr_only": [(TrialState.COMPLETE, 0.5), (TrialState.DIVERGED, 9.0)], "lora_alpha": _done([0.4])}
    runs = {
        "lr_only": _done([0.50, 0.52, 0.51, 0.53, 0.50, 0.52, 0.51]),
        "lora_alpha": _done([0.40, 0.41, 0.39, 0.42, 0.40, 0.41, 0.40]),
    }
    runs["lora_alpha"][0] = (TrialState.FAILED, None)
    summary = _experiment(tmp_path, runs, search, {"metric.name": "eval_loss"})
    seeds = seed_comparison(summary)
    assert seeds is not None and seeds.paired is not None
    assert (seeds.paired.pooled.wins_a, seeds.paired.pooled.wins_b) == (1, 6)
    assert seeds.winner is None
    assert "lora_alpha did not complete on 1 of 7 seeds where lr_only did" in (seeds.verdict or "")
    assert "1 of 7 lora_alpha re-runs failed" in (seeds.verdict or "")
    runs["lora_alpha"][0] = (TrialState.COMPLETE, 0.45)  # had it completed: 7 of 7, lower is better
    (tmp_path / "b").mkdir()
    assert seed_comparison(_experiment(tmp_path / "b", runs, search, {"metric.name": "eval_loss"})).winner == (
        "lora_alpha"
    )


def test_too_few_seeds_give_no_verdict_a_warning_and_the_minimum(tmp_path: Path) -> None:
    summary = _experiment(tmp_path, {"lr_only": _done(LR_ONLY[:2]), "lora_alpha": _done(LORA_ALPHA[:2])})
    text, doc, page = _reports(summary, tmp_path)
    assert doc["seed_verdict"]["winner"] is None and doc["seed_verdict"]["min_seeds"] == 7
    assert doc["verdict"].startswith("no verdict possible yet between lr_only and lora_alpha from 2 seeds")
    assert "cannot name a winner from fewer than 7 untied seeds" in doc["verdict"]
    assert "lorasweep compare --resume --name v --seeds auto adds them" in doc["verdict"]
    assert [w["code"] for w in doc["warnings"]] == ["too_few_seeds"]
    assert doc["seeds"]["lr_only"]["n"] == 2 and doc["difference"]["n"] == 2 and doc["difference"]["ci"] is None
    assert "★" not in text and "no verdict possible" in text
    assert "Verdict ★" not in page and "no verdict possible" in page


def test_one_search_seed_gives_no_winner_mark_and_says_how_to_get_one(tmp_path: Path) -> None:
    """Without --seeds, lr_only's best (0.85) reached the target (target.value 0.8: without one, no
    target is made up from a search's best) and lora_alpha's (0.75) did not: the table says so in a
    row of its own, but stars nobody and says how to get a verdict."""
    summary = _experiment(tmp_path, {}, overrides={"target.value": 0.8})
    text, doc, page = _reports(summary, tmp_path)
    assert doc["spaces"]["lr_only"]["reached_target"] is True and doc["spaces"]["lora_alpha"]["reached_target"] is False
    assert "★" not in text
    row = next(line for line in text.splitlines() if "Best reached the target" in line)
    assert "yes" in row and "no" in row
    assert "one search seed, so no verdict is possible" in text and "lorasweep compare --seeds auto" in text
    assert "lorasweep compare --resume --name v --seeds auto" in text
    assert doc["warnings"] == [{"code": "too_few_seeds", "message": NO_SEEDS_VERDICT}]
    assert "a verdict needs at least 7 seeds" in NO_SEEDS_VERDICT
    assert "verdict" not in doc and "seed_verdict" not in doc
    assert "one search seed, so no verdict is possible" in page
    assert doc["finding"]["evidence"] == "one_search_seed" and doc["finding"]["winner"] is None


def test_no_rerun_completing_anywhere_is_all_ties(tmp_path: Path) -> None:
    failed = [(TrialState.FAILED, None)] * 3
    summary = _experiment(
        tmp_path, {"lr_only": failed, "lora_alpha": failed}, {"lr_only": failed, "lora_alpha": failed}
    )
    seeds = seed_comparison(summary)
    assert seeds is not None and seeds.winner is None and seeds.paired is not None
    assert seeds.paired.pooled.ties == 3 and seeds.paired.median.median is None
    assert "3 ties dropped" in (seeds.verdict or "") and "no seed where both" in (seeds.verdict or "")
    doc = to_json(summary)
    assert "too_few_seeds" in [w["code"] for w in doc["warnings"]]


def test_running_reruns_withhold_the_verdict(tmp_path: Path) -> None:
    runs = _done(LR_ONLY)
    runs[4] = (TrialState.RUNNING, None)
    summary = _experiment(tmp_path, {"lr_only": runs, "lora_alpha": _done(LORA_ALPHA)})
    seeds = seed_comparison(summary)
    assert seeds is not None and seeds.winner is None
    assert seeds.verdict == "no verdict: 1 seed re-run is still running (the verdict waits for all of them)"


def test_an_interrupted_rerun_run_again_counts_once_and_one_never_finished_loses(tmp_path: Path) -> None:
    """compare --resume re-runs an interrupted re-run: the finished one counts; an interrupted
    one that never finished counts as not completed (it loses its seed, it is not dropped)."""
    runs = _done(LR_ONLY[:8])
    runs.append((TrialState.INTERRUPTED, None))  # seed 9: interrupted, never run again
    summary = _experiment(tmp_path, {"lr_only": runs, "lora_alpha": _done(LORA_ALPHA[:9])})
    seeds = seed_comparison(summary)
    assert seeds is not None and seeds.per_seed["lr_only"][4][9] is None
    assert (seeds.paired.pooled.wins_a, seeds.paired.pooled.wins_b) == (8, 1)


def test_the_verdict_is_judged_on_the_test_split_when_every_rerun_has_a_test_value(tmp_path: Path) -> None:
    """The eval split (the one the search selected on) says lr_only wins every seed; the test split
    says lora_alpha does. With test values stored for every completed re-run, the verdict follows
    the test split and says so; without them it judges on eval and says that instead."""
    reruns = {"lr_only": _done(LR_ONLY), "lora_alpha": _done(LORA_ALPHA)}
    for sub in "tem":
        (tmp_path / sub).mkdir()
    tests = {"lr_only": [v - 0.2 for v in LR_ONLY], "lora_alpha": LORA_ALPHA}
    seeds = seed_comparison(_experiment(tmp_path / "t", reruns, tests=tests))
    assert seeds is not None and seeds.split == "test" and seeds.winner == "lora_alpha"
    assert "judged on the test split, which the search never selected on" in (seeds.verdict or "")
    assert seeds.as_dict()["seed_verdict"]["judged_on"] == "test"
    assert seeds.per_seed["lr_only"][4][1] == pytest.approx(LR_ONLY[0] - 0.2)

    on_eval = seed_comparison(_experiment(tmp_path / "e", reruns))
    assert on_eval is not None and on_eval.split == "eval" and on_eval.winner == "lr_only"
    assert "judged on the eval split the search selected configs on" in (on_eval.verdict or "")

    # one completed re-run without a test value: the whole verdict falls back to eval, never mixes
    partial = {"lr_only": [*tests["lr_only"][:9], None], "lora_alpha": LORA_ALPHA}
    mixed = seed_comparison(_experiment(tmp_path / "m", reruns, tests=partial))  # type: ignore[arg-type]
    assert mixed is not None and mixed.split == "eval" and mixed.winner == "lr_only"
