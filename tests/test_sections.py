"""Report sections: one contract over every registered section and several experiments (summaries
built directly: no Ray, no training), the honesty of the opening sentences, and every output
(terminal, HTML, JSON, dashboard note) showing the same sentences, labels and number formats."""

from __future__ import annotations

import dataclasses
import html
import json
import math
from pathlib import Path

import pytest
from rich.console import Console

from lorasweep import formatting as fmt
from lorasweep.analysis.summary import ExperimentSummary
from lorasweep.report.html import page
from lorasweep.report.optuna_dashboard import md, note_block
from lorasweep.report.sections import Report, Section, register, section, sections
from lorasweep.report.table import terminal_report
from lorasweep.store import TrialKind, TrialRecord

from factories import config, summary, trial

LR_ONLY, LORA_ALPHA, JOINT = 1, 2, 3
#: Eight seeds on which lr_only beats lora_alpha every time: 8 of 8 decides at one look.
WINNER = [0.80, 0.82, 0.81, 0.83, 0.80, 0.82, 0.81, 0.84]
LOSER = [0.70, 0.71, 0.69, 0.72, 0.70, 0.75, 0.70, 0.71]


def _reruns(study: int, values: list[float]) -> list[TrialRecord]:
    """Seed re-runs (seed i+1) of one config, as compare --seeds records them."""
    return [
        dataclasses.replace(trial(study, 4, 8.0, 1e-3, v), kind=TrialKind.SEEDS, seed=i + 1)
        for i, v in enumerate(values)
    ]


def _search(lr_only: float = 0.95, lora_alpha: float = 0.90) -> dict[str, list[TrialRecord]]:
    return {
        "lr_only": [trial(LR_ONLY, 4, 8.0, 1e-3, lr_only), trial(LR_ONLY, 4, 8.0, 1e-5, 0.6)],
        "lora_alpha": [trial(LORA_ALPHA, 4, 400.0, 2e-5, lora_alpha), trial(LORA_ALPHA, 4, 2.0, 2e-5, 0.55)],
    }


def _with_seeds(s: ExperimentSummary, lr_only: list[float], lora_alpha: list[float]) -> ExperimentSummary:
    return dataclasses.replace(
        s, seed_trials={"lr_only": _reruns(LR_ONLY, lr_only), "lora_alpha": _reruns(LORA_ALPHA, lora_alpha)}
    )


def _multi_rank() -> ExperimentSummary:
    out: dict[str, list[TrialRecord]] = {"lr_only": [], "lora_alpha": [], "joint": []}
    for i, r in enumerate((4, 8, 16)):
        for lr, v in ((1e-5, 0.6), (1e-4, 0.95), (1e-3, 0.7)):
            out["lr_only"].append(trial(10 + i, r, 2.0 * r, lr, v))
        for c, v in ((16.0, 0.6), (256.0, 0.9), (1000.0, 0.7)):
            out["lora_alpha"].append(trial(20 + i, r, c * math.sqrt(r), 2e-5, v))
        for lr, c, v in ((1e-5, 4.0, 0.6), (1e-4, 64.0, 0.8), (1e-3, 512.0, 0.5)):
            out["joint"].append(trial(30 + i, r, c * math.sqrt(r), lr, v))
    return summary(config({"ranks": [4, 8, 16], "spaces": ["lr_only", "lora_alpha", "joint"]}), out)


EXPERIMENTS = {
    "one search seed": lambda: summary(config(), _search()),
    "seeds, a winner": lambda: _with_seeds(summary(config(), _search()), WINNER, LOSER),
    "seeds, no clear difference": lambda: _with_seeds(
        summary(config(), _search()), [0.80, 0.70, 0.81], [0.79, 0.72, 0.80]
    ),
    "two seeds": lambda: _with_seeds(summary(config(), _search()), [0.80, 0.82], [0.70, 0.71]),
    "three spaces, three ranks": _multi_rank,
    "nothing completed": lambda: summary(config(), {"lr_only": [], "lora_alpha": []}),
}


@pytest.fixture(params=list(EXPERIMENTS))
def experiment(request: pytest.FixtureRequest) -> ExperimentSummary:
    return EXPERIMENTS[request.param]()


