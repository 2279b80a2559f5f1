#!/usr/bin/env python3
"""A real SAML 2.0 Identity Provider for keyway's federation tests: pysaml2's saml2.server.Server, signing with
Debian's xmlsec1, behind a small stdlib HTTP server. keyway is the SP.

Run:  SAML_IDP_PORT=0 SAML_IDP_CONFIG='{"sp_metadata_url": "...", "users": [...]}' python3 tests/federation/saml_idp.py
stdout, once listening, exactly one line, then nothing:
    {"entity_id": "http://127.0.0.1:PORT/metadata", "metadata_url": "http://127.0.0.1:PORT/metadata",
     "sso_url": "http://127.0.0.1:PORT/sso/redirect", "port": PORT}
SIGTERM / SIGINT: closes, deletes its temporary key files, exits 0. Binds 127.0.0.1 only; never logs a password.

SAML_IDP_CONFIG (JSON):
    sp_metadata_url   "http://…" or a list: SP metadata fetched at start when reachable, and again whenever an
                      AuthnRequest or /idp-initiated names an SP not known yet (so keyway may start after the IdP)
    sp_metadata_file  path or list of paths: SP metadata read at start
    users             [{"email", "password", "name"?, "persistent_id"?}]
    sign_response     bool, default true: ds:Signature on the samlp:Response
    sign_assertion    bool, default true: ds:Signature on the saml:Assertion
    name_id_format    "emailAddress" (default; NameID = the e-mail) | "persistent" (NameID = persistent_id or
                      sha256(idp entity id, sp entity id, email) in hex, NameQualifier/SPNameQualifier set) |
                      "unspecified" (NameID = the e-mail)
    email_attribute   "email" (default) | any other attribute name, sent as <saml:Attribute Name="…"> exactly as
                      given, NameFormat basic, or uri when the name contains ':' (urn:oid:…, claim URIs) |
                      null: no e-mail attribute at all (the NameID must carry it).
                      A user with "name" also gets an attribute Name="name" (same NameFormat).
    extra_cert        bool, default false: a second (unused) signing certificate in the metadata, for rollover
    want_authn_requests_signed  bool, default false: WantAuthnRequestsSigned in the IdP metadata
    auto_submit       bool, default true: the SAMLResponse page submits itself with a one-line script
    assertion_lifetime_seconds  int, default 300: Conditions/SubjectConfirmationData NotOnOrAfter = now + this
    key_file, cert_file  PEM paths to sign with instead of a fresh RSA-2048 key and self-signed certificate
Env SAML_IDP_PORT: port, 0 (default) = random.

Endpoints:
    GET  /metadata          IdP EntityDescriptor: IDPSSODescriptor with SingleSignOnService HTTP-Redirect -> /sso/redirect,
                            signing KeyDescriptor(s), NameIDFormat(s)
    GET  /sso/redirect      AuthnRequest over HTTP-Redirect (SAMLRequest, RelayState?, SigAlg?, Signature?). The query
                            signature, when present, is verified over the raw query octets (SAML Bindings 3.4.4.1)
                            with the SP metadata's signing certificates; required when the SP metadata says
                            AuthnRequestsSigned="true". Errors: 400 HTML page (<p id="error">). OK: 200 login form
    POST /sso/login         the login form: tx (hidden), login, password, action=login|cancel. Wrong credentials: 200,
                            the form again with <p id="error" role="alert">. Sign in / Cancel: 200 HTML page with
                            <form id="saml-form" method="post" action="ACS URL"> holding hidden SAMLResponse and
                            RelayState (when the request had one) and a visible <button id="saml-submit">.
                            Cancel => samlp:Status Responder / RequestDenied (signed like a Response when
                            sign_response). The pending request is single use.
    GET  /idp-initiated?sp=<SP entity id>[&user=<email>][&relay_state=…]
                            test-only: the same form page with an unsolicited Response (no InResponseTo) for that user
                            (default: the first user), without any login
    POST /_sp_metadata      test-only: body = SP metadata XML, registered (or replaced) at once
    GET  /cert.pem, /key.pem   test-only: the signing certificate and private key (for saml_forge.py)
    GET  /_log              test-only: JSON list of {"method","path","sp","request_id","signed_request","result"}
"""

