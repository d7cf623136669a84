"""The embedded warehouse: short-lived DuckDB connections.

DuckDB allows one writer process per file, and dbt runs in its own process, so
every connection here is opened for one unit of work and closed straight after.

A reader that opens the live file (a BI tool, a notebook, the duckdb CLI) takes its lock. Every
connection of the pipeline (ours, GX's through SQLAlchemy, dbt's after `wait_for_warehouse`)
then waits and retries with backoff for up to HEALTHSCORE_LOCK_WAIT_SECONDS (default 60), and
fails with WarehouseLockedError naming the holder (PID and command line) and the fix: readers
use the published snapshot, never the live file (docs/reliability.md).
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import duckdb

# DuckDB takes 80 % of RAM by default; the pipeline caps it so the whole process tree stays
# within a predictable budget (DuckDB spills sorts, joins and aggregates to <warehouse>.tmp/).
MEMORY_LIMIT_ENV = "HEALTHSCORE_DUCKDB_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "4GB"


def memory_limit() -> str:
    return os.environ.get(MEMORY_LIMIT_ENV, DEFAULT_MEMORY_LIMIT)


def warehouse_settings() -> list[str]:
    """What every connection to the warehouse runs first (ours, GX's through SQLAlchemy).

    SETs, not a connect() config: other connections of this process to the same file (GX's,
    dbt's) must not differ in configuration.
    """
    return [
        # Only built-in extensions exist offline; never try to download one.
        "set autoinstall_known_extensions = false",
        "set autoload_known_extensions = false",
        f"set memory_limit = '{memory_limit()}'",
    ]


LOCK_WAIT_ENV = "HEALTHSCORE_LOCK_WAIT_SECONDS"
DEFAULT_LOCK_WAIT_SECONDS = 60.0
_T = TypeVar("_T")
# After one full wait for a file has failed, the next steps of the same run fail at once instead of
# each waiting again (ten ingest steps would otherwise take ten waits to fail).
_GAVE_UP: dict[str, float] = {}
_GAVE_UP_MEMORY_SECONDS = 300.0


class WarehouseLockedError(RuntimeError):
    """Another process held the warehouse file's lock for longer than the pipeline waits."""


def is_lock_error(exc: BaseException) -> bool:
    text = str(exc)
    return "Could not set lock on file" in text or "Conflicting lock is held" in text


def lock_holder(exc: BaseException) -> str:
    """'PID 4242 (python3 poll_bi.py)': the holder DuckDB names, with its command line."""
    match = re.search(r"Conflicting lock is held in (.+?) \(PID (\d+)\)", str(exc))
    if not match:
        return "another process"
    program, pid = match.groups()
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        cmdline = ""
    return f"PID {pid} ({' '.join((cmdline or program).split())[:200]})"


def lock_wait_seconds() -> float:
    value = os.environ.get(LOCK_WAIT_ENV, "").strip()
    try:
        return float(value) if value else DEFAULT_LOCK_WAIT_SECONDS
    except ValueError:
        raise ValueError(f"{LOCK_WAIT_ENV}={value!r} is not a number of seconds") from None


def _published_snapshot_hint() -> str:
    try:
        from orchestration.lib.publish.tables import SNAPSHOT_NAME, published_dir

        return str(published_dir() / SNAPSHOT_NAME)
    except Exception:  # noqa: BLE001 - only a hint in an error message
        return "data/published/healthscore_published.duckdb"


def retry_while_locked(
    open_fn: Callable[[], _T],
    path: Path | str,
    *,
    wait_seconds: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] | None = None,
) -> _T:
    """`open_fn()`, retried with backoff (0.2 s doubling to 5 s) while another process holds the
    DuckDB file's lock, for up to `wait_seconds` (default HEALTHSCORE_LOCK_WAIT_SECONDS); then
    WarehouseLockedError naming the holder and the fix. Any other error is raised at once."""
    wait = lock_wait_seconds() if wait_seconds is None else wait_seconds
    if time.monotonic() - _GAVE_UP.get(str(path), -1e9) < _GAVE_UP_MEMORY_SECONDS:
        wait = 0.0  # this process waited its full time for the file just now: fail fast, once named
    deadline, delay, attempt = time.monotonic() + wait, 0.2, 0
    while True:
        attempt += 1
        try:
            return open_fn()
        except duckdb.Error as exc:
            if not is_lock_error(exc):
                raise
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                _GAVE_UP[str(path)] = time.monotonic()
                raise WarehouseLockedError(
                    f"the warehouse {path} is locked by {lock_holder(exc)}, still after waiting {wait:g} s "
                    f"({attempt} attempts). A reader of the live file blocks the pipeline: readers (BI tools, "
                    f"notebooks, the duckdb CLI) must open the published snapshot "
                    f"{_published_snapshot_hint()} or its Parquet files instead. Close that reader and run "
                    f"again (or wait longer: {LOCK_WAIT_ENV})."
                ) from exc
            if attempt == 1 and log is not None:
                log(f"the warehouse {path} is locked by {lock_holder(exc)}: waiting up to {wait:g} s")
            sleep(min(delay, remaining))
            delay = min(delay * 2, 5.0)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)  # the CLI's output, and the step's compute log


def wait_for_warehouse(path: Path | str, **kwargs) -> None:
    """Block until this process could open the warehouse for writing (then let go of it): before
    handing the file to a client that opens it without retrying (dbt)."""
    path = Path(path)
    if path.exists():
        retry_while_locked(lambda: duckdb.connect(str(path)).close(), path, **kwargs)


@contextmanager
def connect(path: Path | str, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection for one unit of work; waits while a reader holds the file (see above)."""
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    con = retry_while_locked(lambda: duckdb.connect(str(path), read_only=read_only), path, log=_say)
    try:
        for statement in warehouse_settings():
            con.execute(statement)
        yield con
    finally:
        con.close()
