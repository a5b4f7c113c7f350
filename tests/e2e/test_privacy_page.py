"""The member's privacy page in headless Chromium (Debian's chromium and chromedriver) against
the four services: ask for the link by email, open it from the sandbox email, correct the
phone number, download, and be deleted, after which the link no longer opens anything."""

from __future__ import annotations

import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import grpc
import pytest
from membership.v1 import membership_pb2 as pb
from membership.v1 import membership_pb2_grpc
from privacy.v1 import requests_pb2, requests_pb2_grpc
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.wait import WebDriverWait

from kontingent_cli.devstack import Stack
from tests.e2e.helpers import OrgApi, create_org, emails_to, register, wait_until

pytestmark = pytest.mark.e2e
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
EMAIL = "ragnhild.privat@example.no"


@pytest.fixture(scope="module")
def browser(stack: Stack) -> Iterator[WebDriver]:
    if getattr(stack, "backend", "") == "postgresql":
        pytest.skip("the browser runs once, on SQLite; the page's calls are the same on both")
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip("chromium and chromium-driver are not installed (the Makefile's test set-up)")
    options = Options()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--lang=nb"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(2)  # a page reached by a click may still be loading
    try:
        yield driver
    finally:
        driver.quit()


def fetch(url: str, form: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10) as answer:
            return answer.status, answer.read().decode(), dict(answer.headers)
    except urllib.error.HTTPError as failed:
        return failed.code, failed.read().decode(), dict(failed.headers)


def text(driver: WebDriver, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).text)


def submit(driver: WebDriver, button_id: str) -> None:
    """Click and wait for the next page (the click returns before it has loaded)."""
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.ID, button_id).click()
    WebDriverWait(driver, 10).until(staleness_of(old))


def test_a_member_sees_corrects_downloads_and_deletes_their_data(
    stack: Stack, browser: WebDriver
) -> None:
    org = create_org(stack, "Hamar Historielag", "979000103")
    member = register(stack, org, "Ragnhild Privat", EMAIL, "91234573")
    org_id, member_id = org["org_id"], member["member_id"]
    form_url = f"{stack.http_url('membership')}/privacy/{org_id}"

    # Asking for the link: a stranger's address gets the very same answer as the member's.
    answers = []
    for address in ("ingen.her@example.no", EMAIL):
        browser.get(form_url)
        browser.find_element(By.ID, "email").send_keys(address)
        submit(browser, "send-link")
        answers.append(browser.find_element(By.TAG_NAME, "body").text)
    assert answers[0] == answers[1] and "Hvis adressen tilhører et medlem" in answers[1]

    [mail] = wait_until(
        lambda: emails_to(stack, EMAIL, "personvernsiden"), timeout_s=30, what="the link email"
    )
    assert "ingen.her@example.no" not in str(emails_to(stack, "ingen.her@example.no"))
    body = next(c["value"] for c in mail["content"] if c["type"] == "text/plain")
    [link] = re.findall(r"https?://\S+/privacy/p/\S+", body)
    assert link.startswith(stack.http_url("membership"))

    browser.get(link)
    assert text(browser, "member-name") == "Ragnhild Privat"
    status, page, headers = fetch(link)
    assert status == 200 and headers["Cache-Control"] == "no-store, private"
    assert headers["X-Robots-Tag"] == "noindex"

    # A bad number: the field's error, and nothing changed.
    phone = browser.find_element(By.ID, "phone")
    phone.clear()
    phone.send_keys("12")
    submit(browser, "save")
    assert "Ugyldig mobilnummer" in text(browser, "phone-error")
    api = OrgApi(stack, org["api_key"])
    try:
        assert api("GetMember", pb.GetMemberRequest(member_id=member_id)).phone == "+4791234573"
        # A good one is saved through the org API's own path.
        phone = browser.find_element(By.ID, "phone")
        phone.clear()
        phone.send_keys("+47 987 65 432")
        submit(browser, "save")
        assert text(browser, "saved") and text(browser, "member-phone") == "+4798765432"
        assert api("GetMember", pb.GetMemberRequest(member_id=member_id)).phone == "+4798765432"

        # A form posted without this page's form token (from another site) changes nothing.
        forged = {"action": "edit", "form_token": "0" * 64, "name": "X", "phone": "+4790000000"}
        status, page, _ = fetch(link, {**forged, "email": EMAIL})
        assert status == 403 and "Traceback" not in page
        after = api("GetMember", pb.GetMemberRequest(member_id=member_id))
        assert (after.name, after.phone) == ("Ragnhild Privat", "+4798765432")
    finally:
        api.close()

    # Download: an access request, verified by the link; its password shown once. One the
    # org filed without verifying it is the one verified, not a second.
    requests = OrgApi(stack, org["api_key"], "erasure", requests_pb2_grpc.PrivacyRequestsStub)
    try:
        unverified = requests(
            "FileRequest", requests_pb2.FileRequestRequest(subject_id=member_id, type="access")
        )
        submit(browser, "download")
        assert text(browser, "request-id") == unverified.request_id
        assert len(text(browser, "archive-password")) >= 25
        assert text(browser, "request-status") in (
            "identiteten er bekreftet",
            "under arbeid",
            "fullført",
        )
        wait_until(lambda: emails_to(stack, EMAIL, "er klare"), timeout_s=60, what="export email")

        # Delete, after a confirmation.
        browser.get(link)
        submit(browser, "delete")
        submit(browser, "confirm-delete")
        erasure = requests_pb2.RequestRef(request_id=text(browser, "request-id"))
        wait_until(
            lambda: requests("GetRequest", erasure).status == "completed",
            timeout_s=60,
            what="the erasure to complete",
        )
    finally:
        requests.close()
    browser.get(link)
    assert text(browser, "refused") == "Ikke lenger tilgjengelig"
    assert fetch(link)[0] == 410


def test_forged_links_and_unknown_orgs_answer_a_page_not_a_trace(stack: Stack) -> None:
    base = stack.http_url("membership")
    for url, expected in (
        (f"{base}/privacy/p/not-a-token", 404),
        (f"{base}/privacy/p/WyJhIiwiYiJd.aaaa.bbbb", 404),
        (f"{base}/privacy/no-such-org", 404),
    ):
        for form in (None, {"action": "download", "form_token": "x"}):
            status, page, headers = fetch(url, form)
            assert status == expected, url
            assert "<h1" in page and "Traceback" not in page
            assert headers["Cache-Control"] == "no-store, private"


def test_only_services_get_links_and_file_for_a_member_naming_the_org(stack: Stack) -> None:
    org = create_org(stack, "Hamar Husflidslag", "979000111")
    internal = stack.secrets["INTERNAL_TOKEN"]
    directory = OrgApi(stack, internal, stub=membership_pb2_grpc.InternalDirectoryStub)
    as_org = OrgApi(stack, org["api_key"], stub=membership_pb2_grpc.InternalDirectoryStub)
    requests = OrgApi(stack, internal, "erasure", requests_pb2_grpc.PrivacyRequestsStub)
    try:
        ask = pb.GetContactRequest(org_id=org["org_id"], member_id="no-such-member")
        assert directory.refused("GetPrivacyLink", ask).code() == grpc.StatusCode.NOT_FOUND
        refused = as_org.refused("GetPrivacyLink", ask)
        assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
        unnamed = requests.refused(
            "FileRequest", requests_pb2.FileRequestRequest(subject_id="m-1", type="access")
        )
        assert unnamed.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "org_id" in (unnamed.details() or "")
    finally:
        for client in (directory, as_org, requests):
            client.close()