import base64
import datetime
import hashlib
import html
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import urllib.request
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote_plus, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, saml
from saml2.attribute_converter import AttributeConverter
from saml2.config import IdPConfig
from saml2.mdstore import InMemoryMetaData
from saml2.metadata import entity_descriptor
from saml2.saml import NAME_FORMAT_BASIC, NAME_FORMAT_URI, NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_PERSISTENT
from saml2.saml import NAMEID_FORMAT_UNSPECIFIED
from saml2.samlp import STATUS_REQUEST_DENIED
from saml2.server import Server
from saml2.authn_context import PASSWORD

NAMEID_FORMATS = {"emailAddress": NAMEID_FORMAT_EMAILADDRESS, "persistent": NAMEID_FORMAT_PERSISTENT,
                  "unspecified": NAMEID_FORMAT_UNSPECIFIED}
# SAML Bindings 3.4.4.1 SigAlg values we accept for a signed HTTP-Redirect AuthnRequest
REDIRECT_SIGALGS = {
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": hashes.SHA256(),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": hashes.SHA512(),
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1": hashes.SHA1(),
}
XMLSEC1 = shutil.which("xmlsec1") or "/usr/bin/xmlsec1"


def make_key_and_cert(common_name: str):
    """A fresh RSA-2048 key and a self-signed certificate valid from yesterday for a year (PEM bytes)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=365))
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def page(title: str, body: str, status_script: str = "") -> bytes:
    return (f'<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'</head>\n<body>\n<main>\n{body}\n</main>\n{status_script}</body>\n</html>\n').encode()


def raw_query_params(query: str) -> dict:
    """name -> raw (still URL-encoded) value, first occurrence: the signature covers these octets exactly."""
    out = {}
    for part in query.split("&"):
        name, _, value = part.partition("=")
        out.setdefault(name, value)
    return out


class Idp:
    def __init__(self, cfg: dict, port: int, workdir: str):
        self.cfg = cfg
        self.base = f"http://127.0.0.1:{port}"
        self.entity_id = self.base + "/metadata"
        self.sso_url = self.base + "/sso/redirect"
        self.lock = threading.Lock()
        self.pending = {}  # tx -> the AuthnRequest being answered
        self.log = []
        self.sp_sources = {}  # metadata store key -> SP entity id

        # Keys: given, or generated into a private temporary folder (deleted at exit, never in the repo).
        if cfg.get("key_file") and cfg.get("cert_file"):
            self.key_file, self.cert_file = cfg["key_file"], cfg["cert_file"]
        else:
            key_pem, cert_pem = make_key_and_cert("keyway test SAML IdP")
            self.key_file, self.cert_file = os.path.join(workdir, "idp.key"), os.path.join(workdir, "idp.crt")
            with open(self.key_file, "wb") as f:
                f.write(key_pem)
            with open(self.cert_file, "wb") as f:
                f.write(cert_pem)
        extra_certs = []
        if cfg.get("extra_cert"):
            _, extra_pem = make_key_and_cert("keyway test SAML IdP (next)")
            extra_path = os.path.join(workdir, "idp-next.crt")
            with open(extra_path, "wb") as f:
                f.write(extra_pem)
            extra_certs.append(extra_path)

        self.name_id_format = NAMEID_FORMATS.get(cfg.get("name_id_format", "emailAddress"))
        if self.name_id_format is None:
            raise ValueError(f"name_id_format must be one of {sorted(NAMEID_FORMATS)}")
        self.email_attribute = cfg.get("email_attribute", "email")
        self.users = cfg.get("users") or []
        if not self.users or not all(u.get("email") and isinstance(u.get("password"), str) for u in self.users):
            raise ValueError("users must list at least one {email, password}")
        lifetime = int(cfg.get("assertion_lifetime_seconds", 300))
        # SAML Core 8.2: a URI/OID name gets NameFormat uri, a plain name like "email" NameFormat basic.
        name_format = NAME_FORMAT_URI if self.email_attribute and ":" in self.email_attribute else NAME_FORMAT_BASIC

        conf = IdPConfig()
        conf.load({
            "entityid": self.entity_id,
            "xmlsec_binary": XMLSEC1,
            "key_file": self.key_file,
            "cert_file": self.cert_file,
            "additional_cert_files": extra_certs or None,
            "accepted_time_diff": 60,
            "service": {"idp": {
                "name": "keyway test SAML IdP",
                "endpoints": {"single_sign_on_service": [(self.sso_url, BINDING_HTTP_REDIRECT)]},
                "name_id_format": [self.name_id_format],
                "policy": {"default": {"lifetime": {"seconds": lifetime}, "attribute_restrictions": None,
                                       "name_form": name_format}},
                # AuthnRequest signatures are checked by this file over the raw query (see verify_redirect):
                # pysaml2's own check re-encodes the parameters, which breaks with other encoders than its own.
                "want_authn_requests_signed": False,
            }},
            "metadata": {},
        })
        self.server = Server(config=conf)
        # Attribute names go out exactly as configured: a converter with identity maps for the policy's NameFormat
        # makes pysaml2 emit <saml:Attribute Name="<as given>" NameFormat="…"> without renaming.
        passthrough = AttributeConverter(name_format)
        # Identity maps: without an entry pysaml2 emits the attribute with saml.Attribute's default NameFormat (uri).
        names = [n for n in (self.email_attribute, "name") if n]
        passthrough._to = {n.lower(): n for n in names}
        passthrough._fro = {n.lower(): n for n in names}
        self.server.config.attribute_converters = [passthrough]

        for path in self._as_list(cfg.get("sp_metadata_file")):
            with open(path, encoding="utf-8") as f:
                self.add_sp_metadata(f.read(), key=f"file:{path}")
        self.load_sp_urls(quiet=True)

        ed = entity_descriptor(self.server.config)
        if cfg.get("want_authn_requests_signed"):
            ed.idpsso_descriptor.want_authn_requests_signed = "true"
        self.metadata_xml = str(ed).encode()

    @staticmethod
    def _as_list(value):
        if value is None:
            return []
        return value if isinstance(value, list) else [value]

    # ---- SP metadata --------------------------------------------------------------------------------------
    def add_sp_metadata(self, xml: str, key: str) -> str:
        md = InMemoryMetaData(self.server.metadata.attrc, xml)
        md.load()
        entity_ids = list(md.keys())
        with self.lock:
            self.server.metadata.metadata[key] = md  # replaces an earlier copy from the same source
            for eid in entity_ids:
                self.sp_sources[key] = eid
        return ", ".join(entity_ids)

    def load_sp_urls(self, quiet: bool = False):
        for url in self._as_list(self.cfg.get("sp_metadata_url")):
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    self.add_sp_metadata(resp.read().decode("utf-8"), key=f"url:{url}")
            except Exception as exc:  # keyway may not be up yet: retried on the next request from an unknown SP
                if not quiet:
                    print(f"saml_idp: cannot load SP metadata from {url}: {exc}", file=sys.stderr)

    def known_sp(self, entity_id: str) -> bool:
        with self.lock:
            return entity_id in self.sp_sources.values()

    def sp_wants_signed_requests(self, entity_id: str) -> bool:
        for desc in self.server.metadata[entity_id].get("spsso_descriptor", []):
            if str(desc.get("authn_requests_signed", "false")).lower() == "true":
                return True
        return False

    # ---- AuthnRequest -------------------------------------------------------------------------------------
    def verify_redirect(self, raw: dict, sp_entity_id: str) -> bool:
        """SAML Bindings 3.4.4.1: signature over 'SAMLRequest=…[&RelayState=…]&SigAlg=…' as received."""
        sigalg = unquote_plus(raw.get("SigAlg", ""))
        digest = REDIRECT_SIGALGS.get(sigalg)
        if digest is None:
            return False
        signed = "SAMLRequest=" + raw["SAMLRequest"]
        if "RelayState" in raw:
            signed += "&RelayState=" + raw["RelayState"]
        signed += "&SigAlg=" + raw["SigAlg"]
        signature = base64.b64decode(unquote_plus(raw["Signature"]))
        for _name, cert_b64 in self.server.metadata.certs(sp_entity_id, "spsso", "signing"):
            cert = x509.load_der_x509_certificate(base64.b64decode("".join(cert_b64.split())))
            try:
                cert.public_key().verify(signature, signed.encode("ascii"), padding.PKCS1v15(), digest)
                return True
            except (InvalidSignature, ValueError, TypeError):
                continue
        return False

    def user_by_email(self, email: str):
        email = (email or "").strip().lower()
        return next((u for u in self.users if u["email"].lower() == email), None)

    def check_login(self, login: str, password: str):
        user = self.user_by_email(login)
        expected = user["password"] if user else secrets.token_hex(16)
        ok = secrets.compare_digest(hashlib.sha256((password or "").encode()).digest(),
                                    hashlib.sha256(expected.encode()).digest())
        return user if user and ok else None

    # ---- Responses ----------------------------------------------------------------------------------------
    def name_id(self, user: dict, sp_entity_id: str) -> saml.NameID:
        if self.name_id_format == NAMEID_FORMAT_PERSISTENT:
            value = user.get("persistent_id") or hashlib.sha256(
                f"{self.entity_id}|{sp_entity_id}|{user['email'].lower()}".encode()).hexdigest()
            return saml.NameID(format=NAMEID_FORMAT_PERSISTENT, name_qualifier=self.entity_id,
                               sp_name_qualifier=sp_entity_id, text=value)
        return saml.NameID(format=self.name_id_format, text=user["email"])

    def identity(self, user: dict) -> dict:
        ident = {}
        if self.email_attribute:
            ident[self.email_attribute] = [user["email"]]
        if user.get("name"):
            ident["name"] = [user["name"]]
        return ident

    def authn_response(self, user: dict, sp_entity_id: str, destination: str, in_response_to) -> str:
        resp = self.server.create_authn_response(
            self.identity(user), in_response_to, destination, sp_entity_id,
            name_id=self.name_id(user, sp_entity_id),
            authn={"class_ref": PASSWORD, "authn_auth": self.entity_id},
            sign_response=bool(self.cfg.get("sign_response", True)),
            sign_assertion=bool(self.cfg.get("sign_assertion", True)),
            sign_alg="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            digest_alg="http://www.w3.org/2001/04/xmlenc#sha256")
        return str(resp)

    def denied_response(self, sp_entity_id: str, destination: str, in_response_to: str) -> str:
        resp = self.server.create_error_response(
            in_response_to, destination, (STATUS_REQUEST_DENIED, "The user cancelled the sign-in"),
            sign=bool(self.cfg.get("sign_response", True)),
            sign_alg="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            digest_alg="http://www.w3.org/2001/04/xmlenc#sha256")
        return str(resp)

    def acs_for(self, sp_entity_id: str) -> str:
        return self.server.metadata.assertion_consumer_service(sp_entity_id, BINDING_HTTP_POST)[0]["location"]


def login_form(tx: str, sp_entity_id: str, login_value: str = "", error: str = "") -> bytes:
    err = f'<p id="error" role="alert">{html.escape(error)}</p>\n' if error else ""
    return page("Sign in - SAML IdP", f"""<h1>Customer SAML IdP</h1>
