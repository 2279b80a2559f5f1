#!/usr/bin/env python3
"""Drives Debian's Chromium through keyway's hosted pages with Selenium, as a person would.

The Rust integration tests start keyway and run this script as a subprocess.

Environment:
  KW_SSO_URL        the page to open (an authorize URL for `login`; a one-time link for `portal`)
  KW_ARTIFACTS      directory for screenshots (created if missing)
  KW_REDIRECT_URI   `login`: the client's redirect_uri (nothing listens there; Chrome's error page is fine)
  KW_USER_EMAIL, KW_USER_PASSWORD
  KW_ACCOUNT        `login`: customer account code that the page must show
  KW_ISSUER         optional: when set, the callback's `iss` must equal it
  KW_SCENARIO       login (default) | portal   (or --scenario)
  KW_TIMEOUT        seconds to wait for each page (default 20)

Options: --scenario login|portal, --lang de  (Chromium runs with --lang=de-DE and Accept-Language de-DE; the page's
<html lang> must then start with "de").

Prints one JSON line on stdout and exits 0 when every check holds; otherwise {"ok": false, "error": ...} (also
on stderr), a failure-<scenario>.png / .html in KW_ARTIFACTS, and exit 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from urllib.parse import parse_qsl, urlsplit

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


class CheckFailed(Exception):
    pass


def check(cond: object, message: str) -> None:
    if not cond:
        raise CheckFailed(message)


def env(name: str, required: bool = True) -> str:
    value = os.environ.get(name, "")
    if required and not value:
        raise CheckFailed(f"environment variable {name} is not set")
    return value


def start_browser(lang: str | None, profile_dir: str) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,900", f"--user-data-dir={profile_dir}"):
        options.add_argument(arg)
    if lang:
        options.add_argument(f"--lang={lang}")
        options.add_experimental_option("prefs", {"intl.accept_languages": f"{lang},{lang.split('-')[0]}"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(float(os.environ.get("KW_TIMEOUT", "20")))
    if lang:
        # Headless Chromium may ignore the profile's language preference for the Accept-Language header;
        # setting it over CDP makes the header certain.
        ua = driver.execute_script("return navigator.userAgent")
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setUserAgentOverride",
                               {"userAgent": ua, "acceptLanguage": f"{lang},{lang.split('-')[0]};q=0.9"})
    return driver


def label_for(driver: webdriver.Chrome, field: WebElement) -> WebElement | None:
    field_id = field.get_attribute("id")
    if field_id:
        for label in driver.find_elements(By.TAG_NAME, "label"):
            if label.get_attribute("for") == field_id:
                return label
    try:
        return field.find_element(By.XPATH, "ancestor::label[1]")
    except NoSuchElementException:
        return None


def screenshot(driver: webdriver.Chrome, artifacts: str, name: str) -> str:
    path = os.path.join(artifacts, name)
    check(driver.save_screenshot(path), f"could not save the screenshot {path}")
    check(os.path.getsize(path) > 1000, f"screenshot {path} is empty")
    return path


def check_lang(driver: webdriver.Chrome, lang: str | None, result: dict) -> None:
    page_lang = driver.find_element(By.TAG_NAME, "html").get_attribute("lang") or ""
    result["html_lang"] = page_lang
    if lang:
        want = lang.split("-")[0].lower()
        check(page_lang.lower().startswith(want), f"<html lang={page_lang!r}>, expected it to start with {want!r}")


def scenario_login(driver: webdriver.Chrome, args: argparse.Namespace, result: dict) -> None:
    sso_url, redirect_uri = env("KW_SSO_URL"), env("KW_REDIRECT_URI")
    email, password, account = env("KW_USER_EMAIL"), env("KW_USER_PASSWORD"), env("KW_ACCOUNT")
    issuer = env("KW_ISSUER", required=False)
    result["step"] = "open"
    driver.get(sso_url)
    wait = WebDriverWait(driver, args.timeout)
    try:
        email_input = wait.until(lambda d: next(
            (e for e in d.find_elements(By.CSS_SELECTOR, "form input[name='email']") if e.is_displayed()), False))
    except TimeoutException:
        raise CheckFailed(f"no visible <input name=email> inside a form at {driver.current_url}; page text: "
                          f"{driver.find_element(By.TAG_NAME, 'body').text[:300]!r}") from None

    result["step"] = "login_page"
    result["title"] = driver.title
    result["screenshots"].append(screenshot(driver, args.artifacts, "login.png"))
    form = email_input.find_element(By.XPATH, "ancestor::form[1]")
    check(form.is_displayed(), "the login form is not visible")
    check((form.get_attribute("method") or "").lower() == "post", "the login form is not method=post")
    password_input = form.find_element(By.NAME, "password")
    check(password_input.is_displayed(), "the password input is not visible")
    check(password_input.get_attribute("type") == "password", "the password input is not type=password")
    for name, field in (("email", email_input), ("password", password_input)):
        label = label_for(driver, field)
        check(label is not None, f"<input name={name}> has no <label>")
        check(label.is_displayed() and label.text.strip(), f"the <label> of {name} is hidden or empty")
    body_text = driver.find_element(By.TAG_NAME, "body").text
    shown_values = [e.get_attribute("value") or "" for e in driver.find_elements(By.TAG_NAME, "input") if e.is_displayed()]
    check(account.lower() in body_text.lower() or account in shown_values,
          f"the customer account {account!r} is not shown on the login page")
    check_lang(driver, args.lang, result)

    result["step"] = "submit"
    email_input.clear()
    email_input.send_keys(email)
    password_input.clear()
    password_input.send_keys(password)
    buttons = [b for b in form.find_elements(By.CSS_SELECTOR, "button, input[type='submit']")
               if (b.get_attribute("type") or "submit").lower() == "submit" and b.is_displayed()]
    if buttons:
        buttons[0].click()
    else:
        form.submit()

    result["step"] = "redirect"
    try:
        WebDriverWait(driver, args.timeout).until(lambda d: d.current_url.startswith(redirect_uri))
    except TimeoutException:
        text = driver.find_element(By.TAG_NAME, "body").text[:300] if driver.find_elements(By.TAG_NAME, "body") else ""
        raise CheckFailed(f"no redirect to {redirect_uri} after submitting; still at {driver.current_url} "
                          f"with text {text!r}") from None
    url = driver.current_url
    query = dict(parse_qsl(urlsplit(url).query))
    check("error" not in query, f"the authorization answered an error: {query}")
    check(query.get("code"), f"the callback has no code=: {url}")
    sent_state = dict(parse_qsl(urlsplit(sso_url).query)).get("state")
    if sent_state is not None:
        check(query.get("state") == sent_state, f"callback state {query.get('state')!r} != sent {sent_state!r}")
    if issuer and "iss" in query:
        check(query["iss"] == issuer, f"callback iss {query['iss']!r} != {issuer!r}")
    result["code"] = query["code"]
    result["state"] = query.get("state")
    result["callback"] = url


def scenario_portal(driver: webdriver.Chrome, args: argparse.Namespace, result: dict) -> None:
    sso_url, email = env("KW_SSO_URL"), env("KW_USER_EMAIL")
    result["step"] = "open"
    driver.get(sso_url)
    try:
        WebDriverWait(driver, args.timeout).until(
            lambda d: urlsplit(d.current_url).path.rstrip("/") == "/account"
            and d.execute_script("return document.readyState") == "complete")
    except TimeoutException:
        raise CheckFailed(f"the one-time link did not land on /account; at {driver.current_url}") from None
    result["step"] = "portal"
    result["title"] = driver.title
    result["screenshots"].append(screenshot(driver, args.artifacts, "portal.png"))
    check_lang(driver, args.lang, result)
    text = driver.find_element(By.TAG_NAME, "body").text
    check(email.lower() in text.lower(), f"the account page does not show {email!r}")
    result["url"] = driver.current_url


SCENARIOS = {"login": scenario_login, "portal": scenario_portal}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default=os.environ.get("KW_SCENARIO", "login"), choices=sorted(SCENARIOS))
    parser.add_argument("--lang", default=os.environ.get("KW_LANG") or None, help="browser language, e.g. de (becomes de-DE)")
    parser.add_argument("--timeout", type=float, default=float(os.environ.get("KW_TIMEOUT", "20")))
    args = parser.parse_args()
    if args.lang and "-" not in args.lang:
        args.lang = {"de": "de-DE", "en": "en-US"}.get(args.lang.lower(), args.lang)
    result: dict = {"ok": False, "scenario": args.scenario, "lang": args.lang, "step": "start", "screenshots": []}
    started = time.monotonic()
    profile_dir = tempfile.mkdtemp(prefix="keyway-chromium-")
    driver = None
    try:
        args.artifacts = env("KW_ARTIFACTS")
        os.makedirs(args.artifacts, exist_ok=True)
        result["step"] = "browser"
        for path in (CHROMIUM, CHROMEDRIVER):
            check(os.access(path, os.X_OK), f"{path} is missing: run .ci/install-deps.sh")
        driver = start_browser(args.lang, profile_dir)
        SCENARIOS[args.scenario](driver, args, result)
        result["ok"] = True
    except Exception as e:  # noqa: BLE001 - every failure becomes the one JSON line
        message = str(e) if isinstance(e, CheckFailed) else f"{type(e).__name__}: {e}"
        if not isinstance(e, (CheckFailed, WebDriverException)):
            traceback.print_exc(file=sys.stderr)
        result["error"] = f"[{result['step']}] {message.strip()}"
        if driver is not None and getattr(args, "artifacts", None):
            try:
                result["failure_url"] = driver.current_url
                driver.save_screenshot(os.path.join(args.artifacts, f"failure-{args.scenario}.png"))
                with open(os.path.join(args.artifacts, f"failure-{args.scenario}.html"), "w", encoding="utf-8") as f:
                    f.write(driver.page_source)
            except WebDriverException:
                pass
    finally:
        if driver is not None:
            try:
                driver.quit()
            except WebDriverException:
                pass
        shutil.rmtree(profile_dir, ignore_errors=True)
    result["elapsed_ms"] = int((time.monotonic() - started) * 1000)
    if result["ok"]:
        result.pop("step")
    print(json.dumps(result), flush=True)
    if not result["ok"]:
        print(f"login_flow FAILED: {result['error']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
