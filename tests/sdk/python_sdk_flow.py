#!/usr/bin/env python3
"""Drive the official LicenseSpring Python SDK (PyPI `licensespring` 4.0.0) against a running keyway.

Configuration (environment):
  KW_BASE             keyway base URL, no trailing slash (e.g. http://127.0.0.1:43123)
  KW_API_KEY          License API key
  KW_SHARED_KEY       its shared key
  KW_PRODUCT          product short code
  KW_ACCOUNT          customer account code
  KW_USER_EMAIL       license user e-mail        (code, token, user_licenses)
  KW_USER_PASSWORD    license user password      (code, token, user_licenses)
  KW_PUBLIC_KEY_FILE  keyway's license public key (PEM), the key the SDK verifies responses with
  KW_REDIRECT_URI     the product's redirect URI the login ends at (never fetched)
  KW_SCENARIO         code | token | user_licenses | error | sso_url
  KW_HARDWARE_ID      optional; default: a fresh random id per run
  KW_LOGIN            optional: `chromium` walks the login in headless Chromium (tests/browser/federated_walk.py),
                      through a customer's identity provider when the account has one (KW_USER_PASSWORD is then the
                      password at the IdP); default: plain HTTP requests through keyway's login form
  KW_ARTIFACTS        with KW_LOGIN=chromium: directory for the screenshots of every page

Scenarios:
  code           get_sso_url(use_auth_code=True) -> hosted login -> activate_license(code) -> check() -> deactivate()
  token          get_sso_url(use_auth_code=False) -> hosted login -> activate_license(id_token) -> check() -> deactivate()
  user_licenses  get_sso_url(use_auth_code=True) -> hosted login -> get_user_licenses(code)
  error          activate_license with a bogus code (-> ClientError invalid_code) and a bogus id_token
                 (-> ClientError invalid_id_token)
  sso_url        get_sso_url for both response types only (no login)

Response signature verification stays ON: the SDK is given a SignatureVerifier subclass whose PUBLIC_KEY is
keyway's PEM, and this script counts the verifications the SDK performed.

Prints exactly one JSON line on stdout ({"sdk": "python", "scenario": ..., "ok": ..., "steps": [...], ...});
progress goes to stderr. Exit status: 0 when every assertion held, 1 when one failed, 2 on bad configuration.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
import tempfile
import traceback
import uuid
from datetime import datetime, timezone
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import requests

import licensespring
from licensespring.api.error import ClientError
from licensespring.api.signature import SignatureVerifier
from licensespring.hardware import HardwareIdProvider
from licensespring.licensefile.config import Configuration
from licensespring.licensefile.license_manager import LicenseID, LicenseManager

SCENARIOS = ("code", "token", "user_licenses", "error", "sso_url")
LOGIN_SCENARIOS = ("code", "token", "user_licenses")
MAX_HOPS = 20
HTTP_TIMEOUT = 30
REDIRECT_STATUSES = (301, 302, 303, 307, 308)


class ConfigError(Exception):
    """Bad or missing environment configuration (exit 2)."""


class StepFailure(Exception):
    """An assertion about keyway's behaviour did not hold (exit 1)."""


def log(message: str) -> None:
    print(f"[python_sdk_flow] {message}", file=sys.stderr, flush=True)


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise StepFailure(message)


# ----------------------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------------------


