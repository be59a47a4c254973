"""Many users, one database: concurrent compare jobs on one Ray cluster write to one database
while reports and the optuna-dashboard API read it (a smaller ``benchmarks/db_load.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import db_load  # the repository root is on pytest's pythonpath (pyproject.toml)

pytestmark = pytest.mark.slow  # a Ray head and compare jobs


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_three_concurrent_jobs_report_and_dashboard_on_one_database(
    backend: str, ray_cluster: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """3 jobs × 2 spaces × 2 trials, started together on a new database: every job exits 0, every
    experiment is complete with each study at its budget, both stores hold the same trials (none
    lost or duplicated), and no report or /api/studies request fails while they run."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'load.db'}"
    else:
        from postgres import fresh_database

        server = request.getfixturevalue("pg_server")
        monkeypatch.setenv("PGPASSWORD", server.password)  # the jobs', the dashboard's and this test's reads
        url = fresh_database(server)
    result = db_load.run_load(backend, url, ray_cluster, tmp_path, jobs=3, trials=2, max_steps=10, cpus=2)
    assert result.errors == []
    assert result.trials == 3 * 2 * 2
    assert result.report_seconds and result.api_seconds  # both read (while the jobs ran, and after)
