#!/usr/bin/env python3
"""Issue 17 in Debian's Chromium, as a person would use it; screenshots at desktop (1280x800) and phone (390x844)
size of every step in KW_ARTIFACTS (ui-*.png).

  1. branded login: the product's name, logo and support link are on the page; the show-password toggle works
  2. forgot password: the form, the "check your e-mail" page, the mail read from the SMTP server the test started
     (KW_MAIL_DIR, written by smtp_sink.py: multipart/alternative, plain text and HTML, both with the link), the
     reset page, the new password, then signing in with it
  3. lockout: an address (unknown to keyway) locked by wrong passwords gets the lockout page with a reset link
  4. localized error page: an authorize request with an unregistered redirect_uri, in German (?lang=de): the
     user-facing sentence with the product's name, the technical reason folded in <details>
  5. portal: sign-in, Deactivate -> the confirmation page -> the success notice, the seat freed

Environment: KW_BASE, KW_CLIENT_ID, KW_REDIRECT_URI, KW_ACCOUNT, KW_USER_EMAIL, KW_ARTIFACTS, KW_MAIL_DIR,
KW_BRAND_NAME, KW_ORG, KW_TIMEOUT. Prints one JSON line; exits 1 on a failed check.
"""
from __future__ import annotations

import email
import email.policy
import glob
import json
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
from urllib.parse import urlencode

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SIZES = {"desktop": (1280, 800, False), "phone": (390, 844, True)}
NEW_PASSWORD = "a-new-password-1"


class CheckFailed(Exception):
    pass


def check(cond: object, message: str) -> None:
    if not cond:
        raise CheckFailed(message)


def env(name: str) -> str:
    v = os.environ.get(name)
    check(v, f"{name} is not set")
    return v  # type: ignore[return-value]


def start(profile: str, timeout: float) -> webdriver.Chrome:
    o = webdriver.ChromeOptions()
    o.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
              "--disable-background-networking", "--window-size=1280,900", "--lang=en-US",
              f"--user-data-dir={profile}"):
        o.add_argument(a)
    d = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=o)
    d.set_page_load_timeout(timeout)
    return d


def loaded(d: webdriver.Chrome, timeout: float) -> None:
    WebDriverWait(d, timeout).until(lambda x: x.execute_script("return document.readyState") == "complete")


def shots(d: webdriver.Chrome, name: str, out: str, report: list) -> None:
    """Screenshots of the current page at both sizes (full page height)."""
    for size, (w, h, mobile) in SIZES.items():
        d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                          {"width": w, "height": h, "deviceScaleFactor": 1, "mobile": mobile})
        height = d.execute_script("return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)")
        d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                          {"width": w, "height": max(h, int(height)), "deviceScaleFactor": 1, "mobile": mobile})
        # Phone width: nothing may scroll sideways (WCAG 1.4.10).
        overflow = d.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        check(overflow <= 1, f"{name} at {size}: scrolls sideways by {overflow}px")
        path = os.path.join(out, f"ui-{name}-{size}.png")
        data = d.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        import base64
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        report.append(path)
    d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def submit(d: webdriver.Chrome, fields: dict, timeout: float, button: str | None = None) -> None:
    form = None
    for name, value in fields.items():
        f = d.find_element(By.NAME, name)
        f.clear()
        f.send_keys(value)
        form = form or f.find_element(By.XPATH, "ancestor::form[1]")
    old = d.find_element(By.TAG_NAME, "html")
    if button:
        btn = d.find_element(By.CSS_SELECTOR, button)
    else:
        btn = (form or d.find_element(By.TAG_NAME, "form")).find_element(By.CSS_SELECTOR, "button[type=submit]")
    d.execute_script("arguments[0].click();", btn)
    WebDriverWait(d, timeout).until(ec.staleness_of(old))
    loaded(d, timeout)


def text(d: webdriver.Chrome) -> str:
    return d.find_element(By.TAG_NAME, "body").text


