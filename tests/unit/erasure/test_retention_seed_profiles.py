"""Each seed privacy policy's profile, with the clock advanced: exactly what its policy says is
gone, and what stays."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.common.clock import Clock
from services.common.retention import RecordDates, RetentionProfile, beyond_last, decide
from services.erasure.adapters.retention_files import builtin_profiles

PROFILES = builtin_profiles()
PAYMENT = RecordDates(collected_at=date(2026, 3, 10))


def on(day: date) -> Clock:
    return lambda: day


def due(profile: str, category: str, record: RecordDates, today: date) -> bool:
    return decide(PROFILES[profile], category, record, on(today)).due


def test_one_profile_per_seed_ships_and_loads() -> None:
    assert sorted(PROFILES) == [
        "smart-solution",
        "smartlapper",
        "smartorg",
        "smb-mobil",
        "smb-norge",
    ]
    assert all(isinstance(p, RetentionProfile) and p.rules for p in PROFILES.values())


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_payment_of_2026_03_10_stays_until_2031_12_31(profile: str) -> None:
    """Every seed defers payments to the bookkeeping act: 5 years after the fiscal year."""
    assert not due(profile, "payment-records", PAYMENT, date(2031, 12, 31))
    decision = decide(PROFILES[profile], "payment-records", PAYMENT, on(date(2032, 1, 1)))
    assert decision.due and decision.action == "delete"
    assert decision.keep_until == date(2031, 12, 31)


# --- SmartOrg: kept while the member uses the solution, gone when the purpose is ---------


def test_smartorg_keeps_a_member_while_the_membership_runs() -> None:
    running = RecordDates(collected_at=date(2020, 1, 1))
    assert not due("smartorg", "member-record", running, date(2040, 1, 1))


def test_smartorg_deletes_the_member_and_their_logs_once_the_membership_ends() -> None:
    ended = RecordDates(collected_at=date(2024, 5, 1), relationship_ended_at=date(2026, 6, 30))
    for category in ("member-record", "login-log", "message-log", "consents", "audit-entries"):
        assert not due("smartorg", category, ended, date(2026, 6, 30))
        assert due("smartorg", category, ended, date(2026, 7, 1))


def test_smartorg_deletes_marketing_messages_when_the_consent_is_withdrawn() -> None:
    sent = RecordDates(collected_at=date(2025, 1, 1))
    withdrawn = RecordDates(collected_at=date(2025, 1, 1), consent_withdrawn_at=date(2026, 2, 3))
    assert not due("smartorg", "marketing-messages", sent, date(2030, 1, 1))
    assert due("smartorg", "marketing-messages", withdrawn, date(2026, 2, 4))


def test_smartorg_promises_no_login_count_nor_ip_period() -> None:
    assert PROFILES["smartorg"].rule_for("ip-location") is None
    with pytest.raises(ValueError, match="keeps no count of login-log"):
        beyond_last(PROFILES["smartorg"], "login-log", [], lambda r: r)


# --- SMB Norge: the relationship is active for 24 months; nothing kept over two years ----


def test_smb_norge_deletes_a_member_inactive_for_24_months() -> None:
    member = RecordDates(collected_at=date(2020, 1, 1), last_activity_at=date(2024, 3, 15))
    assert not due("smb-norge", "member-record", member, date(2026, 3, 15))
    assert due("smb-norge", "member-record", member, date(2026, 3, 16))


def test_smb_norge_keeps_an_active_member_however_long_ago_they_joined() -> None:
    member = RecordDates(collected_at=date(2015, 1, 1), last_activity_at=date(2026, 1, 10))
    assert not due("smb-norge", "member-record", member, date(2027, 6, 1))


def test_smb_norge_keeps_no_log_entry_over_two_years_even_of_an_active_member() -> None:
    entry = RecordDates(collected_at=date(2024, 2, 29), last_activity_at=date(2026, 3, 1))
    for category in ("login-log", "message-log", "audit-entries", "marketing-messages"):
        assert not due("smb-norge", category, entry, date(2026, 2, 28))
        assert due("smb-norge", category, entry, date(2026, 3, 1))


# --- Smart Solution: the last 10 logins; all data gone within 3 months of closing ------


def test_smart_solution_the_eleventh_login_removes_the_oldest() -> None:
    logins = [datetime(2026, 1, day, 8, tzinfo=UTC) for day in range(1, 11)]
    profile = PROFILES["smart-solution"]
    assert beyond_last(profile, "login-log", logins, lambda at: at) == []
    eleventh = datetime(2026, 1, 11, 8, tzinfo=UTC)
    assert beyond_last(profile, "login-log", [*logins, eleventh], lambda at: at) == [logins[0]]


def test_smart_solution_deletes_the_account_once_it_is_closed() -> None:
    closed = RecordDates(collected_at=date(2023, 1, 1), relationship_ended_at=date(2026, 1, 31))
    for category in ("member-record", "login-log", "message-log", "consents", "audit-entries"):
        assert not due("smart-solution", category, closed, date(2026, 1, 31))
        assert due("smart-solution", category, closed, date(2026, 2, 1))


def test_smart_solution_extension_never_passes_3_months_after_closing() -> None:
    handling = RecordDates(
        collected_at=date(2023, 1, 1),
        relationship_ended_at=date(2026, 1, 31),
        extended_until=date(2026, 12, 31),  # a last request still open, asked for too long
    )
    assert not due("smart-solution", "member-record", handling, date(2026, 4, 30))
    assert due("smart-solution", "member-record", handling, date(2026, 5, 1))


# --- Smartlapper: IP addresses 30 days; accounts 5 years after the last active action ----


def test_smartlapper_ip_address_29_days_old_stays_31_days_old_goes() -> None:
    seen = RecordDates(collected_at=datetime(2026, 3, 1, 12, tzinfo=UTC))
    assert not due("smartlapper", "ip-location", seen, date(2026, 3, 30))
    assert not due("smartlapper", "ip-location", seen, date(2026, 3, 31))
    assert due("smartlapper", "ip-location", seen, date(2026, 4, 1))


def test_smartlapper_deletes_an_account_5_years_after_the_last_active_action() -> None:
    account = RecordDates(collected_at=date(2018, 4, 7), last_activity_at=date(2021, 6, 1))
    for category in ("member-record", "consents", "message-log"):
        assert not due("smartlapper", category, account, date(2026, 6, 1))
        assert due("smartlapper", category, account, date(2026, 6, 2))


def test_smartlapper_keeps_login_sessions_18_months() -> None:
    session = RecordDates(collected_at=date(2025, 1, 15))
    assert not due("smartlapper", "login-log", session, date(2026, 7, 15))
    assert due("smartlapper", "login-log", session, date(2026, 7, 16))


# --- SMB Mobil: 5 (up to 10) years after the customer relationship ends ------------------


def test_smb_mobil_keeps_a_customer_5_years_after_the_relationship_ends() -> None:
    ended = RecordDates(collected_at=date(2019, 1, 1), relationship_ended_at=date(2026, 8, 31))
    running = RecordDates(collected_at=date(2019, 1, 1))
    for category in ("member-record", "login-log", "message-log", "consents", "audit-entries"):
        assert not due("smb-mobil", category, ended, date(2031, 8, 31))
        assert due("smb-mobil", category, ended, date(2031, 9, 1))
        assert not due("smb-mobil", category, running, date(2045, 1, 1))


def test_smb_mobil_extension_stops_at_10_years() -> None:
    extended = RecordDates(
        collected_at=date(2019, 1, 1),
        relationship_ended_at=date(2026, 8, 31),
        extended_until=date(2040, 1, 1),
    )
    decision = decide(PROFILES["smb-mobil"], "member-record", extended, on(date(2036, 9, 1)))
    assert decision.keep_until == date(2036, 8, 31) and decision.due


def test_smb_mobil_keeps_newsletter_contacts_until_the_consent_is_withdrawn() -> None:
    subscribed = RecordDates(collected_at=date(2020, 1, 1))
    withdrawn = RecordDates(collected_at=date(2020, 1, 1), consent_withdrawn_at=date(2026, 5, 5))
    assert not due("smb-mobil", "marketing-messages", subscribed, date(2035, 1, 1))
    assert not due("smb-mobil", "marketing-messages", withdrawn, date(2026, 5, 5))
    assert due("smb-mobil", "marketing-messages", withdrawn, date(2026, 5, 6))
