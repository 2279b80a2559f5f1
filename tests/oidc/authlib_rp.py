#!/usr/bin/env python3
"""An independent OpenID Connect relying party (Authlib + joserfc + requests) run against a live keyway.

The Rust integration tests start keyway and run this script as a subprocess. It proves standards
conformance to a library that shares no code with keyway, so the client-side checks are strict.

Environment:
  KW_ISSUER         issuer URL, e.g. http://127.0.0.1:43123 (must equal discovery's "issuer")
  KW_CLIENT_ID      confidential client registered with KW_REDIRECT_URI
  KW_CLIENT_SECRET
  KW_REDIRECT_URI   nothing needs to listen there: the script stops at the redirect
  KW_ACCOUNT        customer account code sent as `customer_account_code`
  KW_USER_EMAIL, KW_USER_PASSWORD
  KW_SCENARIO       code_pkce (default) | implicit   (or give it as the first argument)
  KW_WRONG_PASSWORD_FIRST  1 (default): code_pkce first submits a wrong password and expects the form again
  KW_TIMEOUT        seconds per HTTP request (default 15)
  KW_ACCESS_TOKEN_ALG  RS256 (default) | ES256: the algorithm keyway is configured to sign access tokens with;
                    with ES256 the JWKS must also hold a P-256 key (id_tokens stay RS256)

Prints exactly one JSON line on stdout: {"ok": true, "scenario": ..., "checks": [...], ...} and exits 0,
or {"ok": false, "step": ..., "error": ...} (the error also on stderr) and exits 1.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
import time
import traceback
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urljoin, urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oidc import rpinitiated
from authlib.oidc.core import CodeIDToken, ImplicitIDToken
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

SCOPE_FULL = "openid email profile offline_access"
CLOCK_SKEW = 60  # seconds of leeway for iat / exp / auth_time


class CheckFailed(Exception):
    pass


class Run:
    """Holds the configuration and records every check that passed."""

    def __init__(self) -> None:
        self.scenario = (sys.argv[1] if len(sys.argv) > 1 else os.environ.get("KW_SCENARIO", "code_pkce")).strip()
        self.issuer = env("KW_ISSUER")
        self.client_id = env("KW_CLIENT_ID")
        self.client_secret = env("KW_CLIENT_SECRET")
        self.redirect_uri = env("KW_REDIRECT_URI")
        self.account = env("KW_ACCOUNT")
        self.email = env("KW_USER_EMAIL")
        self.password = env("KW_USER_PASSWORD")
        self.timeout = float(os.environ.get("KW_TIMEOUT", "15"))
        self.wrong_password_first = os.environ.get("KW_WRONG_PASSWORD_FIRST", "1") not in ("0", "false", "no")
        self.access_token_alg = os.environ.get("KW_ACCESS_TOKEN_ALG", "RS256").strip()
        self.step = "start"
        self.checks: list[str] = []
        self.info: dict = {}
        self.meta: dict = {}
        self.keys: KeySet | None = None
        self.jwks_kids: set[str] = set()

    def at(self, step: str) -> None:
        self.step = step

    def ok(self, name: str) -> None:
        self.checks.append(name)

    def check(self, cond: object, message: str) -> None:
        if not cond:
            raise CheckFailed(f"[{self.step}] {message}")


def env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise CheckFailed(f"[config] environment variable {name} is not set")
    return value


def b64url_half_sha256(value: str) -> str:
    """OIDC Core §3.2.2.9 / §3.1.3.6: at_hash = base64url(left half of SHA-256(ASCII token)), no padding."""
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def short(text: str, n: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n] + "…"


# --------------------------------------------------------------------------------------------------------
# HTML: the hosted login form
# --------------------------------------------------------------------------------------------------------


class FormParser(HTMLParser):
    """Collects forms (with inputs and buttons), labels and visible text of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self.labels: list[dict] = []
        self.html_lang: str | None = None
        self._form: dict | None = None
        self._label_stack: list[dict] = []
        self._skip = 0
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v if v is not None else "") for k, v in attrs}
        if tag == "html":
            self.html_lang = a.get("lang")
        elif tag in ("script", "style"):
            self._skip += 1
        elif tag == "form":
            self._form = {"attrs": a, "inputs": [], "buttons": []}
            self.forms.append(self._form)
        elif tag == "label":
            label = {"for": a.get("for"), "text": "", "inputs": []}
            self.labels.append(label)
            self._label_stack.append(label)
        elif tag in ("input", "select", "textarea"):
            field = {"tag": tag, **a}
            if self._form is not None:
                self._form["inputs"].append(field)
            for label in self._label_stack:
                label["inputs"].append(field)
        elif tag == "button" and self._form is not None:
            self._form["buttons"].append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1
        elif tag == "form":
            self._form = None
        elif tag == "label" and self._label_stack:
            self._label_stack.pop()

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.text.append(data)
        for label in self._label_stack:
            label["text"] += data

    def visible_text(self) -> str:
        return " ".join(" ".join(self.text).split())


