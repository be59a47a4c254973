"""The faults users cause (issue 16): each is one line on stderr naming the file or option, the
field and the fix; exit code 2; found before Ray starts or anything is written; and the database
exactly as it was (its file byte for byte, and every row).

No test here starts Ray: the databases are made through the store, as a finished compare leaves them."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from lorasweep.config import Direction, load_experiment
from lorasweep.store import ReportRecord, Storage, TrialFinish, TrialStart, TrialState, optuna_storage
from lorasweep.store.secrets import safe_url, split_password

from conftest import DATA, TINY, free_port, run_cli, sqlite_dump
from factories import lora_params

BAD = DATA / "bad"
EXPECTED = yaml.safe_load((BAD / "expected.yaml").read_text())
LORA = lora_params()
REPO = Path(__file__).resolve().parents[1]


def _store(url: str) -> None:
    """What a finished tiny compare leaves: lorasweep's tables with one experiment, one study, one
    trial with two reports, and Optuna's tables with the study."""
    exp = load_experiment(TINY)
    with Storage.open(url, create=True) as st:
        st.upgrade()
        record = st.create_experiment("kept", "", exp.model_dump(mode="json"))
        study = st.add_study(
            record.id,
            space="lr_only",
            rank=4,
            optuna_study_name="kept/lr_only/r4",
            metric="accuracy",
            direction=Direction.MAXIMIZE,
            space_config={},
        ).id
        trial = st.start_trial(
            TrialStart(study_id=study, ray_trial_id="t1", optuna_number=0, params={"lr": 1e-3}, lora=LORA, seed=0)
        )
        reports = tuple(
            ReportRecord(
                trial_id=trial,
                step=s,
                value=v,
                train_loss=0.5,
                lr=1e-3,
                examples=16,
                tokens=160,
                device_seconds=1.0,
                metrics={"accuracy": v},
                drift_ratio=0.1,
            )
            for s, v in ((10, 0.6), (20, 0.7))
        )
        st.finish_trial(
            trial,
            TrialFinish(
                state=TrialState.COMPLETE,
                final_value=0.7,
                best_value=0.7,
                steps=20,
                diverged_step=None,
                error=None,
                device_seconds=1.0,
                wall_seconds=1.0,
                examples=16,
                tokens=160,
                reports=reports,
            ),
        )
        import optuna

        rdb = optuna_storage(st)
        optuna.create_study(storage=rdb, study_name="kept/lr_only/r4", direction="maximize")
        rdb.engine.dispose()  # as the command's exit does: the WAL is checkpointed into the file


@pytest.fixture
def stored(tmp_path: Path) -> tuple[str, Path]:
    path = tmp_path / "runs.db"
    url = f"sqlite:///{path}"
    _store(url)
    return url, path


def _state(path: Path) -> tuple[bytes, list[str]]:
    """The database file's bytes, then its rows (read after the bytes: reading changes nothing)."""
    return (path.read_bytes() if path.exists() else b""), sqlite_dump(path)


def _one_error(code: int, out: str, err: str, expected: str, exit_code: int = 2) -> str:
    assert code == exit_code, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert expected in lines[0], lines[0]
    assert "Traceback" not in err
    return lines[0]


def _cli_subprocess(*args: str, cwd: Path | None = None, user: str | None = None, timeout: float = 120) -> Any:
    """``lorasweep ARGS`` in a fresh process (no pytest logging handlers: what a user's terminal
    shows). ``user="nobody"``: without root's power to write anywhere (for read-only folders)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    env.pop("LORASWEEP_STORAGE", None)
    prefix: list[str] = []
    if user is not None and os.geteuid() == 0:
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        env["HOME"] = "/tmp"
    cmd = [*prefix, sys.executable, "-m", "lorasweep", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A folder outside pytest's private tmp (mode 700), so that an unprivileged process can enter it."""
    folder = Path(tempfile.mkdtemp(prefix="lorasweep-faults-"))
    folder.chmod(0o755)
    yield folder
    for p in [folder, *folder.rglob("*")]:
        if p.is_dir():
            p.chmod(0o755)
    shutil.rmtree(folder)


