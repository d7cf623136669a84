"""A throwaway PostgreSQL 15 server on 127.0.0.1 (tests and `make bench --engine postgres`)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PG_BIN = Path(os.environ.get("HEALTHSCORE_PG_BIN", "/usr/lib/postgresql/15/bin"))


@dataclass
class PostgresServer:
    host: str
    port: int
    user: str
    dbname: str

    @property
    def dsn(self) -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={self.dbname}"


def available() -> str | None:
    """None when a server can be started here, else the reason it cannot."""
    if not (PG_BIN / "initdb").exists():
        return f"PostgreSQL server binaries not found in {PG_BIN} (apt-get install postgresql-15)"
    if os.geteuid() == 0 and shutil.which("su") is None:
        return "running as root without `su` to drop to the postgres user"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    # initdb refuses root: run the server as the postgres user, in a folder it owns.
    base = Path(tempfile.mkdtemp(prefix="healthscore-pg-"))
    data = base / "data"
    as_root = os.geteuid() == 0
    user = "postgres" if as_root else os.environ.get("USER", "postgres")

    def run(cmd: str) -> None:
        full = ["su", "postgres", "-c", cmd] if as_root else ["bash", "-c", cmd]
        subprocess.run(full, check=True, capture_output=True, text=True)

    if as_root:
        shutil.chown(base, "postgres", "postgres")
        os.chmod(base, 0o700)
    port = _free_port()
    run(f"{PG_BIN}/initdb -D {data} -U {user} --auth=trust -E UTF8 >/dev/null")
    run(
        f"{PG_BIN}/pg_ctl -D {data} -l {base}/server.log -w -t 30 "
        f"-o '-h 127.0.0.1 -p {port} -k {base} -c fsync=off' start >/dev/null"
    )
    try:
        deadline = time.time() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        yield PostgresServer(host="127.0.0.1", port=port, user=user, dbname="postgres")
    finally:
        run(f"{PG_BIN}/pg_ctl -D {data} -m fast -w stop >/dev/null")
        shutil.rmtree(base, ignore_errors=True)
