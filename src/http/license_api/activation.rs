//! `POST /api/v4/activate_license`, `GET /api/v4/check_license`, `POST /api/v4/deactivate_license`,
//! `GET /api/v4/user_licenses` (SPEC §3.4–3.5, licensespring-contract.md): the request is parsed into typed values
//! here, the rules are in `license::activation`.
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::auth::LicenseClient;
use super::error::LicenseApiError;
use super::json_ok;
use crate::crypto::secrets::Secret;
use crate::http::web::client_ip;
use crate::license::activation::{
    self, ActivationRequest, DeviceQuery, LicenseDeps, LicenseSelector, Proof, SsoCredential, UserLicensesRequest,
    UserProof,
};
use crate::license::response::{device_response, license_json, user_json};
use crate::model::HardwareId;
use crate::params::Params;
use crate::state::AppState;

/// Device fields the Python SDK sends; all optional, kept with the activation.
const DEVICE_FIELDS: [&str; 10] =
    ["os_ver", "hostname", "ip", "mac_address", "is_vm", "vm_info", "sdk_ver", "app_ver", "variables", "device_name"];
const MAX_DEVICE_FIELD: usize = 8 * 1024;

fn deps<'a>(state: &'a AppState, keys: &'a crate::crypto::keys::KeyRing) -> LicenseDeps<'a> {
    LicenseDeps {
        store: &state.store,
        verifier: crate::oauth::tokens::Verifier { issuer: &state.config.issuer, keys },
        passwords: state.password_check(),
    }
}

/// Request fields from a JSON body or a query string, read the same way.
struct Fields(Map<String, Value>);

impl Fields {
    fn from_json(body: &[u8]) -> Result<Fields, LicenseApiError> {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => Ok(Fields(m)),
            _ => Err(LicenseApiError::InvalidParams("the body must be a JSON object".into())),
        }
    }

    fn from_query(p: &Params, names: &[&str]) -> Fields {
        Fields(names.iter().filter_map(|n| p.get(n).map(|v| (n.to_string(), Value::String(v.to_string())))).collect())
    }

    /// A non-empty string (numbers are accepted and written out: some clients send ids as numbers).
    fn str(&self, name: &str) -> Result<Option<String>, LicenseApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) if s.len() > crate::params::MAX_VALUE_LEN => {
                Err(LicenseApiError::InvalidParams(format!("{name} is too long")))
            }
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(LicenseApiError::InvalidParams(format!("{name} must be a string"))),
        }
    }

    /// The named fields, all present, or `missing_params` naming every absent one.
    fn require<const N: usize>(&self, names: [&str; N]) -> Result<[String; N], LicenseApiError> {
        let values = names.map(|n| self.str(n));
        let mut missing = Vec::new();
        for (n, v) in names.iter().zip(values.iter()) {
            match v {
                Err(_) => return Err(LicenseApiError::InvalidParams(format!("{n} must be a string"))),
                Ok(None) => missing.push(n.to_string()),
                Ok(Some(_)) => {}
            }
        }
        if !missing.is_empty() {
            return Err(LicenseApiError::MissingParams(missing));
        }
        Ok(values.map(|v| v.ok().flatten().unwrap_or_default()))
    }

    fn hardware_id(&self) -> Result<HardwareId, LicenseApiError> {
        let [hw] = self.require(["hardware_id"])?;
        HardwareId::parse(&hw).map_err(|why| LicenseApiError::InvalidParams(why.into()))
    }

    fn device_info(&self) -> Option<String> {
        let m: Map<String, Value> = DEVICE_FIELDS
            .iter()
            .filter_map(|k| self.0.get(*k).filter(|v| !v.is_null()).map(|v| (k.to_string(), v.clone())))
            .filter(|(_, v)| v.to_string().len() <= MAX_DEVICE_FIELD)
            .collect();
        (!m.is_empty()).then(|| Value::Object(m).to_string())
    }

    /// The SSO credential: `code` wins over `id_token`, as in the Python SDK.
    fn sso_credential(&self) -> Result<Option<SsoCredential>, LicenseApiError> {
        Ok(match (self.str("code")?, self.str("id_token")?) {
            (Some(code), _) => Some(SsoCredential::Code {
                code,
                redirect_uri: self.str("redirect_uri")?,
                code_verifier: self.str("code_verifier")?,
            }),
            (None, Some(t)) => Some(SsoCredential::IdToken(t)),
            (None, None) => None,
        })
    }

    /// Which license a check/deactivate means: by key, by the SSO user's e-mail (`username`), or by id.
    fn selector(&self) -> Result<LicenseSelector, LicenseApiError> {
        if let Some(key) = self.str("license_key")? {
            return Ok(LicenseSelector::Key(key));
        }
        if let Some(username) = self.str("username")? {
            return Ok(LicenseSelector::Username(username));
        }
        if let Some(id) = self.str("license_id")? {
            return id
                .parse()
                .map(LicenseSelector::Id)
                .map_err(|_| LicenseApiError::InvalidParams("license_id must be a number".into()));
        }
        Err(LicenseApiError::MissingParams(vec!["license_key".into(), "username".into()]))
    }
}

