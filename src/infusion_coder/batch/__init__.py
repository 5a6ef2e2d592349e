"""Batch runs over files (`infusion-coder batch`, run.py) and their DuckDB report (`report`, report.py)."""
