"""lorasweep uses Optuna and Ray through their public APIs only: a private name pins a release
(it is why lorasweep once supported a single Ray release). Read from the source with ``ast``
(nothing is imported); one case per module of the package.

A hit is:
- importing a private module or name of Optuna or Ray (``optuna.storages._rdb``,
  ``from ray._private import ...``, ``from ray.tune.search import _x``);
- a private attribute reached from an imported Optuna or Ray module or name (``optuna.storages._rdb``);
- a private attribute of an object that Optuna's or Ray's classes define (``trial._trial_id``,
  ``study._storage``), read on anything but ``self``/``cls`` or a module of another library
  (``os._exit`` is the standard library's);
- in a class that derives from an Optuna or Ray class, ``self._x`` or ``super()._x`` where the
  class does not define ``_x`` itself (an attribute it inherits: ``self._ot_trials`` of Ray's
  ``OptunaSearch``);
- ``getattr``/``setattr``/``hasattr`` with such a name.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from pathlib import Path

import pytest

import lorasweep

ROOT = Path(lorasweep.__file__).parent
THIRD_PARTY = ("optuna", "ray")
#: The parts of the packages whose classes lorasweep uses (all of Optuna; Ray Tune, Train, AIR).
SCANNED = {"optuna": ("",), "ray": ("tune", "train", "air")}


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _defined_private(tree: ast.AST) -> set[str]:
    """The private names a module defines for its classes' objects: ``self._x = ...`` and the
    methods and attributes of its class bodies."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and private(node.attr):
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                names.add(node.attr)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and private(item.name):
                    names.add(item.name)
                elif isinstance(item, ast.Assign):
                    names.update(t.id for t in item.targets if isinstance(t, ast.Name) and private(t.id))
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) and private(item.target.id):
                    names.add(item.target.id)
    return names


@functools.cache
def third_party_private() -> frozenset[str]:
    """Every private attribute name that Optuna's and Ray's classes define (as installed)."""
    names: set[str] = set()
    for package, parts in SCANNED.items():
        spec = importlib.util.find_spec(package)
        assert spec is not None and spec.origin is not None, f"{package} is not installed"
        root = Path(spec.origin).parent
        for part in parts:
            for path in (root / part).rglob("*.py"):
                try:
                    names |= _defined_private(ast.parse(path.read_bytes()))
                except SyntaxError:  # a template or a file for another Python
                    continue
    return frozenset(names)


def _root(node: ast.expr) -> ast.expr:
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node


def hits(source: str, foreign: frozenset[str] | None = None) -> list[str]:
    """``line: what`` for each use of a private Optuna or Ray name in ``source`` (see the
    module's docstring). ``foreign``: the private names of Optuna's and Ray's classes."""
    foreign = third_party_private() if foreign is None else foreign
    tree = ast.parse(source)
    found: list[str] = []
    third: set[str] = set()  # names bound to Optuna or Ray modules and objects
    other_modules: set[str] = set()  # names bound to modules of other libraries

    def hit(node: ast.AST, what: str) -> None:
        found.append(f"{node.lineno}: {what}")  # type: ignore[attr-defined]

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                if alias.name.split(".")[0] in THIRD_PARTY:
                    third.add(bound)
                    if any(private(part) for part in alias.name.split(".")):
                        hit(node, f"import {alias.name}")
                else:
                    other_modules.add(bound)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            parts = node.module.split(".")
            if parts[0] not in THIRD_PARTY:
                continue
            for alias in node.names:
                third.add(alias.asname or alias.name)
                if any(private(part) for part in [*parts, alias.name]):
                    hit(node, f"from {node.module} import {alias.name}")

    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        if not any(isinstance(r := _root(b), ast.Name) and r.id in third for b in cls.bases):
            continue
        own = _defined_private(cls)
        for node in ast.walk(cls):
            if not (isinstance(node, ast.Attribute) and private(node.attr)) or node.attr in own:
                continue
            value = node.value
            by_self = isinstance(value, ast.Name) and value.id in ("self", "cls")
            by_super = isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "super"
            if by_self or by_super:
                hit(node, f"{ast.unparse(node)} (inherited from {', '.join(map(ast.unparse, cls.bases))})")

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and private(node.attr):
            root = _root(node)
            if isinstance(root, ast.Name) and root.id in third:
                hit(node, ast.unparse(node))
            elif node.attr in foreign:
                by_self = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
                of_other_module = isinstance(root, ast.Name) and root.id in other_modules
                is_super = isinstance(node.value, ast.Call) and ast.unparse(node.value.func) == "super"
                if not (by_self or of_other_module or is_super):
                    hit(node, ast.unparse(node))
        elif isinstance(node, ast.Call) and ast.unparse(node.func) in ("getattr", "setattr", "hasattr"):
            name = node.args[1] if len(node.args) >= 2 else None
            if isinstance(name, ast.Constant) and isinstance(name.value, str) and name.value in foreign:
                hit(node, ast.unparse(node))
    return sorted(set(found), key=lambda h: (int(h.split(":")[0]), h))


def _modules() -> list[object]:
    cases = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        cases.append(pytest.param(rel, id=rel))
    return cases


@pytest.mark.parametrize("module", _modules())
def test_no_private_optuna_or_ray_name(module: str) -> None:
    found = hits((ROOT / module).read_text())
    assert not found, f"lorasweep/{module} uses private Optuna/Ray names (use their public APIs): {found}"


#: What lorasweep's adapter did before it had its own searcher (and the store's old Optuna import).
OLD = """
import optuna
from optuna.storages._rdb.models import BaseModel
from ray.tune.search.optuna import OptunaSearch
import ray._private.worker
import os

class StudySearch(OptunaSearch):
    def __init__(self) -> None:
        self._reported = {}

    def suggest(self, trial_id):
        known = {t._trial_id for t in self._ot_trials.values()}
        self._ot_study._storage.set_trial_state_values(1, optuna.trial.TrialState.FAIL)
        self._reported.clear()
        return super()._suggest(trial_id)

def fine(trial, study):
    os._exit(0)
    return getattr(study, "_storage"), optuna.storages._rdb, trial.number
"""


def test_the_check_finds_the_private_names_the_old_adapter_used() -> None:
    found = hits(OLD)
    assert [h.split(": ", 1)[1] for h in found] == [
        "from optuna.storages._rdb.models import BaseModel",
        "import ray._private.worker",
        "self._ot_trials (inherited from OptunaSearch)",
        "t._trial_id",
        "self._ot_study (inherited from OptunaSearch)",
        "self._ot_study._storage",
        "super()._suggest (inherited from OptunaSearch)",
        "getattr(study, '_storage')",
        "optuna.storages._rdb",
    ], found
