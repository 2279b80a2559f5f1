//! Operator rules: what makes a valid product, customer account, user or license. The CLI (and a management API)
//! call these; the store only persists.
use std::sync::Arc;

use crate::crypto::keys::MAX_JWT_LIFETIME;
use crate::crypto::secrets::{random_token, Secret};
use crate::model::client::DefaultResponseType;
use crate::model::{
    ClientId, CustomerAccount, Grant, GrantSet, License, LicenseType, LicenseUser, OAuthClient, Organization,
    RedirectUri,
};
use crate::oauth::client::hash_secret;
use crate::store::clients::NewProduct;
use crate::store::licenses::NewLicense;
use crate::store::users::NewUser;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A value the operator must change.
    #[error("{0}")]
    Invalid(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(msg: impl Into<String>) -> AdminError {
    AdminError::Invalid(msg.into())
}

/// The configured token lifetimes, the defaults of a new product.
#[derive(Debug, Clone, Copy)]
pub struct TokenDefaults {
    pub access_token_ttl: i64,
    pub id_token_ttl: i64,
    pub refresh_token_ttl: i64,
}

/// A product to create. Optional values take the defaults documented in the README.
#[derive(Debug, Default)]
pub struct ProductSpec {
    pub code: String,
    pub name: Option<String>,
    pub client_id: Option<String>,
    /// Generated (256 bits) when None; ignored for public clients.
    pub client_secret: Option<Secret>,
    pub public: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// `code` (default) or `token`.
    pub response_type: Option<String>,
    /// Empty: code, implicit, refresh, and client credentials when confidential.
    pub grants: Vec<String>,
    pub linked_products: Vec<String>,
    pub access_token_ttl: Option<i64>,
    pub id_token_ttl: Option<i64>,
    pub refresh_token_ttl: Option<i64>,
}

pub const MIN_CLIENT_SECRET: usize = 16;
pub const MAX_REFRESH_TOKEN_TTL: i64 = 365 * 24 * 3600;
pub const MIN_PASSWORD_CHARS: usize = 8;

/// The organization named by id or name.
pub async fn organization(store: &Store, id_or_name: &str) -> Result<Organization, AdminError> {
    store.find_organization(id_or_name).await?.ok_or_else(|| AdminError::NotFound(format!("organization {id_or_name}")))
}

pub async fn customer_account(
    store: &Store,
    organization_id: &str,
    code: &str,
) -> Result<Arc<CustomerAccount>, AdminError> {
    store
        .find_customer_account_by_code(organization_id, code)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("customer account {code}")))
}

pub async fn product(store: &Store, organization_id: &str, code: &str) -> Result<Arc<OAuthClient>, AdminError> {
    store
        .find_product_by_code(organization_id, code)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("product {code}")))
}

/// Creates a product (an OAuth client) and returns it with its plain client secret (None for public clients):
/// printed once, stored hashed.
pub async fn create_product(
    store: &Store,
    defaults: TokenDefaults,
    organization_id: &str,
    spec: ProductSpec,
    now: i64,
) -> Result<(OAuthClient, Option<Secret>), AdminError> {
    let registrable =
        |uri: &String| RedirectUri::registrable(uri).map_err(|why| invalid(format!("redirect URI {uri}: {why}")));
    let redirect_uris = spec.redirect_uris.iter().map(registrable).collect::<Result<Vec<_>, _>>()?;
    let post_logout = spec.post_logout_redirect_uris.iter().map(registrable).collect::<Result<Vec<_>, _>>()?;
    let response_type = DefaultResponseType::parse(spec.response_type.as_deref().unwrap_or("code"))
        .ok_or_else(|| invalid("the response type must be code or token"))?;
    let jwt_max = MAX_JWT_LIFETIME - 300;
    let ttl = |v: Option<i64>, default: i64, max: i64, name: &str| -> Result<i64, AdminError> {
        let v = v.unwrap_or(default.min(max));
        if v <= 0 || v > max {
            return Err(invalid(format!("{name} must be between 1 and {max} seconds")));
        }
        Ok(v)
    };
    let secret =
        if spec.public { None } else { Some(spec.client_secret.unwrap_or_else(|| Secret::new(random_token()))) };
    if secret.as_ref().is_some_and(|s| s.expose().len() < MIN_CLIENT_SECRET) {
        return Err(invalid(format!(
            "the client secret must be at least {MIN_CLIENT_SECRET} characters (omit it to generate one)"
        )));
    }
    let grants = if spec.grants.is_empty() {
        GrantSet::default_for(spec.public)
    } else {
        spec.grants
            .iter()
            .map(|g| Grant::parse(g).ok_or_else(|| invalid(format!("unknown grant {g}"))))
            .collect::<Result<GrantSet, _>>()?
    };
    if spec.code.trim().is_empty() {
        return Err(invalid("the product code must not be empty"));
    }
    let new = NewProduct {
        organization_id: organization_id.to_string(),
        short_code: spec.code.clone(),
        name: spec.name.unwrap_or_else(|| spec.code.clone()),
        client_id: ClientId::new(spec.client_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string())),
        client_secret_hash: secret.as_ref().map(|s| hash_secret(s.expose())),
        redirect_uris,
        post_logout_redirect_uris: post_logout,
        default_response_type: response_type,
        grants,
        linked_products: spec.linked_products,
        access_token_ttl: ttl(spec.access_token_ttl, defaults.access_token_ttl, jwt_max, "the access token lifetime")?,
        id_token_ttl: ttl(spec.id_token_ttl, defaults.id_token_ttl, jwt_max, "the id_token lifetime")?,
        refresh_token_ttl: ttl(
            spec.refresh_token_ttl,
            defaults.refresh_token_ttl,
            MAX_REFRESH_TOKEN_TTL,
            "the refresh token lifetime",
        )?,
    };
    let product = store.create_product(new, now).await?;
    Ok((product, secret))
}

