"""Purpose gating: every message class against every combination of restriction, objection
and consent, and the table each template declares its class and purpose in."""

from __future__ import annotations

import itertools
from importlib.resources import files

import pytest

from services.notify.domain.content import ORG_MESSAGE, SMS_FALLBACK
from services.notify.domain.gating import MemberFlags, Withheld, withheld_because
from services.notify.domain.messages import (
    MARKETING,
    MESSAGE_CLASSES,
    SERVICE,
    TEMPLATES,
    TRANSACTIONAL,
    MessageKind,
    kind_of,
)

RECEIPT = MessageKind(TRANSACTIONAL, "billing")
REMINDER = MessageKind(SERVICE, "membership")
NEWSLETTER = MessageKind(MARKETING, "newsletter")
OTHER = "events"  # a purpose none of the kinds above has


def flags(restricted: bool, objects: bool, consents: bool, purpose: str) -> MemberFlags:
    """The member's flags, each either about the message's purpose or about another one."""
    return MemberFlags(
        restricted=restricted,
        objections=frozenset({purpose if objects else OTHER}),
        consents=frozenset({purpose if consents else OTHER}),
    )


CASES = list(itertools.product([False, True], repeat=3))  # restricted, objects, consents


def expected(kind: MessageKind, restricted: bool, objects: bool, consents: bool) -> object:
    if kind.message_class == TRANSACTIONAL:
        return None
    if restricted:
        return Withheld.RESTRICTED
    if objects:
        return Withheld.OBJECTION
    if kind.message_class == MARKETING and not consents:
        return Withheld.NO_CONSENT
    return None


# The table spelled out, so that a change to the rule has to change this too.
TABLE = {
    # (restricted, objects, consents): (transactional, service, marketing)
    (False, False, False): (None, None, Withheld.NO_CONSENT),
    (False, False, True): (None, None, None),
    (False, True, False): (None, Withheld.OBJECTION, Withheld.OBJECTION),
    (False, True, True): (None, Withheld.OBJECTION, Withheld.OBJECTION),
    (True, False, False): (None, Withheld.RESTRICTED, Withheld.RESTRICTED),
    (True, False, True): (None, Withheld.RESTRICTED, Withheld.RESTRICTED),
    (True, True, False): (None, Withheld.RESTRICTED, Withheld.RESTRICTED),
    (True, True, True): (None, Withheld.RESTRICTED, Withheld.RESTRICTED),
}


@pytest.mark.parametrize(("restricted", "objects", "consents"), CASES)
@pytest.mark.parametrize("kind", [RECEIPT, REMINDER, NEWSLETTER], ids=lambda k: k.message_class)
def test_every_class_against_every_combination(
    kind: MessageKind, restricted: bool, objects: bool, consents: bool
) -> None:
    got = withheld_because(kind, flags(restricted, objects, consents, kind.purpose))
    column = MESSAGE_CLASSES.index(kind.message_class)
    assert got == TABLE[(restricted, objects, consents)][column]
    assert got == expected(kind, restricted, objects, consents)


def test_the_table_covers_every_combination() -> None:
    assert sorted(TABLE) == sorted(CASES)


def test_a_member_with_no_flags_gets_transactional_and_service_but_no_marketing() -> None:
    nobody = MemberFlags()
    assert withheld_because(RECEIPT, nobody) is None
    assert withheld_because(REMINDER, nobody) is None
    assert withheld_because(NEWSLETTER, nobody) is Withheld.NO_CONSENT


def test_transactional_ignores_an_objection_to_its_own_purpose() -> None:
    member = MemberFlags(restricted=True, objections=frozenset({"billing", MARKETING}))
    assert withheld_because(RECEIPT, member) is None


def test_an_objection_to_marketing_covers_every_marketing_purpose() -> None:
    member = MemberFlags(objections=frozenset({MARKETING}), consents=frozenset({"newsletter"}))
    assert withheld_because(NEWSLETTER, member) is Withheld.OBJECTION
    # ... but not service messages, which are not marketing.
    assert withheld_because(REMINDER, member) is None


def test_consent_counts_only_for_its_own_purpose() -> None:
    member = MemberFlags(consents=frozenset({"offers", "membership"}))
    assert withheld_because(NEWSLETTER, member) is Withheld.NO_CONSENT
    assert withheld_because(MessageKind(MARKETING, "offers"), member) is None


def test_an_unknown_class_is_refused_not_sent() -> None:
    kind = MessageKind(SERVICE, "membership")
    object.__setattr__(kind, "message_class", "urgent")
    with pytest.raises(ValueError, match="urgent"):
        withheld_because(kind, MemberFlags())


@pytest.mark.parametrize(
    ("message_class", "purpose"),
    [
        ("promotional", "newsletter"),
        (SERVICE, ""),
        (SERVICE, "Membership"),
        (SERVICE, "a" * 51),
        (MARKETING, "news-letter"),
        (MARKETING, "_offers"),
    ],
)
def test_a_kind_must_name_a_known_class_and_a_purpose_key(message_class: str, purpose: str) -> None:
    with pytest.raises(ValueError):
        MessageKind(message_class, purpose)


@pytest.mark.parametrize("purpose", ["newsletter", "photo_sharing", "a", "a" * 50])
def test_membership_consent_purpose_keys_are_purposes(purpose: str) -> None:
    assert MessageKind(MARKETING, purpose).purpose == purpose


def test_welcome_is_a_service_message_for_the_membership() -> None:
    assert kind_of("welcome") == MessageKind(SERVICE, "membership")


def test_a_template_without_a_declared_kind_cannot_be_looked_up() -> None:
    with pytest.raises(LookupError, match="declares no class"):
        kind_of("promo")


def test_every_template_file_declares_its_class_and_purpose() -> None:
    names = {
        entry.name.split(".", 1)[0]
        for entry in files("services.notify").joinpath("templates").iterdir()
        if entry.name.endswith(".j2")
    }
    assert names, "no templates found"
    # An org's own message (SendToMembers) takes its class and purpose from the request, and
    # the email instead of a STOP'd SMS from that SMS.
    declared = set(TEMPLATES) | {ORG_MESSAGE, SMS_FALLBACK}
    assert names <= declared, f"templates without a kind: {sorted(names - declared)}"
