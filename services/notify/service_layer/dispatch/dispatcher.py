"""The dispatcher's loop: claim a batch, screen it, hand each message to its provider, and
record the outcomes in groups as they finish. The next batch is claimed as soon as no more
than one batch waits unrecorded, so the provider always has a batch queued behind the one it
is sending, and is never left idle at a batch boundary.

On shutdown the runtime cancels the loop (a send cut short leaves its message SENDING, taken
over as UNKNOWN by the next dispatcher: looked up before it is sent again), then calls
`close()`, which waits for the cancelled sends to end and closes the providers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from services.common.db.engine import Database
from services.common.sealing import Sealer
from services.notify.adapters.template_overrides import TemplateOverrides
from services.notify.domain.delivery import TRANSIENT, ProviderFailure
from services.notify.service_layer.dispatch.attempt import Attempt, DispatchPolicy, retry_later
from services.notify.service_layer.dispatch.claiming import claim
from services.notify.service_layer.dispatch.providers import (
    EmailContacts,
    EmailProvider,
    SmsProvider,
)
from services.notify.service_layer.dispatch.recording import record
from services.notify.service_layer.dispatch.screening import screen
from services.notify.service_layer.dispatch.sending import Sending
from services.notify.service_layer.dispatch.sms_opt_out import EmailFallback


class Dispatcher:
    def __init__(
        self,
        database: Database,
        sealer: Sealer,
        email: EmailProvider,
        sms: SmsProvider,
        suppression_key: bytes,
        policy: DispatchPolicy | None = None,
        contacts: EmailContacts | None = None,
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
        fallback = EmailFallback(database, sealer, contacts, TemplateOverrides())
        self.sending = Sending(email, sms, self.policy, fallback, clock)
        self._wakeup = asyncio.Event()
        self._sends: set[asyncio.Task[None]] = set()  # every flight's, for close()
        self._closed = False

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

    async def close(self) -> None:
        """Waits for the sends in flight to finish or be cancelled, then closes the email and
        the SMS provider. Once: later calls return at once. (A stop hook: the runtime calls it
        after the loop has stopped.)"""
        if self._closed:
            return
        self._closed = True
        if self._sends:
            await asyncio.wait(set(self._sends))
        try:
            await self.email.close()
        finally:
            await self.sms.close()

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
            for tasks in (self._tasks, self._dispatcher._sends):
                tasks.add(task)
                task.add_done_callback(tasks.discard)

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
