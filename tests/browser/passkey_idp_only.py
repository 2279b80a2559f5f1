#!/usr/bin/env python3
"""A passkey is keyway's own credential: once the user's customer account signs in only through its identity
provider, the passkey registered before is no way in (like the keyway password). The credential registered by
mfa_flow.py is put on a new virtual authenticator (DevTools WebAuthn.addCredential) in a fresh Chromium; "Sign in
with a passkey" on the portal's sign-in page must end on the page that sends the user to their organization's IdP,
with no session.

Environment: KW_BASE (http://localhost:<port>), KW_CREDENTIAL (one credential as WebAuthn.getCredentials returns
it), KW_IDP_NAME (the IdP's display name), KW_ARTIFACTS. Prints one JSON line; exit 0 when every check holds.
"""

from __future__ import annotations

import json
import os
import sys
from urllib.parse import urlsplit

from selenium.webdriver.common.by import By

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mfa_flow import BASE, check, in_chromium, shot, wait  # noqa: E402


def run(d, result: dict) -> None:
    d.execute_cdp_cmd("WebAuthn.enable", {"enableUI": False})
    auth = d.execute_cdp_cmd("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True}})["authenticatorId"]
    d.execute_cdp_cmd("WebAuthn.addCredential",
                      {"authenticatorId": auth, "credential": json.loads(os.environ["KW_CREDENTIAL"])})
    d.get(f"{BASE}/login")
    wait(d, lambda x: x.find_elements(By.ID, "passkey-button") and x.find_element(By.ID, "passkey-button").is_displayed(),
         "the passkey button")
    d.find_element(By.ID, "passkey-button").click()
    name = os.environ.get("KW_IDP_NAME", "")
    wait(d, lambda x: urlsplit(x.current_url).path == "/login/passkey", "the answer to the passkey")
    wait(d, lambda x: f"signs you in with {name}" in x.find_element(By.TAG_NAME, "body").text, "the refusal page")
    shot(d, "passkey-idp-only")
    check("kw_session" not in {c["name"] for c in d.get_cookies()}, "no session")
    used = d.execute_cdp_cmd("WebAuthn.getCredentials", {"authenticatorId": auth})["credentials"][0]["signCount"]
    check(used > json.loads(os.environ["KW_CREDENTIAL"])["signCount"], "the key was used (the assertion was made)")
    result["refused"] = d.find_element(By.TAG_NAME, "body").text[:300]


def main() -> int:
    def page_text(d, result: dict) -> None:
        result["page"] = d.find_element(By.TAG_NAME, "body").text[:600]

    return in_chromium(run, "kw-idp-only-chromium-", page_text)


if __name__ == "__main__":
    sys.exit(main())
