#!/usr/bin/env python3
"""Drive whichever official LicenseSpring Python SDK is installed (2.0.1 … 4.0.0) against a running keyway.

Run it with the Python of one SDK version's virtual environment (tests/sdk/.venvs/<version>/bin/python, made by
.ci/install-deps.sh). It finds out what that version can do from its own API and runs every flow a desktop app can:

  code                      get_sso_url(code) -> hosted login -> activate_license(code), no redirect_uri (all SDKs
                            before 3.12 cannot send one) -> getters -> check() -> getters -> deactivate()
  code+redirect_uri         the same with redirect_uri (3.12+)
  id_token                  get_sso_url(token) -> hosted login -> activate_license(id_token) -> check() -> deactivate()
  password                  activate_license(LicenseID.from_user(e-mail, password)) -> check() -> deactivate()
  user_licenses(code)       hosted login -> get_user_licenses(customer_account_code, code), no redirect_uri (3.12+)
  user_licenses(code+redirect_uri)  the same with redirect_uri (3.12+)
  user_licenses(credentials)        get_user_licenses(LicenseID.from_user(e-mail, password)) (3.5+)
  error(bogus code)         activate_license(code=<bogus>) -> ClientError invalid_code
  error(other redirect_uri) a real code sent with another redirect_uri -> ClientError invalid_code (3.12+)

"getters" calls every read-only License method the version has (license_type(), max_transfers(), borrow_until(),
…, local_check()): those read the fields of the activation and check responses, so a field keyway does not send
shows up as an AttributeError (docs/SDK-FIELDS.md lists them). Their values' types are checked too.

Versions whose Configuration has no `api_protocol` (2.x, 3.0) always call https://: the script then makes a test CA
and a certificate for 127.0.0.1 (tls_terminator.py), serves TLS on a local port relayed to keyway, points the SDK
at that port and tells it to trust the CA with REQUESTS_CA_BUNDLE (the SDK uses `requests`).

Environment: as python_sdk_flow.py (KW_BASE, KW_API_KEY, KW_SHARED_KEY, KW_PRODUCT, KW_ACCOUNT, KW_USER_EMAIL,
KW_USER_PASSWORD, KW_PUBLIC_KEY_FILE, KW_REDIRECT_URI); KW_SCENARIO must be `matrix`.

Prints exactly one JSON line on stdout ({"sdk": "python", "sdk_version", "transport", "flows": [...], "ok", ...});
progress goes to stderr. Exit status: 0 when every assertion held, 1 when one failed, 2 on bad configuration.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import sys
import tempfile
import traceback
import uuid
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import requests

import licensespring
from licensespring.api.error import ClientError
from licensespring.licensefile.config import Configuration
from licensespring.licensefile.license_manager import LicenseID, LicenseManager

import python_sdk_flow as flow
from python_sdk_flow import ConfigError, StepFailure, expect
from tls_terminator import TestCA, TlsTerminator

OTHER_REDIRECT_URI = "http://127.0.0.1:8765/not-the-registered-one"

# Read-only License methods without arguments (no network), across versions. Each reads LicenseData attributes that
# come from the activation/check response or are set by the SDK itself.
GETTERS = (
    "activation_date", "allow_grace_subscription_period", "allow_overages", "allow_unlimited_activations",
    "allow_unlimited_consumptions", "borrow_until", "company", "consumption_period", "consumption_reset",
    "custom_fields", "customer_information", "days_remaining", "days_since_last_check", "expiry_date", "features",
    "floating_client_id", "floating_end_date", "floating_in_use_devices", "floating_timeout", "get_grace_period",
    "get_product_details", "id", "is_air_gapped", "is_borrowed", "is_controlled_by_floating_server",
    "is_device_transfer_allowed", "is_device_transfer_limited", "is_expired", "is_floating", "is_floating_expired",
    "is_grace_period_started", "is_maintenance_period_expired", "is_maintence_period_expired",
    "is_subscription_grace_period_started", "is_tpm_auth", "is_trial", "is_valid", "is_validity_period_expired", "key",
    "last_check", "last_usage", "license_active", "license_enabled", "license_type", "license_user",
    "local_consumptions", "maintenance_days_remaining", "maintenance_period", "max_activations", "max_consumptions",
    "max_floating_users", "max_overages", "max_transfers", "metadata", "order_store_id", "policy_id", "prevent_vm",
    "start_date", "subscription_grace_period", "total_consumptions", "tpm_signing_public_key", "transfer_count",
    "validity_period", "validity_with_grace_period", "version", "check_license_status", "local_check",
)

# Errors that are the SDK's own, whatever the server sends (the method fails on the SDK's local defaults).
SDK_OWN_ERRORS = {
    # 4.0.0: grace_period_end_date() is `self.grace_period_start + timedelta(...)`, and grace_period_start is None
    # until a check fails offline (license_data.py: grace_period_setup sets None).
    "grace_period_hours_remaining": ("TypeError", ("4.",)),
}

NONE = type(None)
INT = (int,)
BOOL = (bool,)
# What a getter must return for keyway's demo license (perpetual, user license, one seat of several in use).
GETTER_TYPES = {
    "id": INT, "license_type": (str,), "is_trial": BOOL, "max_activations": INT, "transfer_count": INT,
    "max_transfers": INT, "allow_unlimited_activations": BOOL, "prevent_vm": BOOL, "is_floating": BOOL,
    "is_controlled_by_floating_server": BOOL, "is_borrowed": BOOL, "borrow_until": (NONE,),
    "floating_in_use_devices": INT, "floating_timeout": INT + (NONE,), "max_floating_users": INT,
    "validity_period": (datetime, NONE), "validity_with_grace_period": (datetime, NONE), "start_date": (datetime, NONE),
    "maintenance_period": (datetime, NONE), "get_grace_period": INT, "subscription_grace_period": INT,
    "allow_grace_subscription_period": BOOL, "is_expired": BOOL, "license_active": BOOL, "license_enabled": BOOL,
    "is_valid": BOOL, "metadata": (dict,), "customer_information": (dict,), "custom_fields": (list,),
    "max_consumptions": INT, "total_consumptions": INT, "allow_unlimited_consumptions": BOOL, "allow_overages": BOOL,
    "max_overages": INT, "consumption_reset": BOOL, "consumption_period": (NONE,), "is_air_gapped": BOOL,
    "policy_id": (NONE,), "order_store_id": (str,), "is_tpm_auth": BOOL, "tpm_signing_public_key": (NONE,),
    "license_user": (dict,), "key": (str, NONE), "last_check": (datetime, NONE), "last_usage": (datetime,),
}


def log(message: str) -> None:
    print(f"[python_sdk_matrix {licensespring.version}] {message}", file=sys.stderr, flush=True)


def parameters(function) -> set:
    try:
        return set(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return set()


def capabilities() -> dict:
    """What this SDK version offers, read from its API (never from its version number)."""
    user_licenses = getattr(LicenseManager, "get_user_licenses", None)
    ul_params = parameters(user_licenses) if user_licenses else set()
    return {
        # 2.x/3.0: Configuration has no api_protocol and LicenseManager builds APIClient without one (https).
        "transport": "http" if "api_protocol" in parameters(Configuration.__init__) else "https",
        "sso_url": "LicenseManager.get_sso_url" if hasattr(LicenseManager, "get_sso_url") else "APIClient.sso_url",
        "activate_redirect_uri": "redirect_uri" in parameters(LicenseManager.activate_license),
        "user_licenses_sso": "code" in ul_params,
        "user_licenses_redirect_uri": "redirect_uri" in ul_params,
        "user_licenses_credentials": user_licenses is not None,
        "file_key_required": file_key_required(),
    }


def file_key_required() -> bool:
    """2.x/3.0 take file_key/file_iv as required arguments, 3.x refuses None through a descriptor on `_file_key`
    (config.py: NoneValue); 4.0 derives the license file key from the shared key when none is given."""
    parameter = inspect.signature(Configuration.__init__).parameters.get("file_key")
    if parameter is None:
        return False
    descriptor = Configuration.__dict__.get("_file_key")
    return parameter.default is inspect.Parameter.empty or hasattr(type(descriptor), "__set__")


class Matrix:
    def __init__(self, env: dict) -> None:
        self.env = env
        self.caps = capabilities()
        self.flows: list[str] = []
        self.steps: list[dict] = []
        self.trace: list[str] = []
        self.reads = 0
        self.dirs: list[str] = []
        self.terminator: TlsTerminator | None = None
        self.verifier = flow.make_signature_verifier(env["public_key_pem"])
        self.api_domain = env["domain"]
        self.api_protocol = env["protocol"]
        if self.caps["transport"] == "https":
            self.start_tls()

    # -- setup ---------------------------------------------------------------------------------------------

    def start_tls(self) -> None:
        expect(self.api_protocol == "http", "KW_BASE must be http: the TLS terminator is put in front of it")
        host, _, port = self.api_domain.rpartition(":")
        directory = tempfile.mkdtemp(prefix="kw-tls-")
        self.dirs.append(directory)
        ca = TestCA(directory)
        self.terminator = TlsTerminator(ca, host, int(port)).start()
        # The SDK sends its requests with `requests`, which trusts the bundle named here (and nothing else).
        os.environ["REQUESTS_CA_BUNDLE"] = ca.ca_cert
        self.api_domain = f"127.0.0.1:{self.terminator.port}"
        self.api_protocol = "https"
        log(f"TLS terminator on https://{self.api_domain} -> {self.env['base']}")

    def manager(self, hardware_id: str) -> LicenseManager:
        directory = tempfile.mkdtemp(prefix="kw-python-sdk-")
        self.dirs.append(directory)
        options = dict(
            product=self.env["product"],
            api_key=self.env["api_key"],
            shared_key=self.env["shared_key"],
            hardware_id_provider=flow.make_hardware_id_provider(hardware_id),
            verify_license_signature=True,
            signature_verifier=self.verifier,
            api_domain=self.api_domain,
            api_version="v4",
            file_path=directory,
        )
        accepted = parameters(Configuration.__init__)
        if "api_protocol" in accepted:
            options["api_protocol"] = self.api_protocol
        if "is_guard_file_enabled" in accepted:
            options["is_guard_file_enabled"] = False
        if self.caps["file_key_required"]:
            # 2.x/3.x: AES-CBC of the license file with a caller-given key and IV (hex).
            options["file_key"] = uuid.uuid4().hex + uuid.uuid4().hex
            options["file_iv"] = uuid.uuid4().hex
        manager = LicenseManager(Configuration(**options))
        api = manager.api_client
        expect(api.verify_license_signature is True, "SDK signature verification is not enabled")
        expect(isinstance(api.signature_verifier, self.verifier), "SDK does not use keyway's verifier")
        expect(
            api.api_base == f"{self.api_protocol}://{self.api_domain}/api/v4",
            f"the SDK calls {api.api_base}, expected {self.api_protocol}://{self.api_domain}/api/v4",
        )
        return manager

    def step(self, name: str, **detail) -> None:
        entry = {"step": name}
        entry.update(detail)
        self.steps.append(entry)
        log(f"ok: {name} {json.dumps(detail, default=str) if detail else ''}")

    def verified(self, before: int, what: str) -> None:
        expect(self.verifier.verified > before, f"the SDK did not verify the LicenseSignature of the {what} response")

    # -- building blocks -----------------------------------------------------------------------------------

    def sso_url(self, manager: LicenseManager, use_auth_code: bool) -> str:
        before = self.verifier.verified
        if hasattr(manager, "get_sso_url"):
            response = manager.get_sso_url(self.env["account"], use_auth_code=use_auth_code)
        else:
            # 2.x/3.0 have no LicenseManager.get_sso_url: apps call the APIClient (default response_type "token").
            response = manager.api_client.sso_url(
                self.env["product"], self.env["account"], response_type="code" if use_auth_code else "token"
            )
        self.verified(before, "sso_url")
        url = response.get("url") if isinstance(response, dict) else None
        expect(isinstance(url, str) and url.startswith("http"), f"sso_url has no usable url: {response!r}")
        want = "code" if use_auth_code else "token"
        got = parse_qs(urlsplit(url).query).get("response_type")
        expect(got == [want], f"sso url response_type is {got}, expected {want}: {url}")
        return url

    def login(self, url: str) -> str:
        location = flow.browser_login(url, self.env["email"], self.env["password"], self.env["redirect_uri"], self.trace)
        flow.check_redirect_error(location)
        return location

    def code(self, manager: LicenseManager) -> str:
        location = self.login(self.sso_url(manager, use_auth_code=True))
        code = parse_qs(urlsplit(location).query).get("code", [""])[0]
        expect(bool(code), f"no code in the redirect: {location}")
        return code

    def id_token(self, manager: LicenseManager) -> str:
        location = self.login(self.sso_url(manager, use_auth_code=False))
        token = parse_qs(urlsplit(location).fragment).get("id_token", [""])[0]
        expect(bool(token), f"no id_token in the redirect fragment: {location}")
        return token

    def sweep(self, license, when: str) -> None:
        """Calls every read-only getter this SDK has; a missing response field surfaces as AttributeError."""
        missing, wrong_types, failures = [], [], []
        for name in GETTERS:
            method = getattr(license, name, None)
            if method is None:
                continue
            try:
                value = method()
            except (AttributeError, KeyError) as exc:
                missing.append(f"{name}(): {type(exc).__name__}: {exc}")
                continue
            except Exception as exc:  # noqa: BLE001 - classified below
                kind, versions = SDK_OWN_ERRORS.get(name, ("", ()))
                if type(exc).__name__ == kind and licensespring.version.startswith(versions):
                    continue
                failures.append(f"{name}(): {type(exc).__name__}: {exc}")
                continue
            self.reads += 1
            allowed = GETTER_TYPES.get(name)
            # bool is an int in Python: an int field must not come back as a bool.
            if allowed and (not isinstance(value, allowed) or (allowed is INT and isinstance(value, bool))):
                wrong_types.append(f"{name}() = {value!r} ({type(value).__name__})")
        expect(not missing, f"after {when}, getters fail on fields keyway did not send: {missing}")
        expect(not wrong_types, f"after {when}, getters return values of the wrong type: {wrong_types}")
        expect(not failures, f"after {when}, getters fail: {failures}")

    def activate(self, manager: LicenseManager, license_id, **credentials):
        before = self.verifier.verified
        license = manager.activate_license(license_id, hardware_id=manager.hardware_id, **credentials)
        self.verified(before, "activate_license")
        expect(license.licensefile_handler._cache.license_active is True, "license is not active after activation")
        return license

    def check_and_deactivate(self, manager: LicenseManager, license, flow_name: str) -> None:
        cache = license.licensefile_handler._cache
        user = getattr(cache, "user", None) or {}
        if hasattr(license, "license_user"):
            user = license.license_user() or {}
        expect(
            str(user.get("email", "")).lower() == self.env["email"].lower(),
            f"{flow_name}: activation response user.email is {user.get('email')!r}, expected {self.env['email']!r}",
        )
        expect(cache.hardware_id == manager.hardware_id, f"{flow_name}: license hardware_id is {cache.hardware_id!r}")
        self.sweep(license, f"{flow_name} activation")
        before = self.verifier.verified
        response = license.check()
        self.verified(before, "check_license")
        expect(isinstance(response, dict), f"{flow_name}: check() returned {response!r} (None: the SDK took keyway as offline)")
        expect(cache.license_active is True and cache.license_enabled is True, f"{flow_name}: license not active/enabled after check()")
        self.sweep(license, f"{flow_name} check")
        license.deactivate()
        expect(cache.license_active is False, f"{flow_name}: license still active locally after deactivate()")
        # The seat is free again: keyway answers license_not_active for this device now. (check() re-raises the
        # ClientError, but its `finally: check_license_status()` replaces it with a LicenseStateException when the
        # local state says inactive: the ClientError is then that exception's __context__.)
        try:
            license.check()
        except Exception as exc:  # noqa: BLE001 - inspected below
            client_error = exc if isinstance(exc, ClientError) else exc.__context__
            expect(
                isinstance(client_error, ClientError) and client_error.code == "license_not_active",
                f"{flow_name}: check after deactivate raised {exc!r} (context {exc.__context__!r}), expected license_not_active",
            )
        else:
            raise StepFailure(f"{flow_name}: check() after deactivate() succeeded")
        self.step(flow_name, license_id=cache.id, license_type=cache.license_type, hardware_id=manager.hardware_id)

    def new_manager(self) -> LicenseManager:
        hardware_id = f"kw-py{licensespring.version}-{uuid.uuid4().hex[:12]}"
        manager = self.manager(hardware_id)
        manager.hardware_id = hardware_id
        return manager

    def expect_client_error(self, code: str, call) -> ClientError:
        try:
            call()
        except ClientError as exc:
            expect(exc.code == code, f"ClientError {exc.code!r} ({exc.message}), expected {code!r}")
            expect(isinstance(exc.status, int) and 400 <= exc.status < 500, f"error body status is {exc.status!r}")
            return exc
        raise StepFailure(f"expected ClientError {code}, the call succeeded")

    # -- flows ---------------------------------------------------------------------------------------------

    def run_flow(self, name: str, function) -> None:
        log(f"flow {name}")
        function()
        self.flows.append(name)

    def flow_code(self, with_redirect_uri: bool) -> None:
        manager = self.new_manager()
        extra = {"redirect_uri": self.env["redirect_uri"]} if with_redirect_uri else {}
        license = self.activate(manager, LicenseID(), customer_account_code=self.env["account"], code=self.code(manager), **extra)
        self.check_and_deactivate(manager, license, "code+redirect_uri" if with_redirect_uri else "code")

    def flow_id_token(self) -> None:
        manager = self.new_manager()
        license = self.activate(manager, LicenseID(), customer_account_code=self.env["account"], id_token=self.id_token(manager))
        self.check_and_deactivate(manager, license, "id_token")

    def flow_password(self) -> None:
        manager = self.new_manager()
        license = self.activate(manager, LicenseID.from_user(self.env["email"], self.env["password"]))
        self.check_and_deactivate(manager, license, "password")

    def check_user_licenses(self, licenses, name: str) -> None:
        expect(isinstance(licenses, list) and licenses, f"{name}: user_licenses is not a non-empty list: {licenses!r}")
        for item in licenses:
            expect(isinstance(item, dict) and isinstance(item.get("license"), dict), f"{name}: item without a license object: {item!r}")
            expect(isinstance(item.get("user"), dict), f"{name}: item without a user object: {item!r}")
            expect(str(item["user"].get("email", "")).lower() == self.env["email"].lower(), f"{name}: user {item['user']!r}")
        self.step(name, count=len(licenses), license_ids=[item["license"].get("id") for item in licenses])

    def flow_user_licenses_code(self, with_redirect_uri: bool) -> None:
        manager = self.new_manager()
        extra = {"redirect_uri": self.env["redirect_uri"]} if with_redirect_uri else {}
        before = self.verifier.verified
        licenses = manager.get_user_licenses(customer_account_code=self.env["account"], code=self.code(manager), **extra)
        self.verified(before, "user_licenses")
        self.check_user_licenses(licenses, "user_licenses(code+redirect_uri)" if with_redirect_uri else "user_licenses(code)")

    def flow_user_licenses_credentials(self) -> None:
        manager = self.new_manager()
        before = self.verifier.verified
        licenses = manager.get_user_licenses(LicenseID.from_user(self.env["email"], self.env["password"]))
        self.verified(before, "user_licenses")
        self.check_user_licenses(licenses, "user_licenses(credentials)")

    def flow_bogus_code(self) -> None:
        manager = self.new_manager()
        self.expect_client_error(
            "invalid_code",
            lambda: manager.activate_license(LicenseID(), hardware_id=manager.hardware_id, customer_account_code=self.env["account"], code=f"bogus-{uuid.uuid4().hex}"),
        )
        self.step("error(bogus code)")

    def flow_other_redirect_uri(self) -> None:
        manager = self.new_manager()
        code = self.code(manager)
        self.expect_client_error(
            "invalid_code",
            lambda: manager.activate_license(LicenseID(), hardware_id=manager.hardware_id, customer_account_code=self.env["account"], code=code, redirect_uri=OTHER_REDIRECT_URI),
        )
        self.step("error(other redirect_uri)")

    def run(self) -> None:
        manager = self.new_manager()
        online = manager.is_online()
        expect(online is True, f"is_online() is {online!r}: GET {self.api_protocol}://{self.api_domain}/ must answer 200")
        self.run_flow("code", lambda: self.flow_code(False))
        if self.caps["activate_redirect_uri"]:
            self.run_flow("code+redirect_uri", lambda: self.flow_code(True))
        self.run_flow("id_token", self.flow_id_token)
        self.run_flow("password", self.flow_password)
        if self.caps["user_licenses_sso"]:
            self.run_flow("user_licenses(code)", lambda: self.flow_user_licenses_code(False))
        if self.caps["user_licenses_redirect_uri"]:
            self.run_flow("user_licenses(code+redirect_uri)", lambda: self.flow_user_licenses_code(True))
        if self.caps["user_licenses_credentials"]:
            self.run_flow("user_licenses(credentials)", self.flow_user_licenses_credentials)
        self.run_flow("error(bogus code)", self.flow_bogus_code)
        if self.caps["activate_redirect_uri"]:
            self.run_flow("error(other redirect_uri)", self.flow_other_redirect_uri)
        if self.terminator is not None:
            expect(self.terminator.connections > 0, "no TLS connection reached the terminator")

    def cleanup(self) -> None:
        if self.terminator is not None:
            self.terminator.stop()
        for directory in self.dirs:
            shutil.rmtree(directory, ignore_errors=True)


def read_env() -> dict:
    if os.environ.get("KW_SCENARIO", "matrix") != "matrix":
        raise ConfigError(f"KW_SCENARIO must be matrix (got {os.environ.get('KW_SCENARIO')!r})")
    os.environ["KW_SCENARIO"] = "code"  # python_sdk_flow.read_env wants one of its own login scenarios
    return flow.read_env()


def main() -> int:
    summary: dict = {"sdk": "python", "sdk_version": licensespring.version, "scenario": "matrix", "ok": False}
    matrix = None
    status = 1
    try:
        matrix = Matrix(read_env())
        summary["capabilities"] = matrix.caps
        summary["transport"] = matrix.caps["transport"]
        matrix.run()
        summary["ok"] = True
        status = 0
    except ConfigError as exc:
        summary["error"] = f"configuration: {exc}"
        status = 2
    except StepFailure as exc:
        summary["error"] = str(exc)
    except ClientError as exc:
        summary["error"] = f"keyway answered {exc.status} {exc.code}: {exc.message}"
        summary["traceback"] = traceback.format_exc(limit=6)
    except requests.RequestException as exc:
        summary["error"] = f"HTTP failure ({type(exc).__name__}): {exc}"
    except Exception as exc:  # noqa: BLE001 - any SDK crash is a failed compatibility check
        summary["error"] = f"unexpected {type(exc).__name__}: {exc}"
        summary["traceback"] = traceback.format_exc(limit=8)
    finally:
        if matrix is not None:
            summary["flows"] = matrix.flows
            summary["steps"] = matrix.steps
            summary["getter_reads"] = matrix.reads
            summary["signature_verifications"] = matrix.verifier.verified
            if matrix.terminator is not None:
                summary["tls_connections"] = matrix.terminator.connections
            if not summary["ok"]:
                summary["http_trace"] = matrix.trace[-12:]
            matrix.cleanup()
    if not summary["ok"]:
        log(f"FAILED: {summary.get('error')}")
    print(json.dumps(summary, default=str, separators=(",", ":")), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
