"""/exports/{token}: a member's export archive, once.

GET shows a page with a download button and spends nothing: mail scanners and link previews
fetch links before the member does, and must not use the one download up. The button POSTs
to the same address; the first POST of a valid link answers the encrypted ZIP as an
attachment. Every later request, and any after the link expired or the member was erased,
answers 410 Gone with a page that says so. A forged or malformed token answers 404. No answer
says whether a member exists: the token names a request, and only a token this service signed
gets past 404.
"""

from __future__ import annotations

import faust
from faust.web import Request, Response, View

from services.common.http import add_page
from services.common.metrics import ServiceMetrics
from services.erasure.domain.export_links import ROUTE
from services.erasure.service_layer.exports import DOWNLOADED, GONE, READY, ExportDownloads

ARCHIVE_NAME = "kontingent-export.zip"
# Private (never a shared cache's), not stored, not indexed: it is someone's personal data.
NO_STORE = {"Cache-Control": "no-store, private", "X-Robots-Tag": "noindex"}

_PAGE = """<!doctype html>
<html lang="nb"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title></head>
<body style="font-family: sans-serif; max-width: 32em; margin: 3em auto">
{content}
</body></html>
"""
READY_PAGE = _PAGE.format(
    title="Last ned dataene dine / Download your data",
    content="""<h1>Last ned dataene dine</h1>
<p>Filen er kryptert (ZIP, AES-256). Passordet får du fra organisasjonen på annen måte enn
denne e-posten. Lenken virker bare én gang.</p>
<p lang="en">The file is encrypted (ZIP, AES-256). The organisation gives you the password
another way than this email. The link works once.</p>
<form method="post"><button type="submit">Last ned / Download</button></form>""",
)
USED_OR_EXPIRED = _PAGE.format(
    title="Lenken er brukt / Link used",
    content="""<h1>Lenken virker ikke lenger</h1>
<p>Denne nedlastingslenken er allerede brukt eller har utløpt. Den virker bare én gang, og
filen er slettet hos oss. Be organisasjonen om en ny innsynsforespørsel om du trenger den.</p>
<p lang="en">This download link was already used or has expired. It works once, and the file
is deleted on our side. Ask the organisation for a new access request if you need it.</p>""",
)
NOT_A_LINK = _PAGE.format(
    title="Ugyldig lenke / Invalid link",
    content="""<h1>Lenken er ugyldig</h1>
<p lang="en">This download link is not valid.</p>""",
)


def add_export_routes(app: faust.App, metrics: ServiceMetrics, downloads: ExportDownloads) -> None:
    def token_of(request: Request) -> str:
        return request.match_info.get("token", "")  # type: ignore[attr-defined,no-any-return]

    def refused(view: View, outcome: str) -> Response:
        if outcome == GONE:
            return view.html(USED_OR_EXPIRED, status=410, headers=NO_STORE)
        return view.html(NOT_A_LINK, status=404, headers=NO_STORE)

    async def show(view: View, request: Request) -> Response:
        outcome = await downloads.state(token_of(request))
        if outcome == READY:
            return view.html(READY_PAGE, headers=NO_STORE)
        return refused(view, outcome)

    async def download(view: View, request: Request) -> Response:
        taken = await downloads.take(token_of(request))
        if taken.outcome == DOWNLOADED:
            return view.bytes(
                taken.archive,
                content_type="application/zip",
                headers={
                    **NO_STORE,
                    "Content-Disposition": f'attachment; filename="{ARCHIVE_NAME}"',
                },
            )
        return refused(view, taken.outcome)

    add_page(app, metrics, ROUTE, get=show, post=download)
