"""Publishing for readers: snapshot, Parquet, PostgreSQL export, health report, Data Docs."""