def parse_login_page(run: Run, html: str) -> tuple[FormParser, dict]:
    page = FormParser()
    page.feed(html)
    posts = [f for f in page.forms if f["attrs"].get("method", "get").lower() == "post"]
    run.check(posts, f"login page has no <form method=\"post\">; page text: {short(page.visible_text())}")
    form = posts[0]
    names = {i.get("name") for i in form["inputs"]}
    run.check("email" in names, "the first POST form has no <input name=\"email\">")
    pw = [i for i in form["inputs"] if i.get("name") == "password"]
    run.check(pw and pw[0].get("type", "").lower() == "password", "no <input type=\"password\" name=\"password\">")
    run.check(not pw[0].get("value"), "the password input is pre-filled")
    hidden = [i for i in form["inputs"] if i.get("type", "").lower() == "hidden" and i.get("name")]
    run.check(hidden, "the login form has no hidden inputs (CSRF token / pending request)")
    # Accessibility (SPEC §5): each visible field has a <label>, by for=id or by wrapping it.
    for field_name in ("email", "password"):
        field = next(i for i in form["inputs"] if i.get("name") == field_name)
        labelled = any(
            (field.get("id") and label["for"] == field.get("id")) or field in label["inputs"] for label in page.labels
        )
        run.check(labelled, f"<input name=\"{field_name}\"> has no <label>")
        label_text = next(
            (
                label["text"].strip()
                for label in page.labels
                if (field.get("id") and label["for"] == field.get("id")) or field in label["inputs"]
            ),
            "",
        )
        run.check(label_text, f"the <label> of \"{field_name}\" is empty")
    return page, form


def form_payload(form: dict, email: str, password: str) -> dict:
    data = {}
    for field in form["inputs"]:
        if field.get("type", "").lower() == "hidden" and field.get("name"):
            data[field["name"]] = field.get("value", "")
    named_submit = [b for b in form["buttons"] if b.get("name") and b.get("type", "submit").lower() == "submit"]
    if named_submit:
        data[named_submit[0]["name"]] = named_submit[0].get("value", "")
    data["email"] = email
    data["password"] = password
    return data


