"""The links in local mail, opened in headless Chromium: the local cloud's pages (localcloud.pages) verify an
email address and reset a password through the real LMS API.

Register → the verification mail from the AWS emulator → its link in the browser → "verified" → the API says so;
a spent, a made-up and a hostile token show the failure. Forgot password → the reset mail → its link → the form
shows the API's own message for a too-short password, then sets a good one → only the new password logs in.

Chromium and chromedriver are Debian's (``make install``); when missing the test fails and says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from localcloud.cloud import LocalCloud
from localcloud.mailbox import SentEmail, wait_for_email
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.support import Account, register
from tests.support.browser import headless_chromium

pytestmark = pytest.mark.e2e

MAIL_TIMEOUT = 30.0
PAGE_TIMEOUT = 30.0  # the page's call goes through the gateway to a (possibly cold) function
FINAL_STATES = ("success", "failure")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with headless_chromium(window=(1000, 800), logging_prefs={"browser": "ALL"},
                           profile_prefix="mail-links-") as driver:
        yield driver


@pytest.fixture(scope="module")
def pages_url(cloud: LocalCloud) -> str:
    assert cloud.pages is not None
    return cloud.pages.url


def _link(mail: SentEmail, path: str) -> str:
    links = [link for link in mail.links if f"{path}?token=" in link]
    assert len(links) == 1, mail.links
    return links[0]


def _outcome(driver: Any) -> tuple[str, str, list[str]]:
    """The page's final state, its message and the listed problems (the API's messages)."""
    def settled(d: Any) -> bool:
        return d.find_element(By.ID, "outcome").get_attribute("data-state") in FINAL_STATES

    WebDriverWait(driver, PAGE_TIMEOUT).until(settled)
    outcome = driver.find_element(By.ID, "outcome")
    problems = [item.text for item in driver.find_elements(By.CSS_SELECTOR, "#problems li")]
    return outcome.get_attribute("data-state"), outcome.text, problems


def _console_errors(driver: Any) -> list[dict[str, Any]]:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def _submit(driver: Any, password: str, confirmation: str) -> tuple[str, str, list[str]]:
    for field, value in (("new-password", password), ("confirm-password", confirmation)):
        element = driver.find_element(By.ID, field)
        element.clear()
        element.send_keys(value)
    driver.find_element(By.ID, "submit").click()
    return _outcome(driver)


def test_the_verification_link_opens_a_page_that_verifies_the_address(chromium: Any, http: httpx.Client,
                                                                       cloud: LocalCloud, pages_url: str) -> None:
    account = register(http)
    assert http.get("/api/v1/auth/me", headers=account.headers).json()["email_verified"] is False
    mail = wait_for_email(cloud.aws.endpoint, account.email, match=lambda m: any("verify-email" in u for u in m.links),
                          timeout=MAIL_TIMEOUT)
    link = _link(mail, "/verify-email")
    assert link.startswith(f"{pages_url}/verify-email?token=")  # APP_BASE_URL is the page server's

    chromium.get_log("browser")  # start from an empty console
    chromium.get(link)
    state, message, problems = _outcome(chromium)
    assert (state, problems) == ("success", []), message
    assert f"Your email address ({account.email}) is verified" in message
    assert _console_errors(chromium) == []  # the policy let the page's own script, style and call through
    assert http.get("/api/v1/auth/me", headers=account.headers).json()["email_verified"] is True

    # The link is single use: opening it again shows why it cannot be used, in the API's words too.
    chromium.get(link)
    state, message, problems = _outcome(chromium)
    assert state == "failure" and "has already been used" in message
    assert problems == [http.post("/api/v1/auth/verify-email", json={"token": "made-up"}).json()["detail"]]


@pytest.mark.parametrize("query", ["?token=made-up-token", "?token=%22%3E%3Cimg%20src%3Dx%20onerror%3D%22"
                                   "document.title%3D%27owned%27%22%3E", ""])
def test_a_made_up_hostile_or_missing_token_shows_the_failure(chromium: Any, http: httpx.Client, pages_url: str,
                                                              query: str) -> None:
    chromium.get(f"{pages_url}/verify-email{query}")
    state, message, problems = _outcome(chromium)
    assert state == "failure"
    if query:
        assert "invalid" in message
        assert problems == [http.post("/api/v1/auth/verify-email", json={"token": "x"}).json()["detail"]]
    else:
        assert "no token" in message and problems == []
    # Nothing from the link became markup.
    assert chromium.find_elements(By.TAG_NAME, "img") == []
    assert chromium.title.startswith("Verify your email address")


def _reset_link(http: httpx.Client, cloud: LocalCloud, account: Account) -> str:
    assert http.post("/api/v1/auth/password/forgot", json={"email": account.email}).status_code == 202
    mail = wait_for_email(cloud.aws.endpoint, account.email,
                          match=lambda m: any("reset-password" in u for u in m.links), timeout=MAIL_TIMEOUT)
    return _link(mail, "/reset-password")


def test_the_reset_link_opens_a_form_that_sets_a_new_password(chromium: Any, http: httpx.Client, cloud: LocalCloud,
                                                              pages_url: str) -> None:
    account = register(http)
    link = _reset_link(http, cloud, account)
    assert link.startswith(f"{pages_url}/reset-password?token=")
    chromium.get_log("browser")
    chromium.get(link)
    assert chromium.find_element(By.ID, "outcome").get_attribute("data-state") == "idle"

    # Too short: the API refuses it (422) and the form lists the API's own message.
    too_short = "abc12"
    api_says = http.post("/api/v1/auth/password/reset", json={"token": "not-spent", "new_password": too_short})
    assert api_says.status_code == 422
    state, message, problems = _submit(chromium, too_short, too_short)
    assert state == "failure" and "not accepted" in message
    assert problems == [f"New password: {entry['msg']}" for entry in api_says.json()["detail"]]
    assert problems and "8 characters" in problems[0]

    # The confirmation differs: caught on the page, the token is not spent.
    state, message, _ = _submit(chromium, "Brand-new-pass-2", "Brand-new-pass-3")
    assert state == "failure" and "differ" in message

    state, message, problems = _submit(chromium, "Brand-new-pass-2", "Brand-new-pass-2")
    assert (state, problems) == ("success", []), message
    assert "password has been changed" in message
    assert not chromium.find_element(By.ID, "reset-form").is_displayed()
    # Only the failed 422 is on the console (Chromium logs a failed fetch); no policy violation, no script error.
    assert [e for e in _console_errors(chromium) if "status of 422" not in e["message"]] == []

    assert http.post("/api/v1/auth/login", json={"email": account.email, "password": account.password}
                     ).status_code == 401
    assert http.post("/api/v1/auth/login", json={"email": account.email, "password": "Brand-new-pass-2"}
                     ).status_code == 200

    # The spent link: the form says the link cannot be used, and the password stays the new one.
    chromium.get(link)
    state, message, problems = _submit(chromium, "Another-pass-3", "Another-pass-3")
    assert state == "failure" and "has already been used" in message
    assert problems == [http.post("/api/v1/auth/password/reset", json={"token": "x", "new_password": "Another-pass-3"}
                                  ).json()["detail"]]
    assert http.post("/api/v1/auth/login", json={"email": account.email, "password": "Another-pass-3"}
                     ).status_code == 401