# -- the bad config files, through the command line ------------------------------------------


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_bad_config_fails_the_compare_command_and_leaves_the_database(
    stored: tuple[str, Path], name: str
) -> None:
    url, path = stored
    before = _state(path)
    line = _one_error(*run_cli("compare", "--config", str(BAD / name), "--storage", url), EXPECTED[name])
    assert str(BAD / name) in line
    assert _state(path) == before


def test_an_alias_bomb_is_refused_before_it_expands() -> None:
    from lorasweep.config import read_yaml
    from lorasweep.errors import ConfigError

    text = (BAD / "alias_bomb.yaml").read_text()
    assert len(text) < 1200 and text.count("*a") == 81  # 10^9 "lol"s once expanded
    with pytest.raises(ConfigError, match=r"line 4: aliases \(\*name\) are not supported"):
        read_yaml(BAD / "alias_bomb.yaml")


def test_a_config_file_over_the_size_cap_is_refused_unread(tmp_path: Path, stored: tuple[str, Path]) -> None:
    url, path = stored
    big = tmp_path / "big.yaml"
    big.write_text("task: negated_sentiment\nspaces: [lr_only]\ndescription: " + "x" * (2 << 20) + "\n")
    before = _state(path)
    _one_error(
        *run_cli("compare", "--config", str(big), "--storage", url),
        f"{big}: is larger than 1024 KiB, too large for a config file; give the right file",
    )
    assert _state(path) == before


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("tiny\n", "error: --name 'tiny\\n': names use letters, digits, '.', '_' and '-' and start with a letter"),
        ("bad name!", "error: --name 'bad name!': names use letters, digits, '.', '_' and '-'"),
        ("-x", "error: --name '-x': names use letters, digits"),
        ("", "error: --name '': string should have at least 1 character"),
        ("x" * 65, "error: --name '" + "x" * 65 + "': string should have at most 64 characters"),
    ],
)
@pytest.mark.parametrize("command", ["compare", "ablation"])
def test_a_bad_name_is_blamed_on_the_name_option_not_the_yaml(
    stored: tuple[str, Path], name: str, expected: str, command: str
) -> None:
    """Issue 24: an invalid --name was reported as the YAML file's field 'name'."""
    url, path = stored
    before = _state(path)
    line = _one_error(*run_cli(command, "--config", str(TINY), "--storage", url, "--name", name), expected)
    assert str(TINY) not in line and "field 'name'" not in line
    assert _state(path) == before


# -- SQLite files that are not lorasweep's, or cannot be written ---------------------------


def _foreign(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("CREATE TABLE studies (id INTEGER PRIMARY KEY)")  # a name Optuna also uses
        conn.execute("INSERT INTO customers VALUES (1, 'Ada')")


@pytest.mark.parametrize(
    "command", [["compare", "--config", str(TINY)], ["db", "upgrade"], ["report"], ["recommend", "--rank", "8"]]
)
def test_another_applications_database_is_refused_untouched(tmp_path: Path, command: list[str]) -> None:
    path = tmp_path / "crm.db"
    _foreign(path)
    before = path.read_bytes()
    _one_error(
        *run_cli(*command, "--storage", f"sqlite:///{path}"),
        f"--storage sqlite:///{path}: {path} holds tables lorasweep did not create (customers; studies (columns "
        "id)): another application's database; give lorasweep a file of its own",
    )
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crm.db"]  # no journal left next to it


def test_a_file_that_is_not_sqlite_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 100)
    before = path.read_bytes()
    _one_error(
        *run_cli("compare", "--config", str(TINY), "--storage", f"sqlite:///{path}"),
        f"--storage sqlite:///{path}: {path} is not a SQLite database (file is not a database); point --storage at",
    )
    assert path.read_bytes() == before


