"""The health report: content from a small hand-made warehouse, rendered in headless Chromium.

The rendering test proves what a reader sees (the at-risk account ids, the grade counts, the
failed checks) in a real browser with every network access routed to a local proxy that records
the requested hosts. Chromium calls its own Google services even for an empty page whatever the
flags (clients2/accounts/www.google.com: measured), so those are ignored; any other host would
be a request made by the page.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import duckdb
import pytest

from orchestration.lib.loader import ensure_raw_schema
from orchestration.lib.quality import RESULTS_DDL
from orchestration.lib.report import collect, render_report, write_report
from orchestration.lib.scoring import ensure_score_tables

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# 12 accounts over 3 dates: ACC-01..03 red, 04..07 yellow, 08..11 green, 12 churned.
SEED_SQL = """
insert into scores.score_runs values
    (1, 'run-1', 'default', '1.0', 'h', 'c', 'ib', date '2026-03-01', date '2026-03-03', 12, 36, 1.0,
     timestamp '2026-03-03 06:00:00');
insert into scores.health_scores by name
select 1 as score_version, 'ACC-' || lpad(cast(i as varchar), 2, '0') as account_id,
    date '2026-03-01' + cast(d as integer) as as_of_date, 'retention_risk' as objective,
    'owner' || (i % 3) as owner,
    case when i = 12 then null else 10.0 + 7 * i - 2 * d end as health_score,
    case when i <= 3 then 'red' when i <= 7 then 'yellow' when i <= 11 then 'green' else 'churned' end as grade,
    0.9 as confidence, 1.0 as coverage, i = 12 as is_churned,
    case when i <= 3 then 'Usage fell ' || i || '0% in 30 days' end as top_reasons,
    case when d > 0 then 10.0 + 7 * i - 2 * (d - 1) end as previous_score,
    case when d > 0 then (case when i = 5 then -15.0 when i = 9 then 12.0 else -2.0 end) end as score_change,
    'default' as scorecard_name, '1.0' as scorecard_version, 'h' as scorecard_hash, 'c' as code_version,
    'run-1' as run_id, 'ib' as input_batches_id, timestamp '2026-03-03 06:00:00' as computed_at
from range(1, 13) a(i), range(0, 3) b(d);
insert into scores.health_scores_current by name
select * from scores.health_scores where as_of_date = date '2026-03-03';
insert into quality.check_results (check_name, source, category, expectation, column_name, severity, passed,
        observed_value, unexpected_count, failing_sample, run_id, checked_at) values
    ('usage_events.completeness.not_null.account_id', 'usage_events', 'completeness',
     'expect_column_values_to_not_be_null', 'account_id', 'error', false, '0.01', 4, '[{"event_id": "E1"}]',
     'qrun-1', timestamp '2026-03-03 05:00:00'),
    ('invoices.validity.in_set.status', 'invoices', 'validity', 'expect_column_values_to_be_in_set', 'status',
     'warn', true, '0.0', 0, '[]', 'qrun-1', timestamp '2026-03-03 05:00:00');
insert into raw._quarantine values
    ('b1', 'support_tickets', 'f.parquet', 7, 'priority', 'not an allowed value', '{"priority": "P1"}',
     timestamp '2026-03-03 04:00:00'),
    ('b2', 'invoices', 'i.parquet', 3, 'amount', 'cannot cast to double', '{"amount": "-"}',
     timestamp '2026-03-03 04:00:00');
"""


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "wh.duckdb"
    con = duckdb.connect(str(path))
    try:
        ensure_score_tables(con)
        ensure_raw_schema(con)
        con.execute(RESULTS_DDL)
        con.execute(SEED_SQL)
    finally:
        con.close()
    return path


def test_report_content(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        data = collect(con)
    assert data["grades"] == {"red": 3, "yellow": 4, "green": 4, "churned": 1}
    assert [r[0] for r in data["at_risk"][:3]] == ["ACC-01", "ACC-02", "ACC-03"]
    assert data["fallers"][0][0] == "ACC-05" and data["risers"][0][0] == "ACC-09"
    assert [d for d, *_ in data["trend"]] == sorted(d for d, *_ in data["trend"]) and len(data["trend"]) == 3
    assert data["backtest"] is None  # no backtest schema: the section is left out
    page = render_report(data)
    assert "<svg" in page and "Usage fell 10% in 30 days" in page
    # Nothing external: no URL in any src/href, and a CSP that forbids fetching anything.
    assert not re.search(r"""(src|href)\s*=\s*['"]?(https?:)?//""", page)
    assert "default-src 'none'" in page


def test_report_shows_backtest_when_present(warehouse: Path, tmp_path: Path) -> None:
    copy = tmp_path / "wh.duckdb"
    shutil.copy(warehouse, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("create schema backtest")
        con.execute(
            "create table backtest.backtest_runs as select 'bt-1' as run_id, timestamp '2026-03-02' as started_at, "
            "'1.0' as scorecard_version, 120 as rows, true as leakage_passed"
        )
        con.execute(
            "create table backtest.backtest_metrics as "
            "select 'bt-1' as run_id, 'default' as scorecard, 'all' as period, 'roc_auc' as metric, 0.8123 as value"
        )
    out = write_report(copy, tmp_path / "report.html")
    page = out.read_text()
    assert "id='backtest'" in page and "roc_auc" in page and "0.8123" in page


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class _CountingProxy:
    """A TCP listener used as Chromium's proxy: records the target of every request (first line)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.requests: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            conn.settimeout(1)
            try:
                self.requests.append(conn.recv(300).split(b"\r\n")[0].decode("latin-1"))
            except OSError:
                self.requests.append("?")
            conn.close()

    def page_requests(self) -> list[str]:
        browser_own = re.compile(
            r"^(GET http://|CONNECT )[a-z0-9.-]*\.(google\.com|gstatic\.com|googleapis\.com)[:/]"
        )
        return [r for r in self.requests if not browser_own.match(r)]

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def _chromium_args(binary: str, profile: Path, proxy_port: int) -> list[str]:
    return [
        binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--user-data-dir={profile}",
        f"--proxy-server=http://127.0.0.1:{proxy_port}", "--proxy-bypass-list=<-loopback>",
    ]  # fmt: skip


@pytest.mark.skipif(
    _chromium() is None, reason="chromium is not installed (make test-deps installs it as root)"
)
def test_report_renders_in_headless_chromium_without_network(warehouse: Path, tmp_path: Path) -> None:
    report = write_report(warehouse, tmp_path / "report.html")
    proxy = _CountingProxy()
    try:
        args = _chromium_args(_chromium(), tmp_path / "profile", proxy.port)
        dom = subprocess.run(
            [*args, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=120, check=True
        ).stdout
        shot = tmp_path / "report.png"
        subprocess.run(
            [*args, "--hide-scrollbars", "--window-size=1200,1900", f"--screenshot={shot}", report.as_uri()],
            capture_output=True, timeout=120, check=True,
        )  # fmt: skip
    finally:
        proxy.close()
    assert proxy.page_requests() == [], "the report made network requests"
    for account in ("ACC-01", "ACC-02", "ACC-03"):
        assert account in dom
    assert re.search(r"data-grade=\"red\"[^>]*>3 \(25\.0%\)", dom)
    assert "usage_events.completeness.not_null.account_id" in dom
    assert "not an allowed value" in dom
    assert shot.exists() and shot.stat().st_size > 10_000
