//! `POST /api/v4/activate_license`, `GET /api/v4/check_license`, `POST /api/v4/deactivate_license`,
//! `GET /api/v4/user_licenses` (SPEC §3.4–3.5, licensespring-contract.md).
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::auth::LicenseClient;
use super::error::LicenseApiError;
use super::json_ok;
use crate::http::web::client_ip;
use crate::license::activation::{self, ActivationError, SsoProof};
use crate::license::response::{device_response, license_json, user_json, Signed};
use crate::oauth::login::audit;
use crate::params::Params;
use crate::state::AppState;
use crate::store::entity::{customer_account, license, license_user, product};

/// Device fields the Python SDK sends; all optional, kept with the activation.
const DEVICE_FIELDS: [&str; 10] = ["os_ver", "hostname", "ip", "mac_address", "is_vm", "vm_info", "sdk_ver", "app_ver", "variables", "device_name"];
const MAX_FIELD: usize = 1024;

impl From<ActivationError> for LicenseApiError {
    fn from(e: ActivationError) -> Self {
        match e {
            ActivationError::InvalidCode => LicenseApiError::InvalidCode,
            ActivationError::InvalidIdToken => LicenseApiError::InvalidIdToken,
            ActivationError::LicenseNotFound => LicenseApiError::LicenseNotFound,
            ActivationError::LicenseNotEnabled => LicenseApiError::LicenseNotEnabled,
            ActivationError::LicenseExpired => LicenseApiError::LicenseExpired,
            ActivationError::LicenseNotActive => LicenseApiError::LicenseNotActive,
            ActivationError::SeatsFull => LicenseApiError::LicenseActivatedMaxTimes,
            ActivationError::UserDisabled => LicenseApiError::UserDisabled,
            ActivationError::Store(s) => s.into(),
        }
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
            Some(Value::String(s)) if s.len() > crate::params::MAX_VALUE_LEN => Err(LicenseApiError::InvalidParams(format!("{name} is too long"))),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(LicenseApiError::InvalidParams(format!("{name} must be a string"))),
        }
    }

    fn require(&self, names: &[&str]) -> Result<Vec<String>, LicenseApiError> {
        let mut out = Vec::new();
        let mut missing = Vec::new();
        for n in names {
            match self.str(n)? {
                Some(v) => out.push(v),
                None => missing.push(n.to_string()),
            }
        }
        if missing.is_empty() { Ok(out) } else { Err(LicenseApiError::MissingParams(missing)) }
    }

    fn device_info(&self) -> Option<String> {
        let m: Map<String, Value> = DEVICE_FIELDS
            .iter()
            .filter_map(|k| self.0.get(*k).filter(|v| !v.is_null()).map(|v| (k.to_string(), v.clone())))
            .filter(|(_, v)| v.to_string().len() <= MAX_FIELD * 8)
            .collect();
        (!m.is_empty()).then(|| Value::Object(m).to_string())
    }
}

async fn product_of(state: &AppState, client: &LicenseClient, code: &str) -> Result<product::Model, LicenseApiError> {
    state.store.find_product_by_code(&client.organization_id, code).await?.ok_or(LicenseApiError::UnknownProduct)
}

async fn account_of(state: &AppState, client: &LicenseClient, code: &str) -> Result<customer_account::Model, LicenseApiError> {
    state.store.find_customer_account_by_code(&client.organization_id, code).await?.ok_or(LicenseApiError::UnknownCustomerAccount)
}

/// The SSO user from `code` (wins, as in the Python SDK) or `id_token`, for a customer account.
async fn sso_user(state: &AppState, f: &Fields, product: &product::Model, account: &customer_account::Model) -> Result<license_user::Model, LicenseApiError> {
    let code = f.str("code")?;
    let id_token = f.str("id_token")?;
    let redirect_uri = f.str("redirect_uri")?;
    let verifier = f.str("code_verifier")?;
    let proof = match (&code, &id_token) {
        (Some(c), _) => SsoProof::Code { code: c, redirect_uri: redirect_uri.as_deref(), code_verifier: verifier.as_deref() },
        (None, Some(t)) => SsoProof::IdToken(t),
        (None, None) => return Err(LicenseApiError::MissingParams(vec!["code".into(), "id_token".into()])),
    };
    Ok(activation::identify(state, product, account, proof).await?)
}

