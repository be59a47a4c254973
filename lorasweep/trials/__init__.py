"""One trial: model + PEFT LoRA, training loop, evaluation; and its Ray adapter."""
