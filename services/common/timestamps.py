from __future__ import annotations

import math
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp


def to_timestamp(moment: datetime | None) -> Timestamp | None:
    if moment is None:
        return None
    if moment.tzinfo is None:  # SQLite hands back naive datetimes; we store UTC
        moment = moment.replace(tzinfo=UTC)
    # Built from the epoch seconds directly: Timestamp.FromDatetime is several times slower,
    # and every answer with a member in it carries one.
    return Timestamp(seconds=math.floor(moment.timestamp()), nanos=moment.microsecond * 1000)


def now_timestamp() -> Timestamp:
    return to_timestamp(datetime.now(UTC))  # type: ignore[return-value]


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return as_utc(moment).isoformat()


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; we store UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
