"""The α-rule seam: how a search space sets LoRA's α at each rank.

A rule is a pydantic model with ``rule: Literal["NAME"]`` and its own fields, subclassing
:class:`AlphaRuleBase` and decorated with :func:`alpha_rule`. It defines :meth:`~AlphaRuleBase.alpha`
(α at a rank for a sampled point) and, when it samples a parameter, the class variables ``param``
(the parameter's name in trial params) and ``field`` (the field that holds a number, a range or
``matched``) and :meth:`~AlphaRuleBase.param_of` (the inverse). Everything else a caller needs
is a method of the rule, so no caller switches on rule classes:

- :meth:`~AlphaRuleBase.describe` — what the report's "Searches" row says;
- :meth:`~AlphaRuleBase.distributions` — its Optuna distributions;
- :meth:`~AlphaRuleBase.apply` — its fields of the trial's :class:`~lorasweep.scaling.LoraParams`;
- :meth:`~AlphaRuleBase.matched` — its range matched to the experiment's effective step at a rank.

The store keeps a study's space (the rule included) as its JSON dump, so a new rule needs no
schema change. ``tests/contract/test_alpha_rules.py`` runs every registered rule through all of
the above and a round trip through the store. The base and the built-in rules are defined in
:mod:`lorasweep.config.alpha` (spaces are data the config validates); a new rule can live in a
module of its own.
"""

from lorasweep.config.alpha import ALPHA_RULES, AlphaRule, AlphaRuleBase, alpha_rule, rule_classes

__all__ = ["ALPHA_RULES", "AlphaRule", "AlphaRuleBase", "alpha_rule", "rule_classes"]
