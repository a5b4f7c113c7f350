"""The dispatcher's loop: claim a batch, screen it, hand each message to its provider, and
record the outcomes in groups as they finish. The next batch is claimed as soon as no more
than one batch waits unrecorded, so the provider always has a batch queued behind the one it
is sending, and is never left idle at a batch boundary."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from services.common.db.engine import Database
from services.common.sealing import Sealer
from services.notify.domain.delivery import TRANSIENT, ProviderFailure
from services.notify.service_layer.dispatch.attempt import Attempt, DispatchPolicy, retry_later
from services.notify.service_layer.dispatch.claiming import claim
from services.notify.service_layer.dispatch.providers import (
    ContactEmails,
    EmailProvider,
    SmsProvider,
)
from services.notify.service_layer.dispatch.recording import record
from services.notify.service_layer.dispatch.screening import screen
from services.notify.service_layer.dispatch.sending import Sending


class Dispatcher:
    def __init__(
        self,
        database: Database,
        sealer: Sealer,
        email: EmailProvider,
        sms: SmsProvider,
        suppression_key: bytes,
        policy: DispatchPolicy | None = None,
        contacts: ContactEmails | None = None,
        on_recorded: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.database = database
        self.sealer = sealer
        self.email = email
        self.sms = sms
        self.suppression_key = suppression_key
        self.policy = policy or DispatchPolicy()
        self.contacts = contacts
        self.on_recorded = on_recorded
        self.clock = clock
        self.sending = Sending(email, sms, sealer, self.policy, contacts, clock)
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        """Something was queued (a consumer batch committed): look now, not at the poll."""
        self._wakeup.set()

    async def round(self) -> None:
        """One turn of the loop (run back to back by the runtime): dispatch until nothing is
        due, then wait for a wake-up or the poll interval."""
        self._wakeup.clear()
        await self.drain()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), self.policy.poll_s)

    async def drain(self) -> int:
        """Dispatches until nothing is due; returns how many messages were attempted."""
        total = 0
        flight = _InFlight(self)
        try:
            while True:
                # One batch in the provider's hands, at most one more behind it.
                await flight.record_until(self.policy.batch_size)
                attempts = await self._claim()
                if not attempts:
                    break
                total += len(attempts)
                flight.start(attempts)
                if len(attempts) < self.policy.batch_size:
                    break
            await flight.record_until(0)
        finally:
            flight.cancel()
        return total

    async def run_once(self) -> int:
        """Claims up to a batch of due messages and attempts each; returns how many."""
        attempts = await self._claim()
        if not attempts:
            return 0
        flight = _InFlight(self)
        try:
            flight.start(attempts)
            await flight.record_until(0)
        finally:
            flight.cancel()
        return len(attempts)

    async def _claim(self) -> list[Attempt]:
        """A batch claimed (committed before any provider call) and screened."""
        attempts = await claim(self.database, self.policy, self.clock())
        if attempts:
            await screen(self.database, self.sealer, self.suppression_key, attempts)
        return attempts

    async def _record(self, group: Sequence[Attempt]) -> None:
        recorded = await record(self.database, self.suppression_key, group, self.clock())
        if recorded.sent:
            self.on_recorded()
        if recorded.queued_fallback:
            self.wake()


class _InFlight:
    """Claimed attempts between their claim and their record. Each is sent by a task of its
    own (the provider bounds how many of its calls run at once, and queues the rest); the
    finished ones are recorded a group at a time: whatever finished while the last group was
    written, after a short linger when only a few did."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher
        self._policy = dispatcher.policy
        self._finished: list[Attempt] = []
        self._arrived = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.unrecorded = 0

    def start(self, attempts: Sequence[Attempt]) -> None:
        self.unrecorded += len(attempts)
        for attempt in attempts:
            if attempt.status:  # decided while screening (erased, suppressed)
                self._finish(attempt)
                continue
            task = asyncio.create_task(self._send(attempt))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, attempt: Attempt) -> None:
        try:
            await self._dispatcher.sending.attempt(attempt)
        except Exception as exc:  # a bug or an adapter surprise: try again later
            retry_later(attempt, ProviderFailure(TRANSIENT, type(exc).__name__), self._policy)
        self._finish(attempt)

    def _finish(self, attempt: Attempt) -> None:
        self._finished.append(attempt)
        self._arrived.set()

    async def record_until(self, most: int) -> None:
        """Records finished attempts until at most `most` are left unrecorded."""
        while self.unrecorded > most:
            await self._arrived.wait()
            linger = self._policy.record_linger_s
            if linger > 0 and len(self._finished) < min(self.unrecorded, self._policy.batch_size):
                await asyncio.sleep(linger)  # more are on their way: fewer, larger commits
            group, self._finished = self._finished, []
            self._arrived.clear()
            await self._dispatcher._record(group)
            self.unrecorded -= len(group)

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()
