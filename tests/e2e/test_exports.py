"""An access request through the CLI against the four services: the admin gets the password
once, the erasure service archives every store's export, notify emails the member a link,
and the link hands out a ZIP that opens with that password, once."""

from __future__ import annotations

import io
import json
import re
import urllib.error
import urllib.request

import pytest
import pyzipper
from jsonschema import Draft202012Validator

from kontingent_cli.devstack import Stack
from services.erasure.domain.exports import SCHEMA_PATH
from tests.e2e.helpers import cli, cli_json, create_org, emails_to, register, wait_until

pytestmark = pytest.mark.e2e
EMAIL = "marit.dal@example.no"


def get(url: str, method: str = "GET") -> tuple[int, bytes, str]:
    try:
        request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read(), answer.headers.get("Content-Type", "")
    except urllib.error.HTTPError as failed:
        return failed.code, failed.read(), failed.headers.get("Content-Type", "")


def test_an_access_request_ends_in_an_emailed_link_that_works_once(stack: Stack) -> None:
    org = create_org(stack, "Molde Turlag", "950000031")
    member = register(stack, org, "Marit Dal", EMAIL, "91234572")
    member_id, org_id = member["member_id"], org["org_id"]

    filed = cli_json(
        stack, "erasure", "request", "--type", "access", "--org", org_id, "--member", member_id
    )
    password = filed["archive_password"]
    assert password and filed["type"] == "access"
    shown = cli_json(stack, "erasure", "status", filed["request_id"], "--org", org_id)
    assert "archive_password" not in shown  # in the verification's answer only

    def completed() -> dict | None:
        status = cli_json(stack, "erasure", "status", filed["request_id"], "--org", org_id)
        return status if status["status"] == "completed" else None

    done = wait_until(completed, timeout_s=60, what="the access request to complete")
    assert done["targets"][0]["target"] == "member-export"

    [mail] = wait_until(
        lambda: emails_to(stack, EMAIL, "er klare"), timeout_s=60, what="export-ready email"
    )
    text = next(c["value"] for c in mail["content"] if c["type"] == "text/plain")
    [url] = re.findall(r"https?://\S+/exports/\S+", text)
    assert url.startswith(stack.http_url("erasure")) and password not in text

    # Looking at the link (a person, or a mail scanner before them) spends nothing.
    for _ in range(2):
        status, body, content_type = get(url)
        assert status == 200 and content_type.startswith("text/html")
        assert b'<form method="post">' in body
    status, body, content_type = get(url, "POST")
    assert (status, content_type) == (200, "application/zip")
    with pyzipper.AESZipFile(io.BytesIO(body)) as archive:
        archive.setpassword(password.encode())
        document = json.loads(archive.read("member-export.json"))
        assert "README.txt" in archive.namelist()
    schema = Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
    assert list(schema.iter_errors(document)) == []
    assert document["stores"]["membership"]["member"]["member_id"] == member_id

    for method in ("POST", "GET"):
        status, body, _ = get(url, method)
        assert status == 410 and b"allerede brukt" in body
    assert get(url[:-3] + "abc")[0] == 404
    assert get(url[:-3] + "abc", "POST")[0] == 404
    again = cli(stack, "erasure", "status", filed["request_id"], "--org", org_id)
    assert again.returncode == 0 and "completed" in again.stdout
