"""SMS segments: what a member's message costs, as the operator counts it."""

from __future__ import annotations

import pytest

from services.notify.domain.sms import GSM7, UCS2, SmsLength, sms_length


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", SmsLength(GSM7, 0, 0)),
        ("a" * 160, SmsLength(GSM7, 160, 1)),
        ("a" * 161, SmsLength(GSM7, 161, 2)),
        ("a" * 306, SmsLength(GSM7, 306, 2)),  # 2 x 153
        ("a" * 307, SmsLength(GSM7, 307, 3)),
        ("Blåbærsyltetøy på Ærøy og Åsgårdstrand", SmsLength(GSM7, 38, 1)),
        ("€" * 80, SmsLength(GSM7, 160, 1)),  # extension characters take two septets
        ("€" * 81, SmsLength(GSM7, 162, 2)),
        ("a" * 70 + "ł", SmsLength(UCS2, 71, 2)),  # one character outside GSM-7
        ("ł" * 70, SmsLength(UCS2, 70, 1)),
        ("ł" * 134, SmsLength(UCS2, 134, 2)),  # 2 x 67
        ("ł" * 135, SmsLength(UCS2, 135, 3)),
        ("Hei 👋", SmsLength(UCS2, 6, 1)),  # an emoji is two UTF-16 units
    ],
)
def test_segments_are_counted_as_the_operator_bills(text: str, expected: SmsLength) -> None:
    assert sms_length(text) == expected


def test_a_typical_norwegian_reminder_fits_one_segment() -> None:
    reminder = (
        "Hei Kari! Kontingenten til Oslo Sjakklubb (kr 450,00) forfalt 01.03. "
        "Betal med KID 0000000426 til konto 1234.56.78903. Mvh styret"
    )
    assert sms_length(reminder).encoding == GSM7
    assert sms_length(reminder).segments == 1
