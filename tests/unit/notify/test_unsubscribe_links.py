"""Unsubscribe tokens name exactly one consent; anything forged or altered reads as nothing."""

from __future__ import annotations

from services.notify.domain.unsubscribe_links import Unsubscribe, UnsubscribeLinks

ORG, MEMBER, MESSAGE = "org-1", "member-1", "0b7a4c2e-0000-4000-8000-000000000009"


def test_a_link_reads_back_as_what_it_was_made_for() -> None:
    links = UnsubscribeLinks("k" * 32, "https://varsel.kontingent.no/")
    url = links.unsubscribe_url(ORG, MEMBER, "newsletter", MESSAGE)
    assert url.startswith("https://varsel.kontingent.no/unsubscribe/")
    token = url.rsplit("/", 1)[1]
    assert links.read(token) == Unsubscribe(ORG, MEMBER, "newsletter", "email", MESSAGE)
    assert MEMBER not in url or links.read(token) is not None  # signed, not secret


def test_tampered_forged_and_foreign_tokens_read_as_nothing() -> None:
    links = UnsubscribeLinks("k" * 32, "https://x")
    token = links.token(Unsubscribe(ORG, MEMBER, "newsletter", "sms", MESSAGE))
    payload, signature = token.rsplit(".", 1)
    other = UnsubscribeLinks("other-key-" * 4, "https://x")
    forged = other.token(Unsubscribe(ORG, MEMBER, "newsletter", "sms", MESSAGE))
    for bad in (
        payload + "." + signature[::-1],
        payload[:-2] + "xx." + signature,
        forged,
        "",
        "not-a-token",
    ):
        assert links.read(bad) is None


def test_a_signed_token_with_a_bad_shape_is_refused() -> None:
    links = UnsubscribeLinks("k" * 32, "https://x")
    bad_purpose = links.token(Unsubscribe(ORG, MEMBER, "Not A Purpose", "email", MESSAGE))
    bad_channel = links.token(Unsubscribe(ORG, MEMBER, "newsletter", "fax", MESSAGE))
    assert links.read(bad_purpose) is None and links.read(bad_channel) is None
