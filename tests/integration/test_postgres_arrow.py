"""PostgreSQL results reach DuckDB (the BI snapshot) as Arrow through COPY: types, NULL vs empty
string, quotes, commas and line breaks in text, and an empty result keep their meaning."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.support import pg_server as pg

pytestmark = pytest.mark.skipif(pg.available() is not None, reason=str(pg.available()))


def test_arrow_batches_round_trip_every_type():
    import psycopg2
    import pyarrow as pa

    from orchestration.lib.engines.postgres import PostgresEngine

    with pg.postgres_server() as server:
        con = psycopg2.connect(server.dsn)
        con.autocommit = True
        try:
            engine = PostgresEngine(con, server.dsn)
            engine.execute(
                """create table t as select * from (values
                (1::bigint, 2::int, 1.5::float8, 2.25::numeric(10,2), 'a,b "q"'::text, ''::text,
                 date '2026-01-02', timestamp '2026-01-02 03:04:05.123456', true, 0.5::real),
                (2, null, null, null, E'line\\nbreak', null, null, null, null, null),
                (3, 4, 1e-300, 0, null, 'x', date '2026-12-31', timestamp '2026-12-31 23:59:59', false, 3.25)
                ) v(a, b, c, d, e, f, g, h, i, j)"""
            )
            table = pa.Table.from_batches(list(engine.arrow_batches("select * from t order by a")))
            assert [str(t) for t in table.schema.types] == [
                "int64", "int32", "double", "double", "string", "string",
                "date32[day]", "timestamp[us]", "bool", "float",
            ]  # fmt: skip
            assert table.to_pylist() == [
                {"a": 1, "b": 2, "c": 1.5, "d": 2.25, "e": 'a,b "q"', "f": "",
                 "g": dt.date(2026, 1, 2), "h": dt.datetime(2026, 1, 2, 3, 4, 5, 123456), "i": True, "j": 0.5},
                {"a": 2, "b": None, "c": None, "d": None, "e": "line\nbreak", "f": None,
                 "g": None, "h": None, "i": None, "j": None},
                {"a": 3, "b": 4, "c": 1e-300, "d": 0.0, "e": None, "f": "x",
                 "g": dt.date(2026, 12, 31), "h": dt.datetime(2026, 12, 31, 23, 59, 59), "i": False, "j": 3.25},
            ]  # fmt: skip
            empty = list(engine.arrow_batches("select * from t where false"))
            assert sum(b.num_rows for b in empty) == 0 and empty[0].schema == table.schema
        finally:
            con.close()
