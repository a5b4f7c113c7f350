"""The one source of time for rules that run on calendar days (periods, due dates, dunning):
injected, so that tests run months in moments. Days are Norwegian calendar days."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

OSLO = ZoneInfo("Europe/Oslo")

Clock = Callable[[], date]


def oslo_today() -> date:
    return datetime.now(OSLO).date()
