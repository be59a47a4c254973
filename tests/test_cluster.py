"""A real Ray cluster and a real PostgreSQL server: the README's ``ray job submit`` path, and a
planted password that must not show up in logs, stored rows or Ray's files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import MetaData, select

from lorasweep.store import Storage, TrialState
from lorasweep.testing.ray_head import alive_nodes, free_port, ray_env, start_node, stop_node

from conftest import OPTUNA_STATE, TINY, both_stores, run_cli

pytestmark = pytest.mark.slow  # every test here starts Ray

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _rows(url: str) -> str:
    """Every row of every table (lorasweep's and Optuna's), as text."""
    out = []
    with Storage.open(url) as st, st.engine.connect() as conn:
        meta = MetaData()
        meta.reflect(conn)
        for table in meta.sorted_tables:
            out += [repr(tuple(row)) for row in conn.execute(select(table))]
    return "\n".join(out)


def _files_containing(root: Path, needle: bytes) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                if needle in path.read_bytes():
                    hits.append(str(path))
            except OSError:
                continue
    return hits


def test_ray_job_submit_runs_compare_on_the_cluster_into_postgresql(
    ray_head: tuple[str, dict[str, str], Path], pg_server: object, tmp_path: Path
) -> None:
    from postgres import fresh_database

    address, env, ray_temp = ray_head
    password: str = pg_server.password  # type: ignore[attr-defined]
    os.environ["PGPASSWORD"] = password  # only to create the database; the job gets the file
    try:
        url = fresh_database(pg_server)  # type: ignore[arg-type]
    finally:
        del os.environ["PGPASSWORD"]
    config = yaml.safe_load(TINY.read_text())
    config["ray"] = {"storage_path": str(tmp_path / "results")}
    config_path = tmp_path / "cluster.yaml"
    config_path.write_text(yaml.safe_dump(config))

    # The README's command, word for word apart from the values.
    command = [
        str(BIN / "ray"),
        "job",
        "submit",
        "--address",
        address,
        "--working-dir",
        ".",
        "--",
        "lorasweep",
        "compare",
        "--config",
        str(config_path),
        "--storage",
        url,
        "--name",
        "on-cluster",
        "--trials",
        "2",
    ]
    job = subprocess.run(
        command,
        cwd=REPO,
        env={**env, "RAY_AUTH_MODE": "token"},  # the job CLI sends the token only with this set
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = job.stdout + job.stderr
    assert job.returncode == 0, output[-4000:]
    assert "succeeded" in output and "on-cluster" in output

    with Storage.open(url.replace("lorasweep@", f"lorasweep:{password}@")) as st:
        exp = st.experiment("on-cluster")
        trials = st.trials(exp.id)
    assert exp.status.value == "complete"
    assert len(trials) == 4 and all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)

    # The password reached the driver from the file, and nothing kept it.
    needle = password.encode()
    assert password not in output
    assert password not in _rows(url.replace("lorasweep@", f"lorasweep:{password}@"))
    assert (tmp_path / "results").is_dir()
    assert _files_containing(tmp_path / "results", needle) == []
    assert _files_containing(ray_temp, needle) == []  # Ray's logs, job records, spilled objects


def test_a_password_in_the_url_stays_out_of_logs_rows_and_ray_files(
    pg_server: object, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The worst case: the user puts the password in --storage itself."""
    from postgres import fresh_database

    password: str = pg_server.password  # type: ignore[attr-defined]
    os.environ["PGPASSWORD"] = password
    try:
        url = fresh_database(pg_server)  # type: ignore[arg-type]
    finally:
        del os.environ["PGPASSWORD"]
    with_password = url.replace("lorasweep@", f"lorasweep:{password}@")
    config = yaml.safe_load(TINY.read_text())
    config["ray"] = {"storage_path": str(tmp_path / "results")}
    config_path = tmp_path / "exp.yaml"
    config_path.write_text(yaml.safe_dump(config))

    code, out, err = run_cli(
        "compare", "--config", str(config_path), "--storage", with_password, "--name", "leak", "--trials", "2"
    )
    assert code == 0, err
    code2, out2, err2 = run_cli("report", "--storage", with_password, "--experiment", "leak", "--json")
    assert code2 == 0, err2
    code3, _, err3 = run_cli("report", "--storage", with_password.replace("leak", "x"), "--experiment", "nope")
    assert code3 == 2

    for text in (out, err, out2, err2, err3, caplog.text, _rows(with_password)):
        assert password not in text
    assert "lorasweep:***@" in err or "***" in err  # the URL is shown, masked
    assert _files_containing(tmp_path / "results", password.encode()) == []


