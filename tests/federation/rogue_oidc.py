#!/usr/bin/env python3
"""A rogue OpenID Provider for keyway's negative federation tests: answers what a correct IdP never would.

Run:  ROGUE_PORT=0 ROGUE_MODE=ok python3 tests/federation/rogue_oidc.py
stdout, once listening, exactly one line, then nothing:
    {"issuer": "http://127.0.0.1:PORT/<ROGUE_MODE>", "port": PORT,
     "issuer_template": "http://127.0.0.1:PORT/{mode}", "modes": [...]}
SIGTERM / SIGINT: closes and exits 0. Binds 127.0.0.1 only. Never logs a client secret.

One process serves every mode: each mode is its own issuer http://127.0.0.1:PORT/<mode> with its own discovery,
JWKS, keys in common, so a test configures keyway with the issuer of the defect it wants.
Endpoints under each issuer:
    GET  /.well-known/openid-configuration   discovery (RFC 8414 / OIDC Discovery)
    GET  /jwks                               public keys
    GET  /authorize                          no UI: 302 to redirect_uri?code=…&state=…&iss=… at once
    POST /token                              {access_token, token_type, expires_in, id_token} crafted per mode
    GET|POST /userinfo                       Bearer access token -> claims per mode
Test-only endpoints at the root:
    GET  /_log[?mode=M]   JSON list of the requests received, oldest first: {"seq","mode","method","path","query",
                          "form" (client_secret redacted),"client_auth": {"method","client_id"},"pkce": "S256 ok" |
                          "mismatch" | "absent" | null,"status"}
    POST /_reset          clears the log, the issued codes/tokens and kid_rotation's JWKS counter

Env ROGUE_CONFIG (JSON, optional): {"sub": "rogue-user-1", "email": "alice@victim.example", "name": "Alice Rogue"}
= the user every id_token/userinfo describes (so the only reason for a refusal is the mode's defect).
The id_token's aud is the authorize request's client_id; client credentials are accepted whatever they are
(recorded in the log); codes may be redeemed several times (keyway must refuse replays on its own side).

Modes (the id_token is RS256 with kid "rogue-1" and correct iss/aud/nonce/exp/iat unless the mode says otherwise):
    ok                     valid everything: proves the harness works
    userinfo_only          valid; id_token without email/email_verified/name, userinfo has them
    wrong_iss              id_token iss = issuer + "-evil" (discovery and the authorization response are right)
    wrong_iss_param        authorization response iss= another issuer (RFC 9207 mix-up defence); id_token valid
    wrong_aud              id_token aud = "another-client"
    azp_mismatch           aud = [client_id, "another-client"], azp = "another-client"
    bad_sig                signed by a key that is not in the JWKS, with the JWKS key's kid "rogue-1"
    alg_none               header {"alg":"none"}, empty signature
    hs256_with_public_key  header alg HS256, kid "rogue-1", HMAC-SHA256 keyed with the JWKS key's public PEM
                           (SubjectPublicKeyInfo, "-----BEGIN PUBLIC KEY-----\n…\n-----END PUBLIC KEY-----\n"):
                           the classic RS/HS key confusion
    wrong_nonce            nonce = "not-" + the request's nonce
    wrong_state            authorization response state = "not-" + the request's state; id_token valid
    expired                iat = now-7200, exp = now-3600
    iat_future             iat = now+86400, exp = now+87000
    unverified_email       email_verified false (id_token and userinfo)
    no_email               no email in the id_token nor in userinfo
    userinfo_sub_mismatch  id_token without email; userinfo has the email but sub = "someone-else"
                           (OIDC Core 5.3.2: the RP must compare)
    kid_rotation           signed with kid "rogue-2"; the first JWKS fetch of this issuer lists only "rogue-1", every
                           later fetch lists both (the RP must re-fetch the JWKS on an unknown kid)
    token_error            token endpoint answers 400 {"error":"invalid_client"}
    discovery_broken       discovery answers 500 with a text body
    discovery_invalid_json discovery answers 200 application/json with a body that is not JSON
    discovery_wrong_issuer discovery's "issuer" is another URL (OIDC Discovery 4.3: the RP must refuse)
"""

