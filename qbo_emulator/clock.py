"""Emulator clock: real time plus a controllable offset, and QBO's timestamp formats."""

from __future__ import annotations

import datetime as dt
import threading

from .facts import COMPANY_TZ

__all__ = ["COMPANY_TZ", "Clock", "meta_time", "parse_datetime", "response_time"]


class Clock:
    """Wall clock shifted by `offset` seconds; token expiry, CDC windows, MetaData and throttling windows use it."""

    def __init__(self, offset: float = 0.0) -> None:
        self._offset = float(offset)
        self._lock = threading.Lock()

    @property
    def offset(self) -> float:
        return self._offset

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._offset += float(seconds)
            return self._offset

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0

    def now(self) -> dt.datetime:
        """Aware UTC datetime."""
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self._offset)

    def timestamp(self) -> float:
        return self.now().timestamp()

    def today(self) -> dt.date:
        return self.now().astimezone(COMPANY_TZ).date()


def meta_time(when: dt.datetime) -> str:
    """MetaData format: company offset, no fraction (2015-07-23T10:58:12-07:00)."""
    return when.astimezone(COMPANY_TZ).replace(microsecond=0).isoformat()


def response_time(when: dt.datetime) -> str:
    """The `time` field of responses: milliseconds and the company offset."""
    local = when.astimezone(COMPANY_TZ)
    return local.isoformat(timespec="milliseconds")


def parse_datetime(text: str) -> dt.datetime:
    """Parse QBO datetimes/dates; naive values are in the company time zone. Raises ValueError."""
    text = text.strip()
    if len(text) == 10:
        day = dt.date.fromisoformat(text)
        return dt.datetime(day.year, day.month, day.day, tzinfo=COMPANY_TZ)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # 2015-10-05T14:42:19-0700 -> add the colon
    if len(text) >= 5 and text[-5] in "+-" and text[-4:].isdigit() and "T" in text:
        text = text[:-2] + ":" + text[-2:]
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=COMPANY_TZ)
    return value