def walk_login(run: Run, http: requests.Session, auth_url: str) -> str:
    """Follows redirects to the hosted login, submits it, and returns the Location into redirect_uri."""
    run.at("authorize")
    url = auth_url
    resp = None
    for _ in range(10):
        resp = http.get(url, allow_redirects=False, timeout=run.timeout)
        if resp.is_redirect:
            location = urljoin(url, resp.headers["Location"])
            if location.startswith(run.redirect_uri):
                run.info.setdefault("login_form_shown", False)
                return location
            url = location
            continue
        break
    run.check(resp is not None and resp.status_code == 200,
              f"GET {url} answered {resp.status_code if resp is not None else '-'} instead of the 200 login page: "
              f"{short(resp.text if resp is not None else '')}")
    run.check("text/html" in resp.headers.get("Content-Type", ""), "the login page is not text/html")
    run.at("login_page")
    page, form = parse_login_page(run, resp.text)
    run.info["login_form_shown"] = True
    run.ok("login_form")
    page_url = resp.url
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(page_url))
    headers = {"Origin": origin, "Referer": page_url}

    if run.wrong_password_first and run.scenario == "code_pkce":
        run.at("wrong_password")
        action = urljoin(page_url, form["attrs"].get("action") or page_url)
        wrong = run.password + "-wrong"
        r = http.post(action, data=form_payload(form, run.email, wrong), headers=headers,
                      allow_redirects=False, timeout=run.timeout)
        run.check(r.status_code == 200,
                  f"a wrong password answered {r.status_code} (Location {r.headers.get('Location')}) instead of 200 "
                  "with the form again")
        run.check(wrong not in r.text, "the wrong password is echoed back in the page")
        before = page.visible_text()
        page, form = parse_login_page(run, r.text)
        run.check(page.visible_text() != before, "the form came back after a wrong password without any error text")
        page_url = r.url
        run.ok("wrong_password_rerenders_form")

    run.at("login_submit")
    action = urljoin(page_url, form["attrs"].get("action") or page_url)
    r = http.post(action, data=form_payload(form, run.email, run.password), headers=headers,
                  allow_redirects=False, timeout=run.timeout)
    if r.status_code == 200:
        err = FormParser()
        err.feed(r.text)
        raise CheckFailed(f"[{run.step}] login was refused (200, form again): {short(err.visible_text())}")
    run.check(r.status_code == 303, f"login POST answered {r.status_code}, expected 303: {short(r.text)}")
    location = urljoin(action, r.headers.get("Location", ""))
    run.check(location.startswith(run.redirect_uri),
              f"login POST redirected to {location!r}, not to the redirect_uri {run.redirect_uri!r}")
    run.ok("login_303_to_redirect_uri")
    return location


# --------------------------------------------------------------------------------------------------------
# Discovery, JWKS, tokens
# --------------------------------------------------------------------------------------------------------


def discover(run: Run) -> dict:
    run.at("discovery")
    url = run.issuer.rstrip("/") + "/.well-known/openid-configuration"
    r = requests.get(url, timeout=run.timeout)
    run.check(r.status_code == 200, f"GET {url} answered {r.status_code}")
    run.check("application/json" in r.headers.get("Content-Type", ""), "discovery is not application/json")
    meta = r.json()
    run.check(meta.get("issuer") == run.issuer, f"discovery issuer {meta.get('issuer')!r} != KW_ISSUER {run.issuer!r}")
    try:
        OpenIDProviderMetadata(meta).validate(metadata_classes=[rpinitiated.OpenIDProviderMetadata])
    except ValueError as e:
        raise CheckFailed(f"[{run.step}] Authlib rejects the provider metadata: {e}") from e
    for key in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "revocation_endpoint",
                "introspection_endpoint", "end_session_endpoint", "subject_types_supported"):
        run.check(meta.get(key), f"discovery lacks {key}")
    run.check(urlsplit(meta["userinfo_endpoint"]).path == "/oauth2/userInfo",
              f"userinfo_endpoint is {meta['userinfo_endpoint']}, expected …/oauth2/userInfo")
    for key in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "revocation_endpoint",
                "introspection_endpoint", "end_session_endpoint"):
        run.check(meta[key].startswith(run.issuer.rstrip("/") + "/"), f"{key} {meta[key]} is not under the issuer")

    def has(key: str, *values: str) -> None:
        got = meta.get(key) or []
        for v in values:
            run.check(v in got, f"discovery {key} {got} lacks {v!r}")

    has("response_types_supported", "code", "token", "id_token token")
    has("grant_types_supported", "authorization_code", "refresh_token")
    has("code_challenge_methods_supported", "S256")
    run.check("plain" not in (meta.get("code_challenge_methods_supported") or []),
              "discovery advertises PKCE plain, which keyway refuses")
    has("id_token_signing_alg_values_supported", "RS256")
    has("token_endpoint_auth_methods_supported", "client_secret_basic", "client_secret_post")
    has("scopes_supported", "openid", "email", "profile", "offline_access")
    run.meta = meta
    run.ok("discovery")

    run.at("jwks")
    r = requests.get(meta["jwks_uri"], timeout=run.timeout)
    run.check(r.status_code == 200, f"GET {meta['jwks_uri']} answered {r.status_code}")
    jwks = r.json()
    run.check(isinstance(jwks.get("keys"), list) and jwks["keys"], "JWKS has no keys")
    allowed = {"RS256": "RSA"} if run.access_token_alg == "RS256" else {"RS256": "RSA", "ES256": "EC"}
    for k in jwks["keys"]:
        run.check(k.get("kid") and allowed.get(k.get("alg")) == k.get("kty"), f"JWKS key with unexpected kty/alg or no kid: {k}")
        if k.get("kty") == "EC":
            run.check(k.get("crv") == "P-256" and k.get("x") and k.get("y"), f"EC key is not a P-256 public key: {k}")
        run.check(not any(p in k for p in ("d", "p", "q", "dp", "dq", "qi")), "JWKS publishes a PRIVATE key")
    algs = {k.get("alg") for k in jwks["keys"]}
    run.check(run.access_token_alg in algs, f"JWKS has no {run.access_token_alg} key for access tokens: {algs}")
    run.keys = KeySet.import_key_set(jwks)
    run.jwks_kids = {k["kid"] for k in jwks["keys"]}
    run.ok("jwks")
    return meta


