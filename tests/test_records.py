"""Every record in the package is built by keyword: ``Interval(mean=…, lo=…)``, never
``Interval(mean, None, None, n, …)``. Read from the source (no import), so it covers every module."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lorasweep"


def dataclass_decorators(tree: ast.AST) -> list[tuple[str, ast.expr]]:
    """(class name, decorator) for every ``@dataclass`` / ``@dataclass(...)`` in ``tree``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for d in node.decorator_list:
                target = d.func if isinstance(d, ast.Call) else d
                name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
                if name == "dataclass":
                    found.append((node.name, d))
    return found


def is_kw_only(decorator: ast.expr) -> bool:
    return isinstance(decorator, ast.Call) and any(
        k.arg == "kw_only" and isinstance(k.value, ast.Constant) and k.value.value is True for k in decorator.keywords
    )


def test_the_check_sees_a_positional_record() -> None:
    tree = ast.parse("from dataclasses import dataclass\n@dataclass(frozen=True)\nclass A:\n    x: int\n")
    [(name, d)] = dataclass_decorators(tree)
    assert name == "A" and not is_kw_only(d)
    [(_, d)] = dataclass_decorators(ast.parse("@dataclasses.dataclass(kw_only=True)\nclass B:\n    x: int\n"))
    assert is_kw_only(d)


def test_every_record_is_keyword_only() -> None:
    positional = [
        f"{path.relative_to(PACKAGE.parent)}:{d.lineno} {name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for name, d in dataclass_decorators(ast.parse(path.read_text(encoding="utf-8")))
        if not is_kw_only(d)
    ]
    assert positional == [], "add kw_only=True to: " + ", ".join(positional)


def test_a_record_refuses_positional_fields() -> None:
    from lorasweep.analysis.stats import Interval

    with pytest.raises(TypeError):
        Interval(1.0, None, None, 3, None, 0.95, "t")  # type: ignore[misc]
