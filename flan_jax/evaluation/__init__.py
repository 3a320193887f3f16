"""Evaluation: zero-shot (and few-shot) jobs over checkpoints, and their reports.

    examples.py     a task's examples, few-shot prompts, option groups
    runner.py       `ModelRunner`: fast option scoring and generation
    task_eval.py    one task on one split -> metrics, stderrs, outputs
    statistics.py   standard errors: analytic for means, bootstrap else
    job.py          `evaluate(...)`: a checkpoint x an eval mixture
    outputs.py      the job's output directory, written atomically
    aggregation.py  FLAN's task -> dataset -> cluster numbers
    reports.py      markdown tables and figures from results.json
    lm_eval_export.py  results.json in lm-evaluation-harness's layout
    lm_eval_backend.py flan_jax as an lm-evaluation-harness model
    inference.py    `infer(...)`: one task's predictions or scores as JSONL
"""