def verify_signature(run: Run, token: str, what: str, alg: str = "RS256") -> jwt.Token:
    try:
        header = jws.extract_compact(token.encode("ascii")).headers()
    except (JoseError, ValueError) as e:
        raise CheckFailed(f"[{run.step}] {what} is not a compact JWS: {e}") from e
    run.check(header.get("alg") == alg, f"{what} alg is {header.get('alg')!r}, expected {alg}")
    run.check(header.get("kid") in run.jwks_kids, f"{what} kid {header.get('kid')!r} is not in the JWKS")
    try:
        return jwt.decode(token, run.keys, algorithms=[alg])
    except JoseError as e:
        raise CheckFailed(f"[{run.step}] {what} signature does not verify against the JWKS: {e}") from e


def verify_id_token(run: Run, id_token: str, *, nonce: str | None, access_token: str | None,
                    implicit: bool, scope: str) -> dict:
    tok = verify_signature(run, id_token, "id_token")
    typ = str(tok.header.get("typ", "JWT"))
    run.check(typ.lower() not in ("at+jwt", "application/at+jwt"), "id_token carries typ at+jwt")
    claims_cls = ImplicitIDToken if implicit else CodeIDToken
    options = {
        "iss": {"essential": True, "value": run.issuer},
        "aud": {"essential": True, "value": run.client_id},
        "sub": {"essential": True},
        "exp": {"essential": True},
        "iat": {"essential": True},
    }
    params = {"nonce": nonce, "client_id": run.client_id, "access_token": access_token}
    claims = claims_cls(tok.claims, tok.header, options, params)
    try:
        claims.validate(leeway=CLOCK_SKEW)
    except JoseError as e:
        raise CheckFailed(f"[{run.step}] Authlib rejects the id_token claims: {e}; claims {dict(tok.claims)}") from e
    c = dict(tok.claims)
    now = time.time()
    # Our own checks, independent of Authlib's.
    run.check(c["iss"] == run.issuer, "id_token iss != issuer")
    aud = c["aud"] if isinstance(c["aud"], list) else [c["aud"]]
    run.check(run.client_id in aud, "id_token aud lacks client_id")
    if len(aud) > 1:
        run.check(c.get("azp") == run.client_id, "id_token has several audiences but azp != client_id")
    run.check(isinstance(c["sub"], str) and c["sub"], "id_token sub is empty")
    run.check(isinstance(c["exp"], int) and c["exp"] > now, "id_token is expired")
    run.check(isinstance(c["iat"], int) and c["iat"] <= now + CLOCK_SKEW, "id_token iat is in the future")
    run.check(c["exp"] > c["iat"], "id_token exp <= iat")
    run.check(isinstance(c.get("auth_time"), int) and c["auth_time"] <= now + CLOCK_SKEW,
              f"id_token auth_time missing or in the future: {c.get('auth_time')!r}")
    run.check(isinstance(c.get("sid"), str) and c["sid"], "id_token sid missing")
    if nonce is not None:
        run.check(c.get("nonce") == nonce, f"id_token nonce {c.get('nonce')!r} != sent nonce")
    else:
        run.check("nonce" not in c, "id_token has a nonce although none was sent")
    if access_token is not None:
        expected = b64url_half_sha256(access_token)
        if implicit:
            run.check("at_hash" in c, "id_token from the authorization endpoint with an access token lacks at_hash")
        if "at_hash" in c:
            run.check(c["at_hash"] == expected, f"at_hash {c['at_hash']!r} != base64url(left half sha256)={expected!r}")
    run.check(c.get("customer_account_code") == run.account,
              f"id_token customer_account_code {c.get('customer_account_code')!r} != {run.account!r}")
    scopes = scope.split()
    if "email" in scopes:
        run.check(str(c.get("email", "")).lower() == run.email.lower(),
                  f"id_token email {c.get('email')!r} != {run.email!r}")
        run.check(isinstance(c.get("email_verified"), bool), "id_token email_verified is not a boolean")
    elif "email" in c:
        run.check(str(c["email"]).lower() == run.email.lower(), "id_token email is another user's")
    if "profile" in scopes:
        run.check(isinstance(c.get("name"), str) and c["name"], "id_token name missing (scope profile)")
    return c


