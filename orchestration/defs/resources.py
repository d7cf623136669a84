"""Dagster resources shared by every domain."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.lib.settings import Settings
from orchestration.lib.warehouse import connect


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file and the landing zone it loads from.

    Connections are opened per unit of work and closed straight after, because dbt runs
    in its own process and DuckDB allows one writer per file.
    """

    warehouse_path: str
    landing_dir: str

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with connect(self.warehouse_path, read_only=read_only) as con:
            yield con

    @property
    def landing(self) -> Path:
        return Path(self.landing_dir)


def default_warehouse() -> WarehouseResource:
    settings = Settings.from_env()
    return WarehouseResource(
        warehouse_path=str(settings.warehouse_path), landing_dir=str(settings.landing_dir)
    )
