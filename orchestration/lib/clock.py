"""Today's date for the data, read in one place; HEALTHSCORE_TODAY moves it.

Everything that means "today" for the data asks here: the demo generator's default end date, the
as_of partition a landing-file or scheduled run scores, the reference time of staleness checks,
the date a suggested scorecard is named after. Setting HEALTHSCORE_TODAY=YYYY-MM-DD runs all of
it as if it were that day (CI runs the demo-based tests once with it moved, `make test-shifted`).
Audit timestamps (loaded_at, computed_at, checked_at, published_at, a report's "generated")
stay on the real clock: they record when something actually happened.
"""

from __future__ import annotations

import datetime as dt
import os

TODAY_ENV = "HEALTHSCORE_TODAY"


def _real_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def today() -> dt.date:
    """Today (UTC), or HEALTHSCORE_TODAY when it is set."""
    value = os.environ.get(TODAY_ENV, "").strip()
    if not value:
        return _real_now().date()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{TODAY_ENV}={value!r} is not an ISO date (YYYY-MM-DD)") from None


def offset() -> dt.timedelta:
    """How far HEALTHSCORE_TODAY moves today from the real date (zero when it is not set)."""
    return today() - _real_now().date()


def now() -> dt.datetime:
    """The current UTC time (naive), moved by as many days as HEALTHSCORE_TODAY moves today."""
    real = _real_now()
    return real + (today() - real.date())