def test_an_empty_file_and_an_optuna_database_are_accepted(tmp_path: Path) -> None:
    import optuna

    empty = tmp_path / "empty.db"
    empty.touch()
    code, out, err = run_cli("db", "upgrade", "--storage", f"sqlite:///{empty}")
    assert code == 0 and "schema at" in out, err

    plain = tmp_path / "optuna.db"
    optuna.create_study(storage=f"sqlite:///{plain}", study_name="mine")
    code, out, err = run_cli("db", "upgrade", "--storage", f"sqlite:///{plain}")
    assert code == 0, err
    assert optuna.get_all_study_names(f"sqlite:///{plain}") == ["mine"]  # Optuna's study is kept


def test_a_sqlite_path_in_a_missing_folder_is_one_line(tmp_path: Path) -> None:
    _one_error(
        *run_cli("compare", "--config", str(TINY), "--storage", f"sqlite:///{tmp_path}/no/such/x.db"),
        f"--storage sqlite:///{tmp_path}/no/such/x.db: folder {tmp_path}/no/such does not exist; create it first",
    )
    assert list(tmp_path.iterdir()) == []


def test_a_sqlite_path_in_a_read_only_folder_is_one_line_before_anything_runs(open_tmp: Path) -> None:
    folder = open_tmp / "ro"
    folder.mkdir()
    url = f"sqlite:///{folder}/runs.db"
    _store(url)
    for p in folder.iterdir():
        p.chmod(0o444)
    folder.chmod(0o555)
    before = _state(folder / "runs.db")
    new = _cli_subprocess("compare", "--config", str(TINY), "--storage", f"sqlite:///{folder}/new.db", user="nobody")
    _one_error(
        new.returncode,
        new.stdout,
        new.stderr,
        f"--storage sqlite:///{folder}/new.db: folder {folder} is not writable; pick a writable folder or fix its",
    )
    old = _cli_subprocess("compare", "--config", str(TINY), "--storage", url, user="nobody")
    _one_error(old.returncode, old.stdout, old.stderr, f"--storage {url}: {folder}/runs.db is not writable")
    assert "ray" not in (old.stderr + new.stderr).lower()
    assert _state(folder / "runs.db") == before
    assert sorted(p.name for p in folder.iterdir()) == ["runs.db"]


def test_report_reads_sqlite_read_only_and_keeps_its_journal_mode(stored: tuple[str, Path], tmp_path: Path) -> None:
    url, path = stored
    with sqlite3.connect(path) as conn:  # as another tool may have left it: rollback journal, not WAL
        conn.execute("PRAGMA journal_mode=DELETE")
    before = _state(path)
    for args in (["report"], ["report", "--json"], ["recommend", "--rank", "4"]):
        code, _, err = run_cli(*args, "--storage", url)
        assert code == 0, err
        assert _state(path) == before
    assert "kept" in run_cli("report", "--storage", url, "--json")[1]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    with Storage.open(url, readonly=True) as st, pytest.raises(Exception, match="readonly database"):
        st.create_experiment("sneaky", "", {})
    assert _state(path) == before


# -- secrets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://bob:s3cret@db:5432/runs", "postgresql+psycopg://bob:***@db:5432/runs"),
        ("postgresql+psycopg://bob@db/runs?password=s3cret", "postgresql+psycopg://bob@db/runs?password=***"),
        (
            "postgresql+psycopg://bob@db/runs?sslmode=require&PassWord=s3cret&SSLPASSWORD=s3cret",
            "postgresql+psycopg://bob@db/runs?sslmode=require&PassWord=***&SSLPASSWORD=***",
        ),
        (
            "postgresql+psycopg://bob:s3cret@db/runs?sslpassword=s3cret",
            "postgresql+psycopg://bob:***@db/runs?sslpassword=***",
        ),
        (
            "postgresql://bob:s3cret@db:notaport/runs?Password=s3cret",
            "postgresql://bob:***@db:notaport/runs?Password=***",
        ),
        ("sqlite:////tmp/runs.db", "sqlite:////tmp/runs.db"),
    ],
)
def test_safe_url_masks_every_password(url: str, shown: str) -> None:
    assert safe_url(url) == shown
    assert "s3cret" not in safe_url(url)


