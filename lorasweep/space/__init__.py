"""Search spaces resolved for a study: a space's fields turned into concrete per-rank ranges (matched
fields derived from the experiment's s·LR range), Optuna distributions, and the LoRA parameters of a
sampled point. The formulas themselves (s = α/r or α/√r, s·LR) live in :mod:`lorasweep.scaling`;
the built-in space YAMLs in ``space/builtin/``."""
