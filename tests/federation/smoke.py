#!/usr/bin/env python3
"""Smoke test of the federation test IdPs, acting as keyway would (RP for OIDC, SP for SAML) with a plain HTTP client
that keeps cookies and does not follow redirects. It documents the exact HTTP steps the Rust tests take.

    python3 tests/federation/smoke.py            (needs: .ci/install-deps.sh done, i.e. node_modules + pip pins)

Starts oidc_idp.mjs (twice: confidential client with the e-mail in the id_token and amr, issuer below a path; public
client with PKCE and the e-mail only at userinfo), rogue_oidc.py (every mode through a strict RP check),
saml_idp.py (SP metadata from a file and from a URL, signed and unsigned AuthnRequests, cancel, IdP-initiated) and
then saml_forge.py --self-test. Every process must print its ready line and exit 0 on SIGTERM.
Ends with "N passed, N failed"; exit status 0 only when nothing failed.
"""

import base64
import hashlib
import json
import os
import secrets
import select
import shutil
import subprocess
import tempfile
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from saml_sp import TestSP, form_fields, saml_login  # noqa: E402

REDIRECT_URI = "http://127.0.0.1:9/callback"  # never contacted: the RP reads the Location header
PASSED, FAILED = [], []


def check(name: str, cond: bool, detail: str = ""):
    (PASSED if cond else FAILED).append(name)
    print(f"{'ok  ' if cond else 'FAIL'} {name}{'' if cond else ': ' + detail}", flush=True)


# ---- processes --------------------------------------------------------------------------------------------------
PROCS = []


def start(cmd, env: dict, what: str) -> dict:
    """Starts a helper and returns its one-line JSON ready message (10 s at most)."""
    proc = subprocess.Popen(cmd, cwd=HERE, env={**os.environ, **env}, stdout=subprocess.PIPE, text=True)
    PROCS.append((what, proc))
    ready, _, _ = select.select([proc.stdout], [], [], 30)  # generous: CI shares 2 cores
    line = proc.stdout.readline() if ready else ""
    if not line:
        raise RuntimeError(f"{what} did not print its ready line")
    return json.loads(line)


def stop_all():
    for what, proc in PROCS:
        if proc.poll() is None:
            proc.terminate()
        try:
            rc = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = "killed"
        check(f"{what} exits 0 on SIGTERM", rc == 0, f"exit {rc}")
        extra = proc.stdout.read()
        check(f"{what} printed nothing after its ready line", extra == "", repr(extra[:200]))


