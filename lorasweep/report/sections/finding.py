"""The opening sentences: which space reached the better value, by how much, with what evidence
(one search seed, or the seed re-runs' verdict: how often one space beat the other on a new
seed) and at what search cost.

Honest by construction: from one search seed they say no verdict is possible and how to get one;
with re-runs they name only the winner the seed verdict names (:mod:`lorasweep.analysis.finding`).
"""

from __future__ import annotations

from typing import Any

from lorasweep import formatting as fmt
from lorasweep.analysis.finding import Evidence, Finding, finding
from lorasweep.analysis.seeds import MIN_VERDICT_SEEDS, SeedComparison
from lorasweep.analysis.sign_test import MAX_UNITS
from lorasweep.analysis.summary import ExperimentSummary
from lorasweep.commands import resume_command
from lorasweep.config import Direction
from lorasweep.report.sections import Section, register
from lorasweep.search.ablation import Arm

#: Keeps "95 %" on one line when a terminal wraps the sentence.
NBSP = "\u00a0"
#: What the opening sentence suggests for a verdict: seeds added at the verdict's planned looks.
SUGGESTED_SEEDS = "auto"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _cost(f: Finding) -> str:
    """``with searches of 4 trials each costing 108.1 (lr_only) and 97.3 (lora_alpha) device-seconds``."""
    spaces = f.spaces
    if len(spaces) == 1:
        return (
            f"in a search of {spaces[0].n_trials} trials costing {fmt.seconds(spaces[0].device_seconds)} device-seconds"
        )
    counts = {s.n_trials for s in spaces}
    n = f"{spaces[0].n_trials} trials each" if len(counts) == 1 else f"{_and([str(s.n_trials) for s in spaces])} trials"
    cost = _and([f"{fmt.seconds(s.device_seconds)} ({s.name})" for s in spaces])
    return f"with searches of {n} costing {cost} device-seconds"


def _search_sentence(f: Finding) -> str:
    q, word = fmt.metric(f.metric), fmt.metric_word(f.metric)
    values = {s.name: s.best_value for s in f.spaces}
    none = [s.name for s in f.spaces if s.best_value is None]
    missing = f"; {_and(none)} completed no trial" if none else ""
    if f.evidence is Evidence.ONE_SPACE:
        s = f.spaces[0]
        return f"{s.name} reached a best {word} of {q.fmt(s.best_value)}, {_cost(f)}."
    if f.tied is not None:
        return f"{_and(f.tied)} reached the same best {word}, {q.fmt(values[f.tied[0]])}, {_cost(f)}{missing}."
    assert f.leader is not None
    if f.runner_up is None:
        return f"Only {f.leader} completed a trial: best {word} {q.fmt(values[f.leader])}, {_cost(f)}{missing}."
    way = "higher" if f.direction is Direction.MAXIMIZE else "lower"
    others = [n for n in values if n not in (f.leader, f.runner_up) and values[n] is not None]
    rest = "".join(f", {q.fmt(values[n])} for {n}" for n in others)
    return (
        f"{f.leader} reached the better best {word} in the search: {q.fmt(values[f.leader])} against "
        f"{q.fmt(values[f.runner_up])} for {f.runner_up}{rest} ({q.fmt(f.margin)} {way}), {_cost(f)}{missing}."
    )


def _repeat_sentence(f: Finding) -> str:
    """``Over 8 repeated searches of 8 trials per space, the best eval accuracy a search found had
    a median of 0.953 for lora_alpha and 0.941 for lr_only; <the repeat verdict>; <target race>.``"""
    from lorasweep.report.sections.repeats import median_iqr

    rc = f.repeats
    assert rc is not None
    q, word = fmt.metric(f.metric), fmt.metric_word(f.metric)
    medians = _and([f"{median_iqr([x.value for x in rc.of(s)], q, f.direction)} for {s}" for s in rc.spaces])
    ranks = f" at each of ranks {', '.join(map(str, rc.ranks))}" if len(rc.ranks) > 1 else ""
    out = (
        f"Over {rc.repeats} repeated searches of {rc.trials_per_search} trials per space{ranks} (repeat i of every "
        f"space with the same sampler seed; {fmt.seconds(rc.device_seconds)} device-seconds in all), the best "
        f"{word} a search found (eval, the split it selected on) had a median of {medians}"
    )
    if rc.verdict is not None:
        out += f"; repeat verdict: {rc.verdict.text}"
    races = [race.sentence() for race in rc.race.values()]
    if rc.target is not None and races:
        out += f"; to {word} {q.fmt(rc.target)}, {'; '.join(races)}"
    return out + "."


