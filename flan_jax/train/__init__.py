"""Training: the loop, its state and step, optimizers, MFU and memory planning.

    trainer.py      `train(...)`: seqio batches -> jit step -> checkpoints
    train_state.py  the state, its shardings, the (microbatched) step
    optimizers.py   Adafactor with factoring by logical axes, AdamW, schedules
    mfu.py          peak FLOP/s per device, model FLOPs utilisation
    planning.py     memory per device of a step, from shapes alone
"""
