"""Parallelism shared by training and evaluation.

    partitioning.py  device mesh, logical axis rules, global arrays
    distributed.py   multi-host start-up on JAX's own runtime
"""
