"""Before any provider: the claimed messages are unsealed (a member erased since the message
was queued has no key left: FAILED "member-erased"), and their addresses checked against the
suppression list in one query (FAILED "suppressed:<why>")."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, bindparam, select, tuple_

from services.common.db.engine import Database
from services.common.sealing import Sealer, SubjectForgotten
from services.notify.adapters.orm import suppressions
from services.notify.domain import delivery
from services.notify.domain.messages import FAILED
from services.notify.domain.suppression import address_hash
from services.notify.service_layer.dispatch.attempt import Attempt

SEALED_FIELDS = ("recipient", "subject", "body")


@functools.cache
def _suppressed() -> Select[Any]:
    # Built once, the keys bound per batch (an expanding IN): compiled once, not per batch.
    return select(
        suppressions.c.org_id,
        suppressions.c.channel,
        suppressions.c.address_hash,
        suppressions.c.reason,
    ).where(
        tuple_(suppressions.c.org_id, suppressions.c.channel, suppressions.c.address_hash).in_(
            bindparam("s_keys", expanding=True)
        )
    )


async def screen(
    database: Database, sealer: Sealer, suppression_key: bytes, attempts: Sequence[Attempt]
) -> None:
    """Unseals each attempt's fields; decides (FAILED) those that must not be sent."""
    with contextlib.suppress(Exception):  # a shortcut only: unseal fetches what it lacks
        await sealer.prefetch(sorted({a.row.member_id for a in attempts}))
    hashes: dict[tuple[str, str, str], list[Attempt]] = {}
    for attempt in attempts:
        row = attempt.row
        sealed = {name: getattr(row, f"{name}_sealed") for name in SEALED_FIELDS}
        if row.html_sealed is not None:
            sealed["html"] = row.html_sealed
        try:
            attempt.fields = await sealer.unseal(row.member_id, sealed)
        except SubjectForgotten:
            attempt.status, attempt.code = FAILED, delivery.MEMBER_ERASED
            continue
        key = (
            row.org_id,
            row.channel,
            address_hash(suppression_key, row.channel, attempt.fields["recipient"]),
        )
        hashes.setdefault(key, []).append(attempt)
    if not hashes:
        return
    async with database.sessions() as session:
        found = (await session.execute(_suppressed(), {"s_keys": list(hashes)})).all()
    for org_id, channel, hashed, reason in found:
        for attempt in hashes.get((org_id, channel, hashed), []):
            attempt.status, attempt.code = FAILED, f"suppressed:{reason}"
