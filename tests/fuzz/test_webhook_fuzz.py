"""Every webhook and form POST the stack takes from outside, sent generated bad requests: bad
bodies, headers, content types and signatures, and (the interesting case) correctly signed
requests whose payload is malformed, signed with the stack's own secrets as the provider or
our own link would be. No answer may be a 5xx, the service must still be up, and a refused
request (4xx) must leave every database as it was."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest
import requests
import stripe
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from services.membership.domain.privacy_links import PrivacyLinks
from services.notify.domain.unsubscribe_links import Unsubscribe, UnsubscribeLinks
from tests.fuzz.messages import AWKWARD
from tests.fuzz.world import WEBHOOK_EXAMPLES, World, fuzz_settings

pytestmark = pytest.mark.e2e

HTTP_TIMEOUT_S = 10.0
PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)


def header_text(max_size: int) -> st.SearchStrategy[str]:
    """Printable ASCII a header may carry (an HTTP client refuses leading whitespace)."""
    return st.text(PRINTABLE, max_size=max_size).map(str.strip)


CONTENT_TYPES = [
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "multipart/form-data",
    "text/plain; charset=utf-16",
    "application/octet-stream",
    "",
    "application/json; charset=nope",
]


@dataclass(frozen=True)
class Post:
    """One request to a service's HTTP server."""

    service: str
    path: str  # with the query string
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def send(world: World, post: Post) -> int:
    response = requests.post(
        world.stack.http_url(post.service) + post.path,
        data=post.body,
        headers=post.headers,
        timeout=HTTP_TIMEOUT_S,
        allow_redirects=False,
    )
    return response.status_code


def check(world: World, post: Post) -> None:
    status = world.watch.check(lambda: send(world, post), lambda s: 400 <= s < 500)
    assert status < 500, f"{post.path} answered {status}"
    assert world.serving(post.service), f"{post.service} stopped serving after {post.path}"


def json_values(world: World) -> st.SearchStrategy[object]:
    """Any JSON value, with strings that are sometimes real ids or awkward."""
    strings = st.one_of(st.text(max_size=20), st.sampled_from([*world.ids, *AWKWARD[:-1]]))
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        strings,
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(strings, inner, max_size=4)
        ),
        max_leaves=12,
    )


def shaped(keys: dict[str, st.SearchStrategy[object]], world: World) -> st.SearchStrategy[dict]:
    """A JSON object with some of the keys a provider sends (awkward values) and some others."""
    return st.builds(
        lambda known, extra: {**extra, **known},
        st.fixed_dictionaries(
            {}, optional={k: st.one_of(v, json_values(world)) for k, v in keys.items()}
        ),
        st.dictionaries(st.text(max_size=8), json_values(world), max_size=2),
    )


def bodies(world: World, payloads: st.SearchStrategy[object]) -> st.SearchStrategy[bytes]:
    """Mostly the provider's shape (three times the weight), else any JSON, bytes, or extremes."""
    shaped_body = payloads.map(lambda p: json.dumps(p).encode())
    return st.one_of(
        shaped_body,
        shaped_body,
        shaped_body,
        json_values(world).map(lambda p: json.dumps(p).encode()),
        st.binary(max_size=64),
        st.sampled_from([b"", b"{", b"[]", b"null", b"\xff\xfe", b"[" * 5000, b"x" * 300_000]),
    )


# --- Stripe --------------------------------------------------------------------------------

STRIPE_TYPES = [
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "charge.refunded",
    "charge.refund.updated",
    "charge.dispute.created",
    "customer.deleted",
    "invoice.paid",
]


def stripe_events(world: World) -> st.SearchStrategy[dict]:
    ids = st.sampled_from(world.ids)
    stripe_object = shaped(
        {
            "id": st.one_of(st.text(max_size=10), ids),
            "amount": st.integers(-(2**70), 2**70),
            "amount_received": st.integers(-1, 10**9),
            "currency": st.sampled_from(["nok", "NOK", ""]),
            "status": st.sampled_from(["succeeded", "failed", "pending"]),
            "metadata": shaped({"invoice_id": ids, "org_id": ids}, world),
            "payment_intent": st.one_of(ids, shaped({"id": ids}, world)),
            "charge": ids,
            "last_payment_error": shaped({"code": st.text(max_size=5)}, world),
            "refunds": shaped(
                {
                    "data": st.lists(shaped({"amount": st.integers(), "id": ids}, world)),
                    "has_more": st.booleans(),
                },
                world,
            ),
        },
        world,
    )
    envelope = {
        "id": st.one_of(st.text(min_size=1, max_size=64), st.just("evt_" + "x" * 70)),
        "type": st.sampled_from(STRIPE_TYPES),
        "data": st.fixed_dictionaries({"object": stripe_object}),
    }
    created = st.one_of(st.integers(-(2**70), 2**70), st.booleans())
    # An envelope that passes the parser (so the object inside is what is fuzzed), or not.
    return st.one_of(
        st.fixed_dictionaries(envelope, optional={"created": created}),
        shaped({**envelope, "created": created}, world),
    )


