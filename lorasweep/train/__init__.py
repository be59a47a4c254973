"""One trial: model + PEFT LoRA, training loop, evaluation. No Ray in here: the Tune function
around it is :mod:`lorasweep.search.ray_adapter.trainable`."""