def verify_access_token(run: Run, access_token: str, *, sub: str, scope: str) -> dict:
    """RFC 9068 JWT access token."""
    tok = verify_signature(run, access_token, "access_token", run.access_token_alg)
    typ = str(tok.header.get("typ", ""))
    run.check(typ.lower() in ("at+jwt", "application/at+jwt"), f"access_token typ is {typ!r}, expected at+jwt")
    c = dict(tok.claims)
    now = time.time()
    for claim in ("iss", "sub", "aud", "exp", "iat", "jti", "client_id"):
        run.check(claim in c, f"access_token lacks {claim} (RFC 9068 §2.2)")
    run.check(c["iss"] == run.issuer, "access_token iss != issuer")
    run.check(c["client_id"] == run.client_id, "access_token client_id != client")
    run.check(c["sub"] == sub, f"access_token sub {c['sub']!r} != id_token sub {sub!r}")
    run.check(isinstance(c["exp"], int) and c["exp"] > now, "access_token is expired")
    run.check(isinstance(c["iat"], int) and c["iat"] <= now + CLOCK_SKEW, "access_token iat in the future")
    granted = str(c.get("scope", "")).split()
    for s in scope.split():
        run.check(s in granted, f"access_token scope {granted} lacks {s!r}")
    return c


def check_token_response(run: Run, resp: requests.Response | None, token: dict, *, want_refresh: bool) -> None:
    run.check(resp is not None, "token response was not captured")
    run.check(resp.status_code == 200, f"token endpoint answered {resp.status_code}: {short(resp.text)}")
    run.check("no-store" in resp.headers.get("Cache-Control", ""), "token response lacks Cache-Control: no-store")
    run.check("application/json" in resp.headers.get("Content-Type", ""), "token response is not JSON")
    run.check(str(token.get("token_type", "")).lower() == "bearer", f"token_type {token.get('token_type')!r}")
    run.check(isinstance(token.get("expires_in"), int) and token["expires_in"] > 0,
              f"expires_in {token.get('expires_in')!r} is not a positive integer")
    run.check(token.get("access_token"), "no access_token")
    if want_refresh:
        run.check(token.get("refresh_token"), "no refresh_token although offline_access was granted")


def userinfo(run: Run, access_token: str) -> requests.Response:
    return requests.get(run.meta["userinfo_endpoint"], headers={"Authorization": f"Bearer {access_token}"},
                        timeout=run.timeout)


def check_userinfo(run: Run, access_token: str, sub: str) -> dict:
    r = userinfo(run, access_token)
    run.check(r.status_code == 200, f"userinfo answered {r.status_code}: {short(r.text)}")
    run.check("application/json" in r.headers.get("Content-Type", ""), "userinfo is not application/json")
    info = r.json()
    run.check(info.get("sub") == sub, f"userinfo sub {info.get('sub')!r} != id_token sub {sub!r}")
    run.check(str(info.get("email", "")).lower() == run.email.lower(),
              f"userinfo email {info.get('email')!r} != {run.email!r}")
    # OIDC Core §5.3.2: also by POST with the Bearer header.
    r2 = requests.post(run.meta["userinfo_endpoint"], headers={"Authorization": f"Bearer {access_token}"},
                       timeout=run.timeout)
    run.check(r2.status_code == 200 and r2.json().get("sub") == sub, f"POST userinfo answered {r2.status_code}")
    return info