@st.composite
def stripe_posts(draw: st.DrawFn, world: World) -> Post:
    body = draw(bodies(world, stripe_events(world)))
    secret = world.stack.secrets["STRIPE_WEBHOOK_SECRETS"]
    now = int(time.time())
    # Signed as Stripe signs (most often, so that the payload is what gets tested): now, long
    # ago, in the future, or with another secret; else no or a made-up signature.
    signed = st.tuples(
        st.sampled_from([secret, secret, secret, "whsec_other"]),
        st.sampled_from([now, now, now, now - 3600, now + 3600]),
    ).map(
        lambda s: stripe.WebhookSignature.generate_signature_header(
            body.decode("utf-8", "replace"), s[0], s[1]
        )
    )
    signature = draw(st.one_of(st.none(), header_text(max_size=80), signed, signed, signed))
    headers = {"Content-Type": draw(st.sampled_from(CONTENT_TYPES))}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return Post("billing", "/stripe/webhook", body, headers)


# --- SendGrid ------------------------------------------------------------------------------

SENDGRID_EVENTS = ["delivered", "bounce", "dropped", "spamreport", "unsubscribe", "open", ""]


def sendgrid_batches(world: World) -> st.SearchStrategy[list]:
    required = {
        "sg_event_id": st.one_of(st.text(min_size=1, max_size=120), st.just("e" * 121)),
        "event": st.sampled_from(SENDGRID_EVENTS),
    }
    others = {
        "timestamp": st.one_of(st.integers(-(2**70), 2**70), st.floats()),
        "email": st.sampled_from([*world.member_emails, "nobody@example.org", ""]),
        "message_id": st.sampled_from(world.ids),
        "type": st.sampled_from(["bounce", "blocked"]),
    }
    # Events that pass the parser (so what they name is what is fuzzed), or not.
    event = st.one_of(
        st.fixed_dictionaries(required, optional=others), shaped({**required, **others}, world)
    )
    return st.lists(event, max_size=4)


@st.composite
def sendgrid_posts(draw: st.DrawFn, world: World) -> Post:
    body = draw(bodies(world, sendgrid_batches(world)))
    private = serialization.load_der_private_key(
        base64.b64decode(world.stack.secrets["SENDGRID_WEBHOOK_PRIVATE_KEY"]), None
    )
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    stamp = draw(
        st.one_of(
            st.sampled_from([int(time.time())] * 3 + [0, int(time.time()) - 3600]).map(str),
            header_text(max_size=12),
        )
    )
    signer = draw(st.sampled_from([private] * 3 + [ec.generate_private_key(ec.SECP256R1())]))
    signature = base64.b64encode(
        signer.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    ).decode()
    headers = {"Content-Type": draw(st.sampled_from(CONTENT_TYPES))}
    # Mostly signed as SendGrid signs; else a header missing or made up.
    if draw(st.sampled_from([True] * 4 + [False])):
        headers["X-Twilio-Email-Event-Webhook-Signature"] = draw(
            st.one_of(st.just(signature), st.just(signature), header_text(max_size=40))
        )
    if draw(st.sampled_from([True] * 4 + [False])):
        headers["X-Twilio-Email-Event-Webhook-Timestamp"] = stamp
    return Post("notify", "/sendgrid/events", body, headers)


# --- Twilio --------------------------------------------------------------------------------


