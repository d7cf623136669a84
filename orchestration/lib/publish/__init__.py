"""Publish the warehouse for readers that must never block (or be blocked by) the pipeline.

DuckDB allows one writer process per file and a reader of the live file takes its lock, so BI
clients read copies instead:

- a read-only DuckDB snapshot, `data/published/healthscore_published.duckdb`, written to a temp
  file in one read transaction of the live warehouse and then renamed over the old one
  (`os.replace`: a reader opens either the old complete file or the new complete file). The temp
  file starts as a copy of the previous snapshot, and only the rows of score versions it does
  not have yet are added (restated dates replaced, small tables replaced whole); without a
  previous snapshot of the same tables and columns, every table is copied;
- Parquet exported from that snapshot: one file per small table, `<schema>.<table>.parquet`, and
  for the history tables a folder with one file per score version or per as_of_date, written
  when new (or restated); every file is written to a temp name and renamed;
- optionally the same tables in PostgreSQL (`export_postgres`), replaced in one transaction.
"""
