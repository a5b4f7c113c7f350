"""Notify email benchmark: emails per second through notify's dispatcher, beside the raw
SendGrid SDK sending to the same server in the same run.

    python -m bench.notify_email --n 2000 --concurrency 16 --warmup 100

The server is the loopback SendGrid (tests/loopback/sendgrid.py, the v3 wire format) in a
process of its own. Two phases, back to back, in this order:

- raw: the official SDK's SendGridAPIClient.send, from `concurrency` threads, one Mail each;
- service: N QUEUED message rows (sealed with per-member keys, as the message content code
  writes them) in a fresh SQLite database, dispatched by the real Dispatcher through the real
  SendGrid adapter (same SDK, same number of threads): claim, unseal, suppression check, send,
  record SENT and the notify.message-recorded event in the outbox. Timed from the first claim
  to the last record committed (`Dispatcher.drain`).

What the service phase is not: the running notify process. The dispatcher runs in this
benchmark's process, on its event loop, with nothing else on it: no Kafka consumer, gRPC or
HTTP server, outbox relay or keyring (keys come from a local key source that hands them out
as the keyring would, all of them already held; the dispatcher's batch key prefetch is a
no-op here). Queueing the rows (rendering, consent and contact checks) is not measured.

Target: the service reaches >= 80% of the raw rate. A benchmark measures: it exits 0 whether
or not the target is met, and says which.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import CustomArg, Mail
from sqlalchemy import func, insert, select

from services.common.db.engine import Database
from services.common.db.migrations import upgrade_to_head
from services.common.logging import configure
from services.notify.adapters.orm import messages
from services.notify.adapters.sendgrid_email import SendGridConfig, SendGridEmail
from services.notify.adapters.sms_sandbox import SandboxSms
from services.notify.domain.messages import QUEUED, SENT
from services.notify.service_layer.dispatch import Dispatcher, DispatchPolicy
from tests.loopback.keys import LocalKeys
from tests.loopback.sendgrid import API_KEY

TARGET = 0.80
MIGRATIONS = Path(__file__).resolve().parents[1] / "services" / "notify" / "migrations"
ORG = "22222222-2222-4222-8222-222222222222"
SUBJECT = "Kvittering for kontingent"
TEXT = "Hei!\n\nVi har mottatt betalingen din på 500 kr. Takk!\n\nHilsen Benk og Bane IL\n"
HTML = "<p>Hei!</p><p>Vi har mottatt betalingen din på 500 kr. Takk!</p><p>Benk og Bane IL</p>"


def start_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.loopback.sendgrid"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert proc.stdout is not None
    base_url = proc.stdout.readline().strip()
    if not base_url.startswith("http"):
        proc.kill()
        raise SystemExit("the loopback SendGrid server did not start")
    return proc, base_url


def raw_rate(base_url: str, n: int, concurrency: int) -> float:
    client = SendGridAPIClient(API_KEY, host=base_url)
    client.client.timeout = 10.0

    def send(i: int) -> None:
        mail = Mail(
            from_email="no-reply@kontingent.local",
            to_emails=f"member{i}@example.no",
            subject=SUBJECT,
            plain_text_content=TEXT,
            html_content=HTML,
        )
        mail.custom_arg = CustomArg("message_id", str(uuid.uuid4()))
        response = client.send(mail)
        assert response.status_code == 202

    with ThreadPoolExecutor(concurrency) as pool:
        started = time.perf_counter()
        list(pool.map(send, range(n)))
        return n / (time.perf_counter() - started)


async def queue_rows(database: Database, keys: LocalKeys, n: int) -> None:
    rows = []
    now = datetime.now(UTC)
    for i in range(n):
        member_id = str(uuid.uuid4())
        keys.remember(member_id, os.urandom(32))
        sealed = await keys.seal(
            member_id,
            {"recipient": f"member{i}@example.no", "subject": SUBJECT, "body": TEXT, "html": HTML},
        )
        event_id = str(uuid.uuid4())
        rows.append(
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{event_id}/payment-receipt/email")),
                "org_id": ORG,
                "member_id": member_id,
                "source_event_id": event_id,
                "template": "payment-receipt",
                "channel": "email",
                "purpose": "billing",
                "message_class": "transactional",
                "recipient_sealed": sealed["recipient"],
                "subject_sealed": sealed["subject"],
                "body_sealed": sealed["body"],
                "html_sealed": sealed["html"],
                "status": QUEUED,
                "created_at": now,
            }
        )
    async with database.transaction() as session:
        await session.execute(insert(messages), rows)


async def service_rate(
    base_url: str, n: int, concurrency: int, batch_size: int, workdir: Path
) -> tuple[float, int]:
    database = Database(f"sqlite+aiosqlite:///{workdir / 'notify.db'}")
    try:
        await upgrade_to_head(database, MIGRATIONS)
        keys = LocalKeys()
        await queue_rows(database, keys, n)
        email = SendGridEmail(
            SendGridConfig(
                api_key=API_KEY,
                base_url=base_url,
                requests_per_s=1_000_000.0,
                concurrency=concurrency,
                timeout_s=10.0,
            )
        )
        sms = SandboxSms(workdir, "+4790000000", "http://127.0.0.1:8083")
        dispatcher = Dispatcher(
            database,
            keys,
            email,
            sms,
            b"bench-suppression-key",
            DispatchPolicy(batch_size=batch_size),
        )
        started = time.perf_counter()
        await dispatcher.drain()
        elapsed = time.perf_counter() - started
        async with database.sessions() as session:
            sent = await session.scalar(
                select(func.count()).select_from(messages).where(messages.c.status == SENT)
            )
        return n / elapsed, int(sent or 0)
    finally:
        await database.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=200)
    args = parser.parse_args()
    configure("notify", "warning")

    proc, base_url = start_server()
    workdir = Path(tempfile.mkdtemp(prefix="kontingent-bench-notify-"))
    try:
        raw_rate(base_url, args.warmup, args.concurrency)
        raw = raw_rate(base_url, args.n, args.concurrency)
        service, sent = asyncio.run(
            service_rate(base_url, args.n, args.concurrency, args.batch_size, workdir)
        )
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
    ratio = service / raw if raw else 0.0
    print(f"notify email: {args.n} emails, concurrency {args.concurrency}")
    print(f"  raw SendGrid SDK      {raw:8.1f} emails/s")
    print(f"  through the service   {service:8.1f} emails/s  ({sent} of {args.n} SENT)")
    verdict = "met" if ratio >= TARGET and sent == args.n else "NOT met"
    print(f"  ratio {ratio:.0%} (target >= {TARGET:.0%}): {verdict}")


if __name__ == "__main__":
    main()
