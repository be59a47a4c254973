"""lorasweep's note and charts on the Optuna studies, as optuna-dashboard reads them: on every study
of an experiment (both spaces, every rank), replaced and not duplicated on refresh, never on a
study of another experiment, and a user's own note kept. The store is filled by hand (no Ray,
no training), with the Optuna studies the search would have created."""

from __future__ import annotations

import optuna
import pytest
from optuna_dashboard import get_note, save_note

from lorasweep.config import load_experiment
from lorasweep.report.optuna_dashboard import BEGIN, END, merge_note, publish
from lorasweep.scaling import LoraParams
from lorasweep.search.runner import optuna_study_name
from lorasweep.store import Storage, TrialFinish, TrialKind, TrialStart, TrialState, optuna_storage

from conftest import TINY, run_cli

SPACES = ("lr_only", "lora_alpha")
RANKS = (4, 8)
#: search values per (space, rank); lr_only ahead in the search
VALUES = {"lr_only": [0.85, 0.60], "lora_alpha": [0.75, 0.55]}
LR_ONLY_SEEDS = [0.80, 0.82, 0.81, 0.83, 0.80, 0.82, 0.84, 0.81]  # lr_only wins 8 of 8: a verdict
LORA_ALPHA_SEEDS = [0.70, 0.71, 0.69, 0.72, 0.70, 0.73, 0.70, 0.71]


def _trial(st: Storage, study: int, key: str, value: float, seed: int, kind: TrialKind, lr: float) -> None:
    lora = LoraParams(rank=4, alpha=8.0, lr=lr)
    trial = st.start_trial(
        TrialStart(
            study_id=study, ray_trial_id=key, optuna_number=None, params={"lr": lr}, lora=lora, seed=seed, kind=kind
        )
    )
    st.finish_trial(
        trial,
        TrialFinish(
            state=TrialState.COMPLETE,
            final_value=value,
            best_value=value,
            steps=20,
            diverged_step=None,
            error=None,
            device_seconds=1.5,
            wall_seconds=2.0,
            examples=16,
            tokens=160,
            reports=(),
        ),
    )


def _experiment(st: Storage, name: str, ranks: tuple[int, ...] = RANKS) -> dict[tuple[str, int], int]:
    """Experiment ``name``: both spaces at ``ranks``, each study in the store and in Optuna (with
    the user attrs the search sets); returns (space, rank) → study row id."""
    exp = load_experiment(TINY, {"ranks": list(ranks)})
    record = st.create_experiment(name, "", exp.model_dump(mode="json"))
    ot = optuna_storage(st)
    ids = {}
    for space in SPACES:
        for r in ranks:
            study_name = optuna_study_name(name, space, r)
            row = st.add_study(
                record.id,
                space=space,
                rank=r,
                optuna_study_name=study_name,
                metric="accuracy",
                direction=exp.metric.resolved_direction,
                space_config={},
            )
            study = optuna.create_study(storage=ot, study_name=study_name, direction="maximize")
            for k, v in {"experiment": name, "space": space, "rank": r}.items():
                study.set_user_attr(k, v)
            for i, value in enumerate(VALUES[space]):
                _trial(st, row.id, f"{study_name}-{i}", value, 0, TrialKind.SEARCH, 1e-3 * (i + 1))
            st.finish_study(row.id)
            ids[space, r] = row.id
    return ids


def _add_seeds(st: Storage, ids: dict[tuple[str, int], int]) -> None:
    for space, values in (("lr_only", LR_ONLY_SEEDS), ("lora_alpha", LORA_ALPHA_SEEDS)):
        for i, v in enumerate(values):
            _trial(st, ids[space, RANKS[0]], f"{space}-seed-{i}", v, i + 1, TrialKind.SEEDS, 1e-3)


def _note(url: str, study_name: str) -> str:
    return get_note(optuna.load_study(study_name=study_name, storage=url))


def _system_attrs(url: str, study_name: str) -> dict:
    storage = optuna.storages.RDBStorage(url)
    return storage.get_study_system_attrs(storage.get_study_id_from_name(study_name))


def _charts(url: str, study_name: str) -> set[str]:
    return {k.split(":")[2] for k in _system_attrs(url, study_name) if k.startswith("dashboard:plot_data:")}


@pytest.fixture
def store(db_url: str) -> tuple[str, Storage]:
    """A fresh store on SQLite and on a real PostgreSQL server (see conftest.db_url)."""
    url = db_url
    st = Storage.open(url, create=True)
    st.upgrade()
    yield url, st
    st.close()


