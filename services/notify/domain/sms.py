"""SMS length in segments, as the operator bills it. A message in the GSM 03.38 alphabet is
counted in 7-bit septets (characters of the extension table, such as { } [ ] ~ \\ | ^ and €,
take two); anything else forces UCS-2, counted in UTF-16 code units (an emoji takes two).
One segment holds 160 septets or 70 units; a longer message is split into segments of 153
septets or 67 units, the rest of each being the concatenation header. Norwegian æ ø å Æ Ø Å
are in the basic alphabet, so Norwegian text stays GSM-7."""

from __future__ import annotations

from dataclasses import dataclass

GSM7 = "gsm-7"
UCS2 = "ucs-2"

_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_EXTENSION = "\f^{}\\[~]|€"
_BASIC_SET = frozenset(_BASIC) - {"\x1b"}
_EXTENSION_SET = frozenset(_EXTENSION)
_LIMITS = {GSM7: (160, 153), UCS2: (70, 67)}


@dataclass(frozen=True)
class SmsLength:
    encoding: str  # GSM7 or UCS2
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def sms_length(text: str) -> SmsLength:
    if all(c in _BASIC_SET or c in _EXTENSION_SET for c in text):
        encoding, units = GSM7, sum(2 if c in _EXTENSION_SET else 1 for c in text)
    else:
        encoding, units = UCS2, len(text.encode("utf-16-le")) // 2
    single, multi = _LIMITS[encoding]
    segments = 0 if units == 0 else 1 if units <= single else -(-units // multi)
    return SmsLength(encoding, units, segments)
