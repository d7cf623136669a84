"""Dagster resources shared by every domain."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from orchestration.lib.engines.base import Engine
from orchestration.lib.engines.factory import engine_name, open_engine
from orchestration.lib.settings import Settings


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse (DuckDB file by default, or PostgreSQL / Spark) and the landing zone it loads from.

    `engine`: duckdb, postgres or spark; empty: $HEALTHSCORE_ENGINE (default duckdb). PostgreSQL
    and Spark read their settings from the environment (docs/scale-out.md); `warehouse_path` is
    the DuckDB file. Connections are opened per unit of work and closed straight after, because
    dbt runs in its own process and DuckDB allows one writer per file.
    """

    warehouse_path: str
    landing_dir: str
    engine: str = ""

    @property
    def engine_kind(self) -> str:
        return self.engine or engine_name()

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[Engine]:
        """An Engine (orchestration/lib/engines/); on DuckDB it also answers every method of
        the DuckDB connection it wraps."""
        with open_engine(self.engine_kind, duckdb_path=self.warehouse_path, read_only=read_only) as con:
            yield con

    @property
    def landing(self) -> Path:
        return Path(self.landing_dir)


def default_warehouse() -> WarehouseResource:
    settings = Settings.from_env()
    return WarehouseResource(
        warehouse_path=str(settings.warehouse_path), landing_dir=str(settings.landing_dir)
    )