def expect_oauth_error(run: Run, fn, error: str, what: str) -> None:
    try:
        result = fn()
    except OAuthError as e:
        run.check(e.error == error, f"{what}: error {e.error!r} ({e.description}), expected {error!r}")
        return
    raise CheckFailed(f"[{run.step}] {what} succeeded, expected {error}: {result}")


# --------------------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------------------


def scenario_code_pkce(run: Run) -> None:
    meta = discover(run)
    responses: dict[str, requests.Response] = {}

    def capture(kind: str):
        def hook(resp):
            responses[kind] = resp
            return resp
        return hook

    client = OAuth2Session(
        run.client_id, run.client_secret, token_endpoint_auth_method="client_secret_basic",
        scope=SCOPE_FULL, redirect_uri=run.redirect_uri, code_challenge_method="S256",
    )
    client.register_compliance_hook("access_token_response", capture("token"))
    client.register_compliance_hook("refresh_token_response", capture("refresh"))

    run.at("authorization_url")
    code_verifier = generate_token(64)
    nonce = generate_token(24)
    auth_url, state = client.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=code_verifier, nonce=nonce,
        customer_account_code=run.account,
    )
    q = dict(parse_qsl(urlsplit(auth_url).query))
    run.check(q.get("code_challenge_method") == "S256" and q.get("code_challenge"), "Authlib built no PKCE S256")

    callback = walk_login(run, requests.Session(), auth_url)
    run.at("callback")
    parts = urlsplit(callback)
    cb = dict(parse_qsl(parts.query))
    run.check("error" not in cb, f"authorization error: {cb}")
    run.check(cb.get("code"), f"no code in the callback query: {callback}")
    run.check(len(cb["code"]) >= 22, "authorization code is shorter than 128 bits of base64url")
    run.check(cb.get("state") == state, "state in the callback != sent state")
    run.check(cb.get("iss") == run.issuer, f"callback iss {cb.get('iss')!r} != issuer (RFC 9207)")
    run.check("access_token" not in parts.fragment and "access_token" not in cb, "tokens leaked into the callback")
    run.ok("code_callback")

    run.at("token")
    token = client.fetch_token(meta["token_endpoint"], authorization_response=callback, state=state,
                               code_verifier=code_verifier)
    check_token_response(run, responses.get("token"), token, want_refresh=True)
    run.check(token.get("id_token"), "no id_token from the token endpoint (scope openid)")
    at1, rt1 = token["access_token"], token["refresh_token"]
    run.ok("token_exchange_pkce_basic")

    run.at("id_token")
    idc = verify_id_token(run, token["id_token"], nonce=nonce, access_token=at1, implicit=False, scope=SCOPE_FULL)
    sub = idc["sub"]
    run.info["sub"] = sub
    run.ok("id_token_verified")

    run.at("access_token_jwt")
    verify_access_token(run, at1, sub=sub, scope="openid")
    run.ok("access_token_rfc9068")

    run.at("userinfo")
    check_userinfo(run, at1, sub)
    run.ok("userinfo")

    run.at("introspection")
    r = client.introspect_token(meta["introspection_endpoint"], token=at1, token_type_hint="access_token")
    run.check(r.status_code == 200, f"introspection answered {r.status_code}: {short(r.text)}")
    intro = r.json()
    run.check(intro.get("active") is True, f"introspection of the fresh access token: {intro}")
    if "sub" in intro:
        run.check(intro["sub"] == sub, "introspection sub != id_token sub")
    if "client_id" in intro:
        run.check(intro["client_id"] == run.client_id, "introspection client_id != client")
    r = requests.post(meta["introspection_endpoint"], data={"token": at1}, timeout=run.timeout)
    # RFC 6749 §5.2 invalid_client: 401, or 400 when no authentication was attempted; never the token's state.
    run.check(r.status_code in (400, 401) and "active" not in r.text,
              f"introspection without client authentication answered {r.status_code}: {short(r.text)}")
    run.ok("introspection_active")

    run.at("refresh")
    token2 = client.refresh_token(meta["token_endpoint"], refresh_token=rt1)
    check_token_response(run, responses.get("refresh"), token2, want_refresh=True)
    at2, rt2 = token2["access_token"], token2["refresh_token"]
    run.check(rt2 != rt1, "refresh token was not rotated")
    run.check(at2 != at1, "refresh returned the same access token")
    verify_access_token(run, at2, sub=sub, scope="openid")
    if token2.get("id_token"):
        # OIDC Core §12.2: same iss, sub, aud, auth_time as the original.
        c2 = verify_signature(run, token2["id_token"], "refreshed id_token").claims
        for claim in ("iss", "sub", "aud", "auth_time"):
            run.check(c2.get(claim) == idc.get(claim), f"refreshed id_token {claim} changed")
        if "nonce" in c2:
            run.check(c2["nonce"] == nonce, "refreshed id_token carries another nonce")
    run.ok("refresh_rotates")

    run.at("introspection_after_refresh")
    r = client.introspect_token(meta["introspection_endpoint"], token=at2, token_type_hint="access_token")
    run.check(r.status_code == 200 and r.json().get("active") is True, f"introspection of the refreshed token: {r.text}")

    run.at("revocation")
    # Revoke with the other client authentication method, client_secret_post.
    post_client = OAuth2Session(run.client_id, run.client_secret, token_endpoint_auth_method="client_secret_post",
                                revocation_endpoint_auth_method="client_secret_post")
    r = post_client.revoke_token(meta["revocation_endpoint"], token=at2, token_type_hint="access_token")
    run.check(r.status_code == 200, f"revocation answered {r.status_code}: {short(r.text)}")
    r = client.introspect_token(meta["introspection_endpoint"], token=at2, token_type_hint="access_token")
    run.check(r.status_code == 200, f"introspection after revocation answered {r.status_code}")
    run.check(r.json().get("active") is False, f"revoked access token still active: {r.text}")
    r = userinfo(run, at2)
    run.check(r.status_code == 401, f"userinfo with a revoked access token answered {r.status_code}")
    run.check(r.headers.get("WWW-Authenticate", "").startswith("Bearer"),
              "userinfo 401 lacks WWW-Authenticate: Bearer (RFC 6750 §3)")
    r = post_client.revoke_token(meta["revocation_endpoint"], token="not-a-token-" + generate_token(8))
    run.check(r.status_code == 200, f"revoking an unknown token answered {r.status_code} (RFC 7009 §2.2: 200)")
    run.ok("revocation_rfc7009")

    run.at("refresh_reuse")
    expect_oauth_error(run, lambda: client.refresh_token(meta["token_endpoint"], refresh_token=rt1),
                       "invalid_grant", "reusing the rotated refresh token")
    run.check(responses["refresh"].status_code == 400, f"reuse answered {responses['refresh'].status_code}")
    run.ok("refresh_reuse_invalid_grant")
    # SPEC §4.2: reuse of a rotated refresh token revokes the whole family.
    expect_oauth_error(run, lambda: client.refresh_token(meta["token_endpoint"], refresh_token=rt2),
                       "invalid_grant", "the newest refresh token after the family was revoked")
    run.ok("refresh_family_revoked")

    run.at("code_reuse")
    expect_oauth_error(run, lambda: client.fetch_token(meta["token_endpoint"], authorization_response=callback,
                                                       state=state, code_verifier=code_verifier),
                       "invalid_grant", "redeeming the authorization code twice")
    run.ok("code_single_use")


