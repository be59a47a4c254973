"""What a person sees, in a real browser (headless Chromium over the DevTools protocol, see
tests/browser.py): the HTML report and a study's pages in optuna-dashboard show the finding, draw
every chart with data, and log no JavaScript error. Screenshots are kept in the test's temp dir.

The experiment is written by hand (no Ray, no training): two spaces at one rank with learning
curves and drift ratios, and seed re-runs on three seeds, so every chart of a comparison exists.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest
from browser import PLOTS_JS, chromium, find_chromium, free_port

from lorasweep.analysis.summary import summarize
from lorasweep.config import load_experiment
from lorasweep.report.sections import Report
from lorasweep.scaling import LoraParams
from lorasweep.search.runner import optuna_study_name
from lorasweep.store import (
    ExperimentStatus,
    ReportRecord,
    Storage,
    TrialFinish,
    TrialKind,
    TrialStart,
    TrialState,
    optuna_storage,
)

from conftest import TINY, run_cli

pytestmark = pytest.mark.browser

#: (LR, final accuracy) of each space's search trials; lora_alpha's LR is its fixed 2e-5 with α from c
SEARCH = {
    "lr_only": [(1e-3, 0.84), (1e-4, 0.78), (1e-5, 0.55), (3e-3, 0.81)],
    "lora_alpha": [(2e-5, 0.80), (2e-5, 0.74), (2e-5, 0.52), (2e-5, 0.77)],
}
ALPHAS = {"lr_only": [8.0] * 4, "lora_alpha": [400.0, 100.0, 4.0, 800.0]}
SEEDS = {  # lr_only ahead on all 8 seeds: a verdict
    "lr_only": [0.83, 0.85, 0.84, 0.83, 0.86, 0.84, 0.85, 0.83],
    "lora_alpha": [0.79, 0.80, 0.78, 0.80, 0.79, 0.81, 0.78, 0.79],
}


def _chromium() -> str:
    binary = find_chromium()
    if binary is None:
        if os.environ.get("CI"):  # .ci/run installs it: there the browser tests must run, not skip
            pytest.fail("Chromium is required on CI (apt-get install -y chromium)")
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    return binary


def _trial(
    st: Storage, study: int, key: str, alpha: float, lr: float, value: float, seed: int, kind: TrialKind
) -> None:
    """A complete r=4 trial whose accuracy climbs to ``value`` over four evaluations, with drift ratios."""
    lora = LoraParams(rank=4, alpha=alpha, lr=lr)
    trial = st.start_trial(
        TrialStart(
            study_id=study, ray_trial_id=key, optuna_number=None, params={"lr": lr}, lora=lora, seed=seed, kind=kind
        )
    )
    reports = tuple(
        ReportRecord(
            trial_id=trial,
            step=10 * k,
            value=v,
            train_loss=0.8 - 0.1 * k,
            lr=lr,
            examples=160 * k,
            tokens=1600 * k,
            device_seconds=0.5 * k,
            metrics={"accuracy": v},
            signal=1.0,
            drift=0.01,
            drift_ratio=ratio,
        )
        for k in (1, 2, 3, 4)
        for v, ratio in [(0.5 + (value - 0.5) * k / 4, 10 * lr * k)]
    )
    st.finish_trial(
        trial,
        TrialFinish(
            state=TrialState.COMPLETE,
            final_value=value,
            best_value=value,
            steps=40,
            diverged_step=None,
            error=None,
            device_seconds=2.0,
            wall_seconds=2.5,
            examples=640,
            tokens=6400,
            reports=reports,
        ),
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    tmp = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{tmp / 'runs.db'}"
    exp = load_experiment(TINY)
    with Storage.open(url, create=True) as st:
        st.upgrade()
        record = st.create_experiment("shown", "", exp.model_dump(mode="json"))
        ot = optuna_storage(st)
        for space, trials in SEARCH.items():
            name = optuna_study_name("shown", space, 4)
            row = st.add_study(
                record.id,
                space=space,
                rank=4,
                optuna_study_name=name,
                metric="accuracy",
                direction=exp.metric.resolved_direction,
                space_config={},
            )
            study = optuna.create_study(storage=ot, study_name=name, direction="maximize")
            for k, v in {"experiment": "shown", "space": space, "rank": 4}.items():
                study.set_user_attr(k, v)
            for i, ((lr, value), alpha) in enumerate(zip(trials, ALPHAS[space], strict=True)):
                _trial(st, row.id, f"{name}-{i}", alpha, lr, value, 0, TrialKind.SEARCH)
                key, x = ("lr", lr) if space == "lr_only" else ("c", alpha / 2)
                dist = optuna.distributions.FloatDistribution(1e-6, 1e4, log=True)
                study.add_trial(optuna.trial.create_trial(params={key: x}, distributions={key: dist}, value=value))
            for i, value in enumerate(SEEDS[space]):
                lr, alpha = trials[0][0], ALPHAS[space][0]
                _trial(st, row.id, f"{name}-seed-{i}", alpha, lr, value, i + 1, TrialKind.SEEDS)
            st.finish_study(row.id)
        st.finish_experiment(record.id, ExperimentStatus.COMPLETE)
    return url, tmp


def _finding(url: str) -> list[str]:
    with Storage.open(url) as st:
        return Report.build(summarize(st, st.experiment("shown"))).finding()


def test_html_report_in_a_browser(store: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = store
    out = tmp_path / "report.html"
    code, _, err = run_cli("report", "--storage", url, "--out", str(out))
    assert code == 0, err
    with chromium(_chromium(), tmp_path) as page:
        page.goto(out.as_uri())
        plots = page.wait_for(f"(() => {{ const p = {PLOTS_JS}; return p.length && p.every(x => x.traces) && p }})()")
        page.screenshot(tmp_path / "report.png")
        text = page.text()
        assert page.console_errors() == []
    titles = [p["title"] for p in plots]
    for wanted in (
        "so far vs search cost",
        "vs its effective step s·LR",
        "vs α and vs LR",
        "Learning curves",
        "Drift ratio",
        "Seed re-runs",
    ):
        assert any(wanted in t for t in titles), (wanted, titles)
    for p in plots:  # every chart drawn with data: points in its traces and marks on the page
        assert p["points"] > 0 and p["marks"] > 0, p
    sentences = _finding(url)
    assert sentences[0].startswith("lr_only reached the better best accuracy in the search: 0.840 against 0.800")
    assert sentences[1].startswith("Re-run on 8 new seeds at rank 4: lr_only beat lora_alpha on 8 of 8 seeds")
    flat = " ".join(text.split())
    for sentence in sentences:
        assert " ".join(sentence.split()) in flat
    assert flat.index(" ".join(sentences[0].split())) < flat.index("Side by side")  # it opens the page
    assert (tmp_path / "report.png").stat().st_size > 50_000


def _serve(url: str, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "lorasweep", "dashboard", "--storage", url, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 60
    while True:
        try:
            req = urllib.request.Request(f"http://127.0.0.1:{port}/api/studies", headers={"Accept-Encoding": "gzip"})
            with urllib.request.urlopen(req, timeout=2):
                return proc
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise RuntimeError(f"dashboard did not start: {proc.stderr.read().decode()[-2000:]}") from None
            time.sleep(0.3)


def test_dashboard_shows_the_note_and_the_charts(store: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = store
    code, _, err = run_cli("report", "--storage", url, "--experiment", "shown", "--to-dashboard")
    assert code == 0, err
    study_id = optuna.storages.RDBStorage(url).get_study_id_from_name("shown/lora_alpha/r4")
    port = free_port()
    proc = _serve(url, port)
    try:
        with chromium(_chromium(), tmp_path, height=1400) as page:
            page.goto(f"http://127.0.0.1:{port}/dashboard/studies/{study_id}")
            ours = (
                f"(() => {{ const p = {PLOTS_JS}.filter(x => /search cost|effective step|Seed re-runs|Drift ratio/"
                ".test(x.title)); return p.length >= 4 && p.every(x => x.marks) && p })()"
            )
            charts = page.wait_for(ours)
            page.screenshot(tmp_path / "dashboard-charts.png", height=2300)
            assert page.console_errors() == []
            for c in charts:
                assert c["points"] > 0 and c["marks"] > 0, c

            page.goto(f"http://127.0.0.1:{port}/dashboard/studies/{study_id}/note")
            sentence = " ".join(_finding(url)[0].split())
            page.wait_for(f"document.body.innerText.includes({json.dumps(sentence[:60])})")
            page.screenshot(tmp_path / "dashboard-note.png", height=1300)
            text = " ".join(page.text().split())
            assert page.console_errors() == []
        assert "lorasweep · shown: accuracy (maximize)" in text and sentence in text
        assert "This study: lora_alpha at r=4 (shown/lora_alpha/r4)" in text
        assert "Best accuracy (eval split, selected on) 0.840 0.800" in text  # the table, rendered as a table
        assert "lorasweep:begin" not in text and "lorasweep:end" not in text  # the markers stay invisible
    finally:
        proc.terminate()
        proc.wait(timeout=10)
