"""Quality gates on the raw tables: Great Expectations 1.x suites derived from the contracts.

No Dagster here (the asset checks live in orchestration/defs/quality/checks.py).

How it fits together
--------------------
1. `rules.plan_rules(source)` turns a source contract plus the policy (`policy.py`) into a list of
   `Rule`s: plain data (check name, category, severity, GX expectation type and kwargs). It does
   not import Great Expectations.
2. `suites.build_suite(source)` turns those rules into a GX `ExpectationSuite`; `export_suites()` writes
   them to `expectations/suites/<source>.json` (reviewable, and a test fails when the committed
   files drift from the contracts).
3. `validate.validate_sources(warehouse_path, sources)` validates the suites INSIDE the warehouse through a GX SQL
   datasource (duckdb-engine): one datasource for all sources, every expectation compiled to
   SQL, only counts and small samples come back to Python. Row-level rules run on the rows of
   load batches not validated before (and of batches still failing with an error), staleness on
   the whole table; a source with nothing new runs no GX (`plan.py`: validation proportional to
   new data). Afterwards the GX engines are disposed (DuckDB's file lock is released), every
   result row is appended to `quality.check_results` and every batch verdict to
   `quality.validated_batches` (`results.py`); `data_docs.py` renders them offline, `review.py`
   is `healthscore dq`.

Categories: completeness, validity, uniqueness, referential_integrity, staleness.
Severities: "error" (blocks downstream work) and "warn" (recorded and shown, work goes on).
"""
