"""lorasweep's import graph, read from the source with ``ast`` (nothing is imported): no cycle
between modules, none between packages (imports under ``if TYPE_CHECKING:`` count: a type a
module needs is a dependency as much as a call is), and Ray only behind its adapter."""

from __future__ import annotations

import ast
from pathlib import Path

import lorasweep

ROOT = Path(lorasweep.__file__).parent
ADAPTER = "lorasweep.search.ray_adapter"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py")) if "migrations" not in p.parts}


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported(
    name: str, path: Path, known: set[str] | frozenset[str] = frozenset(), *, type_checking: bool = True
) -> set[str]:
    """Every module ``name`` imports, at import time, inside a function (a lazy import runs too)
    and, with ``type_checking``, under ``if TYPE_CHECKING:`` (never run, but still a dependency:
    a cycle through it is a cycle in the design). ``known``: lorasweep's modules, to tell
    ``from package import submodule`` from ``from module import name``."""
    is_package = path.name == "__init__.py"
    out: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking_only(node) and not type_checking:
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's package
                package = name.split(".") if is_package else name.split(".")[:-1]
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            # `from package import submodule` imports the submodule; `from module import name`, the module
            subs = {f"{base}.{alias.name}" for alias in node.names} & known
            out.update(subs)
            if len(subs) < len(node.names):
                out.add(base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), filename=str(path)))
    return out


def graph(*, type_checking: bool = True) -> dict[str, set[str]]:
    """Module → the lorasweep modules it imports (``TYPE_CHECKING`` imports included unless
    ``type_checking`` is False)."""
    mods = modules()
    known = set(mods)
    return {
        name: {m for m in imported(name, path, known, type_checking=type_checking) if m in mods and m != name}
        for name, path in mods.items()
    }


def package_of(module: str) -> str:
    """A module's package: ``lorasweep.X`` for everything under ``lorasweep/X/`` (subpackages
    belong to it), or the module itself for a top-level module."""
    return ".".join(module.split(".")[:2])


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return found


def _explain(component: list[str], edges: dict[str, set[str]]) -> str:
    inside = set(component)
    return "; ".join(f"{a} -> {b}" for a in component for b in sorted(edges.get(a, set()) & inside))


def test_the_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_reads_lazy_and_type_checking_imports() -> None:
    edges = graph()
    assert "lorasweep.search.runner" in edges["lorasweep.cli.run"]  # imported inside a function
    assert "lorasweep.analysis.summary" in edges["lorasweep.analysis.coverage"]  # TYPE_CHECKING only
    assert "lorasweep.analysis.summary" not in graph(type_checking=False)["lorasweep.analysis.coverage"]
    assert "lorasweep.store.schema" in edges["lorasweep.store.storage"]  # from lorasweep.store import schema


def test_a_cycle_through_type_checking_imports_is_found(tmp_path: Path) -> None:
    """The reader sees an import that only the type checker follows (the test cannot pass by
    skipping them)."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.b import B\n")
    (pkg / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import A\n")
    known = {"pkg", "pkg.a", "pkg.b"}
    edges = {n: imported(n, pkg / f"{n.split('.')[-1]}.py", known) & known for n in ("pkg.a", "pkg.b")}
    assert cycles(edges) == [["pkg.a", "pkg.b"]]
    lazy = {n: imported(n, pkg / f"{n.split('.')[-1]}.py", known, type_checking=False) & known for n in edges}
    assert cycles(lazy) == []


def test_no_import_cycle_between_modules() -> None:
    edges = graph()
    found = cycles(edges)
    assert not found, "import cycles between modules: " + " | ".join(_explain(c, edges) for c in found)


def test_no_import_cycle_between_packages() -> None:
    edges: dict[str, set[str]] = {}
    for module, targets in graph().items():
        edges.setdefault(package_of(module), set()).update(
            package_of(t) for t in targets if package_of(t) != package_of(module)
        )
    assert {"lorasweep.search", "lorasweep.train"} <= set(edges)
    found = cycles(edges)
    assert not found, "import cycles between packages: " + " | ".join(_explain(c, edges) for c in found)


def test_only_the_adapter_imports_ray() -> None:
    users = {
        name
        for name, path in modules().items()
        if any(m == "ray" or m.startswith("ray.") for m in imported(name, path))
    }
    assert users, "the adapter imports ray: the scan must see it"
    outside = sorted(u for u in users if not (u == ADAPTER or u.startswith(f"{ADAPTER}.")))
    assert not outside, f"only {ADAPTER} may import ray; also imported by {outside}"
    trials = sorted(u for u in users if u.startswith("lorasweep.train"))
    assert not trials


def test_importing_the_adapter_package_does_not_import_ray() -> None:
    """The runner, the CLI and the ablation read the adapter's keys and version check without Ray."""
    for light in ("__init__.py", "keys.py"):
        path = ROOT / "search" / "ray_adapter" / light
        assert not {m for m in imported(module_name(path), path) if m.split(".")[0] == "ray"}, light


def test_validating_a_config_imports_no_training_or_search_library() -> None:
    """The CLI validates configs without torch, transformers, peft, optuna or Ray: importing the
    config (which registers every task kind and sampler) and loading a task must not import them."""
    import subprocess
    import sys

    code = (
        "import sys; from lorasweep.config import load_experiment, load_task; load_task('negated_sentiment'); "
        "load_experiment('default'); "
        "print(sorted(m for m in ('torch', 'transformers', 'peft', 'optuna', 'ray', 'datasets') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT.parent)
    assert out.stdout.strip() == "[]", out.stderr
