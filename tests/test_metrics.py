"""Metrics, directions and the registry they share with task kinds and samplers."""

from __future__ import annotations

import pytest
from test_imports import graph

from lorasweep.metrics import METRICS, Direction, define_metric, metric
from lorasweep.registry import Registry, UnknownNameError


def test_sorted_puts_the_best_first_and_keeps_ties_in_order() -> None:
    items = [("a", 0.5), ("b", 0.9), ("c", 0.5), ("d", 0.1)]
    assert [k for k, _ in Direction.MAXIMIZE.sorted(items, key=lambda i: i[1])] == ["b", "a", "c", "d"]
    assert [k for k, _ in Direction.MINIMIZE.sorted(items, key=lambda i: i[1])] == ["d", "a", "c", "b"]
    assert sorted([0.5, 0.9, 0.1], key=Direction.MAXIMIZE.sort_key) == [0.9, 0.5, 0.1]


def test_best_and_worst() -> None:
    assert (Direction.MAXIMIZE.best([1, 3, 2]), Direction.MAXIMIZE.worst([1, 3, 2])) == (3, 1)
    assert (Direction.MINIMIZE.best([1, 3, 2]), Direction.MINIMIZE.worst([1, 3, 2])) == (1, 3)
    assert Direction.MINIMIZE.worst([]) is None


def test_a_metric_name_keeps_one_direction() -> None:
    assert metric("accuracy").direction is Direction.MAXIMIZE and metric("eval_loss").direction is Direction.MINIMIZE
    assert define_metric("accuracy", Direction.MAXIMIZE) is metric("accuracy")
    with pytest.raises(ValueError, match="already registered to maximize; a metric that is to minimize needs another"):
        define_metric("accuracy", Direction.MINIMIZE)
    with pytest.raises(UnknownNameError, match="unknown metric 'bleu'; valid metrics: accuracy, eval_loss"):
        metric("bleu")
    assert "bleu" not in METRICS


def test_a_registry_lists_its_names_when_one_is_unknown() -> None:
    reg: Registry[int] = Registry("widget")
    reg.add("b")(2)
    reg.register("a", 1)
    assert reg.get("a") == 1 and reg.names() == ["a", "b"] and list(reg) == ["a", "b"] and "a" in reg
    assert reg.register("a", 1) == 1  # the same unit again: a no-op
    with pytest.raises(ValueError, match="widget 'a' is already registered"):
        reg.register("a", 3)
    with pytest.raises(UnknownNameError, match="unknown widget 'c'; valid widgets: a, b"):
        reg.get("c")
    with pytest.raises(ValueError, match="must be a Python identifier"):
        reg.register("a-b", 4)
    reg.remove("a")
    assert reg.names() == ["b"]


def test_the_store_and_the_metrics_do_not_import_the_config() -> None:
    edges = graph()
    for module, targets in edges.items():
        if module.startswith("lorasweep.store") or module in ("lorasweep.metrics", "lorasweep.registry"):
            assert not {t for t in targets if t.startswith("lorasweep.config")}, module