/// Which license a check/deactivate request means: by key, by id, or by the SSO user's e-mail (`username`).
async fn license_for_device(state: &AppState, client: &LicenseClient, product: &product::Model, f: &Fields, hardware_id: &str) -> Result<(license::Model, Option<license_user::Model>), LicenseApiError> {
    if let Some(key) = f.str("license_key")? {
        return Ok((state.store.find_license_by_key(&product.id, &key).await?.ok_or(LicenseApiError::LicenseNotFound)?, None));
    }
    if let Some(username) = f.str("username")? {
        // The license already active on this device wins; otherwise the user's first license for the product.
        let mut first: Option<(license::Model, license_user::Model)> = None;
        for user in state.store.find_users_by_email_in_org(&client.organization_id, &username).await? {
            for l in state.store.licenses_for_user(&product.id, &user).await? {
                if state.store.find_activation(l.id, hardware_id).await?.is_some_and(|a| a.active) {
                    return Ok((l, Some(user)));
                }
                if first.is_none() {
                    first = Some((l, user.clone()));
                }
            }
        }
        return first.map(|(l, u)| (l, Some(u))).ok_or(LicenseApiError::LicenseNotFound);
    }
    if let Some(id) = f.str("license_id")? {
        let id: i64 = id.parse().map_err(|_| LicenseApiError::InvalidParams("license_id must be a number".into()))?;
        let l = state.store.find_license(id).await?.filter(|l| l.product_id == product.id).ok_or(LicenseApiError::LicenseNotFound)?;
        return Ok((l, None));
    }
    Err(LicenseApiError::MissingParams(vec!["license_key".into(), "username".into()]))
}

