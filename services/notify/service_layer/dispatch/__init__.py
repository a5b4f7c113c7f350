"""The dispatcher: hands queued messages to their provider, and never sends one twice.

A message row is written QUEUED (the intent) before any provider hears of it. The dispatcher
picks due rows (QUEUED, RETRY or UNKNOWN whose next_attempt_at has come), claims each with a
compare-and-set (status SENDING, attempts + 1, committed) so that two replicas never hold the
same message, and only then calls the provider. The outcome is recorded in one transaction
per group of finished attempts:

- accepted: SENT, with the provider's id, and notify.message-recorded.v1 through the outbox;
- transient (429, 5xx, no connection): RETRY at the provider's Retry-After or after an
  exponential backoff with full jitter;
- timeout (sent, no answer): UNKNOWN with a backoff; every later attempt first asks the
  provider whether the message went out, and marks it SENT if it did;
- permanent (invalid address or number, opted out): FAILED with the provider's code, not
  retried. An SMS refused because the number sent STOP (Twilio 21610) puts the number on the
  suppression list and, for a transactional message, queues the same text by email;
- attempts exhausted: FAILED "gave-up".

A member erased since the message was queued (their key shredded) gets nothing: FAILED
"member-erased". An address on the suppression list gets nothing: FAILED "suppressed:<why>".
A claim left SENDING by a dispatcher that died is taken over after `stale_sending_s`, as
UNKNOWN (it may have gone out). Logs carry ids and codes, never addresses or text.

The modules, in the order a message meets them:

- `claiming`: which rows are due, and the compare-and-set that makes them ours;
- `screening`: before any provider: unsealing, the erased member, the suppression list;
- `sending`: one message through its provider (email or SMS), the lookup after a timeout,
  and what the answer means (`attempt` holds the outcome and the retry decision);
- `sms_opt_out`: a number that sent STOP, and the email (the `sms-fallback` kind, in the
  member's language) that replaces a receipt;
- `recording`: one transaction per group of outcomes (status, outbox event, suppression,
  fallback row), then metrics and logs;
- `dispatcher`: the loop that keeps the provider fed and groups the records.
"""

from services.notify.service_layer.dispatch.attempt import DispatchPolicy
from services.notify.service_layer.dispatch.dispatcher import Dispatcher
from services.notify.service_layer.dispatch.providers import (
    EmailContact,
    EmailContacts,
    EmailProvider,
    SmsProvider,
)
from services.notify.service_layer.dispatch.sms_opt_out import fallback_id

__all__ = [
    "DispatchPolicy",
    "Dispatcher",
    "EmailContact",
    "EmailContacts",
    "EmailProvider",
    "SmsProvider",
    "fallback_id",
]
