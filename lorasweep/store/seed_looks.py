"""The seed counts at which an experiment's seed verdict was shown (``compare --seeds``): kept in
the experiment's stored config (``seeds.looks``), so that a verdict read later — after seeds were
added by ``--seeds auto`` or by hand with ``--resume --seeds N`` — charges every earlier look to
its error rate (:mod:`lorasweep.analysis.sign_test`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from lorasweep.store.schema import Experiment


def record_seed_look(engine: Any, experiment_id: int, n: int) -> list[int]:
    """Add a look at ``n`` seeds to the experiment's ``seeds.looks`` (and make ``seeds.n`` the
    seeds run so far, so that a plain ``--resume`` re-runs the same ones); the looks, sorted."""
    with Session(engine) as s, s.begin():
        row = s.get_one(Experiment, experiment_id)
        config = dict(row.config)
        seeds = dict(config.get("seeds") or {})
        looks = sorted({*(int(k) for k in seeds.get("looks", [])), int(n)})
        seeds["looks"] = looks
        seeds["n"] = max(int(seeds.get("n", 0)), int(n))
        config["seeds"] = seeds
        row.config = config  # a new dict: the JSON column sees the change
        return looks
