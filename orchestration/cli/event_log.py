"""Dagster's run history, written through one open connection per SQLite file during a run.

Why: Dagster's default SQLite event log opens a new SQLAlchemy engine and connection for every
event and closes it again (`SqliteEventLogStorage._connect`, NullPool). Closing the last
connection to a database in WAL mode checkpoints the WAL into the main file and deletes it, so
each of the ~1,300 events of a demo run (a materialization, an asset check, a log line per dbt
node) paid an engine, a commit with an fsync, a checkpoint and a file deletion: about 40 ms each
on this machine under load, a quarter of a small run (docs/benchmarks.md, "Fixed costs of a small
run"). Kept open, a commit appends to the WAL only.

What stays the same: the same tables, rows and files (any Dagster process, `make dev`'s UI
included, reads them as before, during the run too: WAL readers do not block); Dagster's own lock
still serialises the writes. `synchronous=NORMAL` on these connections (WAL mode only): a commit
is durable against a crash of the process, and the last commits before a power loss may be lost
(the file stays consistent). The run history is a record of runs, not the scores (those are in
the warehouse, written in its own transactions).

Also while inside: whether a table exists is asked once (Dagster asks before every asset check
event), and dbt's DEBUG lines (a node started, a test passed) go to the run's log file only, not
into the run history (`_kept_in_history`).

Only `healthscore run` uses it, around its one in-process run; other Dagster processes (the UI,
the daemon) keep Dagster's default. Any other storage (PostgreSQL, a subclass) is left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def pooled_sqlite_event_log(instance: Any) -> Iterator[bool]:
    """While inside, `instance`'s SQLite event log keeps one connection per shard open.

    Yields whether it applied (False for another storage class). The engines are disposed on
    exit, which checkpoints the WAL as Dagster's own close would have."""
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    storage = instance.event_log_storage
    if type(storage) is not SqliteEventLogStorage or "_connect" in vars(storage):
        yield False
        return
    from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
    from sqlalchemy import create_engine, event

    engines: dict[str, Any] = {}

    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        (mode,) = dbapi_connection.execute("pragma journal_mode").fetchone()
        if str(mode).lower() == "wal":
            dbapi_connection.execute("pragma synchronous=NORMAL")

    @contextmanager
    def _connect(shard: str) -> Iterator[Any]:
        # As SqliteEventLogStorage._connect, but the engine (and its pooled connection) is kept.
        with storage._db_lock:
            engine = engines.get(shard)
            if engine is None:
                engine = create_engine(
                    storage.conn_string_for_shard(shard),
                    # Dagster's lock serialises the use; the connection may move between threads.
                    connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
                    pool_size=1,
                )
                event.listen(engine, "connect", _on_connect)
                engines[shard] = engine
            if shard not in storage._initialized_dbs:
                storage._initdb(engine)
                storage._initialized_dbs.add(shard)
                # A new file was not in WAL mode yet when the pooled connection opened: reopen.
                engine.dispose()
            with engine.connect() as conn, conn.begin():
                yield conn

    existing: set[str] = set()
    has_table = storage.has_table

    def _has_table(table_name: str) -> bool:
        # Dagster asks before every asset check event and every event's tags whether a table
        # exists, each time through a new engine and connection (about 6 ms): a table that exists
        # keeps existing, so the answer is remembered (a missing one is asked again).
        if table_name not in existing and has_table(table_name):
            existing.add(table_name)
        return table_name in existing

    make_handler = instance.get_event_log_handler

    def _event_log_handler() -> Any:
        handler = make_handler()
        handler.addFilter(_kept_in_history)
        return handler

    storage._connect = _connect  # shadows the class's method on this object only
    storage.has_table = _has_table
    instance.get_event_log_handler = _event_log_handler
    try:
        yield True
    finally:
        del storage._connect
        del storage.has_table
        del instance.get_event_log_handler
        for engine in engines.values():
            engine.dispose()


def _kept_in_history(record: logging.LogRecord) -> bool:
    """dbt's line per node started and test passed (DEBUG, about 330 of a daily run's 1,200
    events): written to the run's log file by `healthscore run`'s logger, not stored as events.
    Every model's materialization and every test's check result stays an event; dbt's warnings,
    errors and model lines (INFO) too."""
    meta = getattr(record, "dagster_meta", None) or {}
    if record.levelno >= logging.INFO or meta.get("dagster_event") is not None:
        return True
    return not str(meta.get("orig_message") or record.getMessage()).startswith("dbt: ")
