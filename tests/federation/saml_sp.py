"""A test SAML Service Provider on pysaml2's Saml2Client: what smoke.py and saml_forge.py --self-test use in
keyway's place. It builds its own SP metadata, sends AuthnRequests over HTTP-Redirect (signed or not) and verifies
SAMLResponses with pysaml2's own checks (signature, Issuer, Audience, Destination/Recipient, InResponseTo, time
window). Not a server: the ACS URL is only a name in the metadata; the caller posts nothing to it.
"""

import datetime
import os
import shutil
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS
from saml2.xmldsig import SIG_RSA_SHA256

XMLSEC1 = shutil.which("xmlsec1") or "/usr/bin/xmlsec1"


def _self_signed(workdir: str, name: str):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    key_file, cert_file = os.path.join(workdir, "sp.key"), os.path.join(workdir, "sp.crt")
    with open(key_file, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption()))
    with open(cert_file, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return key_file, cert_file


class TestSP:
    """entity_id/acs_url: names only. sign_requests: an SP key, AuthnRequestsSigned="true" in the metadata and
    signed HTTP-Redirect requests. idp_metadata_xml may be given later with set_idp_metadata()."""

    def __init__(self, entity_id: str, acs_url: str, sign_requests: bool = False, idp_metadata_xml: str = None,
                 allow_unsolicited: bool = False):
        self.entity_id, self.acs_url, self.sign_requests = entity_id, acs_url, sign_requests
        self.allow_unsolicited = allow_unsolicited
        self.workdir = tempfile.mkdtemp(prefix="keyway-test-sp-")
        self.key_file = self.cert_file = None
        if sign_requests:
            self.key_file, self.cert_file = _self_signed(self.workdir, "keyway test SP")
        self.client = None
        if idp_metadata_xml:
            self.set_idp_metadata(idp_metadata_xml)

    def _config(self, idp_metadata_xml=None) -> SPConfig:
        conf = {
            "entityid": self.entity_id,
            "xmlsec_binary": XMLSEC1,
            "accepted_time_diff": 60,
            "allow_unknown_attributes": True,  # keep "email" etc. as sent (no attribute map knows them)
            "service": {"sp": {
                "endpoints": {"assertion_consumer_service": [(self.acs_url, BINDING_HTTP_POST)]},
                "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
                "allow_unsolicited": self.allow_unsolicited,
                "authn_requests_signed": self.sign_requests,
                # keyway's rule: a signature on the Response or on the Assertion is enough
                "want_response_signed": False,
                "want_assertions_signed": False,
                "want_assertions_or_response_signed": True,
            }},
            "metadata": {"inline": [idp_metadata_xml]} if idp_metadata_xml else {},
        }
        if self.sign_requests:
            conf.update(key_file=self.key_file, cert_file=self.cert_file)
        cfg = SPConfig()
        cfg.load(conf)
        return cfg

    def metadata_xml(self) -> str:
        return str(entity_descriptor(self._config()))

    def set_idp_metadata(self, idp_metadata_xml: str):
        self.client = Saml2Client(config=self._config(idp_metadata_xml))

    def authn_request_url(self, idp_entity_id: str, relay_state: str = "rs-123"):
        """(request id, the IdP's SSO URL with SAMLRequest[&RelayState][&SigAlg&Signature])"""
        kwargs = {"sign": True, "sigalg": SIG_RSA_SHA256} if self.sign_requests else {}
        req_id, info = self.client.prepare_for_authenticate(
            entityid=idp_entity_id, relay_state=relay_state, binding=BINDING_HTTP_REDIRECT, **kwargs)
        location = dict(info["headers"])["Location"]
        return req_id, location

    def parse_response(self, saml_response_b64: str, outstanding: dict):
        """pysaml2's full SP check; raises on any refusal. outstanding = {request id: relay/came_from}."""
        return self.client.parse_authn_request_response(saml_response_b64, BINDING_HTTP_POST, outstanding=outstanding)

    def close(self):
        shutil.rmtree(self.workdir, ignore_errors=True)


def form_fields(html_text: str, form_id: str = None) -> tuple:
    """(action, {name: value}) of the first <form> (or the one with id=form_id) in a page: hidden inputs and
    pre-filled values, HTML entities decoded. Enough for the IdP pages of this folder (no JavaScript needed)."""
    import html as _html
    import re
    forms = re.findall(r"<form\b([^>]*)>(.*?)</form>", html_text, re.S | re.I)
    for attrs, body in forms:
        if form_id and f'id="{form_id}"' not in attrs:
            continue
        action = re.search(r'action="([^"]*)"', attrs)
        fields = {}
        for tag in re.findall(r"<input\b[^>]*>", body, re.I):
            name = re.search(r'name="([^"]*)"', tag)
            value = re.search(r'value="([^"]*)"', tag)
            if name:
                fields[_html.unescape(name.group(1))] = _html.unescape(value.group(1)) if value else ""
        return (_html.unescape(action.group(1)) if action else ""), fields
    raise ValueError(f"no form{' ' + form_id if form_id else ''} in the page")


def saml_login(session, sso_url_with_request: str, email: str, password: str, action: str = "login") -> dict:
    """Walks saml_idp.py's login as a plain HTTP client. Returns {"acs", "SAMLResponse", "RelayState"?} from the
    auto-submit page (the caller is the SP: it would POST these fields to acs)."""
    from urllib.parse import urljoin
    page = session.get(sso_url_with_request, allow_redirects=False)
    if page.status_code != 200:
        raise RuntimeError(f"IdP refused the AuthnRequest: {page.status_code} {page.text[:300]}")
    form_action, fields = form_fields(page.text, "login-form")
    fields.update(login=email, password=password, action=action)
    done = session.post(urljoin(page.url, form_action), data=fields, allow_redirects=False)
    if done.status_code != 200 or 'id="saml-form"' not in done.text:
        raise RuntimeError(f"IdP login failed: {done.status_code} {done.text[:300]}")
    acs, post = form_fields(done.text, "saml-form")
    return {"acs": acs, **post}
