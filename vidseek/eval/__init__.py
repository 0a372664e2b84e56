"""Evaluation harness (`vidseek eval`): run a queries file against an index and measure recall, moments, latency.

Usage::

    from vidseek.eval.queries import load_queries
    from vidseek.eval.runner import run_eval
    from vidseek.eval.report import build_report

    with vidseek.open("./data") as engine:
        run = run_eval(engine, load_queries("queries.jsonl"))
        report = build_report(run)          # metrics per route setting, misses, per-query records
"""
