"""The member's self-service privacy page, server-rendered (nb, en), no JavaScript.

- `GET /privacy/{org_id}` asks for the member's email; its POST answers the same page whoever
  the address belongs to, and for a member has notify email a signed link (at most one per
  PRIVACY_LINK_RESEND_S).
- `GET /privacy/p/{token}` is the page the link opens: the member's data and three buttons,
  edit (name, email, phone), download (an access request, its archive's password shown once)
  and delete (an erasure request, after a confirmation). Each POST carries the page's form
  token, bound to the link (CSRF).

A forged or malformed link answers 404, an expired one 410, one whose member was erased 410
("no longer available"); a form token that does not match answers 403; asking again while
a request of the same kind is being handled answers 409 with its id. None of them says
whether a member exists. Pages are private, never stored nor indexed, and send no referrer
(the link's token is in the address).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import faust
import grpc
from faust.web import Request, Response, View
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from services.common.http import add_page
from services.common.logging import get_logger
from services.common.metrics import ServiceMetrics
from services.membership.adapters.privacy_requests import RequestOpen
from services.membership.domain.privacy_links import FORM_ROUTE, PAGE_ROUTE
from services.membership.entrypoints.privacy_texts import TEXTS
from services.membership.service_layer.privacy_links import (
    ACCESS,
    ERASURE,
    LinkRefused,
    OpenedPage,
    PrivacySelfService,
)

log = get_logger(__name__)

LANGUAGES = ("nb", "en")
HEADERS = {
    "Cache-Control": "no-store, private",
    "X-Robots-Tag": "noindex",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
}

# Refusals: HTTP status and the texts' key.
REFUSALS = {
    "invalid": (404, "invalid"),
    "expired": (410, "expired"),
    "gone": (410, "gone"),
    "no-org": (404, "no_org"),
    "forbidden": (403, "forbidden"),
    "bad-request": (400, "bad_request"),
    "unavailable": (503, "unavailable"),
}
MAX_FIELD = 320  # longer than any valid name, address or number; more is refused unread

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "privacy_templates"),
    autoescape=select_autoescape(["j2"], default_for_string=True, default=True),
    undefined=StrictUndefined,
)


def _language(wanted: str, fallback: str = "nb") -> str:
    return wanted if wanted in LANGUAGES else (fallback if fallback in LANGUAGES else "nb")


def _field_errors(errors: Mapping[str, str], lang: str) -> dict[str, str]:
    """The service's field errors as the page words them (the field's own message)."""
    texts = TEXTS[lang]
    return {f: texts[f"error_{f}"] for f in errors if f"error_{f}" in texts}


class PrivacyPage:
    def __init__(self, service: PrivacySelfService) -> None:
        self.service = service

    def render(
        self, view: View, template: str, lang: str, status: int = 200, **values: Any
    ) -> Response:
        other = "en" if lang == "nb" else "nb"
        page = _templates.get_template(template).render(
            lang=lang,
            other_lang=other,
            t=TEXTS[lang],
            switch_url=values.pop("switch_url", ""),
            **values,
        )
        return view.html(page, status=status, headers=HEADERS)

    def refuse(self, view: View, reason: str, lang: str) -> Response:
        status, key = REFUSALS[reason]
        texts = TEXTS[lang]
        return self.render(
            view,
            "refused.html.j2",
            lang,
            status,
            heading=texts[f"{key}_title"],
            message=texts[key],
        )

    # --- asking for a link -------------------------------------------------------------

    async def ask(self, view: View, request: Request) -> Response:
        lang = _language(request.query.get("lang", ""))
        org_id = request.match_info.get("org_id", "")  # type: ignore[attr-defined]
        try:
            org = await self.service.org(org_id)
        except NotFound:
            return self.refuse(view, "no-org", lang)
        return self._ask_page(view, org_id, org.name, lang)

    def _ask_page(
        self,
        view: View,
        org_id: str,
        org_name: str,
        lang: str,
        status: int = 200,
        sent: bool = False,
        email: str = "",
        errors: Mapping[str, str] | None = None,
    ) -> Response:
        action = FORM_ROUTE.format(org_id=quote(org_id, safe=""))
        other = "en" if lang == "nb" else "nb"
        return self.render(
            view,
            "ask.html.j2",
            lang,
            status,
            org_name=org_name,
            action=action,
            sent=sent,
            email=email,
            errors=errors or {},
            switch_url=f"{action}?lang={other}",
        )

    async def send_link(self, view: View, request: Request) -> Response:
        org_id = request.match_info.get("org_id", "")  # type: ignore[attr-defined]
        form = await _form(request)
        lang = _language(form.get("lang", "") if form else "")
        try:
            org = await self.service.org(org_id)
        except NotFound:
            return self.refuse(view, "no-org", lang)
        if form is None:
            return self.refuse(view, "bad-request", lang)
        email = form.get("email", "")
        try:
            await self.service.request_link(org_id, email)
        except InvalidArgument as exc:
            errors = _field_errors(exc.field_errors, lang)
            return self._ask_page(view, org_id, org.name, lang, 400, email=email, errors=errors)
        # The same answer for a member, a stranger and a member asking too often.
        return self._ask_page(view, org_id, org.name, lang, sent=True)

    # --- the page a link opens ---------------------------------------------------------

    async def show(self, view: View, request: Request) -> Response:
        token = request.match_info.get("token", "")  # type: ignore[attr-defined]
        wanted = request.query.get("lang", "")
        try:
            page = await self.service.open(token)
        except LinkRefused as refused:
            return self.refuse(view, refused.reason, _language(wanted))
        lang = _language(wanted, page.member.language)
        return self._data_page(view, token, page, lang, saved=request.query.get("saved") == "1")

    def _data_page(
        self,
        view: View,
        token: str,
        page: OpenedPage,
        lang: str,
        status: int = 200,
        saved: bool = False,
        fields: Mapping[str, str] | None = None,
        errors: Mapping[str, str] | None = None,
    ) -> Response:
        member = page.member
        record = page.data.get("member") or {}
        action = PAGE_ROUTE.format(token=token)
        other = "en" if lang == "nb" else "nb"
        return self.render(
            view,
            "page.html.j2",
            lang,
            status,
            member=member,
            registered_on=member.registered_at.date().isoformat(),
            answers=record.get("answers", {}),
            guardian=record.get("guardian"),
            consents=page.data.get("consents", {"granted": [], "history": []}),
            logins=page.data.get("login_log", []),
            fields=fields or {"name": member.name, "email": member.email, "phone": member.phone},
            errors=errors or {},
            saved=saved,
            action=action,
            form_token=self.service.links.form_token(token),
            switch_url=f"{action}?lang={other}",
        )

    async def act(self, view: View, request: Request) -> Response:
        token = request.match_info.get("token", "")  # type: ignore[attr-defined]
        form = await _form(request)
        wanted = form.get("lang", "") if form else ""
        try:
            page = await self.service.open(token)
        except LinkRefused as refused:
            return self.refuse(view, refused.reason, _language(wanted))
        lang = _language(wanted, page.member.language)
        if form is None:
            return self.refuse(view, "bad-request", lang)
        if not self.service.links.form_token_matches(token, form.get("form_token", "")):
            return self.refuse(view, "forbidden", lang)
        back_url = f"{PAGE_ROUTE.format(token=token)}?lang={lang}"
        action = form.get("action", "")
        try:
            if action == "edit":
                return await self._edit(view, token, page, lang, form)
            if action == "download":
                return await self._file(view, page, lang, ACCESS, "download", back_url)
            if action == "delete":
                return self.render(
                    view,
                    "confirm_delete.html.j2",
                    lang,
                    action=PAGE_ROUTE.format(token=token),
                    form_token=self.service.links.form_token(token),
                    back_url=back_url,
                )
            if action == "delete-confirmed":
                # No way back: the page's link stops working once the erasure completes.
                return await self._file(view, page, lang, ERASURE, "erasure", back_url="")
        except RequestOpen as already:
            texts = TEXTS[lang]
            return self.render(
                view,
                "refused.html.j2",
                lang,
                409,
                heading=texts["already_title"],
                message=texts["already"].format(request_id=already.request_id),
            )
        except FailedPrecondition:
            return self.refuse(view, "gone", lang)
        except grpc.aio.AioRpcError as exc:
            log.warning("privacy_page_call_failed", action=action, code=exc.code().name)
            return self.refuse(view, "unavailable", lang)
        return self.refuse(view, "bad-request", lang)

    async def _file(
        self, view: View, page: OpenedPage, lang: str, type_: str, texts_key: str, back_url: str
    ) -> Response:
        """Files the member's request and shows it; the texts are `<texts_key>_filed` and
        `<texts_key>_message`."""
        filed = await self.service.file(page, type_)
        texts = TEXTS[lang]
        return self.render(
            view,
            "filed.html.j2",
            lang,
            heading=texts[f"{texts_key}_filed"],
            message=texts[f"{texts_key}_message"],
            request=filed,
            back_url=back_url,
        )

    async def _edit(
        self, view: View, token: str, page: OpenedPage, lang: str, form: Mapping[str, str]
    ) -> Response:
        fields = {f: form.get(f, "") for f in ("name", "email", "phone")}
        try:
            await self.service.edit(page, fields)
        except InvalidArgument as exc:
            errors = _field_errors(exc.field_errors, lang)
        except AlreadyExists:
            errors = {"email": TEXTS[lang]["error_taken"]}
        except NotFound:
            return self.refuse(view, "gone", lang)
        else:
            # Post/redirect/get: a reload does not post the form again.
            location = f"{PAGE_ROUTE.format(token=token)}?lang={lang}&saved=1"
            return view.html("", status=303, headers={**HEADERS, "Location": location})
        return self._data_page(view, token, page, lang, 400, fields=fields, errors=errors)


async def _form(request: Request) -> dict[str, str] | None:
    """The posted form's fields; None when it is not a form or a field is far too long."""
    try:
        posted = await request.post()  # type: ignore[attr-defined]
    except ValueError:
        return None
    fields = {k: v for k, v in posted.items() if isinstance(v, str)}
    if any(len(v) > MAX_FIELD for v in fields.values()):
        return None
    return fields


def add_privacy_routes(app: faust.App, metrics: ServiceMetrics, page: PrivacyPage) -> None:
    add_page(app, metrics, FORM_ROUTE, get=page.ask, post=page.send_link)
    add_page(app, metrics, PAGE_ROUTE, get=page.show, post=page.act)