@st.composite
def twilio_posts(draw: st.DrawFn, world: World) -> Post:
    route = draw(st.sampled_from(["/twilio/status", "/twilio/inbound"]))
    query = draw(
        st.one_of(
            st.just(""),
            st.one_of(st.sampled_from(world.ids), st.text(max_size=20)).map(
                lambda m: "?" + urlencode({"message_id": m})
            ),
        )
    )
    path = route + query
    texts = st.one_of(st.sampled_from([*world.ids, *AWKWARD[:-1]]), st.text(max_size=20))
    form = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "MessageSid": texts,
                "MessageStatus": st.sampled_from(["delivered", "undelivered", "failed", "x"]),
                "ErrorCode": texts,
                "To": st.sampled_from([*world.member_phones, "+4700000000", "", "abc"]),
                "From": st.sampled_from([*world.member_phones, "+4700000000", "", "abc"]),
                "Body": st.sampled_from(["STOP", "stopp.", "hei", "", "\x00"]),
            },
        )
    )
    form = {k: v.replace("\x00", "") for k, v in form.items()}  # a form field carries no NUL
    token = world.stack.secrets["TWILIO_AUTH_TOKEN"]
    base = world.stack.http_url("notify")
    signature = draw(
        st.one_of(
            st.just(RequestValidator(token).compute_signature(base + path, form)),
            st.just(RequestValidator("0" * 32).compute_signature(base + path, form)),
            header_text(max_size=30),
            st.none(),
        )
    )
    body = draw(
        st.one_of(st.just(urlencode(form).encode()), st.binary(max_size=40), st.just(b"%zz=\xff"))
    )
    headers = {"Content-Type": draw(st.sampled_from(CONTENT_TYPES))}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    return Post("notify", path, body, headers)


# --- the unsubscribe page (RFC 8058 one-click POST) ----------------------------------------


@st.composite
def unsubscribe_posts(draw: st.DrawFn, world: World) -> Post:
    links = UnsubscribeLinks(world.stack.secrets["UNSUBSCRIBE_KEY"], "")
    texts = st.one_of(st.sampled_from([*world.ids, *AWKWARD[:-1]]), st.text(max_size=12))
    signed = st.builds(
        Unsubscribe,
        org_id=st.one_of(st.just(world.org_id), texts),
        member_id=texts,
        purpose=st.sampled_from(["marketing", "newsletter", "Bad Purpose", ""]),
        channel=st.sampled_from(["email", "sms", "fax"]),
        message_id=texts,
    ).map(links.token)
    token = draw(
        st.one_of(signed, st.text(PRINTABLE.filter(lambda c: c not in "/?#%"), min_size=1))
    )
    body = draw(
        st.one_of(
            st.just(b"List-Unsubscribe=One-Click"),
            st.binary(max_size=40),
            st.just(b"List-Unsubscribe=One-Click&" + b"x" * 20_000),
        )
    )
    headers = {"Content-Type": draw(st.sampled_from(CONTENT_TYPES))}
    return Post("notify", f"/unsubscribe/{token}", body, headers)


# --- the members' privacy page -------------------------------------------------------------


def form_body(fields: dict[str, str]) -> bytes:
    return urlencode(fields).encode()


@st.composite
def privacy_posts(draw: st.DrawFn, world: World) -> Post:
    texts = st.one_of(st.sampled_from([*world.ids, *AWKWARD]), st.text(max_size=20))
    org = draw(st.one_of(st.just(world.org_id), st.sampled_from(world.ids), texts))
    links = PrivacyLinks(world.stack.secrets["PRIVACY_LINK_KEY"], "", 3600)
    if draw(st.booleans()):
        fields = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "email": st.one_of(st.sampled_from(world.member_emails), texts),
                    "lang": st.sampled_from(["nb", "en", "xx"]),
                },
            )
        )
        path = "/privacy/" + requests.utils.quote(org, safe="")
    else:
        token = draw(
            st.one_of(
                st.builds(lambda o, m: links.sign(o, m).token, st.just(org), texts),
                st.text(PRINTABLE.filter(lambda c: c not in "/?#%"), min_size=1),
            )
        )
        fields = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "form_token": st.one_of(st.just(links.form_token(token)), texts),
                    # Not "delete-confirmed": an accepted one erases a real member through
                    # every store and vendor, work that outlasts the package's time budget.
                    "action": st.sampled_from(["edit", "download", "delete", "bogus", ""]),
                    "name": texts,
                    "email": texts,
                    "phone": texts,
                    "lang": st.sampled_from(["nb", "en", "xx"]),
                },
            )
        )
        path = f"/privacy/p/{token}"
    body = draw(st.one_of(st.just(form_body(fields)), st.binary(max_size=40)))
    headers = {"Content-Type": draw(st.sampled_from(CONTENT_TYPES))}
    return Post("membership", path, body, headers)


# --- every route above, each with its own generator ------------------------------------------


@pytest.mark.parametrize(
    "posts",
    [stripe_posts, sendgrid_posts, twilio_posts, unsubscribe_posts, privacy_posts],
    ids=["stripe", "sendgrid", "twilio", "unsubscribe", "privacy"],
)
@fuzz_settings(WEBHOOK_EXAMPLES)
@given(data=st.data())
def test_posts_are_answered_cleanly(
    world: World, posts: Callable[[World], st.SearchStrategy[Post]], data: st.DataObject
) -> None:
    check(world, data.draw(posts(world)))