# ---- OIDC RP side -----------------------------------------------------------------------------------------------
def b64u_decode(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class Refused(Exception):
    """The reason a correct RP refuses (the rogue modes' expected outcomes)."""


class JwksCache:
    def __init__(self, session, uri):
        self.session, self.uri, self.keys, self.fetches = session, uri, {}, 0

    def fetch(self):
        self.fetches += 1
        self.keys = {k.get("kid"): k for k in self.session.get(self.uri).json()["keys"]}

    def key(self, kid):
        if kid not in self.keys:
            self.fetch()  # unknown kid: the IdP may have rotated, fetch once more (never more per token)
        if kid not in self.keys:
            raise Refused("unknown_kid")
        jwk = self.keys[kid]
        n, e = int.from_bytes(b64u_decode(jwk["n"]), "big"), int.from_bytes(b64u_decode(jwk["e"]), "big")
        return rsa.RSAPublicNumbers(e, n).public_key()


def private_jwk(kid: str) -> dict:
    """An RSA private JWK (RFC 7518 6.3.2) for IDP_JWKS."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    n, p = key.private_numbers(), key.public_key().public_numbers()
    enc = lambda i: base64.urlsafe_b64encode(i.to_bytes((i.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()  # noqa: E731
    return {"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": enc(p.n), "e": enc(p.e), "d": enc(n.d),
            "p": enc(n.p), "q": enc(n.q), "dp": enc(n.dmp1), "dq": enc(n.dmq1), "qi": enc(n.iqmp)}


def verify_id_token(token, jwks, issuer, client_id, nonce, skew=60):
    """What keyway does with the openidconnect crate: RS256 only, kid from the JWKS, iss, aud, azp, exp, iat, nonce."""
    try:
        h64, p64, s64 = token.split(".")
        header, claims = json.loads(b64u_decode(h64)), json.loads(b64u_decode(p64))
    except ValueError:
        raise Refused("malformed")
    if header.get("alg") != "RS256":
        raise Refused("alg")
    try:
        jwks.key(header.get("kid")).verify(b64u_decode(s64), f"{h64}.{p64}".encode(), padding.PKCS1v15(),
                                           hashes.SHA256())
    except Refused:
        raise
    except Exception:
        raise Refused("signature")
    if claims.get("iss") != issuer:
        raise Refused("iss")
    aud = claims.get("aud")
    auds = aud if isinstance(aud, list) else [aud]
    if client_id not in auds:
        raise Refused("aud")
    if (len(auds) > 1 or "azp" in claims) and claims.get("azp") != client_id:
        raise Refused("azp")  # OIDC Core 3.1.3.7 items 4-5
    now = time.time()
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= now - skew:
        raise Refused("expired")
    if not isinstance(claims.get("iat"), int) or claims["iat"] > now + skew:
        raise Refused("iat_future")
    if claims.get("nonce") != nonce:
        raise Refused("nonce")
    return claims


def rp_login(issuer, client_id, client_secret=None, auth="basic", login=None, password=None, cancel=False,
             wrong_password_first=False, expect_iss_param=True, session=None):
    """One authorization-code + PKCE S256 login, step by step (the Rust tests do the same with reqwest):
      1  GET {issuer}/.well-known/openid-configuration   -> 200 JSON, "issuer" must equal issuer
      2  GET authorization_endpoint?client_id&response_type=code&redirect_uri&scope=openid email profile
             &state&nonce&code_challenge&code_challenge_method=S256          -> 302/303 Location
         (oidc_idp.mjs: Location = {issuer-path}/interaction/<uid>, relative; the IdP sets _interaction cookies)
      3  GET that URL                                     -> 200 HTML, <form id="login-form" action=…>
      4  POST form action: login, password, action=login  -> 303 {issuer}/auth/<uid>   (wrong password: 200 form
         with <p id="error">; action=cancel: the same 303, which ends in error=access_denied)
      5  GET {issuer}/auth/<uid>                          -> 303 redirect_uri?code=…&state=…&iss=…
      6  POST token_endpoint grant_type=authorization_code&code&redirect_uri&code_verifier, client auth
             (Basic header, or client_id+client_secret in the body, or client_id alone for a public client)
      7  verify id_token (JWKS), then GET userinfo_endpoint with Authorization: Bearer <access_token>
    The rogue server skips 3-5: its authorize answers 302 redirect_uri?code&state&iss at once."""
    s = session or requests.Session()  # a session = one browser (keeps the IdP's cookies)
    forms_shown = 0
    try:
        disc = s.get(issuer + "/.well-known/openid-configuration")
        if disc.status_code != 200:
            raise Refused("discovery")
        meta = disc.json()
    except ValueError:
        raise Refused("discovery")
    if meta.get("issuer") != issuer:
        raise Refused("discovery_issuer")  # OIDC Discovery 4.3
    state, nonce, verifier = secrets.token_urlsafe(16), secrets.token_urlsafe(16), secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {"client_id": client_id, "response_type": "code", "redirect_uri": REDIRECT_URI,
             "scope": "openid email profile", "state": state, "nonce": nonce, "code_challenge": challenge,
             "code_challenge_method": "S256"}
    r = s.get(meta["authorization_endpoint"] + "?" + urlencode(query), allow_redirects=False)
    url = urljoin(r.url, r.headers.get("Location", ""))
    steps = 0
    while not url.startswith(REDIRECT_URI):
        steps += 1
        if steps > 5:
            raise RuntimeError("too many redirects")
        page = s.get(url, allow_redirects=False)
        if page.status_code in (302, 303):
            url = urljoin(url, page.headers["Location"])
            continue
        action, fields = form_fields(page.text, "login-form")
        forms_shown += 1
        if wrong_password_first:
            fields.update(login=login, password=password + "-wrong", action="login")
            again = s.post(urljoin(url, action), data=fields, allow_redirects=False)
            check(f"{issuer} wrong password re-shows the form with an error",
                  again.status_code == 200 and 'id="error"' in again.text and 'id="login-form"' in again.text)
            wrong_password_first = False
        fields.update(login=login, password=password, action="cancel" if cancel else "login")
        r = s.post(urljoin(url, action), data=fields, allow_redirects=False)
        url = urljoin(url, r.headers.get("Location", ""))
    cb = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    if cb.get("state") != state:
        raise Refused("state")
    if expect_iss_param and "iss" in cb and cb["iss"] != issuer:
        raise Refused("iss_param")  # RFC 9207
    if "error" in cb:
        raise Refused(cb["error"])
    form = {"grant_type": "authorization_code", "code": cb["code"], "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier}
    kwargs = {}
    if client_secret and auth == "basic":
        kwargs["auth"] = (client_id, client_secret)
    elif client_secret:
        form.update(client_id=client_id, client_secret=client_secret)
    else:
        form["client_id"] = client_id
    tok = s.post(meta["token_endpoint"], data=form, **kwargs)
    if tok.status_code != 200:
        raise Refused("token_error")
    tokens = tok.json()
    jwks = JwksCache(s, meta["jwks_uri"])
    jwks.fetch()  # as at discovery time: keyway caches the JWKS before the first token
    claims = verify_id_token(tokens["id_token"], jwks, issuer, client_id, nonce)
    info = s.get(meta["userinfo_endpoint"], headers={"Authorization": "Bearer " + tokens["access_token"]}).json()
    if info.get("sub") != claims["sub"]:
        raise Refused("userinfo_sub")  # OIDC Core 5.3.2
    email = claims.get("email", info.get("email"))
    verified = claims.get("email_verified", info.get("email_verified"))
    if not email:
        raise Refused("no_email")
    if verified is not True:
        raise Refused("email_unverified")
    return {"claims": claims, "userinfo": info, "email": email, "jwks_fetches": jwks.fetches, "forms": forms_shown,
            "kid": json.loads(b64u_decode(tokens["id_token"].split(".")[0])).get("kid"),
            "second_redemption": s.post(meta["token_endpoint"], data=form, **kwargs).status_code}


def smoke_oidc():
    alice = {"sub": "u-alice", "email": "alice@customer.example", "email_verified": True, "name": "Alice",
             "password": "alice-pw-1"}
    cfg_a = {"clients": [{"client_id": "keyway-a", "client_secret": "secret-a", "redirect_uris": [REDIRECT_URI]}],
             "accounts": [alice], "email_in_id_token": True, "amr": ["pwd", "mfa"], "issuer_suffix": "/tenant-a"}
    a = start(["node", "oidc_idp.mjs"], {"IDP_PORT": "0", "IDP_CONFIG": json.dumps(cfg_a)}, "oidc_idp.mjs (A)")
    check("oidc_idp A ready line", a["issuer"] == f"http://127.0.0.1:{a['port']}/tenant-a", str(a))
    res = rp_login(a["issuer"], "keyway-a", "secret-a", "basic", alice["email"], alice["password"],
                   wrong_password_first=True)
    c = res["claims"]
    check("oidc_idp A: code+PKCE, client_secret_basic, id_token verified",
          c["sub"] == "u-alice" and c.get("email") == alice["email"] and c.get("email_verified") is True)
    check("oidc_idp A: amr claim", c.get("amr") == ["pwd", "mfa"], str(c.get("amr")))
    check("oidc_idp A: userinfo", res["userinfo"].get("email") == alice["email"], str(res["userinfo"]))
    check("oidc_idp A: a code is single use", res["second_redemption"] == 400, str(res["second_redemption"]))
    browser = requests.Session()
    res = rp_login(a["issuer"], "keyway-a", "secret-a", "post", alice["email"], alice["password"], session=browser)
    check("oidc_idp A: client_secret_post", res["claims"]["sub"] == "u-alice")
    res = rp_login(a["issuer"], "keyway-a", "secret-a", "post", alice["email"], alice["password"], session=browser)
    check("oidc_idp A (sso_session off): the same browser gets the login form again", res["forms"] == 1,
          str(res["forms"]))
    try:
        rp_login(a["issuer"], "keyway-a", "secret-a", "basic", alice["email"], alice["password"], cancel=True)
        check("oidc_idp A: Cancel ends in error=access_denied", False, "no error")
    except Refused as exc:
        check("oidc_idp A: Cancel ends in error=access_denied", str(exc) == "access_denied", str(exc))
    try:
        rp_login(a["issuer"], "keyway-a", "wrong-secret", "basic", alice["email"], alice["password"])
        check("oidc_idp A: wrong client secret refused", False, "accepted")
    except Refused as exc:
        check("oidc_idp A: wrong client secret refused", str(exc) == "token_error", str(exc))

    cfg_b = {"clients": [{"client_id": "keyway-public", "redirect_uris": [REDIRECT_URI]}], "accounts": [alice],
             "email_in_id_token": False, "sso_session": True}
    jwks_dir = tempfile.mkdtemp(prefix="keyway-smoke-jwks-")
    jwks_file = os.path.join(jwks_dir, "jwks.json")
    with open(jwks_file, "w", encoding="utf-8") as f:
        json.dump({"keys": [private_jwk("smoke-kid-1")]}, f)
    try:
        b = start(["node", "oidc_idp.mjs"], {"IDP_PORT": "0", "IDP_CONFIG": json.dumps(cfg_b), "IDP_JWKS": jwks_file},
                  "oidc_idp.mjs (B)")
        browser = requests.Session()
        res = rp_login(b["issuer"], "keyway-public", None, "none", alice["email"], alice["password"], session=browser)
        again = rp_login(b["issuer"], "keyway-public", None, "none", session=browser)
        check("oidc_idp B (sso_session on): the same browser comes back without a form",
              again["forms"] == 0 and again["claims"]["sub"] == "u-alice", str(again["forms"]))
    finally:
        shutil.rmtree(jwks_dir, ignore_errors=True)
    check("oidc_idp B: public client + PKCE, e-mail only from userinfo",
          "email" not in res["claims"] and res["email"] == alice["email"], str(res["claims"]))
    check("oidc_idp B: signs with the IDP_JWKS key", res["kid"] == "smoke-kid-1", res["kid"])
    # PKCE is required for the public client: an authorization request without code_challenge is refused.
    s = requests.Session()
    meta = s.get(b["issuer"] + "/.well-known/openid-configuration").json()
    r = s.get(meta["authorization_endpoint"] + "?" + urlencode({
        "client_id": "keyway-public", "response_type": "code", "redirect_uri": REDIRECT_URI, "scope": "openid",
        "state": "s"}), allow_redirects=False)
    loc = r.headers.get("Location", "")
    check("oidc_idp B: public client without PKCE refused", "error=invalid_request" in loc, loc)


ROGUE_EXPECT = {
    "ok": None, "userinfo_only": None, "kid_rotation": None,
    "wrong_iss": "iss", "wrong_iss_param": "iss_param", "wrong_aud": "aud", "azp_mismatch": "azp",
    "bad_sig": "signature", "alg_none": "alg", "hs256_with_public_key": "alg", "wrong_nonce": "nonce",
    "wrong_state": "state", "expired": "expired", "iat_future": "iat_future", "unverified_email": "email_unverified",
    "no_email": "no_email", "userinfo_sub_mismatch": "userinfo_sub", "token_error": "token_error",
    "discovery_broken": "discovery", "discovery_invalid_json": "discovery", "discovery_wrong_issuer": "discovery_issuer",
}


def smoke_rogue():
    info = start([sys.executable, "rogue_oidc.py"], {"ROGUE_PORT": "0", "ROGUE_MODE": "ok",
                                                      "ROGUE_CONFIG": json.dumps({"email": "alice@customer.example"})},
                 "rogue_oidc.py")
    check("rogue ready line lists every mode", set(info["modes"]) == set(ROGUE_EXPECT), str(info["modes"]))
    for mode, expected in ROGUE_EXPECT.items():
        issuer = info["issuer_template"].format(mode=mode)
        try:
            res = rp_login(issuer, "keyway-rogue", "rogue-secret", "basic")
            got = None
        except Refused as exc:
            res, got = None, str(exc)
        check(f"rogue {mode}: {'accepted' if expected is None else 'refused for ' + expected}", got == expected,
              f"got {got}")
        if mode == "kid_rotation" and res:
            check("rogue kid_rotation: the RP fetched the JWKS twice", res["jwks_fetches"] == 2, str(res["jwks_fetches"]))
    log = requests.get(f"http://127.0.0.1:{info['port']}/_log", params={"mode": "ok"}).json()
    token_calls = [e for e in log if e["path"] == "/ok/token"]
    check("rogue /_log records the token request (PKCE checked, secret redacted)",
          token_calls and token_calls[0]["pkce"] == "S256 ok"
          and token_calls[0]["client_auth"] == {"method": "client_secret_basic", "client_id": "keyway-rogue"}
          and "rogue-secret" not in json.dumps(log), json.dumps(token_calls)[:300])
    requests.post(f"http://127.0.0.1:{info['port']}/_reset")
    check("rogue /_reset clears the log", requests.get(f"http://127.0.0.1:{info['port']}/_log").json() == [])


# ---- SAML SP side -----------------------------------------------------------------------------------------------
def serve_text(text: str):
    """A one-document HTTP server in a thread (plays keyway's SP metadata URL)."""
    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            body = text.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/samlmetadata+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def smoke_saml():
    import logging
    logging.disable(logging.CRITICAL)  # pysaml2 logs each refusal at ERROR
    from saml2.response import StatusRequestDenied
    user = {"email": "bob@customer.example", "password": "bob-pw-1", "name": "Bob"}
    sp1 = TestSP("http://127.0.0.1:9/sp1/metadata", "http://127.0.0.1:9/sp1/acs")              # unsigned requests
    sp2 = TestSP("http://127.0.0.1:9/sp2/metadata", "http://127.0.0.1:9/sp2/acs", sign_requests=True)
    md_file = os.path.join(sp1.workdir, "sp1-metadata.xml")
    with open(md_file, "w", encoding="utf-8") as f:
        f.write(sp1.metadata_xml())
    md_server = serve_text(sp2.metadata_xml())
    md_url = f"http://127.0.0.1:{md_server.server_address[1]}/sp2/metadata"
    try:
        info = start([sys.executable, "saml_idp.py"], {"SAML_IDP_PORT": "0", "SAML_IDP_CONFIG": json.dumps({
            "sp_metadata_file": md_file, "sp_metadata_url": md_url, "users": [user], "sign_response": True,
            "sign_assertion": True, "name_id_format": "emailAddress", "email_attribute": "email",
            "extra_cert": True})}, "saml_idp.py")
        check("saml_idp ready line", info["entity_id"] == info["metadata_url"] and info["sso_url"].endswith(
            "/sso/redirect"), str(info))
        s = requests.Session()
        md = s.get(info["metadata_url"])
        check("saml_idp metadata: HTTP-Redirect SSO and two signing certificates",
              md.status_code == 200 and "HTTP-Redirect" in md.text and md.text.count("<ns0:KeyDescriptor") +
              md.text.count(":KeyDescriptor ") >= 2, md.text[:200])
        for sp in (sp1, sp2):
            sp.set_idp_metadata(md.text)

        # SP-initiated login (HTTP steps):
        #  1 GET  sso_url?SAMLRequest=<deflate+base64>[&RelayState][&SigAlg&Signature]  -> 200 login form
        #  2 POST /sso/login  tx (hidden), login, password, action=login                  -> 200 page with
        #       <form id="saml-form" action=ACS> SAMLResponse, RelayState                 (the SP posts it to its ACS)
        for name, sp in (("unsigned AuthnRequest, SP metadata from a file", sp1),
                         ("signed AuthnRequest, SP metadata from a URL", sp2)):
            req_id, url = sp.authn_request_url(info["entity_id"], relay_state="relay-1")
            got = saml_login(requests.Session(), url, user["email"], user["password"])
            resp = sp.parse_response(got["SAMLResponse"], {req_id: "/"})
            check(f"saml_idp login, {name}: pysaml2 SP verifies it",
                  resp.name_id.text == user["email"] and resp.ava.get("email") == [user["email"]]
                  and got["acs"] == sp.acs_url and got.get("RelayState") == "relay-1", str(got)[:200])

        # wrong password: the form again; then the pending request is still usable
        req_id, url = sp1.authn_request_url(info["entity_id"])
        s = requests.Session()
        page = s.get(url)
        action, fields = form_fields(page.text, "login-form")
        fields.update(login=user["email"], password="nope", action="login")
        again = s.post(urljoin(url, action), data=fields)
        check("saml_idp wrong password re-shows the form with an error",
              again.status_code == 200 and 'id="error"' in again.text and 'id="login-form"' in again.text)
        fields.update(password=user["password"])
        done = s.post(urljoin(url, action), data=fields)
        check("saml_idp login after a wrong password", 'id="saml-form"' in done.text)
        replay = s.post(urljoin(url, action), data=fields)
        check("saml_idp pending request is single use", replay.status_code == 400, str(replay.status_code))

        # cancel: a Response with a non-success status
        req_id, url = sp1.authn_request_url(info["entity_id"])
        got = saml_login(requests.Session(), url, user["email"], "", action="cancel")
        try:
            sp1.parse_response(got["SAMLResponse"], {req_id: "/"})
            check("saml_idp Cancel: status Responder/RequestDenied", False, "accepted")
        except StatusRequestDenied:
            xml = base64.b64decode(got["SAMLResponse"]).decode()
            check("saml_idp Cancel: status Responder/RequestDenied",
                  "status:Responder" in xml and "status:RequestDenied" in xml)

        # the SP metadata says AuthnRequestsSigned: an unsigned or tampered request is refused
        req_id, url = sp2.authn_request_url(info["entity_id"])
        unsigned = url.split("&SigAlg=")[0]
        r = requests.get(unsigned)
        check("saml_idp refuses an unsigned AuthnRequest when the SP wants them signed", r.status_code == 400,
              str(r.status_code))
        tampered = url.replace("RelayState=rs-123", "RelayState=rs-124")
        r = requests.get(tampered)
        check("saml_idp refuses a tampered signed AuthnRequest", r.status_code == 400 and "signature" in r.text,
              r.text[:200])

        # IdP-initiated: no InResponseTo; pysaml2 (allow_unsolicited false, like keyway) refuses it
        r = requests.get(f"http://127.0.0.1:{info['port']}/idp-initiated",
                         params={"sp": sp1.entity_id, "user": user["email"]})
        acs, fields = form_fields(r.text, "saml-form")
        xml = base64.b64decode(fields["SAMLResponse"]).decode()
        try:
            sp1.parse_response(fields["SAMLResponse"], {})
            refused = False
        except Exception:
            refused = True
        check("saml_idp /idp-initiated: unsolicited Response, refused by an SP that allows none",
              acs == sp1.acs_url and "InResponseTo" not in xml and refused)
        check("saml_idp /cert.pem and /key.pem", b"BEGIN CERTIFICATE" in requests.get(
            f"http://127.0.0.1:{info['port']}/cert.pem").content and b"PRIVATE KEY" in requests.get(
            f"http://127.0.0.1:{info['port']}/key.pem").content)
        log = requests.get(f"http://127.0.0.1:{info['port']}/_log").json()
        check("saml_idp /_log never holds a password", "bob-pw-1" not in json.dumps(log) and len(log) > 5)

        # the other settings: persistent NameID, an OID-named e-mail attribute, WantAuthnRequestsSigned in the
        # metadata, no auto-submit script, SP metadata registered after start with POST /_sp_metadata
        oid = "urn:oid:0.9.2342.19200300.100.1.3"
        info2 = start([sys.executable, "saml_idp.py"], {"SAML_IDP_PORT": "0", "SAML_IDP_CONFIG": json.dumps({
            "users": [user], "name_id_format": "persistent", "email_attribute": oid, "sign_response": False,
            "want_authn_requests_signed": True, "auto_submit": False})}, "saml_idp.py (2)")
        md2 = requests.get(info2["metadata_url"]).text
        check("saml_idp (2) metadata says WantAuthnRequestsSigned", 'WantAuthnRequestsSigned="true"' in md2)
        reg = requests.post(f"http://127.0.0.1:{info2['port']}/_sp_metadata", data=sp1.metadata_xml().encode())
        check("saml_idp (2) POST /_sp_metadata", reg.status_code == 200 and sp1.entity_id in reg.text, reg.text)
        sp1.set_idp_metadata(md2)
        req_id, url = sp1.authn_request_url(info2["entity_id"])
        s = requests.Session()
        page = s.get(url)
        action, fields = form_fields(page.text, "login-form")
        fields.update(login=user["email"], password=user["password"], action="login")
        done = s.post(urljoin(url, action), data=fields)
        _, post = form_fields(done.text, "saml-form")
        resp = sp1.parse_response(post["SAMLResponse"], {req_id: "/"})
        xml = base64.b64decode(post["SAMLResponse"]).decode()
        check("saml_idp (2) persistent NameID, e-mail in an OID attribute (NameFormat uri), no script",
              resp.name_id.format.endswith(":persistent") and resp.name_id.text != user["email"]
              and f'Name="{oid}"' in xml and "attrname-format:uri" in xml and "<script" not in done.text,
              xml[:300])

        info3 = start([sys.executable, "saml_idp.py"], {"SAML_IDP_PORT": "0", "SAML_IDP_CONFIG": json.dumps({
            "users": [user], "sp_metadata_file": md_file, "email_attribute": None})}, "saml_idp.py (3)")
        sp1.set_idp_metadata(requests.get(info3["metadata_url"]).text)
        req_id, url = sp1.authn_request_url(info3["entity_id"])
        got = saml_login(requests.Session(), url, user["email"], user["password"])
        resp = sp1.parse_response(got["SAMLResponse"], {req_id: "/"})
        check("saml_idp (3) email_attribute null: the NameID carries the e-mail, no e-mail attribute",
              resp.name_id.text == user["email"] and "email" not in resp.ava, str(resp.ava))
    finally:
        md_server.shutdown()
        sp1.close()
        sp2.close()


def main() -> int:
    try:
        smoke_oidc()
        smoke_rogue()
        smoke_saml()
    except Exception as exc:  # an unexpected failure is a failed check, with its cause
        import traceback
        traceback.print_exc()
        check("no unexpected exception", False, f"{type(exc).__name__}: {exc}")
    finally:
        stop_all()
    forge = subprocess.run([sys.executable, os.path.join(HERE, "saml_forge.py"), "--self-test"],
                           capture_output=True, text=True, timeout=300)
    print(forge.stdout, end="")
    check("saml_forge.py --self-test", forge.returncode == 0, forge.stderr[-500:])
    print(f"{len(PASSED)} passed, {len(FAILED)} failed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