def _evidence_sentence(summary: ExperimentSummary, f: Finding) -> str | None:
    if f.evidence is Evidence.ONE_SEARCH_SEED and f.repeats is not None:
        return None  # the repeats speak for the search; seed re-runs would add the seed-level verdict
    if f.evidence is Evidence.ONE_SEARCH_SEED:
        name = summary.experiment.name
        return (
            "That is one search seed, so no verdict is possible: each best mixes the method with that seed's luck. "
            "To get one, re-run each space's best configs on new seeds with "
            f"lorasweep compare --seeds {SUGGESTED_SEEDS} "
            f"(for this experiment: {resume_command(name, then=f'--seeds {SUGGESTED_SEEDS}')}; "
            f"a verdict needs at least {MIN_VERDICT_SEEDS} seeds, auto adds them in batches up to {MAX_UNITS})."
        )
    if f.seeds is None:
        return None
    return f"{_seed_head(f.seeds)}: {f.seeds.verdict}."


def _seed_head(seeds: SeedComparison) -> str:
    """``Re-run on 10 new seeds (seeds 1–10) at rank 8`` — what the seed verdict below is about."""
    if seeds.paired is None or seeds.paired.test is None:
        return "Seed re-runs"
    n = seeds.n_seeds
    ranks = list(seeds.paired.strata)
    at = f" at rank {ranks[0]}" if len(ranks) == 1 else f" at each of ranks {', '.join(map(str, ranks))}"
    return f"Re-run on {n} new seed{'s' * (n != 1)}{at}"


def _ablation_sentence(f: Finding) -> str:
    abl = f.ablation
    assert abl is not None
    parts = []
    for arm in Arm:
        name = "α × k" if arm is Arm.ALPHA else "LR × k"
        points = abl.arms.get(arm, [])
        if not points:
            continue
        stable = abl.largest_stable_k(arm)
        diverged = next((p.k for p in points if p.diverged), None)
        if stable is None:
            parts.append(f"{name} diverged from its first k ({diverged:g})")
        elif diverged is None:
            parts.append(f"{name} stayed stable up to k={stable:g}, the largest tried")
        else:
            parts.append(f"{name} stayed stable up to k={stable:g} and diverged at k={diverged:g}")
    return (
        f"Matched-step ablation from r={abl.rank}, α={fmt.ALPHA.fmt(abl.alpha)}, LR={fmt.LR.fmt(abl.lr)} "
        f"(same seed, data and steps): {'; '.join(parts) or 'no point ran'}."
    )


def sentences(summary: ExperimentSummary, f: Finding) -> list[str]:
    """The report's first sentences."""
    if f.evidence is Evidence.ABLATION:
        return [_ablation_sentence(f)]
    if f.evidence is Evidence.NONE:
        word = fmt.metric_word(f.metric)
        return [
            f"No space completed a trial, so there is no best {word} to compare; "
            "the table counts the pruned, diverged and failed trials."
        ]
    out = [_repeat_sentence(f)] if f.repeats is not None else [_search_sentence(f)]
    if (evidence := _evidence_sentence(summary, f)) is not None:
        out.append(evidence if f.repeats is None else f"Seed level (repeat 0's bests re-run): {evidence}")
    return out


@register
class FindingSection(Section[Finding]):
    name = "finding"
    title = "Finding"
    order = 0

    def compute(self, summary: ExperimentSummary) -> Finding | None:
        return finding(summary)

    def json(self, summary: ExperimentSummary, data: Finding) -> dict[str, Any]:
        text = sentences(summary, data)
        return {"finding": {"text": " ".join(text), "sentences": text, **data.as_dict()}}

    def text(self, summary: ExperimentSummary, data: Finding) -> list[str]:
        return sentences(summary, data)