def test_a_postgresql_restart_mid_search_loses_nothing(pg_server: object, tmp_path: Path) -> None:
    import optuna

    from postgres import fresh_database

    env = {**os.environ, "PGPASSWORD": pg_server.password, "HF_HUB_OFFLINE": "1"}  # type: ignore[attr-defined]
    os.environ["PGPASSWORD"] = env["PGPASSWORD"]
    try:
        url = fresh_database(pg_server)  # type: ignore[arg-type]
        args = ["compare", "--config", str(TINY), "--storage", url, "--name", "r", "--trials", "4"]
        driver = subprocess.Popen(
            [str(BIN / "lorasweep"), *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # restart once the first trial is recorded
            time.sleep(0.3)
            try:
                with Storage.open(url) as st:
                    if any(t.finished_at for t in st.trials(st.experiment("r").id)):
                        break
            except Exception:  # not created yet
                continue
        pg_server.restart()  # type: ignore[attr-defined]  # every open connection is cut
        output, _ = driver.communicate(timeout=600)
        assert driver.returncode == 0, output[-12000:]

        with Storage.open(url) as st:
            exp = st.experiment("r")
            trials = st.trials(exp.id)
            studies = st.studies(exp.id)
        assert exp.status.value == "complete"
        assert len(trials) == 8 and all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
        for s in studies:
            study = optuna.load_study(study_name=s.optuna_study_name, storage=url)
            numbers = {t.optuna_number for t in trials if t.study_id == s.id}
            ran = [t for t in study.trials if t.number in numbers]
            assert len(ran) == 4 and all(t.state != optuna.trial.TrialState.FAIL for t in ran)
            # an ask cut off by the restart may leave one empty trial behind, closed as FAIL
            assert all(t.state == optuna.trial.TrialState.FAIL and not t.params for t in study.trials if t not in ran)
            assert all(t.state.is_finished() for t in study.trials)
    finally:
        del os.environ["PGPASSWORD"]


def _ray(address: str, env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``ray job COMMAND --address ADDRESS ARGS``, as a user of the token-authenticated cluster runs it."""
    return subprocess.run(
        [str(BIN / "ray"), *args[:2], "--address", address, *args[2:]],
        cwd=REPO,
        env={**env, "RAY_AUTH_MODE": "token"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_ray_job_stop_records_the_stop_and_a_resumed_job_completes_it(
    ray_head: tuple[str, dict[str, str], Path], pg_server: object, tmp_path: Path
) -> None:
    """``ray job stop`` sends SIGTERM to the job's driver and SIGKILL 3 s later: within that time
    the running trial is recorded as interrupted in both stores and the experiment as interrupted,
    and the job's log says how to resume; a resumed job runs every study to its budget."""
    import optuna

    from lorasweep.search.runner import finished

    from postgres import fresh_database

    address, env, _ = ray_head
    password: str = pg_server.password  # type: ignore[attr-defined]
    os.environ["PGPASSWORD"] = password
    try:
        url = fresh_database(pg_server)  # type: ignore[arg-type]
    finally:
        del os.environ["PGPASSWORD"]
    readable = url.replace("lorasweep@", f"lorasweep:{password}@")  # this test reads with the password
    config = yaml.safe_load(TINY.read_text())
    config["ray"] = {"storage_path": str(tmp_path / "results")}
    config_path = tmp_path / "stop.yaml"
    config_path.write_text(yaml.safe_dump(config))
    compare = ["lorasweep", "compare", "--storage", url, "--name", "stopped"]
    long_trials = ["--config", str(config_path), "--trials", "2", "--max-steps", "600"]

    submit = ["job", "submit", "--submission-id", "stop-1", "--no-wait", "--working-dir", "."]
    job = _ray(address, env, *submit, "--", *compare, *long_trials)
    assert job.returncode == 0, job.stdout + job.stderr
    deadline = time.monotonic() + 300
    while True:  # until its first trial runs
        assert time.monotonic() < deadline, _ray(address, env, "job", "logs", "stop-1").stdout[-3000:]
        time.sleep(0.3)
        try:
            with Storage.open(readable) as st:
                if any(t.state == TrialState.RUNNING for t in st.trials(st.experiment("stopped").id)):
                    break
        except Exception:  # not created yet
            continue
    stop = _ray(address, env, "job", "stop", "stop-1")
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert "was stopped" in _ray(address, env, "job", "status", "stop-1").stdout
    logs = _ray(address, env, "job", "logs", "stop-1").stdout
    assert (
        f"interrupted by SIGTERM: 1 running trial recorded as interrupted, experiment 'stopped' kept as interrupted; "
        f"resume with: lorasweep compare --resume --name stopped --storage {url}"
    ) in logs, logs[-3000:]
    assert password not in logs

    with Storage.open(readable) as st:
        exp = st.experiment("stopped")
        (cut,) = st.trials(exp.id)
    assert exp.status.value == "interrupted"
    assert cut.state == TrialState.INTERRUPTED and cut.error == "interrupted by SIGTERM" and cut.device_seconds > 0
    ot = {
        s.study_name: [t.state for t in optuna.load_study(study_name=s.study_name, storage=readable).trials]
        for s in optuna.get_all_study_summaries(readable)
    }
    assert ot == {"stopped/lr_only/r4": [optuna.trial.TrialState.FAIL], "stopped/lora_alpha/r4": []}

    resumed = _ray(address, env, "job", "submit", "--working-dir", ".", "--", *compare, "--resume")
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-3000:]
    with Storage.open(readable) as st:
        exp = st.experiment("stopped")
        trials, studies = st.trials(exp.id), st.studies(exp.id)
    assert exp.status.value == "complete"
    for s in studies:  # every study at its budget; both stores agree, nothing duplicated
        own = [t for t in trials if t.study_id == s.id]
        assert sum(finished(t) for t in own) == 2
        study = optuna.load_study(study_name=s.optuna_study_name, storage=readable)
        assert sorted(t.number for t in study.trials) == sorted(t.optuna_number for t in own)
        assert {t.number: t.state.name for t in study.trials} == {
            t.optuna_number: OPTUNA_STATE[t.state.value] for t in own
        }


@pytest.fixture
def two_nodes(tmp_path: Path, ray_temp: Path) -> Iterator[tuple[str, dict[str, str], subprocess.Popen[bytes]]]:
    """A Ray cluster of two nodes on this machine: a head (``ray start --head``) and a worker node
    (``ray start --address``), one CPU each, token authentication on (the nodes and the driver
    read ~/.ray/auth_token with ``RAY_AUTH_MODE=token``), every port outside Ray's worker range.
    Yields the GCS address, the environment of a driver, and the worker node's ``ray start``."""
    env = ray_env(RAY_AUTH_MODE="token")
    ports = {name: free_port() for name in ("gcs", "dashboard", "client")}
    gcs = f"127.0.0.1:{ports['gcs']}"
    head = start_node(
        [
            "--head", "--port", str(ports["gcs"]), "--dashboard-host", "127.0.0.1",
            "--dashboard-port", str(ports["dashboard"]), "--ray-client-server-port", str(ports["client"]),
            "--temp-dir", str(ray_temp),
        ],
        env=env, log=tmp_path / "head.log",
    )  # fmt: skip
    worker = None
    try:
        deadline = time.monotonic() + 180
        while alive_nodes(gcs, env) < 1:
            assert time.monotonic() < deadline and head.poll() is None, (tmp_path / "head.log").read_text()[-2000:]
            time.sleep(1)
        worker = start_node(["--address", gcs], env=env, log=tmp_path / "worker.log")
        while alive_nodes(gcs, env) < 2:
            assert time.monotonic() < deadline and worker.poll() is None, (tmp_path / "worker.log").read_text()[-2000:]
            time.sleep(1)
        yield gcs, env, worker
    finally:
        for process in (worker, head):
            if process is not None:
                stop_node(process)


def _training_on(node: subprocess.Popen[bytes]) -> list[Any]:
    """The worker node's raylet, if one of its actors is training a trial now (Ray titles a Tune
    actor's process ``ray::ImplicitFunc.train`` while it runs a trial's training)."""
    import psutil

    processes = psutil.Process(node.pid).children(recursive=True)
    raylets = [p for p in processes if p.name() == "raylet"]
    training = []
    for p in processes:
        try:
            if " ".join(p.cmdline()).startswith("ray::ImplicitFunc.train"):
                training.append(p)
        except psutil.Error:
            continue
    return raylets if training else []


def test_a_lost_node_s_trial_is_retried_on_the_head_and_nothing_is_lost_or_duplicated(
    two_nodes: tuple[str, dict[str, str], subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    """Two trials at a time, one per node; once a trial has finished, the worker node's raylet is
    killed while one of its actors trains. Its trial is re-run on the head (``ray.max_failures``),
    everything finished stays recorded once in both stores, and the report says how many trials
    were retried."""
    gcs, env, worker = two_nodes
    config = yaml.safe_load(TINY.read_text())
    config.update(
        scheduler={"name": "fifo"},
        budget={"trials": 2, "max_steps": 2000, "eval_every": 100},
        max_concurrent_trials=2,
        ray={"max_failures": 2, "storage_path": str(tmp_path / "results")},
    )
    config_path = tmp_path / "nodes.yaml"
    config_path.write_text(yaml.safe_dump(config))
    url = f"sqlite:///{tmp_path / 'n.db'}"
    driver = subprocess.Popen(
        [str(BIN / "lorasweep"), "compare", "--config", str(config_path), "--storage", url, "--name", "n"],
        env={**env, "RAY_ADDRESS": gcs},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 600
        while True:  # one trial finished, and the worker node trains another
            assert time.monotonic() < deadline and driver.poll() is None, "the search ended before the node was lost"
            time.sleep(0.2)
            try:
                with Storage.open(url) as st:
                    trials = st.trials(st.experiment("n").id)
            except Exception:  # not created yet
                continue
            if any(t.finished_at for t in trials) and (raylets := _training_on(worker)):
                break
        finished_before = [t for t in trials if t.finished_at is not None]
        raylets[0].kill()  # SIGKILL: the node is gone with everything on it
        output, _ = driver.communicate(timeout=900)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    assert driver.returncode == 0, output[-4000:]

    exp, trials, optuna_trials = both_stores(url, "n")
    assert exp.status.value == "complete"
    assert len(trials) == 4 and all(t.state == TrialState.COMPLETE for t in trials), trials
    by_id = {t.id: t for t in trials}
    assert all(by_id[t.id] == t for t in finished_before)  # what finished before stays as it was
    retried = [t for t in trials if t.retries]
    assert len(retried) == 1 and retried[0].retries >= 1  # the trial the lost node ran, and only it
    assert all(len(ts) == 2 for ts in optuna_trials.values())  # each study at its budget, in Optuna too
    with Storage.open(url) as st:
        last = max((r for r in st.reports(exp.id) if r.trial_id == retried[0].id), key=lambda r: r.step)
    # its reports are the re-run's; its device time adds the attempt lost with the node
    assert last.step == 2000 and retried[0].device_seconds > last.device_seconds

    code, out, _ = run_cli("report", "--storage", url, "--experiment", "n", "--json")
    doc = json.loads(out)
    assert code == 0
    assert sum(s["n_retried"] for s in doc["spaces"].values()) == 1
    assert sum(s["retries"] for s in doc["spaces"].values()) == retried[0].retries
    code, table, _ = run_cli("report", "--storage", url, "--experiment", "n")
    assert code == 0 and f"1 retried ({retried[0].retries} re-runs)" in " ".join(table.split())