pub async fn post_activate_license(state: web::Data<AppState>, client: LicenseClient, req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, LicenseApiError> {
    let f = Fields::from_json(&body)?;
    let [product_code, hardware_id]: [String; 2] = f.require(&["product", "hardware_id"])?.try_into().map_err(|_| LicenseApiError::Internal)?;
    let product = product_of(&state, &client, &product_code).await?;
    let now = state.now();
    let ip = client_ip(&req);
    let sso = f.str("code")?.is_some() || f.str("id_token")?.is_some();
    let result = if sso {
        let account_code = f.str("customer_account_code")?.ok_or_else(|| LicenseApiError::MissingParams(vec!["customer_account_code".into()]))?;
        let account = account_of(&state, &client, &account_code).await?;
        let user = sso_user(&state, &f, &product, &account).await?;
        activation::activate_for_user(&state, &product, &user, &hardware_id, f.device_info()).await.map(|(l, a)| (l, a, Some(user.clone()), account, user.email.clone()))
    } else if let Some(key) = f.str("license_key")? {
        let l = state.store.find_license_by_key(&product.id, &key).await?.ok_or(LicenseApiError::LicenseNotFound)?;
        let account = state.store.find_customer_account(&l.customer_account_id).await?.ok_or(LicenseApiError::LicenseNotFound)?;
        activation::activate_license(&state, &l, None, &hardware_id, f.device_info()).await.map(|(l, a)| (l, a, None, account, key.clone()))
    } else if let (Some(username), Some(password)) = (f.str("username")?, f.str("password")?) {
        let user = password_user(&state, &client, &username, &password).await?;
        let account = state.store.find_customer_account(&user.customer_account_id).await?.ok_or(LicenseApiError::LicenseNotFound)?;
        activation::activate_for_user(&state, &product, &user, &hardware_id, f.device_info()).await.map(|(l, a)| (l, a, Some(user.clone()), account, username.clone()))
    } else {
        return Err(LicenseApiError::MissingParams(vec!["code".into(), "id_token".into(), "license_key".into()]));
    };
    let subject = format!("{}/{}", product.short_code, hardware_id);
    let (l, a, user, account, sig_id) = match result {
        Ok(r) => r,
        Err(e) => {
            audit(&state, "license.activate", &subject, ip.as_deref(), &format!("failure: {e}"), now).await;
            return Err(e.into());
        }
    };
    crate::metrics::Metrics::inc(&state.metrics.activations);
    audit(&state, "license.activate", &format!("license {} {subject}", l.id), ip.as_deref(), "success", now).await;
    let sig = Signed { signer: &state.license_signer, hardware_id: &hardware_id, signature_id: &sig_id };
    json_ok(&device_response(&l, &product, &account, user.as_ref(), &a, "activation", sig, now))
}

/// The username/password variant: exactly one user of the organization with this e-mail and password.
async fn password_user(state: &AppState, client: &LicenseClient, username: &str, password: &str) -> Result<license_user::Model, LicenseApiError> {
    let users = state.store.find_users_by_email_in_org(&client.organization_id, username).await?;
    let mut matched = None;
    for u in users {
        if state.verify_password(password, u.password_hash.clone()).await {
            matched = Some(u);
            break;
        }
    }
    let user = matched.ok_or(LicenseApiError::LicenseNotFound)?;
    if user.disabled {
        return Err(LicenseApiError::UserDisabled);
    }
    Ok(user)
}

pub async fn get_check_license(state: web::Data<AppState>, client: LicenseClient, req: HttpRequest) -> Result<HttpResponse, LicenseApiError> {
    let p = Params::parse(req.query_string())?;
    let f = Fields::from_query(&p, &["product", "hardware_id", "license_key", "username", "license_id"]);
    let [product_code, hardware_id]: [String; 2] = f.require(&["product", "hardware_id"])?.try_into().map_err(|_| LicenseApiError::Internal)?;
    let product = product_of(&state, &client, &product_code).await?;
    let (l, user) = license_for_device(&state, &client, &product, &f, &hardware_id).await?;
    let now = state.now();
    activation::usability(&l, now)?;
    let a = state.store.find_activation(l.id, &hardware_id).await?.filter(|a| a.active).ok_or(LicenseApiError::LicenseNotActive)?;
    let account = state.store.find_customer_account(&l.customer_account_id).await?.ok_or(LicenseApiError::LicenseNotFound)?;
    let user = match (user, &a.license_user_id) {
        (Some(u), _) => Some(u),
        (None, Some(uid)) => state.store.find_user(uid).await?,
        (None, None) => None,
    };
    let sig_id = f.str("username")?.or(f.str("license_key")?).or_else(|| user.as_ref().map(|u| u.email.clone())).or(l.license_key.clone()).unwrap_or_default();
    let sig = Signed { signer: &state.license_signer, hardware_id: &hardware_id, signature_id: &sig_id };
    json_ok(&device_response(&l, &product, &account, user.as_ref(), &a, "check", sig, now))
}

pub async fn post_deactivate_license(state: web::Data<AppState>, client: LicenseClient, req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, LicenseApiError> {
    let f = Fields::from_json(&body)?;
    let [product_code, hardware_id]: [String; 2] = f.require(&["product", "hardware_id"])?.try_into().map_err(|_| LicenseApiError::Internal)?;
    let product = product_of(&state, &client, &product_code).await?;
    let (l, _) = license_for_device(&state, &client, &product, &f, &hardware_id).await?;
    let now = state.now();
    let done = state.store.deactivate(l.id, &hardware_id, now).await?;
    let outcome = if done { "success" } else { "failure: not active" };
    audit(&state, "license.deactivate", &format!("license {} {}/{}", l.id, product.short_code, hardware_id), client_ip(&req).as_deref(), outcome, now).await;
    if !done {
        return Err(LicenseApiError::LicenseNotActive);
    }
    // The SDKs expect exactly this JSON string (the Node SDK treats anything else as a failure).
    json_ok(&"license_deactivated")
}

pub async fn get_user_licenses(state: web::Data<AppState>, client: LicenseClient, req: HttpRequest) -> Result<HttpResponse, LicenseApiError> {
    let p = Params::parse(req.query_string())?;
    let f = Fields::from_query(&p, &["product", "customer_account_code", "code", "id_token", "redirect_uri", "code_verifier", "username", "password"]);
    let sso = f.str("code")?.is_some() || f.str("id_token")?.is_some();
    let (product, account, user) = if let (false, Some(username), Some(password)) = (sso, f.str("username")?, f.str("password")?) {
        // Python SDK 3.5.0 and 3.8.0 can only ask with the user's credentials (`get_user_licenses(LicenseID.from_user(…))`).
        let [product_code]: [String; 1] = f.require(&["product"])?.try_into().map_err(|_| LicenseApiError::Internal)?;
        let product = product_of(&state, &client, &product_code).await?;
        let user = password_user(&state, &client, &username, &password).await?;
        let account = state.store.find_customer_account(&user.customer_account_id).await?.ok_or(LicenseApiError::LicenseNotFound)?;
        (product, account, user)
    } else {
        let [product_code, account_code]: [String; 2] = f.require(&["product", "customer_account_code"])?.try_into().map_err(|_| LicenseApiError::Internal)?;
        let product = product_of(&state, &client, &product_code).await?;
        let account = account_of(&state, &client, &account_code).await?;
        let user = sso_user(&state, &f, &product, &account).await?;
        (product, account, user)
    };
    let now = state.now();
    let mut out = Vec::new();
    for l in state.store.licenses_for_user(&product.id, &user).await? {
        let mut lj = license_json(&l, &product, &account, now);
        lj["license_active"] = json!(l.times_activated > 0);
        lj["license_enabled"] = json!(l.enabled);
        out.push(json!({"license": lj, "user": user_json(&user)}));
    }
    json_ok(&out)
}

/// `GET /api/v4/oauth_url?login_type=client_credentials` needs no authentication (the Python SDK calls it first).
pub async fn get_oauth_url(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, LicenseApiError> {
    let p = Params::parse(req.query_string())?;
    match p.get("login_type") {
        Some("client_credentials") | None => json_ok(&json!({"url": format!("{}{}", state.config.issuer, crate::oauth::discovery::TOKEN_PATH)})),
        Some(_) => Err(LicenseApiError::InvalidParams("login_type must be client_credentials".into())),
    }
}
