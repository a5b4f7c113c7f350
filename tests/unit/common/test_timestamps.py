"""to_timestamp builds the protobuf Timestamp itself; it must agree with protobuf's own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from services.common.timestamps import to_timestamp


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 22, 5, 1, 2, 345678, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),
        datetime(2026, 1, 1, 12, 0, 0, 1, tzinfo=timezone(timedelta(hours=2))),
        datetime(2026, 3, 3, 3, 3, 3, 999999),  # naive, as SQLite returns: UTC
    ],
)
def test_matches_protobufs_conversion(moment: datetime) -> None:
    expected = Timestamp()
    expected.FromDatetime(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    assert to_timestamp(moment) == expected


def test_none_stays_none() -> None:
    assert to_timestamp(None) is None
