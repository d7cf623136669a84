"""The one clock: today's date for the data, and HEALTHSCORE_TODAY moving it."""

from __future__ import annotations

import datetime as dt

import pytest

from orchestration.lib import clock


def test_today_is_the_utc_date_when_not_moved(monkeypatch):
    monkeypatch.delenv(clock.TODAY_ENV, raising=False)
    before = dt.datetime.now(dt.UTC).date()
    today = clock.today()
    assert before <= today <= dt.datetime.now(dt.UTC).date()
    assert clock.offset() == dt.timedelta(0)


def test_healthscore_today_moves_today_and_now(monkeypatch):
    monkeypatch.setenv(clock.TODAY_ENV, "2027-01-15")
    assert clock.today() == dt.date(2027, 1, 15)
    assert clock.now().date() == dt.date(2027, 1, 15)
    assert clock.now().tzinfo is None  # naive UTC, like every timestamp in the warehouse
    real = dt.datetime.now(dt.UTC).date()
    assert real + clock.offset() in {dt.date(2027, 1, 14), dt.date(2027, 1, 15)}  # 14th: past midnight


def test_a_bad_value_names_the_variable(monkeypatch):
    monkeypatch.setenv(clock.TODAY_ENV, "next tuesday")
    with pytest.raises(ValueError, match="HEALTHSCORE_TODAY='next tuesday' is not an ISO date"):
        clock.today()