def wait_mail(directory: str, timeout: float) -> email.message.EmailMessage:
    deadline = time.time() + timeout
    while time.time() < deadline:
        files = sorted(glob.glob(os.path.join(directory, "*.eml")))
        if files:
            with open(files[-1], "rb") as f:
                return email.message_from_binary_file(f, policy=email.policy.default)  # type: ignore[return-value]
        time.sleep(0.2)
    raise CheckFailed(f"no mail arrived in {directory} within {timeout}s")


def main() -> int:
    base, out, timeout = env("KW_BASE"), env("KW_ARTIFACTS"), float(os.environ.get("KW_TIMEOUT", "20"))
    os.makedirs(out, exist_ok=True)
    report: dict = {"ok": False, "screenshots": []}
    profile = tempfile.mkdtemp(prefix="kw-ui-")
    d = start(profile, timeout)
    try:
        login_url = f"{base}/oauth2/authorize?" + urlencode({
            "client_id": env("KW_CLIENT_ID"), "redirect_uri": env("KW_REDIRECT_URI"), "response_type": "code",
            "scope": "openid", "state": "ui", "customer_account_code": env("KW_ACCOUNT")})
        # 1. Branded login.
        d.get(login_url)
        loaded(d, timeout)
        body = text(d)
        check(env("KW_BRAND_NAME") in body, f"brand name missing: {body[:300]!r}")
        logo = d.find_element(By.CSS_SELECTOR, "img.logo")
        check(d.execute_script("return arguments[0].naturalWidth", logo) > 0, "the logo did not load")
        check(d.find_elements(By.LINK_TEXT, "Support"), "support link missing")
        pw = d.find_element(By.ID, "password")
        toggle = d.find_element(By.CSS_SELECTOR, "button.toggle-password")  # added by /static/ui.js under the CSP
        d.execute_script("arguments[0].click();", toggle)
        check(pw.get_attribute("type") == "text" and toggle.get_attribute("aria-pressed") == "true",
              "show-password toggle did not show the password")
        d.execute_script("arguments[0].click();", toggle)
        check(pw.get_attribute("type") == "password", "show-password toggle did not hide it again")
        shots(d, "branded-login", out, report["screenshots"])

        # 2. Forgot password, the mail from the real SMTP server, the reset.
        old = d.find_element(By.TAG_NAME, "html")
        d.execute_script("arguments[0].click();", d.find_element(By.ID, "forgot-password"))
        WebDriverWait(d, timeout).until(ec.staleness_of(old))
        loaded(d, timeout)
        check(env("KW_BRAND_NAME") in text(d), "the forgot page is branded too")
        d.find_element(By.NAME, "customer_account_code").send_keys(env("KW_ACCOUNT"))
        d.find_element(By.NAME, "email").send_keys(env("KW_USER_EMAIL"))
        shots(d, "forgot", out, report["screenshots"])
        submit(d, {}, timeout)
        check("If an account with this address exists" in text(d), f"sent page: {text(d)[:300]!r}")
        shots(d, "forgot-sent", out, report["screenshots"])
        mail = wait_mail(env("KW_MAIL_DIR"), 30)
        check(mail["To"] and env("KW_USER_EMAIL") in mail["To"], f"mail to {mail['To']}")
        check(mail.get_content_type() == "multipart/alternative", f"mail type {mail.get_content_type()}")
        plain = mail.get_body(preferencelist=("plain",)).get_content()
        html = mail.get_body(preferencelist=("html",)).get_content()
        m = re.search(r"(https?://\S+/password/reset\?token=[A-Za-z0-9_-]+)", plain)
        check(m, f"no reset link in the mail text: {plain!r}")
        link = m.group(1)  # type: ignore[union-attr]
        check(link.replace("&", "&amp;") in html or link in html, "the HTML part carries the same link")
        report["mail_subject"] = str(mail["Subject"])
        d.get(link)
        loaded(d, timeout)
        shots(d, "reset", out, report["screenshots"])
        submit(d, {"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}, timeout)
        check("Your password has been changed" in text(d), f"reset result: {text(d)[:300]!r}")
        shots(d, "reset-done", out, report["screenshots"])
        d.get(link)  # the link worked once
        loaded(d, timeout)
        check("not valid any more" in text(d), "a used link is refused")
        d.get(login_url)
        loaded(d, timeout)
        submit(d, {"email": env("KW_USER_EMAIL"), "password": NEW_PASSWORD}, timeout)
        check("code=" in d.current_url, f"signing in with the new password: at {d.current_url}")

        # 3. Lockout, for an address keyway does not know (the page must not tell).
        d.get(f"{base}/static/style.css")  # cookies are deleted for the current site: be on keyway's
        d.delete_all_cookies()
        for _ in range(6):
            d.get(login_url)
            loaded(d, timeout)
            submit(d, {"email": "nobody-known@example.com", "password": "wrong-guess"}, timeout)
        body = text(d)
        check("Too many failed sign-in attempts" in body and "Sign-in paused" in body, f"lockout: {body[:300]!r}")
        check(d.find_elements(By.ID, "locked-reset"), "the lockout page offers the reset link")
        shots(d, "lockout", out, report["screenshots"])

        # 4. Localized error page.
        bad = f"{base}/oauth2/authorize?" + urlencode({
            "client_id": env("KW_CLIENT_ID"), "redirect_uri": "https://evil.example/cb", "response_type": "code",
            "lang": "de"})
        d.get(bad)
        loaded(d, timeout)
        body = text(d)
        check(d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "de", "the error page is German")
        check("Dieser Anmeldelink ist nicht gültig" in body and env("KW_BRAND_NAME") in body, f"error: {body!r}")
        detail = d.find_element(By.ID, "error-detail")
        check(not detail.is_displayed(), "the technical detail is folded away")
        d.find_element(By.CSS_SELECTOR, "details summary").click()
        check(detail.is_displayed() and "redirect_uri" in detail.text, "the detail unfolds")
        shots(d, "error-de", out, report["screenshots"])
        d.get(f"{base}/login?lang=en")  # back to English (the choice is kept in a cookie)
        loaded(d, timeout)

        # 5. Portal: deactivate with confirmation.
        d.get(f"{base}/login?" + urlencode({"org": env("KW_ORG")}))
        loaded(d, timeout)
        submit(d, {"customer_account_code": env("KW_ACCOUNT"), "email": env("KW_USER_EMAIL"),
                   "password": NEW_PASSWORD}, timeout)
        check(d.current_url.endswith("/account"), f"portal sign-in: at {d.current_url}: {text(d)[:300]!r}")
        body = text(d)
        check("Perpetual" in body or "Subscription" in body or "Time-limited" in body, f"type in words: {body!r}")
        shots(d, "portal", out, report["screenshots"])
        old = d.find_element(By.TAG_NAME, "html")
        d.execute_script("arguments[0].click();", d.find_element(By.CSS_SELECTOR, "a[href*='/deactivate']"))
        WebDriverWait(d, timeout).until(ec.staleness_of(old))
        loaded(d, timeout)
        check("Deactivate device?" in text(d), f"confirmation: {text(d)[:300]!r}")
        shots(d, "deactivate-confirm", out, report["screenshots"])
        submit(d, {}, timeout, button="#confirm-deactivate")
        body = text(d)
        check("The device was deactivated" in body, f"notice: {body[:300]!r}")
        check("No active devices." in body, "the device is gone")
        shots(d, "deactivated", out, report["screenshots"])
        report["ok"] = True
    except Exception as e:  # noqa: BLE001 (the report names any failure)
        report["error"] = f"{type(e).__name__}: {e}"
        report["trace"] = traceback.format_exc()[-2000:]
        try:
            d.save_screenshot(os.path.join(out, "ui-failure.png"))
            with open(os.path.join(out, "ui-failure.html"), "w", encoding="utf-8") as f:
                f.write(d.page_source)
        except Exception:  # noqa: BLE001
            pass
    finally:
        d.quit()
        shutil.rmtree(profile, ignore_errors=True)
    print(json.dumps(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
