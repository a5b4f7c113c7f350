"""Each seed profile, loaded for an org and enforced by every service's sweep with the clock
advanced: exactly what its policy says is gone, and what stays. Membership, notify, billing
and erasure on real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from services.common.errors import InvalidArgument
from services.common.retention_sweep import ErasureProfiles
from tests.integration.retention_support import OneOrg, Platform, platform, stores

__all__ = ["platform", "stores"]  # fixtures


async def test_smartlapper_ten_logins_rotate_ips_go_after_30_days_inactive_members_go(
    platform: Platform,
) -> None:
    """Smartlapper: IP address and place 30 days after collection; sessions 18 months;
    a customer 5 years after their last active action; marketing when consent goes;
    payments 5 years after the fiscal year."""
    await platform.load("smartlapper")
    await platform.member("kari", "2025-01-10")
    for day in ("2024-11-30", "2026-04-01", "2026-05-25"):
        await platform.login("kari", day)
    await platform.consent("kari", "newsletter", True, "2025-01-10")
    await platform.consent("kari", "newsletter", False, "2026-05-01")
    await platform.member("ola", "2019-01-01")
    await platform.login("ola", "2021-05-31")  # his last active action
    await platform.message("welcome-kari", "kari", "2025-01-10")
    await platform.message("news-kari", "kari", "2026-03-01", "marketing", "newsletter")
    await platform.payment("inv-2020", "kari", "2020-03-10")
    await platform.payment("inv-2021", "kari", "2021-03-10")

    swept = await platform.sweep("2026-06-01")

    # 2024-11-30 is past 18 months (kept until 2026-05-30); 2026-04-01 loses its IP.
    assert await platform.logins("kari") == [("2026-04-01", ""), ("2026-05-25", "203.0.113.5")]
    assert await platform.erasure_requests() == {
        "ola": "retention: retention profile smartlapper v1: member-record, kept 5 years "
        "after last_activity"
    }
    assert await platform.messages() == ["welcome-kari"]
    assert await platform.payments() == ["inv-2021:2"]
    assert swept["membership"] == {
        ("login-log", "delete"): 1,
        ("ip-location", "delete"): 1,
        ("member-record", "erasure-requested"): 1,
    }
    # Kari's consent history is kept while she is active (5 years after her last action).
    assert await platform.consent_days("kari") == [
        "newsletter:granted:2025-01-10",
        "newsletter:withdrawn:2026-05-01",
    ]

    # Run again: nothing more is due, the open request is not filed twice.
    assert await platform.sweep("2026-06-02") == {"membership": {}, "notify": {}, "billing": {}}


async def test_smart_solution_keeps_the_last_ten_logins_and_deletes_on_closing(
    platform: Platform,
) -> None:
    """Smart Solution: the last 10 logins rotate; everything goes when the account is closed
    (within 3 months: at once, read strictly); payments after the bookkeeping period."""
    await platform.load("smart-solution")
    await platform.member("kari", "2025-01-10")
    for day in range(1, 12):
        await platform.login("kari", f"2026-05-{day:02d}")
    await platform.member("ola", "2024-01-10", "cancelled", changed="2026-05-20")
    await platform.member("per", "2024-01-10", "cancelled", changed="2026-05-31")
    await platform.payment("inv-2020", "ola", "2020-03-10")
    await platform.payment("inv-2021", "ola", "2021-03-10")

    swept = await platform.sweep("2026-05-31")

    logins = await platform.logins("kari")
    assert [day for day, _ in logins] == [f"2026-05-{d:02d}" for d in range(2, 12)]  # 11th in
    assert all(ip == "203.0.113.5" for _, ip in logins)  # no IP rule of its own
    # Ola closed his account on 2026-05-20: erased; Per only today: from tomorrow.
    assert set(await platform.erasure_requests()) == {"ola"}
    assert await platform.payments() == ["inv-2021:2"]
    assert swept["membership"][("login-log", "delete")] == 1

    await platform.sweep("2026-06-01")
    assert set(await platform.erasure_requests()) == {"ola", "per"}


async def test_smartorg_keeps_everything_while_the_membership_runs(platform: Platform) -> None:
    """SmartOrg: no periods of its own; all goes when the purpose (membership) ends; marketing
    when its consent is withdrawn; payments by the bookkeeping act."""
    await platform.load("smartorg")
    await platform.member("kari", "2015-01-10")
    await platform.login("kari", "2015-02-01")
    await platform.consent("kari", "membership_news", True, "2015-01-10")
    await platform.member("ola", "2015-01-10", "lapsed", changed="2026-04-30")
    await platform.message("old-kari", "kari", "2015-02-01")
    await platform.message("news-kari", "kari", "2016-02-01", "marketing", "newsletter")
    await platform.consent("kari", "newsletter", True, "2015-01-10")
    await platform.consent("kari", "newsletter", False, "2026-05-30")
    await platform.message(
        "queued-news", "kari", "2026-05-29", "marketing", "newsletter", status="queued"
    )

    await platform.sweep("2026-06-01")

    assert await platform.logins("kari") == [("2015-02-01", "203.0.113.5")]
    assert len(await platform.audit_days("kari")) == 1
    assert len(await platform.consent_days("kari")) == 3
    assert set(await platform.erasure_requests()) == {"ola"}
    # A message not settled yet stays until it is.
    assert await platform.messages() == ["old-kari", "queued-news"]


async def test_smb_norge_deletes_after_two_years(platform: Platform) -> None:
    """SMB Norge: at most two years; a relationship is active while used in the last 24
    months."""
    await platform.load("smb-norge")
    await platform.member("kari", "2024-01-10")
    await platform.login("kari", "2024-05-31")
    await platform.login("kari", "2026-05-01")
    await platform.member("ola", "2024-01-10")
    await platform.login("ola", "2024-05-30")  # last active: kept until 2026-05-30
    await platform.message("welcome-kari", "kari", "2024-05-31")
    await platform.message("reminder-kari", "kari", "2024-06-01")
    await platform.payment("inv-2020", "kari", "2020-03-10")
    await platform.payment("open-2020", "kari", "2020-03-10", status="open")

    swept = await platform.sweep("2026-06-01")

    assert await platform.logins("kari") == [("2026-05-01", "203.0.113.5")]
    # Kari's registration audit entry (2024-01-10) is past two years too.
    assert await platform.audit_days("kari") == []
    assert set(await platform.erasure_requests()) == {"ola"}
    assert await platform.messages() == ["reminder-kari"]
    # An open claim stays, whatever its age.
    assert await platform.payments() == ["open-2020:1"]
    assert swept["notify"] == {("message-log", "delete"): 1}
    assert swept["billing"] == {("payment-records", "delete"): 3}


async def test_smb_mobil_keeps_five_years_after_the_relationship(platform: Platform) -> None:
    """SMB Mobil: five years after the customer relationship ended."""
    await platform.load("smb-mobil")
    await platform.member("kari", "2015-01-10")
    await platform.login("kari", "2015-02-01")
    await platform.member("ola", "2015-01-10", "lapsed", changed="2021-05-31")
    await platform.member("per", "2015-01-10", "cancelled", changed="2021-06-01")
    await platform.billed("ola", "lapsed", "2021-05-31")
    await platform.payment("inv-2020", "kari", "2020-03-10")

    await platform.sweep("2026-06-01")

    assert await platform.logins("kari") == [("2015-02-01", "203.0.113.5")]
    assert set(await platform.erasure_requests()) == {"ola"}
    assert await platform.payments() == []


async def test_a_bad_profile_names_file_rule_and_field_and_stores_nothing(
    platform: Platform,
) -> None:
    bad = (
        "name: club\nseed: Our policy\nversion: 1\nrules:\n"
        "  - category: login-log\n    keep: -1 days\n    after: collection\n"
        "    action: delete\n    basis: security\n    source: ours\n"
    )
    with pytest.raises(InvalidArgument) as refused:
        await platform.load(text=bad, file_name="club.yaml")
    assert refused.value.field_errors == {
        "yaml": "club.yaml: rules[0] (login-log).keep: '-1 days': a duration must not be negative"
    }
    with pytest.raises(InvalidArgument, match="name: no shipped profile 'smartorgs'"):
        await platform.load("smartorgs")
    with pytest.raises(InvalidArgument, match="source: "):
        await platform.load()
    assert await platform.loads() == 0
    assert (await platform.profiles.get(platform.org)).profile is None


async def test_each_load_is_kept_and_the_newest_is_enforced(platform: Platform) -> None:
    await platform.load("smartorg")
    again = await platform.load("smartorg")  # the active one: nothing new
    assert [r.revision for r in again.history] == [1]
    # A service parses an org's profile once per load, not on every sweep.
    seen = OneOrg(ErasureProfiles(platform.erasure_client), platform.org)
    [first] = await seen.active()
    [cached] = await seen.active()
    assert cached.profile is first.profile and cached.profile.name == "smartorg"
    own = (
        "name: club\nseed: Our policy\nversion: 3\nrules:\n"
        "  - category: login-log\n    keep_last: 1\n    action: delete\n"
        "    basis: security\n    source: Vi lagrer siste innlogging.\n"
    )
    loaded = await platform.load(text=own, file_name="club.yaml")
    assert [(r.revision, r.name, r.version, r.origin, r.loaded_by) for r in loaded.history] == [
        (2, "club", 3, "file:club.yaml", "api-key:k-1"),
        (1, "smartorg", 1, "shipped", "api-key:k-1"),
    ]
    [reloaded] = await seen.active()
    assert (reloaded.revision, reloaded.profile.name) == (2, "club")
    await platform.member("kari", "2025-01-10")
    await platform.login("kari", "2026-05-01")
    await platform.login("kari", "2026-05-02")
    await platform.sweep("2026-05-03")
    assert await platform.logins("kari") == [("2026-05-02", "203.0.113.5")]
