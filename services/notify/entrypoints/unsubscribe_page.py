"""GET and POST /unsubscribe/{token} (RFC 8058).

GET shows a small page with a button and changes nothing: mail scanners and link previews
follow links. POST (a mail client's one-click request, body `List-Unsubscribe=One-Click`, or
the page's button, which posts the same) withdraws the consent the token names and answers
200. A forged, tampered or malformed token answers 400 and changes nothing; membership out of
reach answers 503, so that a one-click sender tries again.
"""

from __future__ import annotations

import html
from urllib.parse import parse_qsl

import faust
import grpc
from faust.web import Request, Response, View

from services.common.http import add_page
from services.common.metrics import ServiceMetrics
from services.notify.service_layer.unsubscribing import Unsubscribing

ROUTE = "/unsubscribe/{token}"
ONE_CLICK = ("List-Unsubscribe", "One-Click")
MAX_BODY_BYTES = 16 * 1024
HTML = "text/html"

_PAGE = """<!doctype html>
<html lang="nb"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title></head>
<body style="font-family: sans-serif; max-width: 32em; margin: 3em auto">
{content}
</body></html>
"""


def page(title: str, content: str) -> str:
    return _PAGE.format(title=html.escape(title), content=content)


CONFIRM = page(
    "Meld av / Unsubscribe",
    """<h1>Meld deg av?</h1>
<p>Du får ikke flere slike meldinger. Kvitteringer og fakturaer kommer fortsatt.</p>
<p lang="en">You will get no more messages like this one. Receipts and invoices still come.</p>
<form method="post">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Meld meg av / Unsubscribe</button>
</form>""",
)
DONE = page(
    "Avmeldt / Unsubscribed",
    """<h1>Du er meldt av</h1>
<p>Samtykket ditt er trukket tilbake.</p>
<p lang="en">You are unsubscribed: your consent is withdrawn.</p>""",
)
BAD_LINK = page(
    "Ugyldig lenke / Invalid link",
    """<h1>Lenken er ugyldig</h1>
<p lang="en">This unsubscribe link is not valid.</p>""",
)
NOT_ONE_CLICK = page(
    "Ugyldig forespørsel / Invalid request",
    '<h1>Ugyldig forespørsel</h1><p lang="en">Expected List-Unsubscribe=One-Click.</p>',
)
UNAVAILABLE = page(
    "Prøv igjen / Try again",
    '<h1>Prøv igjen om litt</h1><p lang="en">Please try again in a moment.</p>',
)


async def _one_click(request: Request) -> bool:
    """True when the body asks for one-click unsubscribe (form-urlencoded or multipart)."""
    content_type = request.headers.get("Content-Type", "")
    declared = request.content_length  # type: ignore[attr-defined]
    if declared is not None and declared > MAX_BODY_BYTES:
        return False
    if content_type.startswith("multipart/form-data"):
        try:
            form = await request.post()  # type: ignore[attr-defined]
        except ValueError:  # declared multipart, but its parts do not parse
            return False
        return form.get(ONE_CLICK[0]) == ONE_CLICK[1]
    body = await request.read()  # type: ignore[attr-defined]
    if len(body) > MAX_BODY_BYTES:
        return False
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return False
    return ONE_CLICK in pairs


def add_unsubscribe_routes(
    app: faust.App, metrics: ServiceMetrics, unsubscribing: Unsubscribing
) -> None:
    async def show(view: View, request: Request) -> Response:
        token = request.match_info.get("token", "")  # type: ignore[attr-defined]
        if unsubscribing.read(token) is None:
            return view.html(BAD_LINK, status=400)
        return view.html(CONFIRM)

    async def unsubscribe(view: View, request: Request) -> Response:
        token = request.match_info.get("token", "")  # type: ignore[attr-defined]
        wanted = unsubscribing.read(token)
        if wanted is None:
            return view.html(BAD_LINK, status=400)
        if not await _one_click(request):
            return view.html(NOT_ONE_CLICK, status=400)
        try:
            await unsubscribing.unsubscribe(wanted)
        except grpc.aio.AioRpcError:
            return view.html(UNAVAILABLE, status=503, headers={"Retry-After": "60"})
        return view.html(DONE)

    add_page(app, metrics, ROUTE, get=show, post=unsubscribe)