fn activation_request(f: &Fields, req: &HttpRequest) -> Result<ActivationRequest, LicenseApiError> {
    let [product] = f.require(["product"])?;
    let hardware_id = f.hardware_id()?;
    let proof = if let Some(credential) = f.sso_credential()? {
        let [customer_account_code] = f.require(["customer_account_code"])?;
        Proof::Sso { customer_account_code, credential }
    } else if let Some(key) = f.str("license_key")? {
        Proof::LicenseKey(key)
    } else if let (Some(username), Some(password)) = (f.str("username")?, f.str("password")?) {
        Proof::Password { username, password: Secret::new(password) }
    } else {
        return Err(LicenseApiError::MissingParams(vec!["code".into(), "id_token".into(), "license_key".into()]));
    };
    Ok(ActivationRequest { product, hardware_id, proof, device_info: f.device_info(), client_ip: client_ip(req) })
}

pub async fn post_activate_license(
    state: web::Data<AppState>,
    client: LicenseClient,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, LicenseApiError> {
    let body = crate::http::read_body(payload).await?;
    let request = activation_request(&Fields::from_json(&body)?, &req)?;
    let keys = state.keys();
    let now = state.now();
    let activated = activation::activate(&deps(&state, &keys), &client.0, request, now).await?;
    crate::metrics::Metrics::inc(&state.metrics.activations);
    json_ok(&device_response(&activated, "activation", &state.license_signer(), now))
}

fn device_query(f: &Fields) -> Result<DeviceQuery, LicenseApiError> {
    let [product] = f.require(["product"])?;
    let signature_id = f.str("username")?.or(f.str("license_key")?);
    Ok(DeviceQuery { product, hardware_id: f.hardware_id()?, selector: f.selector()?, signature_id })
}

pub async fn get_check_license(
    state: web::Data<AppState>,
    client: LicenseClient,
    req: HttpRequest,
) -> Result<HttpResponse, LicenseApiError> {
    let p = Params::parse(req.query_string())?;
    let q =
        device_query(&Fields::from_query(&p, &["product", "hardware_id", "license_key", "username", "license_id"]))?;
    let keys = state.keys();
    let now = state.now();
    let checked = activation::check(&deps(&state, &keys), &client.0, &q, now).await?;
    json_ok(&device_response(&checked, "check", &state.license_signer(), now))
}

pub async fn post_deactivate_license(
    state: web::Data<AppState>,
    client: LicenseClient,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, LicenseApiError> {
    let body = crate::http::read_body(payload).await?;
    let q = device_query(&Fields::from_json(&body)?)?;
    let keys = state.keys();
    activation::deactivate(&deps(&state, &keys), &client.0, &q, client_ip(&req).as_deref(), state.now()).await?;
    // The SDKs expect exactly this JSON string (the Node SDK treats anything else as a failure).
    json_ok(&"license_deactivated")
}

pub async fn get_user_licenses(
    state: web::Data<AppState>,
    client: LicenseClient,
    req: HttpRequest,
) -> Result<HttpResponse, LicenseApiError> {
    let p = Params::parse(req.query_string())?;
    let names = [
        "product",
        "customer_account_code",
        "code",
        "id_token",
        "redirect_uri",
        "code_verifier",
        "username",
        "password",
    ];
    let f = Fields::from_query(&p, &names);
    let [product] = f.require(["product"])?;
    let proof = match (f.sso_credential()?, f.str("username")?, f.str("password")?) {
        (Some(credential), _, _) => {
            let [customer_account_code] = f.require(["customer_account_code"])?;
            UserProof::Sso { customer_account_code, credential }
        }
        // Python SDK 3.5 and 3.8 ask with the user's credentials (`get_user_licenses(LicenseID.from_user(…))`).
        (None, Some(username), Some(password)) => UserProof::Password { username, password: Secret::new(password) },
        (None, _, _) => return Err(LicenseApiError::MissingParams(vec!["code".into(), "id_token".into()])),
    };
    let request = UserLicensesRequest { product, proof, client_ip: client_ip(&req) };
    let keys = state.keys();
    let now = state.now();
    let found = activation::user_licenses(&deps(&state, &keys), &client.0, &request, now).await?;
    let out: Vec<Value> = found
        .licenses
        .iter()
        .map(|l| {
            let mut lj = license_json(l, &found.product, &found.account, now);
            lj["license_active"] = json!(l.times_activated > 0);
            lj["license_enabled"] = json!(l.enabled);
            json!({"license": lj, "user": user_json(&found.user)})
        })
        .collect();
    json_ok(&out)
}

/// `GET /api/v4/oauth_url?login_type=client_credentials` needs no authentication (the Python SDK calls it first).
pub async fn get_oauth_url(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, LicenseApiError> {
    let p = Params::parse(req.query_string())?;
    match p.get("login_type") {
        Some("client_credentials") | None => {
            json_ok(&json!({"url": format!("{}{}", state.config.issuer, crate::oauth::discovery::TOKEN_PATH)}))
        }
        Some(_) => Err(LicenseApiError::InvalidParams("login_type must be client_credentials".into())),
    }
}
