"""Checkpoints: the one format (orbax) and everything that reads or writes it.

    checkpointer.py    `Checkpointer`: save, restore, retention, damage
    loading.py         a path -> (checkpoints dir, step); a model's parameters
    hf_conversion.py   Hugging Face directories <-> checkpoints
"""
