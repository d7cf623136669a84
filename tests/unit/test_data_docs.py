"""GX Data Docs as a data-quality reviewer opens them: styled, offline, the filter working.

Built from a small hand-made quality.check_results, then opened in headless Chromium with the
network closed (tests/support/chromium.py): the page asks for nothing on the network, its
stylesheet applies (cards have borders, the status column shows a mark per check), "Failed
Only" hides the passing checks, and the counts use the rows actually checked.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from orchestration.lib.quality.data_docs import build_data_docs
from orchestration.lib.quality.results import RESULTS_DDL
from tests.support.chromium import Browser, chromium_binary, needs_chromium

SEED_SQL = """
insert into quality.check_results (check_name, source, category, expectation, column_name, severity, passed,
        observed_value, unexpected_count, failing_sample, run_id, checked_at, scope, rows_checked) values
    ('usage_events.completeness.not_null.event_id', 'usage_events', 'completeness',
     'expect_column_values_to_not_be_null', 'event_id', 'error', true, '0.0', 0, '[]', 'qrun-1',
     timestamp '2026-03-03 05:00:00', 'rows', 256110),
    ('usage_events.uniqueness.unique.event_id', 'usage_events', 'uniqueness', 'unexpected_rows_expectation',
     'event_id', 'warn', false, '12', 12,
     '[{"value": "e1", "count": 2}, {"value": "e2", "count": 2}]', 'qrun-1',
     timestamp '2026-03-03 05:00:00', 'rows', 256110),
    ('usage_events.validity.in_range.quantity', 'usage_events', 'validity', 'expect_column_values_to_be_between',
     'quantity', 'warn', false, '0.5', 1280, '[-1.0, -2.0]', 'qrun-1', timestamp '2026-03-03 05:00:00', 'rows',
     256110);
"""


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data-docs")
    path = root / "wh.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(RESULTS_DDL)
        con.execute(SEED_SQL)
    return build_data_docs(path, root / "data_docs")


def test_pages_reference_nothing_external(docs: Path) -> None:
    pages = [docs, *sorted((docs.parent / "validations").glob("*.html"))]
    assert len(pages) == 2
    for page in pages:
        text = page.read_text()
        assert not re.search(r"""(src|href)\s*=\s*['"]?(https?:)?//""", text), page.name
        assert not re.search(r"url\(\s*['\"]?(https?:)?//", text), page.name
        assert "<script src" not in text


def test_counts_use_the_rows_checked(docs: Path) -> None:
    text = (docs.parent / "validations" / "usage_events.html").read_text()
    assert "12 unexpected values found" in text
    assert "of 256110 total rows" in text or "of 256,110 total rows" in text


@needs_chromium
def test_data_docs_render_styled_offline_and_filter(docs: Path, tmp_path: Path) -> None:
    page = docs.parent / "validations" / "usage_events.html"
    browser = Browser(chromium_binary(), tmp_path / "profile")
    try:
        browser.open(page.as_uri(), width=1300, height=1500)
        assert browser.page_requests() == [], "the Data Docs page made network requests"
        card_border = browser.evaluate("getComputedStyle(document.querySelector('.card')).borderTopStyle")
        assert card_border == "solid"  # the inlined stylesheet applies
        marks = browser.evaluate("[...document.querySelectorAll('.hs-icon')].map(e => e.title).join(',')")
        assert marks.count("failed") == 3 and marks.count("passed") == 1  # the page status + 2 checks
        visible = (
            "[...document.querySelectorAll('td')].filter(td => td.offsetParent !== null"
            " && td.textContent.includes('{}')).length"
        )
        assert browser.evaluate(visible.format("is never null")) > 0
        browser.evaluate("hideSucceededValidations()")
        assert browser.evaluate(visible.format("is never null")) == 0
        assert browser.evaluate(visible.format("unexpected values found")) == 2
        browser.evaluate("showAllValidations()")
        assert browser.evaluate(visible.format("is never null")) > 0
        browser.screenshot(tmp_path / "data-docs.png")
    finally:
        browser.close()
    assert (tmp_path / "data-docs.png").stat().st_size > 10_000
