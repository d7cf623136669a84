"""The warehouse engines the pipeline runs on: DuckDB (default), PostgreSQL and Spark.

One small interface, so that ingestion, quality gates, scoring and publishing run the same
code on every engine (docs/scale-out.md):

- `execute(sql, params)` returns a result with `fetchone()`, `fetchall()`, `df()` and
  `description` (params use `?` placeholders on every engine);
- `append_arrow(table, batches)` appends Arrow record batches to a table (DuckDB: insert from
  Arrow; PostgreSQL: COPY per batch; Spark: a DataFrame per batch written into the table);
- `create_temp(name, select)` / `drop_temp(name)`: per-session work tables;
- `begin/commit/rollback` (no-ops on Spark: Parquet tables have no transactions);
- the `dialect`, which the SQL builders (scorecard compiler, quality rules) ask for the few
  things that differ: types, identifier quoting, rounding, date arithmetic, ordered string
  aggregation.

DuckDB stays the parser of landing files on every engine (an embedded library, like a CSV
reader); only the parsed, validated rows are shipped to the engine, batch by batch.
"""
