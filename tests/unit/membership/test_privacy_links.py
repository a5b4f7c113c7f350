"""The privacy page's signed links, form tokens and resend interval; its page's rendering of
field errors and refusals. No I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from itsdangerous import URLSafeTimedSerializer

from services.common.errors import InvalidArgument
from services.membership.domain.privacy_links import SALT, PrivacyLinks, resend_cutoff
from services.membership.domain.validation import normalise_email, validate_member
from services.membership.entrypoints.privacy_page import _field_errors, _templates
from services.membership.entrypoints.privacy_texts import TEXTS

KEY = "k" * 43
BASE = "https://min.kontingent.no/"


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_a_link_names_its_org_and_member_under_the_base_url() -> None:
    links = PrivacyLinks(KEY, BASE, ttl_s=3600)
    now = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
    link = links.sign("org-1", "member-1", now)
    assert link.url == f"https://min.kontingent.no/privacy/p/{link.token}"
    assert link.expires_at == now + timedelta(hours=1)
    check = links.check(link.token)
    assert (check.org_id, check.member_id, check.valid) == ("org-1", "member-1", True)


def test_an_expired_link_is_told_apart_from_a_forged_one() -> None:
    link = PrivacyLinks(KEY, BASE, ttl_s=3600).sign("org-1", "member-1")
    later = PrivacyLinks(KEY, BASE, ttl_s=-1).check(link.token)
    assert later.expired and not later.valid and later.member_id == "member-1"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature
        lambda t: "WyJvcmctMiIsIm1lbWJlci0xIl0" + t[t.index(".") :],  # another org, same sig
        lambda t: "",
        lambda t: "not-a-token",
    ],
)
def test_a_tampered_or_malformed_link_names_nobody(tamper) -> None:  # type: ignore[no-untyped-def]
    links = PrivacyLinks(KEY, BASE, ttl_s=3600)
    check = links.check(tamper(links.sign("org-1", "member-1").token))
    assert (check.org_id, check.member_id, check.valid) == ("", "", False)


def test_a_link_signed_under_another_key_or_purpose_names_nobody() -> None:
    other_key = PrivacyLinks("x" * 43, BASE, ttl_s=3600).sign("org-1", "member-1").token
    other_salt = str(URLSafeTimedSerializer(KEY, salt="another").dumps(["org-1", "member-1"]))
    wrong_shape = str(URLSafeTimedSerializer(KEY, salt=SALT).dumps("member-1"))
    links = PrivacyLinks(KEY, BASE, ttl_s=3600)
    for token in (other_key, other_salt, wrong_shape):
        assert not links.check(token).org_id


def test_an_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="PRIVACY_LINK_KEY"):
        PrivacyLinks("", BASE, ttl_s=3600)


def test_the_form_token_is_bound_to_its_link() -> None:
    links = PrivacyLinks(KEY, BASE, ttl_s=3600)
    mine = links.sign("org-1", "member-1").token
    theirs = links.sign("org-1", "member-2").token
    assert links.form_token_matches(mine, links.form_token(mine))
    assert not links.form_token_matches(mine, links.form_token(theirs))
    assert not links.form_token_matches(mine, "")
    assert not PrivacyLinks("x" * 43, BASE, 3600).form_token_matches(mine, links.form_token(mine))


def test_a_new_link_goes_out_once_per_interval() -> None:
    now = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
    cutoff = resend_cutoff(now, 600)
    assert now - timedelta(minutes=10) <= cutoff  # sent 10 minutes ago: again
    assert now - timedelta(minutes=9) > cutoff  # 9 minutes ago: not yet


def test_the_edit_form_follows_the_org_apis_rules_and_names_each_bad_field() -> None:
    with pytest.raises(InvalidArgument) as refused:
        validate_member(" ", "not-an-address", "12", "")
    assert set(refused.value.field_errors) == {"name", "email", "phone"}
    for lang in ("nb", "en"):
        worded = _field_errors(refused.value.field_errors, lang)
        assert worded == {f: TEXTS[lang][f"error_{f}"] for f in ("name", "email", "phone")}
    good = validate_member("Kari  Nordmann", "kari@EXAMPLE.no", "+47 912 34 567", "")
    assert (good.name, good.email, good.phone) == (
        "Kari Nordmann",
        "kari@example.no",
        "+4791234567",
    )


def test_the_address_asked_for_is_looked_up_as_it_was_stored() -> None:
    assert normalise_email("  Kari@EXAMPLE.no ") == "Kari@example.no"
    with pytest.raises(ValueError, match="not a valid email address"):
        normalise_email("kari@")


def test_every_text_exists_in_both_languages() -> None:
    assert set(TEXTS["nb"]) == set(TEXTS["en"])


def test_the_ask_form_shows_its_error_and_escapes_what_was_typed() -> None:
    page = _templates.get_template("ask.html.j2").render(
        lang="en",
        other_lang="nb",
        t=TEXTS["en"],
        switch_url="/privacy/org-1?lang=nb",
        org_name="Hamar <Historielag>",
        action="/privacy/org-1",
        sent=False,
        email='"><script>x</script>',
        errors={"email": TEXTS["en"]["error_email"]},
    )
    assert "Not a valid email address." in page and "<script>" not in page
    assert "Hamar &lt;Historielag&gt;" in page and '<html lang="en">' in page
