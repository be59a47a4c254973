"""Hooks for training libraries users already have. Each module imports its library when it is
imported itself (``import lorasweep`` imports none of them):

- :mod:`lorasweep.integrations.transformers`: :class:`~lorasweep.integrations.transformers.LorasweepCallback`,
  a ``transformers.TrainerCallback`` for HF ``Trainer`` and TRL's trainers (``SFTTrainer``, ...).
"""