def implicit_flow(run: Run, response_type: str, scope: str, label: str) -> dict:
    client = OAuth2Session(run.client_id, scope=scope, redirect_uri=run.redirect_uri)
    nonce = generate_token(24)
    auth_url, state = client.create_authorization_url(
        run.meta["authorization_endpoint"], response_type=response_type, nonce=nonce,
        customer_account_code=run.account,
    )
    callback = walk_login(run, requests.Session(), auth_url)
    run.at(f"{label}:fragment")
    parts = urlsplit(callback)
    query = dict(parse_qsl(parts.query))
    for leaked in ("access_token", "id_token", "code"):
        run.check(leaked not in query, f"{leaked} in the query of an implicit response (must be the fragment)")
    frag = dict(parse_qsl(parts.fragment))
    run.check("error" not in frag, f"authorization error in the fragment: {frag}")
    # Authlib's own implicit-response parser (checks state).
    try:
        token = client.fetch_token(authorization_response=callback, state=state)
    except Exception as e:  # noqa: BLE001 - any parser failure is a conformance failure
        raise CheckFailed(f"[{run.step}] Authlib cannot parse the implicit response: {e!r}") from e
    run.check(frag.get("state") == state, "fragment state != sent state")
    run.check(frag.get("access_token") and token.get("access_token") == frag["access_token"], "no access_token")
    run.check(frag.get("token_type", "").lower() == "bearer", f"token_type {frag.get('token_type')!r}")
    run.check(frag.get("expires_in", "").isdigit() and int(frag["expires_in"]) > 0,
              f"expires_in {frag.get('expires_in')!r} is not a positive integer")
    run.check("refresh_token" not in frag, "an implicit response carries a refresh_token (RFC 6749 §4.2.2)")
    if "iss" in frag:
        run.check(frag["iss"] == run.issuer, "fragment iss != issuer")
    run.check(frag.get("id_token"), f"no id_token in the fragment for response_type={response_type!r} scope openid")
    run.at(f"{label}:id_token")
    access_token = frag["access_token"]
    idc = verify_id_token(run, frag["id_token"], nonce=nonce, access_token=access_token, implicit=True, scope=scope)
    run.at(f"{label}:access_token")
    verify_access_token(run, access_token, sub=idc["sub"], scope="openid")
    run.at(f"{label}:userinfo")
    r = userinfo(run, access_token)
    run.check(r.status_code == 200 and r.json().get("sub") == idc["sub"], f"userinfo answered {r.status_code}")
    run.ok(f"{label}_ok")
    return idc


