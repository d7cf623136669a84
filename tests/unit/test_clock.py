"""The one clock: today's date for the data, and HEALTHSCORE_TODAY moving it."""

from __future__ import annotations

import datetime as dt

import pytest

from orchestration.lib import clock

# The real clock is pinned: these tests hold on any day.
REAL_NOW = dt.datetime(2026, 11, 30, 17, 5, 0)


@pytest.fixture
def pinned_real_clock(monkeypatch):
    monkeypatch.setattr(clock, "_real_now", lambda: REAL_NOW)


def test_today_is_the_utc_date_when_not_moved(monkeypatch, pinned_real_clock):
    monkeypatch.delenv(clock.TODAY_ENV, raising=False)
    assert clock.today() == dt.date(2026, 11, 30)
    assert clock.now() == REAL_NOW
    assert clock.offset() == dt.timedelta(0)


def test_healthscore_today_moves_today_and_now(monkeypatch, pinned_real_clock):
    monkeypatch.setenv(clock.TODAY_ENV, "2027-01-15")
    assert clock.today() == dt.date(2027, 1, 15)
    # now() keeps the time of day and moves the date by the same offset
    assert clock.now() == dt.datetime(2027, 1, 15, 17, 5, 0)
    assert clock.now().tzinfo is None  # naive UTC, like every timestamp in the warehouse
    assert clock.offset() == dt.timedelta(days=46)


def test_the_real_clock_is_naive_utc(monkeypatch):
    class FixedClock(dt.datetime):
        @classmethod
        def now(cls, tz=None):  # 2026-11-30 18:05 in UTC+1 is 17:05 UTC
            moment = dt.datetime(2026, 11, 30, 18, 5, tzinfo=dt.timezone(dt.timedelta(hours=1)))
            return moment.astimezone(tz) if tz else moment.replace(tzinfo=None)

    monkeypatch.setattr(clock.dt, "datetime", FixedClock)
    real = clock._real_now()
    assert real == dt.datetime(2026, 11, 30, 17, 5) and real.tzinfo is None


def test_a_bad_value_names_the_variable(monkeypatch):
    monkeypatch.setenv(clock.TODAY_ENV, "next tuesday")
    with pytest.raises(ValueError, match="HEALTHSCORE_TODAY='next tuesday' is not an ISO date"):
        clock.today()