def test_a_report_holds_exactly_the_sections_with_data_in_their_order() -> None:
    """Two sections of this test, one with data and one without, around the summary (order 10)."""
    from lorasweep.report.section import SECTIONS

    class Before(Section[str]):
        name, title, order = "test_before", "Before", 5

        def compute(self, summary: ExperimentSummary) -> str | None:
            return "data"

    class Empty(Section[str]):
        name, title, order = "test_empty", "Empty", 6

        def compute(self, summary: ExperimentSummary) -> str | None:
            return None

    register(Before)
    register(Empty)
    try:
        names = [p.section.name for p in Report.build(summary(config(), _search())).parts]
    finally:
        SECTIONS.remove("test_before")
        SECTIONS.remove("test_empty")
    assert "test_empty" not in names
    assert names.index("test_before") + 1 == names.index("summary")  # order 5, then the summary's 10


def test_every_section_honours_the_contract(experiment: ExperimentSummary) -> None:
    report = Report.build(experiment)
    names = [p.section.name for p in report.parts]
    order = [s.name for s in sections()]
    assert names == sorted(names, key=order.index) and all(p.data is not None for p in report.parts)
    assert ("summary" in names) == bool(experiment.spaces)
    spaces = set(experiment.spaces)
    for p in report.parts:
        sec, data = p.section, p.data
        assert isinstance(sec.json(experiment, data), dict)
        for w in sec.warnings(experiment, data):
            assert set(w) == {"code", "message"} and w["message"]
        for row in sec.rows(experiment, data):
            assert row.label and set(row.cells) <= spaces
            assert all(isinstance(line, str) for cell in row.cells.values() for line in cell)
        for text in sec.text(experiment, data):
            assert isinstance(text, str) and text.strip()
        for fig in sec.figures(experiment, data):  # every figure draws data, and says what it shows
            assert fig.layout.title.text
            assert any(len(t.x if t.x is not None else []) for t in fig.data), (sec.name, fig.layout.title.text)
        for grid in sec.grids(experiment, data):
            assert all(len(r) == len(grid.columns) for r in grid.rows)
    json.dumps(report.json())  # one owner per key (a clash raises), and JSON-ready


def test_json_keys_stay_backward_compatible() -> None:
    doc = Report.build(_with_seeds(summary(config(), _search()), [0.8] * 3, [0.7] * 3)).json()
    assert {"experiment", "status", "metric", "direction", "target", "spaces", "warnings", "drift_ratio"} <= set(doc)
    assert {"seeds", "difference", "verdict", "seed_verdict", "finding"} <= set(doc)
    keys = {"best_value", "best_params", "reached_target", "n_trials", "n_complete", "n_pruned", "n_failed"}
    keys |= {"n_diverged", "n_running", "device_seconds", "wall_seconds", "cost_to_target", "optuna_studies"}
    for space in doc["spaces"].values():
        more = {"coverage", "coverage_b", "cost_to_target_censored_at"}  # issue 21: LoRA+ B range, censored cost
        # "test": the seed re-runs on the test split, for a space that has re-runs
        assert keys | more | {"n_interrupted", "n_retried", "retries"} == set(space) - {"test"}
    law = Report.build(_multi_rank()).json()
    assert {"rank_law", "landscape"} <= set(law)


def test_a_section_is_one_registered_unit() -> None:
    assert section("effective_step").title == "Effective step s·LR"
    with pytest.raises(KeyError, match="no report section 'nope'; sections: finding, summary, repeats, cost"):
        section("nope")

    class Again(Section[None]):
        name = "cost"
        title = "x"
        order = 1

        def compute(self, summary: ExperimentSummary) -> None:
            return None

    with pytest.raises(ValueError, match="registered twice"):
        register(Again)


def _finding(s: ExperimentSummary) -> str:
    return " ".join(Report.build(s).finding())


def test_one_search_seed_names_the_search_leader_but_no_verdict() -> None:
    text = _finding(summary(config(), _search()))
    assert text.startswith("lr_only reached the better best accuracy in the search: 0.950 against 0.900 for lora_alpha")
    assert "(0.050 higher)" in text and "costing 2.0 (lr_only) and 2.0 (lora_alpha) device-seconds" in text
    assert "one search seed, so no verdict is possible" in text and "lorasweep compare --seeds auto" in text
    assert "a verdict needs at least 7 seeds" in text
    assert " beat " not in text and "verdict names" not in text