def test_every_study_gets_the_note_and_seeds_replace_it(store: tuple[str, Storage]) -> None:
    url, st = store
    ids = _experiment(st, "a")
    done = publish(st, "a")
    names = [optuna_study_name("a", s, r) for s in SPACES for r in RANKS]
    assert sorted(done.notes) == sorted(names) and sorted(done.charts) == sorted(names) and not done.skipped
    for name in names:
        note = _note(url, name)
        assert note.count(BEGIN) == 1 and note.count(END) == 1
        space, rank = name.split("/")[1], int(name.split("/r")[-1])
        assert f"This study: **{space.replace('_', chr(92) + '_')}** at r={rank}" in note
        assert "lr\\_only reached the better best accuracy in the search: 0.850 against 0.750" in note
        assert "one search seed, so no verdict is possible" in note
        for other in names:  # the spaces and all their studies
            assert f"`{other}`" in note
        assert "| **Best accuracy (eval split, selected on)** | 0.850 | 0.750 |" in note
        assert "| **Best parameters** | r=4 · α=8 (c=4) · LR=1.0e-3 · s·LR=2.0e-3 |" in note
        assert {"lorasweep-cost-0", "lorasweep-effective_step-0"} <= _charts(url, name)
        assert not any(c.startswith("lorasweep-seeds") for c in _charts(url, name))

    again = publish(st, "a")  # nothing changed: nothing written
    assert sorted(again.unchanged) == sorted(names) and not again.notes and not again.charts

    _add_seeds(st, ids)
    after = publish(st, "a")
    assert sorted(after.notes) == sorted(names)
    for name in names:
        note = _note(url, name)
        assert note.count(BEGIN) == 1 and note.count(END) == 1  # replaced, not added
        assert "one search seed, so no verdict" not in note
        assert "Re-run on 8 new seeds at rank 4: lr\\_only beat lora\\_alpha on 8 of 8 seeds at rank 4" in note
        assert "Verdict ★ lr\\_only: lr\\_only beat lora\\_alpha" in note
        assert "lorasweep-seeds-0" in _charts(url, name)
        chunks = _system_attrs(url, name)
        assert sum(k.startswith("dashboard:plot_data:lorasweep-cost-0:") for k in chunks) >= 1


def test_a_users_note_survives_every_refresh(store: tuple[str, Storage]) -> None:
    url, st = store
    ids = _experiment(st, "a", ranks=(4,))
    name = optuna_study_name("a", "lr_only", 4)
    study = optuna.load_study(study_name=name, storage=url)
    save_note(study, "# My notes\n\nlr_only looked **noisy** at r=4; check the data order.")
    publish(st, "a")
    note = _note(url, name)
    assert note.startswith("# My notes\n\nlr_only looked **noisy** at r=4; check the data order.\n\n" + BEGIN)
    # the user writes more below the block in the dashboard; the next refresh keeps it there
    save_note(study, note + "\nFollow-up: re-ran with more seeds.\n")
    _add_seeds(st, ids)
    publish(st, "a")
    note = _note(url, name)
    assert note.startswith("# My notes\n\nlr_only looked **noisy** at r=4")
    assert note.endswith(END + "\n\nFollow-up: re-ran with more seeds.\n")
    assert note.count(BEGIN) == 1 and "Re-run on 8 new seeds" in note
    other = _note(url, optuna_study_name("a", "lora_alpha", 4))
    assert "My notes" not in other and other.startswith(BEGIN)


def test_a_broken_block_is_left_alone_and_reported(store: tuple[str, Storage]) -> None:
    url, st = store
    _experiment(st, "a", ranks=(4,))
    name = optuna_study_name("a", "lr_only", 4)
    study = optuna.load_study(study_name=name, storage=url)
    save_note(study, f"mine\n\n{BEGIN}\nhalf a block, end marker deleted")
    done = publish(st, "a")
    assert name in done.skipped and "1 lorasweep begin and 0 end markers" in done.skipped[name]
    assert _note(url, name) == f"mine\n\n{BEGIN}\nhalf a block, end marker deleted"
    assert optuna_study_name("a", "lora_alpha", 4) in done.notes


def test_notes_never_go_to_another_experiments_studies(store: tuple[str, Storage]) -> None:
    url, st = store
    _experiment(st, "a", ranks=(4,))
    _experiment(st, "b", ranks=(4,))
    # a study row of "a" whose Optuna study of that name belongs to experiment "c"
    record = st.experiment("a")
    exp = load_experiment(TINY)
    st.add_study(
        record.id,
        space="lr_only",
        rank=16,
        optuna_study_name="c/lr_only/r16",
        metric="accuracy",
        direction=exp.metric.resolved_direction,
        space_config={},
    )
    foreign = optuna.create_study(storage=optuna_storage(st), study_name="c/lr_only/r16", direction="maximize")
    foreign.set_user_attr("experiment", "c")

    done = publish(st, "a")
    assert sorted(done.notes) == sorted(optuna_study_name("a", s, 4) for s in SPACES)
    assert list(done.skipped) == ["c/lr_only/r16"] and "'c', not 'a'" in done.skipped["c/lr_only/r16"]
    assert _note(url, "c/lr_only/r16") == "" and not _charts(url, "c/lr_only/r16")
    for s in SPACES:
        assert _note(url, optuna_study_name("b", s, 4)) == ""
        assert not _charts(url, optuna_study_name("b", s, 4))


def test_merge_note_replaces_only_the_block() -> None:
    block = f"{BEGIN}\nnew\n{END}"
    assert merge_note("", block) == block + "\n"
    assert merge_note("mine", block) == f"mine\n\n{block}\n"
    assert merge_note(f"above\n{BEGIN}\nold\nold\n{END}\nbelow", block) == f"above\n{block}\nbelow"


def test_report_to_dashboard_refreshes_an_existing_experiment(store: tuple[str, Storage]) -> None:
    url, st = store
    _experiment(st, "a", ranks=(4,))
    code, _, err = run_cli("report", "--storage", url, "--experiment", "a", "--to-dashboard")
    assert code == 0, err
    assert "optuna-dashboard: note written on a/lr_only/r4, a/lora_alpha/r4" in err
    assert _note(url, "a/lr_only/r4").count(BEGIN) == 1
    code, _, err = run_cli("report", "--storage", url, "--experiment", "a", "--to-dashboard")
    assert code == 0 and "already up to date a/lr_only/r4, a/lora_alpha/r4" in err
