"""The throwaway PostgreSQL server lives in orchestration.lib.pg_server (the benchmark uses it too)."""

from orchestration.lib.pg_server import PG_BIN, PostgresServer, available, postgres_server

__all__ = ["PG_BIN", "PostgresServer", "available", "postgres_server"]