def read_env() -> dict:
    scenario = os.environ.get("KW_SCENARIO", "").strip()
    if scenario not in SCENARIOS:
        raise ConfigError(f"KW_SCENARIO must be one of {', '.join(SCENARIOS)} (got {scenario!r})")
    required = ["KW_BASE", "KW_API_KEY", "KW_SHARED_KEY", "KW_PRODUCT", "KW_ACCOUNT", "KW_PUBLIC_KEY_FILE"]
    if scenario in LOGIN_SCENARIOS:
        required += ["KW_USER_EMAIL", "KW_USER_PASSWORD", "KW_REDIRECT_URI"]
    missing = [name for name in required if not os.environ.get(name)]
    if missing:
        raise ConfigError(f"missing environment variables: {', '.join(missing)}")

    base = os.environ["KW_BASE"].rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"KW_BASE must be http(s)://host[:port], got {base!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        # The Python SDK builds {protocol}://{domain}/api/{version}: it cannot reach a keyway under a path prefix.
        raise ConfigError(f"KW_BASE must not have a path, query or fragment (the Python SDK cannot use one): {base!r}")

    try:
        with open(os.environ["KW_PUBLIC_KEY_FILE"], "r", encoding="utf-8") as handle:
            public_key_pem = handle.read()
    except OSError as exc:
        raise ConfigError(f"cannot read KW_PUBLIC_KEY_FILE: {exc}") from exc
    if "BEGIN PUBLIC KEY" not in public_key_pem:
        raise ConfigError("KW_PUBLIC_KEY_FILE does not contain a PEM public key (-----BEGIN PUBLIC KEY-----)")

    return {
        "scenario": scenario,
        "base": base,
        "protocol": parts.scheme,
        "domain": parts.netloc,
        "api_key": os.environ["KW_API_KEY"],
        "shared_key": os.environ["KW_SHARED_KEY"],
        "product": os.environ["KW_PRODUCT"],
        "account": os.environ["KW_ACCOUNT"],
        "email": os.environ.get("KW_USER_EMAIL", ""),
        "password": os.environ.get("KW_USER_PASSWORD", ""),
        "redirect_uri": os.environ.get("KW_REDIRECT_URI", ""),
        "public_key_pem": public_key_pem,
        "hardware_id": os.environ.get("KW_HARDWARE_ID") or f"kw-py-{uuid.uuid4().hex}",
    }


def make_signature_verifier(public_key_pem: str) -> type:
    """A SignatureVerifier subclass that trusts keyway's license key instead of LicenseSpring's.

    The SDK instantiates the class itself (APIClient: `self.signature_verifier = signature_verifier()`); the base
    class imports PUBLIC_KEY in __init__ and verifies RSASSA-PKCS1-v1_5/SHA-256 over the raw response bytes with
    the `LicenseSignature` header (verify_license_signature_v2). Nothing is skipped here: the overrides only count
    successful verifications and turn a missing header into a readable error (the SDK would raise TypeError).
    """

    class KeywaySignatureVerifier(SignatureVerifier):
        PUBLIC_KEY = public_key_pem
        verified = 0  # successful verifications, across instances

        def verify_signature(self, message, signature):
            super().verify_signature(message, signature)  # raises ValueError("Invalid signature") on mismatch
            KeywaySignatureVerifier.verified += 1

        def verify_license_signature_v2(self, message, signature_b64):
            if signature_b64 is None:
                raise StepFailure("response has no LicenseSignature header (the SDK needs one on every response)")
            try:
                super().verify_license_signature_v2(message, signature_b64)
            except ValueError as exc:
                body = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
                raise StepFailure(
                    f"LicenseSignature header does not verify with keyway's public key ({exc}); body: {body[:300]}"
                ) from exc

    return KeywaySignatureVerifier


def make_hardware_id_provider(hardware_id: str) -> type:
    """A hardware id provider with a fixed id, so activation, check and deactivation all use the same id.

    The SDK sends `hardware_id_provider().get_id()` on check/deactivate (hardware_id=None there), and DataStorage
    calls `provider.get_id(<DataStorage>)` unbound, so get_id must not depend on `self`.
    """

    class FixedHardwareIdProvider(HardwareIdProvider):
        def get_id(self):  # noqa: D401 - SDK interface
            return hardware_id

        def get_ip(self):
            try:
                return super().get_ip()
            except OSError:
                return "127.0.0.1"

    return FixedHardwareIdProvider