import base64
import hashlib
import hmac
import json
import os
import secrets
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

MODES = [
    "ok", "userinfo_only", "wrong_iss", "wrong_iss_param", "wrong_aud", "azp_mismatch", "bad_sig", "alg_none",
    "hs256_with_public_key", "wrong_nonce", "wrong_state", "expired", "iat_future", "unverified_email", "no_email",
    "userinfo_sub_mismatch", "kid_rotation", "token_error", "discovery_broken", "discovery_invalid_json",
    "discovery_wrong_issuer",
]


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_uint(n: int) -> str:
    return b64u(n.to_bytes((n.bit_length() + 7) // 8, "big"))


class Key:
    """An RSA-2048 key with a kid, generated at start (nothing is written to disk)."""

    def __init__(self, kid: str):
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = self.private.public_key().public_numbers()
        self.jwk = {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                    "n": b64u_uint(numbers.n), "e": b64u_uint(numbers.e)}
        self.public_pem = self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign_rs256(self, data: bytes) -> bytes:
        return self.private.sign(data, padding.PKCS1v15(), hashes.SHA256())


def make_jwt(header: dict, claims: dict, sign) -> str:
    signing_input = (b64u(json.dumps(header, separators=(",", ":")).encode()) + "."
                     + b64u(json.dumps(claims, separators=(",", ":")).encode()))
    return signing_input + "." + b64u(sign(signing_input.encode()))


class Rogue:
    """All state, shared by the handler threads under one lock."""

    def __init__(self, user: dict):
        self.user = user
        self.good = Key("rogue-1")      # the key in every JWKS
        self.evil = Key("rogue-1")      # bad_sig: same kid, never published
        self.rotated = Key("rogue-2")   # kid_rotation: published from the second JWKS fetch on
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with getattr(self, "lock", threading.Lock()):
            self.log = []
            self.codes = {}       # code -> the authorize request it answers
            self.tokens = {}      # access token -> (mode, client_id)
            self.jwks_fetches = {}  # mode -> count

    # ---- the id_token per mode ------------------------------------------------------------------------------
    def id_token(self, mode: str, issuer: str, req: dict) -> str:
        now = int(time.time())
        claims = {"iss": issuer, "sub": self.user["sub"], "aud": req["client_id"], "iat": now, "exp": now + 600,
                  "auth_time": now}
        if req.get("nonce") is not None:
            claims["nonce"] = req["nonce"]
        if mode not in ("no_email", "userinfo_only", "userinfo_sub_mismatch"):
            claims["email"] = self.user["email"]
            claims["email_verified"] = mode != "unverified_email"
            claims["name"] = self.user["name"]
        header = {"alg": "RS256", "typ": "JWT", "kid": self.good.kid}
        sign = self.good.sign_rs256

        if mode == "wrong_iss":
            claims["iss"] = issuer + "-evil"
        elif mode == "wrong_aud":
            claims["aud"] = "another-client"
        elif mode == "azp_mismatch":
            claims["aud"] = [req["client_id"], "another-client"]
            claims["azp"] = "another-client"
        elif mode == "bad_sig":
            sign = self.evil.sign_rs256  # header kid stays "rogue-1": the published key's kid
        elif mode == "alg_none":
            header = {"alg": "none", "typ": "JWT"}
            sign = lambda data: b""  # noqa: E731 - an empty signature is the point
        elif mode == "hs256_with_public_key":
            header = {"alg": "HS256", "typ": "JWT", "kid": self.good.kid}
            key = self.good.public_pem
            sign = lambda data: hmac.new(key, data, hashlib.sha256).digest()  # noqa: E731
        elif mode == "wrong_nonce":
            claims["nonce"] = "not-" + str(req.get("nonce"))
        elif mode == "expired":
            claims.update(iat=now - 7200, exp=now - 3600, auth_time=now - 7200)
        elif mode == "iat_future":
            claims.update(iat=now + 86400, exp=now + 87000)
        elif mode == "kid_rotation":
            header["kid"] = self.rotated.kid
            sign = self.rotated.sign_rs256
        return make_jwt(header, claims, sign)

    def userinfo(self, mode: str) -> dict:
        info = {"sub": self.user["sub"]}
        if mode == "no_email":
            return info
        if mode == "userinfo_sub_mismatch":
            info["sub"] = "someone-else"
        info.update(email=self.user["email"], email_verified=mode != "unverified_email", name=self.user["name"])
        return info

    def jwks(self, mode: str) -> dict:
        with self.lock:
            n = self.jwks_fetches.get(mode, 0) + 1
            self.jwks_fetches[mode] = n
        keys = [self.good.jwk]
        if mode == "kid_rotation" and n > 1:
            keys.append(self.rotated.jwk)
        return {"keys": keys}


def discovery(issuer: str) -> dict:
    return {
        "issuer": issuer,
        "authorization_endpoint": issuer + "/authorize",
        "token_endpoint": issuer + "/token",
        "userinfo_endpoint": issuer + "/userinfo",
        "jwks_uri": issuer + "/jwks",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "email", "email_verified",
                             "name"],
        "authorization_response_iss_parameter_supported": True,
    }


class Handler(BaseHTTPRequestHandler):
    server_version = "rogue-oidc/1"
    rogue: Rogue = None  # set in main()

    def log_message(self, fmt, *args):  # no per-request noise on stderr; /_log has it all
        pass

    # ---- helpers --------------------------------------------------------------------------------------------
    def _send(self, status: int, body, content_type="application/json", headers=None):
        data = body if isinstance(body, bytes) else (
            json.dumps(body).encode() if content_type == "application/json" else str(body).encode())
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        self.entry["status"] = status

    def _form(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(min(length, 65536)).decode("utf-8", "replace") if length else ""
        return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}

    def _issuer(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{mode}"

    def _client_auth(self, form: dict) -> dict:
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("basic "):
            try:
                client_id = base64.b64decode(auth[6:].strip()).decode().split(":", 1)[0]
            except ValueError:
                client_id = None
            return {"method": "client_secret_basic", "client_id": client_id}
        if "client_secret" in form:
            return {"method": "client_secret_post", "client_id": form.get("client_id")}
        return {"method": "none", "client_id": form.get("client_id")}

    # ---- dispatch -------------------------------------------------------------------------------------------
    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def _handle(self, method: str):
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        form = self._form() if method == "POST" else {}
        self.entry = {"method": method, "path": url.path, "query": query,
                      "form": {k: ("<redacted>" if k == "client_secret" else v) for k, v in form.items()},
                      "mode": None, "client_auth": None, "pkce": None, "status": None}
        try:
            self._route(method, url.path, query, form)
        finally:
            if url.path not in ("/_log", "/_reset"):
                with self.rogue.lock:
                    self.entry["seq"] = len(self.rogue.log) + 1
                    self.rogue.log.append(self.entry)

    def _route(self, method, path, query, form):
        rogue = self.rogue
        if path == "/_log" and method == "GET":
            with rogue.lock:
                entries = [e for e in rogue.log if "mode" not in query or e["mode"] == query["mode"]]
            return self._send(200, entries)
        if path == "/_reset" and method == "POST":
            rogue.reset()
            return self._send(200, {"reset": True})

        parts = path.strip("/").split("/", 1)
        mode, rest = parts[0], "/" + (parts[1] if len(parts) > 1 else "")
        if mode not in MODES:
            return self._send(404, {"error": "unknown mode", "modes": MODES})
        self.entry["mode"] = mode
        issuer = self._issuer(mode)

        if rest == "/.well-known/openid-configuration" and method == "GET":
            if mode == "discovery_broken":
                return self._send(500, "internal error\n", "text/plain")
            if mode == "discovery_invalid_json":
                return self._send(200, b'{"issuer": "' + issuer.encode() + b'", ', "application/json")
            doc = discovery(issuer)
            if mode == "discovery_wrong_issuer":
                doc["issuer"] = self._issuer("ok")
            return self._send(200, doc)

        if rest == "/jwks" and method == "GET":
            return self._send(200, rogue.jwks(mode), "application/json")

        if rest == "/authorize" and method == "GET":
            redirect_uri = query.get("redirect_uri")
            if not redirect_uri or not query.get("client_id"):
                return self._send(400, "redirect_uri and client_id are required\n", "text/plain")
            code = secrets.token_urlsafe(24)
            with rogue.lock:
                rogue.codes[code] = {k: query.get(k) for k in (
                    "client_id", "redirect_uri", "nonce", "state", "code_challenge", "code_challenge_method",
                    "scope")}
            params = {"code": code}
            if "state" in query:
                params["state"] = ("not-" + query["state"]) if mode == "wrong_state" else query["state"]
            params["iss"] = (issuer + "-evil") if mode == "wrong_iss_param" else issuer
            sep = "&" if "?" in redirect_uri else "?"
            return self._send(302, b"", "text/plain", {"Location": redirect_uri + sep + urlencode(params)})

        if rest == "/token" and method == "POST":
            auth = self._client_auth(form)
            self.entry["client_auth"] = auth
            with rogue.lock:
                req = rogue.codes.get(form.get("code", ""))
            if req is not None:
                # Recorded, not enforced: tests assert that keyway sent PKCE S256 with the right verifier.
                if req.get("code_challenge"):
                    verifier = form.get("code_verifier", "")
                    ok = b64u(hashlib.sha256(verifier.encode()).digest()) == req["code_challenge"]
                    self.entry["pkce"] = "S256 ok" if ok and req.get("code_challenge_method") == "S256" \
                        else "mismatch"
                else:
                    self.entry["pkce"] = "absent"
            if mode == "token_error":
                return self._send(400, {"error": "invalid_client", "error_description": "client authentication failed"})
            if form.get("grant_type") != "authorization_code" or req is None:
                return self._send(400, {"error": "invalid_grant", "error_description": "unknown code"})
            if form.get("redirect_uri") != req["redirect_uri"]:
                return self._send(400, {"error": "invalid_grant", "error_description": "redirect_uri mismatch"})
            access_token = secrets.token_urlsafe(24)
            with rogue.lock:
                rogue.tokens[access_token] = mode
            return self._send(200, {"access_token": access_token, "token_type": "Bearer", "expires_in": 600,
                                    "scope": req.get("scope") or "openid", "id_token": rogue.id_token(mode, issuer, req)})

        if rest == "/userinfo" and method in ("GET", "POST"):
            auth = self.headers.get("Authorization", "")
            token = auth[7:].strip() if auth.lower().startswith("bearer ") else form.get("access_token", "")
            with rogue.lock:
                token_mode = rogue.tokens.get(token)
            if token_mode != mode:
                return self._send(401, {"error": "invalid_token"}, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
            return self._send(200, rogue.userinfo(mode))

        return self._send(404, {"error": "not found"})


def main() -> int:
    try:
        cfg = json.loads(os.environ.get("ROGUE_CONFIG") or "{}")
    except json.JSONDecodeError as e:
        print(f"rogue_oidc: ROGUE_CONFIG is not valid JSON: {e}", file=sys.stderr)
        return 2
    user = {"sub": str(cfg.get("sub", "rogue-user-1")), "email": str(cfg.get("email", "alice@victim.example")),
            "name": str(cfg.get("name", "Alice Rogue"))}
    default_mode = os.environ.get("ROGUE_MODE", "ok")
    if default_mode not in MODES:
        print(f"rogue_oidc: unknown ROGUE_MODE {default_mode!r}; modes: {', '.join(MODES)}", file=sys.stderr)
        return 2
    Handler.rogue = Rogue(user)
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("ROGUE_PORT", "0"))), Handler)
    server.daemon_threads = True
    port = server.server_address[1]

    # serve_forever() runs in this thread; shutdown() must come from another one.
    def stop(_signum, _frame):
        threading.Thread(target=server.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    print(json.dumps({"issuer": f"http://127.0.0.1:{port}/{default_mode}", "port": port,
                      "issuer_template": f"http://127.0.0.1:{port}/{{mode}}", "modes": MODES}), flush=True)
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
