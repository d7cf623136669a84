"""The product code with no Dagster in it, one sub-package per domain, in the order of the flow:

    landing -> raw -> staging -> features -> scores -> published

    contracts/  the one definition of every landing source (columns, types, keys, known_at)
    engines/    DuckDB, PostgreSQL, Spark behind one interface, and the SQL dialect layer
    ingest/     landing -> raw: discover files, apply source mappings, cast, quarantine, append
    quality/    gates on raw: policy -> rules -> GX suites -> batch plan -> validate -> results
    (dbt)       raw -> staging -> intermediate -> features (dbt_project/, point in time)
    sentiment/  free text -> sentiment scores (a feature input)
    scoring/    features -> scores: scorecard (YAML) -> compiled SQL -> scoring runs
    publish/    scores -> published: read-only snapshot, Parquet, PostgreSQL
    reporting/  surfaces over the published scores: HTML report, SVG charts, alerts
    backtest/   scorecards against what happened afterwards
    demo/       a synthetic landing zone to run all of it on

Dagster wires these into assets in orchestration/defs/; the command line is orchestration/cli/.
"""