def test_the_verdict_decides_even_against_the_search_leader() -> None:
    """lora_alpha led the search, lr_only wins on 8 new seeds: the sentences say both, and the
    winner is the verdict's, stated as what it estimates."""
    s = _with_seeds(summary(config(), _search(0.85, 0.90)), WINNER, LOSER)
    first, second = Report.build(s).finding()
    assert first.startswith("lora_alpha reached the better best accuracy in the search: 0.900 against 0.850")
    assert second.startswith(
        "Re-run on 8 new seeds at rank 4: lr_only beat lora_alpha on 8 of 8 seeds at rank 4 (win rate 100 %); "
        "lr_only never did worse than lora_alpha; median accuracy difference (lr_only - lora_alpha) +0.110"
    )
    assert "exact sign test" in second and "t-interval" not in second


def test_no_clear_difference_names_no_winner() -> None:
    text = _finding(EXPERIMENTS["seeds, no clear difference"]())
    assert "no verdict possible yet between lr_only and lora_alpha from 3 seeds" in text
    assert "cannot name a winner from fewer than 7 untied seeds" in text and " beat " not in text
    assert "would detect" not in text  # no power advice computed from the observed difference


def test_too_few_seeds_say_so() -> None:
    text = _finding(EXPERIMENTS["two seeds"]())
    assert "Re-run on 2 new seeds at rank 4: no verdict possible yet between lr_only and lora_alpha" in text
    assert "fewer than 7 untied seeds" in text and " beat " not in text


def test_minimizing_says_lower_and_formats_the_loss() -> None:
    cfg = config({"metric.name": "eval_loss"})
    s = summary(cfg, _search(0.4123, 0.5))
    assert _finding(s).startswith("lr_only reached the better best eval loss in the search: 0.4123 against 0.5000")
    assert "(0.0877 lower)" in _finding(s)


def test_numbers_are_formatted_for_their_kind() -> None:
    assert fmt.metric("accuracy").fmt(1.0) == "1.000" and fmt.metric("eval_loss").fmt(0.41234) == "0.4123"
    assert fmt.LR.fmt(6.1e-3) == "6.1e-3" and fmt.EFFECTIVE_STEP.fmt(2e-6) == "2.0e-6"
    assert fmt.LR.fmt(1e-12) == "1.0e-12"
    assert fmt.DEVICE_SECONDS.fmt(108.1) == "108.1" and fmt.DEVICE_SECONDS.fmt(12345.67) == "12,345.7"
    assert fmt.ALPHA.fmt(16.0) == "16" and fmt.ALPHA.fmt(62.7126) == "62.71"
    assert fmt.metric("accuracy").signed(-0.0026) == "−0.003" and fmt.metric("accuracy").d3 == ".3f"
    # a difference the format would round to nothing keeps two significant digits; none reads as none
    assert fmt.metric("accuracy").signed(0.00031) == "+0.00031" and fmt.metric("accuracy").signed(0.0) == "0.000"
    assert fmt.metric("accuracy").amount(0.00390625) == "0.004" and fmt.metric("eval_loss").amount(0.0123) == "0.0123"
    assert fmt.LR.d3 == ".1e" and fmt.DEVICE_SECONDS.d3 == ",.1f" and fmt.params({}) == ["—"]


@pytest.mark.parametrize("name", ["one search seed", "seeds, a winner", "three spaces, three ranks"])
def test_every_output_says_the_same_sentences_with_the_same_labels(name: str, tmp_path: Path) -> None:
    s = EXPERIMENTS[name]()
    report = Report.build(s)
    console = Console(width=400, record=True)
    console.print(terminal_report(s, report))
    terminal = " ".join(console.export_text().split())
    web = html.unescape(page(s, report))
    note = note_block(report, "x/lr_only/r4", "lr_only", 4)
    doc = report.json()
    sentences = report.finding()
    assert doc["finding"]["sentences"] == sentences
    for sentence in sentences:
        assert " ".join(sentence.split()) in terminal
        assert sentence in web
        assert md(sentence) in note
    for row in report.rows():
        assert row.label in terminal and row.label in web and md(row.label) in note
        for cells in row.cells.values():
            for line in cells:
                assert line in web and md(line) in note
    assert terminal.index(" ".join(sentences[0].split())) < terminal.index(report.title)  # the finding opens it
    assert web.index(sentences[0]) < web.index("Side by side")