/// A valid e-mail address for a new user: one `@`, not empty on either side, at most 254 bytes, no spaces.
pub fn check_email(email: &str) -> Result<(), AdminError> {
    let ok = email.len() <= 254
        && !email.contains(char::is_whitespace)
        && email.split_once('@').is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !d.contains('@'));
    if ok {
        Ok(())
    } else {
        Err(invalid("the e-mail address is not valid"))
    }
}

pub fn check_password(password: &str) -> Result<(), AdminError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(invalid(format!("the password must have at least {MIN_PASSWORD_CHARS} characters")));
    }
    Ok(())
}

pub struct UserSpec {
    pub email: String,
    pub name: String,
    /// An argon2id hash made by the caller (see [`check_password`]), or None for SSO-only users.
    pub password_hash: Option<String>,
    pub external_customer_no: Option<String>,
    /// Make the user the account's admin (the SendGrid-style SSO target).
    pub account_admin: bool,
}

pub async fn create_user(
    store: &Store,
    account: &CustomerAccount,
    spec: UserSpec,
    now: i64,
) -> Result<LicenseUser, AdminError> {
    check_email(&spec.email)?;
    let new = NewUser {
        customer_account_id: account.id.clone(),
        email: spec.email,
        name: spec.name,
        password_hash: spec.password_hash,
        email_verified: true,
        external_customer_no: spec.external_customer_no,
    };
    let user = store.create_user(new, now).await?;
    if spec.account_admin {
        store.set_customer_account_admin(&account.id, &user.id).await?;
    }
    Ok(user)
}

pub struct LicenseSpec {
    pub max_activations: i32,
    pub license_type: String,
    pub user_emails: Vec<String>,
    pub key: Option<String>,
    pub expires_at: Option<i64>,
    pub trial: bool,
}

/// A license of `product` for `account`, restricted to the named users when there are any.
pub async fn create_license(
    store: &Store,
    product: &OAuthClient,
    account: &CustomerAccount,
    spec: LicenseSpec,
    now: i64,
) -> Result<License, AdminError> {
    let license_type = LicenseType::parse(&spec.license_type)
        .ok_or_else(|| invalid(format!("the license type must be {}", LicenseType::NAMES)))?;
    check_seats(spec.max_activations)?;
    let mut assigned = Vec::new();
    for email in &spec.user_emails {
        assigned.push(
            store
                .find_user_by_email(&account.id, email)
                .await?
                .ok_or_else(|| AdminError::NotFound(format!("user {email}")))?
                .id,
        );
    }
    let new = NewLicense {
        product_id: product.id.clone(),
        customer_account_id: account.id.clone(),
        license_key: spec.key,
        license_type,
        max_activations: spec.max_activations,
        is_trial: spec.trial,
        starts_at: None,
        expires_at: spec.expires_at,
        assigned_users: assigned,
    };
    Ok(store.create_license(new, now).await?)
}

pub fn check_seats(max_activations: i32) -> Result<(), AdminError> {
    if max_activations < 1 {
        return Err(invalid("the number of seats (max activations) must be at least 1"));
    }
    Ok(())
}