def scenario_implicit(run: Run) -> None:
    discover(run)
    a = implicit_flow(run, "id_token token", "openid email profile", "id_token_token")
    b = implicit_flow(run, "token", "openid", "token")
    run.check(a["sub"] == b["sub"], "the two implicit flows give different subs for one user")
    run.info["sub"] = a["sub"]

    # OIDC Core §3.2.2.1: nonce is REQUIRED for id_token responses; the error goes to the fragment.
    run.at("implicit_without_nonce")
    client = OAuth2Session(run.client_id, scope="openid", redirect_uri=run.redirect_uri)
    auth_url, state = client.create_authorization_url(
        run.meta["authorization_endpoint"], response_type="id_token token", customer_account_code=run.account,
    )
    r = requests.get(auth_url, allow_redirects=False, timeout=run.timeout)
    run.check(r.is_redirect, f"implicit request without nonce answered {r.status_code}, expected an error redirect")
    location = urljoin(auth_url, r.headers["Location"])
    run.check(location.startswith(run.redirect_uri), f"error redirect goes to {location}")
    frag = dict(parse_qsl(urlsplit(location).fragment))
    run.check(frag.get("error") == "invalid_request", f"expected error=invalid_request in the fragment: {location}")
    run.check(frag.get("state") == state, "error redirect lacks the state")
    run.ok("implicit_nonce_required")


SCENARIOS = {"code_pkce": scenario_code_pkce, "implicit": scenario_implicit}


def main() -> int:
    started = time.monotonic()
    run = None
    try:
        run = Run()
        fn = SCENARIOS.get(run.scenario)
        if fn is None:
            raise CheckFailed(f"[config] unknown scenario {run.scenario!r}; one of {sorted(SCENARIOS)}")
        fn(run)
    except Exception as e:  # noqa: BLE001 - every failure becomes the one JSON line
        message = str(e) if isinstance(e, CheckFailed) else f"[{run.step if run else 'start'}] {type(e).__name__}: {e}"
        if not isinstance(e, CheckFailed):
            traceback.print_exc(file=sys.stderr)
        out = {"ok": False, "scenario": run.scenario if run else None, "step": run.step if run else "start",
               "error": message, "passed": run.checks if run else []}
        print(json.dumps(out), flush=True)
        print(f"authlib_rp FAILED: {message}", file=sys.stderr)
        return 1
    out = {"ok": True, "scenario": run.scenario, "issuer": run.issuer, "checks": run.checks,
           "elapsed_ms": int((time.monotonic() - started) * 1000), **run.info}
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
