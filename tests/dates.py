"""The pinned dates of the tests' generated data: an outcome must not change with the calendar.

Fixtures that generate demo data end it on DEMO_END_DATE and measure staleness at that day
(HEALTHSCORE_REFERENCE_DATE), so the data, the quality verdicts and the scores are the same on
any day; `make test-shifted` runs the date-sensitive tests with "today" moved to prove it.
"""

from __future__ import annotations

import datetime as dt

DEMO_END_DATE = dt.date(2026, 11, 26)


def pinned_env(end: dt.date = DEMO_END_DATE) -> dict[str, str]:
    """Environment for a run on data that ends on `end`: staleness is measured at that day."""
    return {"HEALTHSCORE_REFERENCE_DATE": end.isoformat()}