def make_manager(env: dict, file_path: str) -> tuple[LicenseManager, type]:
    verifier = make_signature_verifier(env["public_key_pem"])
    conf = Configuration(
        product=env["product"],
        api_key=env["api_key"],
        shared_key=env["shared_key"],
        hardware_id_provider=make_hardware_id_provider(env["hardware_id"]),
        verify_license_signature=True,
        signature_verifier=verifier,
        api_protocol=env["protocol"],
        api_domain=env["domain"],
        api_version="v4",
        file_path=file_path,
        is_guard_file_enabled=False,
    )
    manager = LicenseManager(conf)
    expect(manager.api_client.verify_license_signature is True, "SDK signature verification is not enabled")
    expect(isinstance(manager.api_client.signature_verifier, verifier), "SDK does not use keyway's verifier")
    return manager, verifier


# ----------------------------------------------------------------------------------------------------------
# Hosted login (plain HTTP, like a browser without JavaScript)
# ----------------------------------------------------------------------------------------------------------


class FirstFormParser(HTMLParser):
    """Collects the first <form> of a page: its attributes and its successful controls."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.form: dict | None = None
        self.inputs: list[dict] = []
        self.buttons: list[dict] = []
        self._in_form = False
        self._done = False
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = {name.lower(): (value if value is not None else "") for name, value in attrs}
        if self._done:
            return
        if tag == "form" and self.form is None:
            self.form = attributes
            self._in_form = True
        elif self._in_form and tag == "input":
            self.inputs.append(attributes)
        elif self._in_form and tag == "button":
            self.buttons.append(attributes)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag == "form" and self._in_form:
            self._in_form = False
            self._done = True

    def handle_data(self, data):
        if data.strip():
            self._text.append(data.strip())

    @property
    def text(self) -> str:
        return " ".join(self._text)


def parse_first_form(page_html: str) -> FirstFormParser:
    parser = FirstFormParser()
    parser.feed(page_html)
    parser.close()
    return parser


def form_fields(parser: FirstFormParser, email: str, password: str) -> list[tuple[str, str]]:
    """The form data a browser would send: hidden and other value inputs, the credentials, the submit button."""
    fields: list[tuple[str, str]] = []
    names = set()
    for control in parser.inputs:
        name = control.get("name")
        kind = control.get("type", "text").lower()
        if not name or "disabled" in control:
            continue
        if kind in ("submit", "image", "reset", "button", "file"):
            continue
        if kind in ("checkbox", "radio") and "checked" not in control:
            continue
        names.add(name)
        if name == "email":
            fields.append((name, email))
        elif name == "password":
            fields.append((name, password))
        else:
            fields.append((name, control.get("value", "on" if kind in ("checkbox", "radio") else "")))
    expect("email" in names, "login form has no input named 'email'")
    expect("password" in names, "login form has no input named 'password'")
    # The submit control the user clicks, when it has a name (as a browser would include it).
    for control in parser.buttons + [c for c in parser.inputs if c.get("type", "").lower() == "submit"]:
        if control.get("type", "submit").lower() == "submit" and control.get("name") and "disabled" not in control:
            fields.append((control["name"], control.get("value", "")))
            break
    return fields


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def snippet(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def browser_login(sso_url: str, email: str, password: str, redirect_uri: str, trace: list) -> str:
    """Walks the hosted login like a browser and returns the first Location that starts with redirect_uri.

    The redirect_uri itself is never fetched.
    """
    session = requests.Session()
    session.headers.update(
        {
            "User-Agent": f"keyway-sdk-test (licensespring-python {licensespring.version})",
            "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8",
            "Accept-Language": "en",
        }
    )

    def walk(method: str, url: str, data=None, headers=None) -> tuple[str | None, requests.Response | None, str]:
        """Follow redirects manually. Returns (redirect_uri location, None, url) or (None, final response, url)."""
        for _ in range(MAX_HOPS):
            response = session.request(
                method, url, data=data, headers=headers, allow_redirects=False, timeout=HTTP_TIMEOUT
            )
            trace.append(f"{method} {url} -> {response.status_code}")
            if response.status_code in REDIRECT_STATUSES:
                location = response.headers.get("Location")
                expect(bool(location), f"{response.status_code} from {url} without a Location header")
                target = urljoin(url, location)
                if target.startswith(redirect_uri):
                    trace.append(f"stop at redirect_uri: {target[:120]}")
                    return target, None, url
                if response.status_code in (307, 308):
                    url = target  # same method and body
                else:
                    method, url, data, headers = "GET", target, None, None
                continue
            return None, response, url
        raise StepFailure(f"more than {MAX_HOPS} redirects starting at {sso_url}")

    # 1. Follow the SSO URL to the login page.
    location, page, page_url = walk("GET", sso_url)
    if location is not None:
        raise StepFailure(f"redirected to the redirect_uri before any login form: {location}")
    content_type = page.headers.get("Content-Type", "")
    expect(
        page.status_code == 200 and "html" in content_type.lower(),
        f"expected a 200 HTML login page at {page_url}, got {page.status_code} {content_type}: {snippet(page.text)}",
    )
    parser = parse_first_form(page.text)
    expect(parser.form is not None, f"no <form> on the login page {page_url}: {snippet(page.text)}")

    # 2. Submit the first form with the credentials.
    fields = form_fields(parser, email, password)
    action = urljoin(page_url, parser.form.get("action") or page_url)
    method = (parser.form.get("method") or "get").upper()
    headers = {"Origin": origin_of(page_url), "Referer": page_url}
    if method == "POST":
        location, final, final_url = walk("POST", action, data=fields, headers=headers)
    else:
        location, final, final_url = walk("GET", requests.Request("GET", action, params=fields).prepare().url)

    # 3. The answer must be a redirect to the redirect_uri.
    if location is None:
        detail = snippet(parse_first_form(final.text).text if "html" in final.headers.get("Content-Type", "") else final.text)
        raise StepFailure(
            f"login did not redirect to {redirect_uri}: {final.status_code} at {final_url}: {detail}"
        )
    return location


def check_redirect_error(location: str) -> None:
    parts = urlsplit(location)
    params = {**parse_qs(parts.query), **parse_qs(parts.fragment)}
    if "error" in params:
        raise StepFailure(
            f"authorization failed: error={params['error'][0]} "
            f"error_description={params.get('error_description', [''])[0]}"
        )


def jwt_claims(token: str) -> dict:
    """Unverified JWT payload, for diagnostics only (keyway verifies the id_token on activation)."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        return json.loads(base64.urlsafe_b64decode(payload))
    except (IndexError, ValueError):
        return {}