def test_a_password_in_the_query_is_kept_out_of_the_stored_url_like_one_in_the_userinfo() -> None:
    assert split_password("postgresql+psycopg://bob@db/runs?sslmode=require&password=s3cret") == (
        "postgresql+psycopg://bob@db/runs?sslmode=require",
        "s3cret",
    )


def test_the_printed_report_command_masks_every_password() -> None:
    from lorasweep.cli.console import report_command

    command = report_command("postgresql+psycopg://bob@db/runs?sslpassword=k3y&password=s3cret", "e1")
    assert command == (
        "lorasweep report --storage 'postgresql+psycopg://bob@db/runs?sslpassword=***&password=***' "
        "--experiment e1 --out report.html"
    )


@pytest.mark.parametrize("command", [["report"], ["compare", "--config", str(TINY)], ["dashboard"]])
def test_an_unreachable_database_is_one_line_with_no_retry_warnings_and_no_secret(command: list[str]) -> None:
    url = "postgresql+psycopg://bob:s3cret@127.0.0.1:1/db?sslmode=disable&Password=s3cret&sslpassword=k3y"
    if command == ["dashboard"]:
        command = [*command, "--port", str(free_port())]
    done = _cli_subprocess(*command, "--storage", url)
    _one_error(
        done.returncode,
        done.stdout,
        done.stderr,
        "cannot connect to --storage postgresql+psycopg://bob:***@127.0.0.1:1/db?sslmode=disable&Password=***"
        "&sslpassword=***",
    )
    assert "s3cret" not in done.stderr + done.stdout and "k3y" not in done.stderr + done.stdout


def test_verbose_shows_the_connection_retries_before_the_error() -> None:
    done = _cli_subprocess(
        "compare", "--config", str(TINY), "--verbose", "--storage", "postgresql+psycopg://bob@127.0.0.1:1/db"
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2
    assert sum("database unavailable while connecting" in line for line in lines) == 3
    assert lines[-1].startswith("error: cannot connect to --storage")


# -- options that reach the OS ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["compare", "--seed", "4294967296"], "--seed must be at most 2147483647, got 4294967296; pick a smaller one"),
        (["compare", "--seed", "2147483648"], "--seed must be at most 2147483647, got 2147483648"),
        (["ablation", "--seed", "99999999999999999999"], "--seed must be at most 2147483647"),
    ],
)
def test_seeds_numpy_cannot_take_are_refused(stored: tuple[str, Path], args: list[str], expected: str) -> None:
    url, path = stored
    before = _state(path)
    _one_error(*run_cli(*args, "--config", str(TINY), "--storage", url), expected)
    assert _state(path) == before


def test_trial_seed_and_params_out_of_reach() -> None:
    base = ["trial", "--config", str(TINY), "--space", "lr_only"]
    _one_error(*run_cli(*base, "--seed", "4294967296"), "'--seed': 4294967296 is not in the range 0<=x<=2147483647")
    _one_error(
        *run_cli(*base, "--params", '{"lr": ' + "9" * 400 + "}"),
        f"--params lr={'9' * 48}... (400 characters) is outside space lr_only's range [1e-06, 0.01]; give a number "
        "inside it",
    )
    _one_error(
        *run_cli(*base, "--params", '{"lr": ' + "9" * 5000 + "}"),
        "--params is not JSON lorasweep can read (Exceeds the limit (4300 digits) for integer string conversion",
    )
    _one_error(*run_cli(*base, "--params", '{"lr": 1e999}'), "--params lr=inf is outside space lr_only's range")


@pytest.mark.parametrize(
    ("port", "expected"),
    [
        ("abc", "Invalid value for '--port': 'abc' is not a valid integer range."),
        ("70000", "Invalid value for '--port': 70000 is not in the range 1<=x<=65535."),
        ("-1", "Invalid value for '--port': -1 is not in the range 1<=x<=65535."),
    ],
)
def test_dashboard_port_that_is_not_a_port(stored: tuple[str, Path], port: str, expected: str) -> None:
    url, _ = stored
    _one_error(*run_cli("dashboard", "--storage", url, "--port", port), expected)


