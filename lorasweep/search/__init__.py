"""Search: spaces as data, Optuna samplers, Tune schedulers, and the compare runner."""
