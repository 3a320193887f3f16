"""Evaluation: zero-shot (and few-shot) jobs over checkpoints, and their reports.

    examples.py     a task's examples, few-shot prompts, option groups
    runner.py       `ModelRunner`: fast option scoring and generation
    task_eval.py    one task on one split -> metrics, per-example outputs
    job.py          `evaluate(...)`: a checkpoint x an eval mixture
    outputs.py      the job's output directory, written atomically
    aggregation.py  FLAN's task -> dataset -> cluster numbers
    reports.py      markdown tables and figures from results.json
    inference.py    `infer(...)`: one task's predictions or scores as JSONL
"""