# ----------------------------------------------------------------------------------------------------------
# Scenario steps
# ----------------------------------------------------------------------------------------------------------


class Run:
    def __init__(self, env: dict) -> None:
        self.env = env
        self.steps: list[dict] = []
        self.trace: list[str] = []
        self.file_path = tempfile.mkdtemp(prefix="kw-python-sdk-")
        self.manager, self.verifier = make_manager(env, self.file_path)

    def step(self, name: str, **detail) -> None:
        entry = {"step": name, "ok": True}
        entry.update(detail)
        self.steps.append(entry)
        log(f"ok: {name} {json.dumps(detail, default=str) if detail else ''}")

    def verified_since(self, before: int, what: str) -> int:
        count = self.verifier.verified - before
        expect(count >= 1, f"the SDK did not verify the LicenseSignature of the {what} response")
        return count

    # -- steps ---------------------------------------------------------------------------------------------

    def sso_url(self, use_auth_code: bool) -> str:
        before = self.verifier.verified
        response = self.manager.get_sso_url(self.env["account"], use_auth_code=use_auth_code)
        self.verified_since(before, "sso_url")
        expect(isinstance(response, dict), f"sso_url response is not an object: {response!r}")
        url = response.get("url")
        expect(isinstance(url, str) and url.startswith(("http://", "https://")), f"sso_url has no usable url: {response!r}")
        query = parse_qs(urlsplit(url).query)
        response_type = "code" if use_auth_code else "token"
        expect(
            query.get("response_type") == [response_type],
            f"sso url response_type is {query.get('response_type')}, expected {response_type}: {url}",
        )
        if self.env["redirect_uri"] and "redirect_uri" in query:
            expect(
                query["redirect_uri"] == [self.env["redirect_uri"]],
                f"sso url redirect_uri {query['redirect_uri'][0]!r} is not KW_REDIRECT_URI {self.env['redirect_uri']!r}",
            )
        oidc = response.get("openid_configuration")
        expect(isinstance(oidc, dict) and oidc.get("issuer"), f"sso_url response lacks openid_configuration.issuer: {response!r}")
        self.issuer = oidc["issuer"]
        self.step(f"get_sso_url(use_auth_code={use_auth_code})", url=url, issuer=self.issuer)
        return url

    def login(self, url: str) -> str:
        if os.environ.get("KW_LOGIN") == "chromium":
            location = self.chromium_login(url)
        else:
            location = browser_login(url, self.env["email"], self.env["password"], self.env["redirect_uri"], self.trace)
        check_redirect_error(location)
        return location

    def chromium_login(self, url: str) -> str:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "browser"))
        import federated_walk  # noqa: PLC0415 - only this mode needs selenium

        profile = tempfile.mkdtemp(prefix="kw-sdk-chromium-")
        driver = federated_walk.start_browser(profile)
        try:
            out = federated_walk.walk(
                driver, url, self.env["redirect_uri"], self.env["email"], self.env["password"],
                os.environ.get("KW_ARTIFACTS") or self.file_path, f"python-sdk-{self.env['scenario']}",
            )
        except federated_walk.WalkFailed as exc:
            raise StepFailure(f"Chromium: {exc}") from exc
        finally:
            driver.quit()
            shutil.rmtree(profile, ignore_errors=True)
        self.step("login in Chromium", pages=out["pages"], screenshots=len(out["screenshots"]))
        return out["url"]

    def login_code(self) -> str:
        url = self.sso_url(use_auth_code=True)
        location = self.login(url)
        parts = urlsplit(location)
        query = parse_qs(parts.query)
        expect("code" in query and query["code"][0], f"no code in the redirect query: {location}")
        expect("access_token" not in parse_qs(parts.fragment), "code flow returned tokens in the fragment")
        if "iss" in query:
            expect(query["iss"][0] == self.issuer, f"iss {query['iss'][0]!r} is not the issuer {self.issuer!r}")
        self.step("login (authorization code)", has_iss="iss" in query, has_state="state" in query)
        return query["code"][0]

    def login_token(self) -> str:
        url = self.sso_url(use_auth_code=False)
        location = self.login(url)
        parts = urlsplit(location)
        expect("code" not in parse_qs(parts.query), f"token flow put a code in the query: {location}")
        fragment = parse_qs(parts.fragment)
        expect("id_token" in fragment and fragment["id_token"][0], f"no id_token in the redirect fragment: {location}")
        expect("access_token" in fragment, f"no access_token in the redirect fragment: {location}")
        token_type = fragment.get("token_type", [""])[0]
        expect(token_type.lower() == "bearer", f"token_type is {token_type!r}, expected Bearer")
        claims = jwt_claims(fragment["id_token"][0])
        self.step(
            "login (implicit, tokens in fragment)",
            expires_in=fragment.get("expires_in", [None])[0],
            id_token_claims={k: claims.get(k) for k in ("iss", "aud", "email", "customer_account_code")},
        )
        return fragment["id_token"][0]

    def activate(self, **credentials):
        before = self.verifier.verified
        license = self.manager.activate_license(
            LicenseID(),  # SSO: no key, no username/password
            hardware_id=self.env["hardware_id"],
            customer_account_code=self.env["account"],
            redirect_uri=self.env["redirect_uri"] or None,
            **credentials,
        )
        self.verified_since(before, "activate_license")
        expect(license.license_active(), "license is not active after activation")
        expect(license.license_enabled(), "license is not enabled after activation")
        expect(license.id() is not None, "activation response has no license id")
        user = license.license_user() or {}
        email = user.get("email")
        expect(
            isinstance(email, str) and email.lower() == self.env["email"].lower(),
            f"activation response user.email is {email!r}, expected {self.env['email']!r}",
        )
        expect(
            license.license_type() in ("perpetual", "time-limited", "consumption", "subscription"),
            f"unexpected license_type {license.license_type()!r}",
        )
        cache = self.manager.licensefile_handler._cache
        expect(
            cache.hardware_id == self.env["hardware_id"],
            f"license hardware_id is {cache.hardware_id!r}, expected {self.env['hardware_id']!r}",
        )
        self.check_license_signature_field(cache, email)
        self.step(
            f"activate_license({', '.join(credentials)})",
            license_id=license.id(),
            license_type=license.license_type(),
            user_email=email,
            validity_period=str(license.validity_period()) if license.validity_period() else None,
        )
        return license

    def check_license_signature_field(self, cache, email: str) -> None:
        """The body field license_signature (verified by the Node SDK): hardware_id#email#validity, lower-cased."""
        signature = getattr(cache, "license_signature", None)
        expect(isinstance(signature, str) and signature, "activation response has no license_signature field")
        validity = getattr(cache, "validity_period", None)
        if isinstance(validity, datetime):
            utc = validity if validity.tzinfo is None else validity.astimezone(timezone.utc).replace(tzinfo=None)
            validity_text = utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
        else:
            validity_text = validity or ""
        try:
            self.manager.api_client.signature_verifier.verify_license_signature(
                self.env["hardware_id"], email.split("|")[0], validity_text, signature
            )
        except ValueError as exc:
            raise StepFailure(
                f"license_signature does not verify over "
                f"'{self.env['hardware_id']}#{email.split('|')[0]}#{validity_text}'.lower(): {exc}"
            ) from exc

    def check(self, license) -> None:
        before = self.verifier.verified
        response = license.check()
        self.verified_since(before, "check_license")
        expect(isinstance(response, dict), f"check() returned {response!r} (None means the SDK treated keyway as offline)")
        expect(license.license_active(), "license is not active after check()")
        expect(license.license_enabled(), "license is not enabled after check()")
        expect(not license.is_expired(), "license is expired after check()")
        user = response.get("user") or {}
        expect(
            str(user.get("email", "")).lower() == self.env["email"].lower(),
            f"check response user.email is {user.get('email')!r}, expected {self.env['email']!r}",
        )
        self.step("check()", license_active=response.get("license_active"), license_enabled=response.get("license_enabled"))

    def deactivate(self, license) -> None:
        license.deactivate()
        expect(not license.license_active(), "license still active locally after deactivate()")
        self.step("deactivate()")

    # -- scenarios -----------------------------------------------------------------------------------------

    def scenario_code(self) -> None:
        code = self.login_code()
        license = self.activate(code=code)
        self.check(license)
        self.deactivate(license)

    def scenario_token(self) -> None:
        id_token = self.login_token()
        license = self.activate(id_token=id_token)
        self.check(license)
        self.deactivate(license)

    def scenario_user_licenses(self) -> None:
        code = self.login_code()
        before = self.verifier.verified
        licenses = self.manager.get_user_licenses(
            customer_account_code=self.env["account"],
            code=code,
            redirect_uri=self.env["redirect_uri"] or None,
        )
        self.verified_since(before, "user_licenses")
        expect(isinstance(licenses, list), f"user_licenses response is not a list: {licenses!r}")
        expect(len(licenses) > 0, "user_licenses returned an empty list")
        for index, item in enumerate(licenses):
            expect(isinstance(item, dict), f"user_licenses[{index}] is not an object: {item!r}")
            expect(isinstance(item.get("license"), dict), f"user_licenses[{index}] has no 'license' object: {item!r}")
            expect(isinstance(item.get("user"), dict), f"user_licenses[{index}] has no 'user' object: {item!r}")
        emails = {str(item["user"].get("email", "")).lower() for item in licenses}
        expect(self.env["email"].lower() in emails, f"user_licenses users are {sorted(emails)}, expected {self.env['email']}")
        self.step(
            "get_user_licenses(code)",
            count=len(licenses),
            license_ids=[item["license"].get("id") for item in licenses],
        )

    def expect_client_error(self, expected_code: str, **credentials) -> None:
        try:
            self.manager.activate_license(
                LicenseID(),
                hardware_id=self.env["hardware_id"],
                customer_account_code=self.env["account"],
                redirect_uri=self.env["redirect_uri"] or None,
                **credentials,
            )
        except ClientError as exc:
            expect(exc.code == expected_code, f"ClientError code is {exc.code!r} ({exc.message}), expected {expected_code!r}")
            expect(isinstance(exc.status, int) and 400 <= exc.status < 500, f"error body status is {exc.status!r}")
            self.step(f"activate_license(bogus {', '.join(credentials)}) -> ClientError", code=exc.code, status=exc.status)
            return
        except requests.HTTPError as exc:
            raise StepFailure(f"expected ClientError {expected_code}, got HTTP error {exc}") from exc
        raise StepFailure(f"activation with a bogus {', '.join(credentials)} succeeded; expected ClientError {expected_code}")

    def scenario_error(self) -> None:
        self.expect_client_error("invalid_code", code=f"bogus-{uuid.uuid4().hex}")
        bogus_token = ".".join(
            base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
            for part in ({"alg": "RS256", "typ": "JWT", "kid": "bogus"}, {"iss": self.env["base"], "sub": "bogus"})
        ) + "." + base64.urlsafe_b64encode(b"not-a-signature").decode().rstrip("=")
        self.expect_client_error("invalid_id_token", id_token=bogus_token)

    def scenario_sso_url(self) -> None:
        self.sso_url(use_auth_code=True)
        self.sso_url(use_auth_code=False)

    def run(self) -> None:
        getattr(self, f"scenario_{self.env['scenario']}")()

    def cleanup(self) -> None:
        shutil.rmtree(self.file_path, ignore_errors=True)