<p>Sign in to continue to <strong id="sp">{html.escape(sp_entity_id)}</strong>.</p>
{err}<form id="login-form" method="post" action="/sso/login">
<input type="hidden" name="tx" value="{html.escape(tx)}">
<p><label for="login">E-mail</label>
<input id="login" name="login" type="email" autocomplete="username" value="{html.escape(login_value)}"></p>
<p><label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password"></p>
<p><button id="submit" type="submit" name="action" value="login">Sign in</button>
<button id="cancel" type="submit" name="action" value="cancel" formnovalidate>Cancel</button></p>
</form>""")


def post_form(acs: str, saml_response_xml: str, relay_state, auto_submit: bool) -> bytes:
    value = base64.b64encode(saml_response_xml.encode()).decode()
    relay = (f'<input type="hidden" name="RelayState" value="{html.escape(relay_state)}">\n'
             if relay_state is not None else "")
    script = "<script>document.getElementById('saml-form').submit();</script>\n" if auto_submit else ""
    return page("Continue to the service", f"""<h1>Signing you in</h1>
<form id="saml-form" method="post" action="{html.escape(acs)}">
<input type="hidden" name="SAMLResponse" value="{value}">
{relay}<p><button id="saml-submit" type="submit">Continue</button></p>
</form>""", script)


class Handler(BaseHTTPRequestHandler):
    server_version = "saml-idp/1"
    idp: Idp = None

    def log_message(self, fmt, *args):
        pass

    def _send(self, status: int, body: bytes, content_type="text/html; charset=utf-8"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str, entry: dict):
        entry["result"] = f"error: {message}"
        self._send(status, page("SAML error", f'<h1>SAML error</h1>\n<p id="error">{html.escape(message)}</p>'))

    def _record(self, entry: dict):
        with self.idp.lock:
            self.idp.log.append(entry)

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except Exception as exc:  # a bug here must show up as a 500 with its cause, not as a dropped connection
            print(f"saml_idp: {type(exc).__name__}: {exc}", file=sys.stderr)
            try:
                self._send(500, page("SAML IdP error", f'<p id="error">{html.escape(type(exc).__name__)}</p>'))
            except OSError:
                pass

    def do_GET(self):
        url = urlsplit(self.path)
        idp = self.idp
        if url.path == "/metadata":
            return self._send(200, idp.metadata_xml, "application/samlmetadata+xml")
        if url.path == "/cert.pem":
            with open(idp.cert_file, "rb") as f:
                return self._send(200, f.read(), "application/x-pem-file")
        if url.path == "/key.pem":
            with open(idp.key_file, "rb") as f:
                return self._send(200, f.read(), "application/x-pem-file")
        if url.path == "/_log":
            with idp.lock:
                return self._send(200, json.dumps(idp.log).encode(), "application/json")
        entry = {"method": "GET", "path": url.path, "sp": None, "request_id": None, "signed_request": None,
                 "result": None}
        try:
            if url.path == "/sso/redirect":
                return self._sso_redirect(url.query, entry)
            if url.path == "/idp-initiated":
                return self._idp_initiated(url.query, entry)
            return self._send(404, b"not found\n", "text/plain")
        finally:
            if entry["result"] is not None:
                self._record(entry)

    def _sso_redirect(self, query: str, entry: dict):
        idp = self.idp
        raw = raw_query_params(query)
        if "SAMLRequest" not in raw:
            return self._error(400, "SAMLRequest is missing", entry)
        saml_request = unquote_plus(raw["SAMLRequest"])
        relay_state = unquote_plus(raw["RelayState"]) if "RelayState" in raw else None
        try:
            req = idp.server.parse_authn_request(saml_request, BINDING_HTTP_REDIRECT)
        except Exception as exc:  # malformed, wrong Destination, IssueInstant out of range…
            return self._error(400, f"invalid AuthnRequest: {type(exc).__name__}: {exc}", entry)
        if req is None or req.message.issuer is None:
            return self._error(400, "invalid AuthnRequest: no Issuer", entry)
        sp = req.message.issuer.text.strip()
        entry.update(sp=sp, request_id=req.message.id, signed_request="Signature" in raw)
        if not idp.known_sp(sp):
            idp.load_sp_urls()
        if not idp.known_sp(sp):
            return self._error(400, f"unknown service provider {sp}", entry)
        if "Signature" in raw:
            if not idp.verify_redirect(raw, sp):
                return self._error(400, "AuthnRequest signature is invalid", entry)
        elif idp.sp_wants_signed_requests(sp):
            return self._error(400, "AuthnRequest must be signed (AuthnRequestsSigned in the SP metadata)", entry)
        try:
            # ACS from the request when the SP metadata lists it, else the metadata's default HTTP-POST ACS.
            args = idp.server.response_args(req.message, [BINDING_HTTP_POST])
        except Exception as exc:
            return self._error(400, f"no usable AssertionConsumerService: {exc}", entry)
        tx = secrets.token_urlsafe(24)
        with idp.lock:
            idp.pending[tx] = {"sp": sp, "request_id": req.message.id, "acs": args["destination"],
                               "relay_state": relay_state}
        entry["result"] = "login form"
        return self._send(200, login_form(tx, sp))

    def _idp_initiated(self, query: str, entry: dict):
        idp = self.idp
        q = {k: v[0] for k, v in parse_qs(query).items()}
        sp = q.get("sp", "")
        entry["sp"] = sp
        if not idp.known_sp(sp):
            idp.load_sp_urls()
        if not idp.known_sp(sp):
            return self._error(400, f"unknown service provider {sp}", entry)
        user = idp.user_by_email(q["user"]) if "user" in q else idp.users[0]
        if user is None:
            return self._error(400, "unknown user", entry)
        acs = idp.acs_for(sp)
        xml = idp.authn_response(user, sp, acs, None)
        entry["result"] = "unsolicited response"
        return self._send(200, post_form(acs, xml, q.get("relay_state"), idp.cfg.get("auto_submit", True)))

    def do_POST(self):
        url = urlsplit(self.path)
        idp = self.idp
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, 1 << 20)) if length else b""
        if url.path == "/_sp_metadata":
            try:
                eids = idp.add_sp_metadata(body.decode("utf-8"), key=f"posted:{hashlib.sha256(body).hexdigest()}")
            except Exception as exc:
                return self._send(400, f"invalid SP metadata: {exc}\n".encode(), "text/plain")
            return self._send(200, json.dumps({"registered": eids}).encode(), "application/json")
        if url.path != "/sso/login":
            return self._send(404, b"not found\n", "text/plain")
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        entry = {"method": "POST", "path": url.path, "sp": None, "request_id": None, "signed_request": None,
                 "result": None}
        with idp.lock:
            pending = idp.pending.get(form.get("tx", ""))
        if pending is None:
            self._error(400, "unknown or already answered sign-in request", entry)
            return self._record(entry)
        entry.update(sp=pending["sp"], request_id=pending["request_id"])
        if form.get("action") == "cancel":
            xml = idp.denied_response(pending["sp"], pending["acs"], pending["request_id"])
            entry["result"] = "cancelled"
        else:
            user = idp.check_login(form.get("login", ""), form.get("password", ""))
            if user is None:
                entry["result"] = "wrong credentials"
                self._record(entry)
                return self._send(200, login_form(form["tx"], pending["sp"], form.get("login", ""),
                                                  "Invalid e-mail or password."))
            xml = idp.authn_response(user, pending["sp"], pending["acs"], pending["request_id"])
            entry["result"] = "signed in"
        with idp.lock:
            if idp.pending.pop(form["tx"], None) is None:  # answered meanwhile by a concurrent submit
                self._error(400, "unknown or already answered sign-in request", entry)
                return self._record(entry)
        self._record(entry)
        return self._send(200, post_form(pending["acs"], xml, pending["relay_state"], idp.cfg.get("auto_submit", True)))


def main() -> int:
    try:
        cfg = json.loads(os.environ.get("SAML_IDP_CONFIG") or "{}")
    except json.JSONDecodeError as exc:
        print(f"saml_idp: SAML_IDP_CONFIG is not valid JSON: {exc}", file=sys.stderr)
        return 2
    if not os.path.exists(XMLSEC1):
        print("saml_idp: xmlsec1 is not installed (Debian package xmlsec1)", file=sys.stderr)
        return 2
    httpd = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("SAML_IDP_PORT", "0"))), Handler)
    httpd.daemon_threads = True
    port = httpd.server_address[1]
    workdir = tempfile.mkdtemp(prefix="keyway-saml-idp-")
    try:
        try:
            Handler.idp = Idp(cfg, port, workdir)
        except (ValueError, OSError) as exc:
            print(f"saml_idp: {exc}", file=sys.stderr)
            return 2

        def stop(_signum, _frame):
            threading.Thread(target=httpd.shutdown, daemon=True).start()
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        idp = Handler.idp
        print(json.dumps({"entity_id": idp.entity_id, "metadata_url": idp.base + "/metadata",
                          "sso_url": idp.sso_url, "port": port}), flush=True)
        httpd.serve_forever()
        httpd.server_close()
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
