#!/usr/bin/env python3
"""Walks headless Chromium from a starting URL through keyway and a customer's identity provider, as a person
would, until the browser reaches a target URL (the product's redirect_uri, or the portal). Used by
tests/sdk/python_sdk_flow.py (KW_LOGIN=chromium) and runnable on its own (the portal sign-in with home-realm
discovery).

On every page it takes a screenshot (<prefix>-NN-<what>.png in the artifacts directory), then acts on what it sees:
  - an IdP's login form (tests/federation: oidc_idp.mjs and saml_idp.py; ids login, password, submit): signs in;
  - the SAML IdP's response page (form#saml-form): submits it when its script has not already done so;
  - keyway's login page with a "Sign in with …" button (#idp-sign-in): follows it;
  - keyway's sign-in page asking for an e-mail (the portal's /login): types the e-mail, leaves the password empty,
    submits (home-realm discovery sends the browser to the account's IdP).
Anything else that does not move on within the timeout is a failure, reported with the page's text.

Standalone (portal sign-in):
  KW_START_URL  the page to open (e.g. http://127.0.0.1:PORT/login)
  KW_UNTIL      a URL prefix that ends the walk (e.g. http://127.0.0.1:PORT/account)
  KW_USER_EMAIL, KW_USER_PASSWORD  the person's credentials at the IdP
  KW_ARTIFACTS  directory for the screenshots;  KW_PREFIX  screenshot name prefix (default "walk")
Prints one JSON line {"ok", "url", "pages": [...], "screenshots": [...], "text"} and exits 0, or {"ok": false,
"error"} and exits 1.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from urllib.parse import urlsplit

from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
MAX_PAGES = 12


class WalkFailed(Exception):
    pass


def start_browser(profile_dir: str, width: int = 1280, height: int = 900) -> webdriver.Chrome:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            raise WalkFailed(f"{path} is missing: run .ci/install-deps.sh")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", f"--window-size={width},{height}", f"--user-data-dir={profile_dir}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver


def _visible(driver: webdriver.Chrome, css: str):
    return next((e for e in driver.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()), None)


def _text(driver: webdriver.Chrome) -> str:
    bodies = driver.find_elements(By.TAG_NAME, "body")
    return bodies[0].text[:400] if bodies else ""


def walk(driver: webdriver.Chrome, start_url: str, until: str, email: str, password: str, artifacts: str,
         prefix: str, timeout: float = 20.0) -> dict:
    """Returns {"url": the URL that starts with `until`, "pages": [what was done], "screenshots": [...]}."""
    os.makedirs(artifacts, exist_ok=True)
    pages: list[str] = []
    shots: list[str] = []
    driver.get(start_url)
    for n in range(MAX_PAGES):
        WebDriverWait(driver, timeout).until(lambda d: d.execute_script("return document.readyState") == "complete")
        url = driver.current_url
        if url.startswith(until):
            return {"url": url, "pages": pages, "screenshots": shots}
        host = urlsplit(url).netloc
        if _visible(driver, "#login-form #login"):
            what = "idp-login"
        elif driver.find_elements(By.CSS_SELECTOR, "form#saml-form"):
            what = "saml-response"
        elif _visible(driver, "#idp-sign-in"):
            what = "keyway-login-idp-button"
        elif _visible(driver, "form input[name='email']"):
            what = "keyway-sign-in-email"
        else:
            what = "other"
        shot = os.path.join(artifacts, f"{prefix}-{n:02d}-{what}.png")
        if driver.save_screenshot(shot):
            shots.append(shot)
        pages.append(f"{what} at {host}{urlsplit(url).path}")
        if what == "idp-login":
            driver.find_element(By.ID, "login").clear()
            driver.find_element(By.ID, "login").send_keys(email)
            driver.find_element(By.ID, "password").send_keys(password)
            driver.find_element(By.ID, "submit").click()
        elif what == "saml-response":
            button = _visible(driver, "#saml-submit")
            if button is not None and driver.current_url == url:
                try:
                    button.click()
                except WebDriverException:
                    pass  # the page's own script submitted it first
        elif what == "keyway-login-idp-button":
            driver.find_element(By.ID, "idp-sign-in").click()
        elif what == "keyway-sign-in-email":
            field = _visible(driver, "form input[name='email']")
            field.clear()
            field.send_keys(email)
            field.find_element(By.XPATH, "ancestor::form[1]").submit()
        try:
            WebDriverWait(driver, timeout).until(lambda d: d.current_url != url)
        except TimeoutException:
            raise WalkFailed(f"stuck on {what} at {url}: {_text(driver)!r}") from None
    raise WalkFailed(f"more than {MAX_PAGES} pages without reaching {until}; last {driver.current_url}")


def main() -> int:
    result: dict = {"ok": False}
    profile = tempfile.mkdtemp(prefix="keyway-walk-")
    driver = None
    started = time.monotonic()
    try:
        env = {k: os.environ.get(k, "") for k in ("KW_START_URL", "KW_UNTIL", "KW_USER_EMAIL", "KW_USER_PASSWORD",
                                                  "KW_ARTIFACTS")}
        missing = [k for k, v in env.items() if not v]
        if missing:
            raise WalkFailed(f"missing environment variables: {', '.join(missing)}")
        driver = start_browser(profile)
        out = walk(driver, env["KW_START_URL"], env["KW_UNTIL"], env["KW_USER_EMAIL"], env["KW_USER_PASSWORD"],
                   env["KW_ARTIFACTS"], os.environ.get("KW_PREFIX", "walk"))
        shot = os.path.join(env["KW_ARTIFACTS"], f"{os.environ.get('KW_PREFIX', 'walk')}-end.png")
        if driver.save_screenshot(shot):
            out["screenshots"].append(shot)
        out["text"] = _text(driver)
        result.update(out, ok=True)
    except (WalkFailed, WebDriverException) as e:
        result["error"] = str(e).strip()
    finally:
        if driver is not None:
            try:
                driver.quit()
            except WebDriverException:
                pass
        shutil.rmtree(profile, ignore_errors=True)
    result["elapsed_ms"] = int((time.monotonic() - started) * 1000)
    print(json.dumps(result), flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
