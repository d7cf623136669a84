"""The health report: content from a small hand-made warehouse, rendered in headless Chromium.

The rendering test proves what a reader sees (the at-risk account ids, the grade counts, the
failed checks) in a real browser, and that the page asks for nothing on the network: Chromium is
driven over the DevTools protocol and the requests counted are those of the page's own target
(the document, its styles, fonts and scripts). The browser's background services are switched
off, and whatever of them remains is not the page's, so it cannot make the test fail; a report
that loads a font or a script from the network does (tested below). No request leaves the
machine: the proxy is a closed local port.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pytest

from orchestration.lib.reporting.health_report import collect, render_report, write_report
from tests.support.chromium import Browser, chromium_binary, needs_chromium
from tests.support.warehouse import seeded_warehouse

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
    return seeded_warehouse(tmp_path_factory.mktemp("report") / "wh.duckdb", SEED_SQL)


def test_report_content(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        data = collect(con)
    assert data["grades"] == {"red": 3, "yellow": 4, "green": 4, "churned": 1}
    assert [r["account_id"] for r in data["at_risk"][:3]] == ["ACC-01", "ACC-02", "ACC-03"]
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
            "select 'bt-1' as run_id, 'default' as scorecard, 'all' as period, metric, value "
            "from (values ('roc_auc', 0.8123), ('rows', 14491.0), ('base_rate', 0.0454)) m(metric, value)"
        )
    out = write_report(copy, tmp_path / "report.html")
    page = out.read_text()
    # Metrics in words and units, not a raw table ("rows 14491.0").
    assert "id='backtest'" in page and "ROC AUC" in page and "0.812" in page
    assert "14,491" in page and "14491.0" not in page and "4.5%" in page


def _render(page: Path, profile: Path, shot: Path | None = None) -> tuple[list[str], str]:
    """(requests the page made, its DOM) after loading it in headless Chromium."""
    browser = Browser(chromium_binary(), profile)
    try:
        browser.open(page.as_uri(), width=1200, height=1900)
        if shot is not None:
            browser.screenshot(shot)
        return browser.page_requests(), browser.dom()
    finally:
        browser.close()


@needs_chromium
def test_report_renders_in_headless_chromium_without_network(warehouse: Path, tmp_path: Path) -> None:
    report = write_report(warehouse, tmp_path / "report.html")
    shot = tmp_path / "report.png"
    requests, dom = _render(report, tmp_path / "profile", shot)
    assert requests == [], "the report made network requests"
    for account in ("ACC-01", "ACC-02", "ACC-03"):
        assert account in dom
    assert re.search(r"data-grade=\"red\"[^>]*>3 \(25\.0%\)", dom)
    assert "usage_events.completeness.not_null.account_id" in dom
    assert "not an allowed value" in dom
    assert shot.exists() and shot.stat().st_size > 10_000


@needs_chromium
@pytest.mark.parametrize(
    "fetch",
    [
        "<style>@font-face {font-family: f; src: url(https://fonts.example.com/f.woff2)} body {font-family: f}</style>",
        "<script src='https://cdn.example.com/lib.js'></script>",
        "<link rel='stylesheet' href='https://fonts.googleapis.com/css2?family=Inter'>",
    ],
    ids=["font", "script", "google-font-css"],
)
def test_a_report_loading_from_the_network_fails_the_check(
    warehouse: Path, tmp_path: Path, fetch: str
) -> None:
    page = write_report(warehouse, tmp_path / "report.html")
    page.write_text(page.read_text().replace("</head>", fetch + "</head>", 1))
    requests, _ = _render(page, tmp_path / "profile")
    assert len(requests) == 1 and requests[0].startswith("https://"), requests