def main() -> int:
    summary: dict = {
        "sdk": "python",
        "sdk_version": getattr(licensespring, "version", "?"),
        "scenario": os.environ.get("KW_SCENARIO"),
        "ok": False,
    }
    run = None
    status = 1
    try:
        env = read_env()
        summary["hardware_id"] = env["hardware_id"]
        run = Run(env)
        run.run()
        summary["ok"] = True
        status = 0
    except ConfigError as exc:
        summary["error"] = f"configuration: {exc}"
        status = 2
    except StepFailure as exc:
        summary["error"] = str(exc)
    except ClientError as exc:
        summary["error"] = f"keyway answered {exc.status} {exc.code}: {exc.message}"
    except requests.RequestException as exc:
        summary["error"] = f"HTTP failure ({type(exc).__name__}): {exc}"
    except Exception as exc:  # noqa: BLE001 - any SDK crash is a failed compatibility check
        summary["error"] = f"unexpected {type(exc).__name__}: {exc}"
        summary["traceback"] = traceback.format_exc(limit=8)
    finally:
        if run is not None:
            summary["steps"] = run.steps
            summary["signature_verifications"] = run.verifier.verified
            if not summary["ok"]:
                summary["http_trace"] = run.trace[-12:]
            run.cleanup()
    if not summary["ok"]:
        log(f"FAILED: {summary.get('error')}")
    print(json.dumps(summary, default=str, separators=(",", ":")), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
