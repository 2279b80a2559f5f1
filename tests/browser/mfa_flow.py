#!/usr/bin/env python3
"""Issue 17 items 3 and 4 in headless Chromium, as a person would: TOTP enrolment forced by the account's MFA
policy (QR code page, key read from the page, codes computed by pyotp, an implementation independent of keyway's),
a replayed code refused, a recovery code, then a passkey registered in the portal with Chromium's virtual
authenticator (DevTools WebAuthn domain: ctap2, internal transport, resident keys, user verification), passwordless
sign-in with it, the passkey as the second factor after the password, and a second user who enrols a passkey
instead of an authenticator app when the account requires a second factor. Each code is redeemed here and its
id_token verified with Authlib against keyway's JWKS (an independent OIDC library); `amr` and `acr` are printed.

Environment: KW_BASE (http://localhost:<port>: WebAuthn needs a domain), KW_AUTHORIZE_URL (with PKCE S256 for
KW_CODE_VERIFIER), KW_CLIENT_ID, KW_CLIENT_SECRET, KW_REDIRECT_URI, KW_USER_EMAIL, KW_USER_PASSWORD,
KW_SERVER_NOW (the server's clock: the test holds it still), KW_ARTIFACTS, KW_ENROL_EMAIL / KW_ENROL_PASSWORD (a user
of the account with no factor).
Prints one JSON line; exit 0 when every check holds.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from urllib.parse import parse_qsl, urlsplit

import pyotp
import requests
from authlib.jose import JsonWebKey, jwt
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


class CheckFailed(Exception):
    pass


def check(cond: object, message: str) -> None:
    if not cond:
        raise CheckFailed(message)


E = os.environ.get
BASE, AUTHZ, REDIRECT = E("KW_BASE", ""), E("KW_AUTHORIZE_URL", ""), E("KW_REDIRECT_URI", "")
EMAIL, PASSWORD = E("KW_USER_EMAIL", ""), E("KW_USER_PASSWORD", "")
ARTIFACTS = E("KW_ARTIFACTS", "target/test-artifacts")
NOW = int(E("KW_SERVER_NOW", "0"))


def start_browser(profile: str) -> webdriver.Chrome:
    o = webdriver.ChromeOptions()
    o.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1280,1000", f"--user-data-dir={profile}"):
        o.add_argument(arg)
    d = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=o)
    d.set_page_load_timeout(20)
    return d


def shot(d: webdriver.Chrome, name: str) -> None:
    path = os.path.join(ARTIFACTS, f"ui-mfa-{name}.png")
    check(d.save_screenshot(path) and os.path.getsize(path) > 1000, f"screenshot {path}")


def wait(d: webdriver.Chrome, cond, what: str):
    try:
        return WebDriverWait(d, 20).until(cond)
    except Exception as e:  # noqa: BLE001
        raise CheckFailed(f"waiting for {what}: now at {d.current_url}") from e


def at_redirect(d: webdriver.Chrome) -> str:
    wait(d, lambda x: x.current_url.startswith(REDIRECT), "the redirect_uri")
    q = dict(parse_qsl(urlsplit(d.current_url).query))
    check("code" in q, f"a code at the redirect_uri: {d.current_url}")
    return q["code"]


def sign_out(d: webdriver.Chrome) -> None:
    """Forgets every cookie of the browser (the session is on keyway's host, not on the redirect_uri's page)."""
    d.execute_cdp_cmd("Network.clearBrowserCookies", {})


def password_sign_in(d: webdriver.Chrome, email: str = EMAIL, password: str = PASSWORD) -> None:
    sign_out(d)
    d.get(AUTHZ)
    d.find_element(By.ID, "email").send_keys(email)
    d.find_element(By.ID, "password").send_keys(password)
    d.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()
    wait(d, lambda x: urlsplit(x.current_url).path == "/login/mfa", "the second-factor page")
    check("kw_session" not in {c["name"] for c in d.get_cookies()}, "no session before the second factor")


def verified_claims(code: str) -> dict:
    """Redeems the code and verifies the id_token with Authlib against the JWKS from discovery."""
    disco = requests.get(f"{BASE}/.well-known/openid-configuration", timeout=10).json()
    check("urn:keyway:mfa" in disco.get("acr_values_supported", []), "acr_values_supported advertises MFA")
    tok = requests.post(disco["token_endpoint"], timeout=10, auth=(E("KW_CLIENT_ID"), E("KW_CLIENT_SECRET")), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "code_verifier": E("KW_CODE_VERIFIER")}).json()
    check("id_token" in tok, f"an id_token: {tok}")
    jwks = JsonWebKey.import_key_set(requests.get(disco["jwks_uri"], timeout=10).json())
    claims = jwt.decode(tok["id_token"], jwks, claims_options={
        "iss": {"essential": True, "value": disco["issuer"]}, "aud": {"essential": True, "value": E("KW_CLIENT_ID")}})
    claims.validate(now=NOW)
    return {"amr": claims.get("amr"), "acr": claims.get("acr")}


def run(d: webdriver.Chrome, result: dict) -> None:
    totp = None
    # 1. Password, then enrolment (the account requires MFA): QR code and key, a first code, recovery codes.
    password_sign_in(d)
    check(d.find_elements(By.CSS_SELECTOR, "#qr svg"), "the QR code is an inline SVG")
    shot(d, "enrol")
    totp = pyotp.TOTP(d.find_element(By.ID, "manual-key").text.replace(" ", ""))
    d.find_element(By.ID, "code").send_keys(totp.at(NOW))
    d.find_element(By.ID, "confirm").click()
    wait(d, lambda x: x.find_elements(By.ID, "recovery-codes"), "the recovery codes")
    codes = [li.text for li in d.find_elements(By.CSS_SELECTOR, "#recovery-codes li")]
    check(len(codes) == 10, f"ten recovery codes, got {len(codes)}")
    shot(d, "recovery-codes")
    d.find_element(By.ID, "continue").click()
    result["enrol"] = verified_claims(at_redirect(d))

    # 2. TOTP sign-in: the code already used is refused, the next one passes.
    password_sign_in(d)
    d.find_element(By.ID, "code").send_keys(totp.at(NOW))
    d.find_element(By.ID, "verify").click()
    wait(d, lambda x: x.find_elements(By.ID, "mfa-error"), "the replay refusal")
    shot(d, "replay-refused")
    d.find_element(By.ID, "code").send_keys(totp.at(NOW + 30))
    d.find_element(By.ID, "verify").click()
    result["totp"] = verified_claims(at_redirect(d))

    # 3. A recovery code.
    password_sign_in(d)
    d.find_element(By.ID, "code").send_keys(codes[0])
    shot(d, "challenge")
    d.find_element(By.ID, "verify").click()
    result["recovery"] = verified_claims(at_redirect(d))

    # 4. Portal: register a passkey on a virtual platform authenticator with user verification.
    d.execute_cdp_cmd("WebAuthn.enable", {"enableUI": False})
    auth = d.execute_cdp_cmd("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True}})["authenticatorId"]
    d.get(f"{BASE}/account/security")
    wait(d, lambda x: x.find_elements(By.ID, "passkey-button") and x.find_element(By.ID, "passkey-button").is_displayed(),
         "the passkey button (JavaScript on)")
    shot(d, "security")
    d.find_element(By.ID, "passkey-name").send_keys("Virtual authenticator")
    d.find_element(By.ID, "passkey-button").click()
    wait(d, lambda x: x.find_elements(By.ID, "notice"), "the passkey-added notice")
    creds = d.execute_cdp_cmd("WebAuthn.getCredentials", {"authenticatorId": auth})["credentials"]
    check(len(creds) == 1 and creds[0]["isResidentCredential"], f"one discoverable credential: {creds}")
    check(d.find_elements(By.CSS_SELECTOR, "#passkey-list li"), "the passkey is listed")
    shot(d, "passkey-added")

    # 5. Passwordless sign-in: the authenticator names the user.
    sign_out(d)
    d.get(AUTHZ)
    wait(d, lambda x: x.find_element(By.ID, "passkey-button").is_displayed(), "the passkey sign-in button")
    shot(d, "login-with-passkey")
    d.find_element(By.ID, "passkey-button").click()
    result["passkey_login"] = verified_claims(at_redirect(d))

    # 6. Passkey as the second factor after the password.
    password_sign_in(d)
    wait(d, lambda x: x.find_element(By.ID, "passkey-button").is_displayed(), "the passkey second-factor button")
    d.find_element(By.ID, "passkey-button").click()
    result["passkey_second_factor"] = verified_claims(at_redirect(d))
    creds = d.execute_cdp_cmd("WebAuthn.getCredentials", {"authenticatorId": auth})["credentials"]
    result["sign_count"] = creds[0]["signCount"]
    # The test's own virtual key as it is now (its counter too), for passkey_idp_only.py once the account changes.
    result["credential"] = creds[0]

    # 7. Enrolment with a passkey instead of an app: another user of the account, who has no factor yet.
    # (At /login/mfa first: the login page has a passkey button of its own.)
    password_sign_in(d, E("KW_ENROL_EMAIL", ""), E("KW_ENROL_PASSWORD", ""))
    wait(d, lambda x: x.find_elements(By.ID, "passkey-button") and x.find_element(By.ID, "passkey-button").is_displayed(),
         "the passkey button of the enrolment")
    check(d.find_elements(By.ID, "manual-key"), "the authenticator app is still offered beside it")
    shot(d, "enrol-passkey")
    d.find_element(By.ID, "passkey-button").click()
    wait(d, lambda x: x.find_elements(By.ID, "recovery-codes"), "the recovery codes after the passkey")
    check(len(d.find_elements(By.CSS_SELECTOR, "#recovery-codes li")) == 10, "ten recovery codes")
    d.find_element(By.ID, "continue").click()
    result["passkey_enrol"] = verified_claims(at_redirect(d))
    creds = d.execute_cdp_cmd("WebAuthn.getCredentials", {"authenticatorId": auth})["credentials"]
    check(len(creds) == 2, f"the second user's passkey is on the authenticator: {len(creds)} credentials")


def in_chromium(run, profile_prefix: str, on_failure) -> int:
    """Runs `run(d, result)` in a fresh headless Chromium; on an exception, `on_failure(d, result)` records what the
    browser shows. Prints the result as one JSON line; the exit code says whether every check held."""
    profile = tempfile.mkdtemp(prefix=profile_prefix)
    result: dict = {"ok": False}
    d = None
    try:
        d = start_browser(profile)
        run(d, result)
        result["ok"] = True
    except Exception as e:  # noqa: BLE001
        result["error"] = f"{type(e).__name__}: {e}"
        traceback.print_exc(file=sys.stderr)
        if d is not None:
            try:
                on_failure(d, result)
            except Exception:  # noqa: BLE001
                pass
    finally:
        if d is not None:
            d.quit()
        shutil.rmtree(profile, ignore_errors=True)
    print(json.dumps(result))
    return 0 if result["ok"] else 1


def save_failure(d: webdriver.Chrome, _result: dict) -> None:
    d.save_screenshot(os.path.join(ARTIFACTS, "ui-mfa-failure.png"))
    with open(os.path.join(ARTIFACTS, "ui-mfa-failure.html"), "w", encoding="utf-8") as f:
        f.write(d.page_source)


def main() -> int:
    os.makedirs(ARTIFACTS, exist_ok=True)
    return in_chromium(run, "kw-mfa-chromium-", save_failure)


if __name__ == "__main__":
    sys.exit(main())
