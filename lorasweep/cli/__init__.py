"""The ``lorasweep`` command line, one module per command (the shape of lm-evaluation-harness's
``lm_eval/_cli/``):

- :mod:`~lorasweep.cli.entry`: the ``lorasweep`` group, every command registered on it, ``main``;
- :mod:`~lorasweep.cli.options`: the options the commands share and the checks of what was typed;
- :mod:`~lorasweep.cli.console`: printing, progress bars, logging and warnings setup;
- :mod:`~lorasweep.cli.run`: running a search (compare, rank-law, landscape, ablation share it);
- one module per command: ``compare``, ``rank_law``, ``landscape``, ``ablation``, ``recommend``,
  ``report``, ``export``, ``dashboard``, ``spaces``, ``tasks``, ``trial``, ``db``.
"""

from lorasweep.cli.entry import cli, main

__all__ = ["cli", "main"]