def test_a_busy_dashboard_port_is_one_line(stored: tuple[str, Path]) -> None:
    url, path = stored
    before = _state(path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        _one_error(
            *run_cli("dashboard", "--storage", url, "--port", str(port)),
            f"--port {port}: cannot listen on 127.0.0.1:{port} (Address already in use); pick another port with "
            "--port or stop what uses it",
        )
    assert _state(path) == before


@pytest.mark.parametrize(("host", "warned"), [("0.0.0.0", True), ("127.0.0.1", False), ("localhost", False)])
def test_dashboard_on_a_network_address_warns_in_one_line(
    stored: tuple[str, Path], monkeypatch: pytest.MonkeyPatch, host: str, warned: bool
) -> None:
    import lorasweep.report.optuna_dashboard as dash

    url, path = stored
    served: list[Storage] = []
    monkeypatch.setattr(dash, "serve", lambda st, host, port: served.append(st))
    before = _state(path)
    code, _, err = run_cli("dashboard", "--storage", url, "--host", host, "--port", str(free_port()))
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    if warned:
        assert warnings == [
            f"warning: --host {host}: the dashboard is reachable from the network without a password (anyone there "
            "sees every study; it cannot change them); use --host 127.0.0.1 unless you mean it"
        ]
    else:
        assert warnings == []
    assert served and served[0].readonly
    assert _state(path) == before


def test_which_hosts_are_this_machine_only() -> None:
    from lorasweep.cli.dashboard import loopback

    assert all(map(loopback, ["127.0.0.1", "127.0.0.2", "::1", "localhost", "LOCALHOST"]))
    assert not any(map(loopback, ["0.0.0.0", "::", "192.168.1.5", "10.0.0.1", "example.org", "my-host"]))


def test_out_under_a_file_or_in_a_missing_folder(stored: tuple[str, Path], tmp_path: Path) -> None:
    url, path = stored
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    before = _state(path)
    _one_error(
        *run_cli("report", "--storage", url, "--out", str(a_file / "report.html")),
        f"--out {a_file}/report.html: {a_file} is a file, not a folder; give a path inside a folder",
    )
    _one_error(
        *run_cli("report", "--storage", url, "--out", str(a_file / "deeper" / "report.html")),
        f"--out {a_file}/deeper/report.html: {a_file} is a file, not a folder",
    )
    _one_error(
        *run_cli("export", "--storage", url, "--space", "lr_only", "--out", str(a_file / "adapter")),
        f"--out {a_file}/adapter: {a_file} is a file, not a folder",
    )
    _one_error(
        *run_cli("report", "--storage", url, "--out", str(tmp_path / "none" / "r.html")),
        f"--out {tmp_path}/none/r.html: folder {tmp_path}/none does not exist; create it or pick another path",
    )
    assert _state(path) == before


def test_out_in_a_read_only_folder(open_tmp: Path) -> None:
    url = f"sqlite:///{open_tmp}/runs.db"
    _store(url)
    (open_tmp / "runs.db").chmod(0o644)
    ro = open_tmp / "ro"
    ro.mkdir(mode=0o555)
    ro.chmod(0o555)
    before = _state(open_tmp / "runs.db")
    done = _cli_subprocess("report", "--storage", url, "--out", str(ro / "r.html"), user="nobody")
    _one_error(
        done.returncode,
        done.stdout,
        done.stderr,
        f"--out {ro}/r.html: folder {ro} is not writable; pick another file or fix its permissions",
    )
    assert list(ro.iterdir()) == []
    assert _state(open_tmp / "runs.db") == before


def test_out_relative_to_the_working_directory_is_written_there(
    stored: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = stored
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    code, _, err = run_cli("report", "--storage", url, "--out", "r.html")
    assert code == 0, err
    assert f"Wrote {tmp_path}/here/r.html" in err
    assert (tmp_path / "here" / "r.html").stat().st_size > 1000
