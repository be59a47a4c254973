"""Issue 24, case 3: another application's PostgreSQL database is refused, untouched, by every
command, on a real throwaway PostgreSQL server (tests/postgres.py; as root, the server runs as the
``postgres`` user). Before the fix, one with its own ``alembic_version`` got Optuna's 11 tables and
a 51-line traceback, and one without got 17 tables added silently.

Nothing here starts Ray: the refusal comes first (were it to come after, the conftest check that
only slow tests start Ray would fail these tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text

from conftest import TINY, free_port, run_cli

#: The other application: a customers table, its own "studies" table (a name Optuna also uses, in
#: another shape) and, in one case, its own Alembic history.
APP_TABLES = (
    "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
    "INSERT INTO customers VALUES (1, 'Ada'), (2, 'Grace')",
)
APP_ALEMBIC = (
    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)",
    "INSERT INTO alembic_version VALUES ('3f2a9c1d4e5b')",
)
APP_STUDIES = (
    "CREATE TABLE studies (id INTEGER PRIMARY KEY, title TEXT)",
    "INSERT INTO studies VALUES (7, 'a study of its own')",
)


def _execute(url: str, statements: tuple[str, ...]) -> None:
    engine = create_engine(url)  # the password from PGPASSWORD (libpq)
    try:
        with engine.begin() as conn:
            for s in statements:
                conn.execute(text(s))
    finally:
        engine.dispose()


def _everything(url: str) -> dict[str, Any]:
    """Every table with its columns and rows, every sequence and index of the public schema."""
    engine = create_engine(url)
    try:
        insp = inspect(engine)
        with engine.connect() as conn:
            tables = {
                name: (
                    [c["name"] for c in insp.get_columns(name)],
                    sorted(map(tuple, conn.execute(text(f'SELECT * FROM "{name}"'))), key=repr),
                )
                for name in sorted(insp.get_table_names())
            }
            others = sorted(
                conn.execute(text("SELECT relname, relkind FROM pg_class WHERE relnamespace = 'public'::regnamespace"))
            )
        return {"tables": tables, "relations": others}
    finally:
        engine.dispose()


@pytest.fixture(params=["own alembic_version", "no alembic_version", "only its own studies table"])
def app_db(request: pytest.FixtureRequest, pg_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from postgres import fresh_database

    monkeypatch.setenv("PGPASSWORD", pg_server.password)
    url = fresh_database(pg_server)
    if request.param == "own alembic_version":
        _execute(url, APP_TABLES + APP_ALEMBIC)
    elif request.param == "no alembic_version":
        _execute(url, APP_TABLES + APP_STUDIES)
    else:
        _execute(url, APP_STUDIES)
    yield url


@pytest.mark.parametrize(
    "command",
    [
        ["compare", "--config", str(TINY), "--name", "intruder"],
        ["db", "upgrade"],
        ["report"],
        ["recommend", "--rank", "8"],
        ["export", "--experiment", "x", "--space", "lr_only", "--out", "{tmp}/best.yaml"],
        ["dashboard", "--port", "{port}"],
    ],
    ids=["compare", "db-upgrade", "report", "recommend", "export", "dashboard"],
)
def test_another_applications_postgresql_database_is_refused_untouched(
    app_db: str, command: list[str], tmp_path: Path
) -> None:
    before = _everything(app_db)
    args = [a.format(tmp=tmp_path, port=free_port()) for a in command]
    code, out, err = run_cli(*args, "--storage", app_db)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, (code, out, err)
    refused = f"error: --storage {app_db}: the database holds tables lorasweep did not create ("
    assert lines[0].startswith(refused), lines
    assert lines[0].endswith("another application's database; give lorasweep a database of its own"), lines
    assert "Traceback" not in err and out == ""
    assert _everything(app_db) == before  # no table, row, sequence or index added or changed
    assert list(tmp_path.iterdir()) == []


def test_the_refusal_names_what_is_not_lorasweeps(pg_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each foreign table named, with why: an unknown name; a known name in another shape; an
    ``alembic_version`` whose revision is not one of Optuna's."""
    from postgres import fresh_database

    monkeypatch.setenv("PGPASSWORD", pg_server.password)
    cases = {
        APP_TABLES + APP_STUDIES: "(customers; studies (columns id, title))",
        APP_ALEMBIC: "(alembic_version (revision 3f2a9c1d4e5b, not Optuna's))",
    }
    for statements, named in cases.items():
        url = fresh_database(pg_server)
        _execute(url, statements)
        code, _, err = run_cli("db", "upgrade", "--storage", url)
        assert code == 2 and named in err, err


def test_a_new_database_and_lorasweeps_own_are_accepted(pg_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rule's other side, on the same server: an empty database is taken (and becomes
    lorasweep's), and lorasweep's own database is accepted again (with Optuna's tables in it)."""
    import optuna

    from postgres import fresh_database

    monkeypatch.setenv("PGPASSWORD", pg_server.password)
    url = fresh_database(pg_server)
    code, out, err = run_cli("db", "upgrade", "--storage", url)
    assert code == 0 and "schema at" in out, err
    optuna.create_study(storage=url, study_name="mine")  # Optuna's tables beside lorasweep's
    code, out, err = run_cli("db", "upgrade", "--storage", url)
    assert code == 0, err
    assert optuna.get_all_study_names(url) == ["mine"]
