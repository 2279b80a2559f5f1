//! `GET /api/v4/sso_url` (SPEC §3.3): the hosted-login URL for a product's OAuth client and a customer account.
use crate::encoding::component as encode;
use crate::model::RedirectUri;
use crate::oauth::discovery::AUTHORIZE_PATH;
use crate::oauth::pkce;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum SsoUrlError {
    #[error("unknown product")]
    UnknownProduct,
    #[error("unknown customer account")]
    UnknownCustomerAccount,
    #[error("response_type must be code or token")]
    InvalidResponseType,
    #[error("redirect_uri is not registered")]
    InvalidRedirectUri,
    /// A parameter with a bad value, named.
    #[error("{0}: {1}")]
    InvalidParam(&'static str, &'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the caller asked for, validated here.
#[derive(Debug, Default)]
pub struct SsoUrlRequest<'a> {
    pub customer_account_code: &'a str,
    pub response_type: Option<&'a str>,
    pub redirect_uri: Option<&'a str>,
    pub state: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub code_challenge: Option<&'a str>,
    pub code_challenge_method: Option<&'a str>,
    pub login_hint: Option<&'a str>,
}

/// The product's side of it.
pub struct ProductClient<'a> {
    pub client_id: &'a str,
    pub redirect_uris: &'a [RedirectUri],
    pub default_response_type: &'a str,
}

/// The URL for `product` (a short code of the caller's organization) and an existing customer account.
pub async fn for_product(
    store: &Store,
    issuer: &str,
    organization_id: &str,
    product: &str,
    req: &SsoUrlRequest<'_>,
) -> Result<String, SsoUrlError> {
    let p = store.find_product_by_code(organization_id, product).await?.ok_or(SsoUrlError::UnknownProduct)?;
    store
        .find_customer_account_by_code(organization_id, req.customer_account_code)
        .await?
        .ok_or(SsoUrlError::UnknownCustomerAccount)?;
    let client = ProductClient {
        client_id: p.client_id.as_str(),
        redirect_uris: &p.redirect_uris,
        default_response_type: p.default_response_type.as_str(),
    };
    build(issuer, &client, req)
}

pub fn build(issuer: &str, product: &ProductClient<'_>, req: &SsoUrlRequest<'_>) -> Result<String, SsoUrlError> {
    let response_type = req.response_type.unwrap_or(product.default_response_type);
    if !matches!(response_type, "code" | "token") {
        return Err(SsoUrlError::InvalidResponseType);
    }
    // Exact string match with a registered URI (RFC 9700 §4.1.3); default: the first registered one.
    let redirect_uri = match req.redirect_uri {
        Some(r) => {
            product.redirect_uris.iter().find(|u| u.as_str() == r).ok_or(SsoUrlError::InvalidRedirectUri)?.as_str()
        }
        None => product.redirect_uris.first().ok_or(SsoUrlError::InvalidRedirectUri)?.as_str(),
    };
    match (req.code_challenge, req.code_challenge_method) {
        (None, None) => {}
        (Some(c), Some("S256")) if pkce::valid_value(c) => {}
        (Some(_), Some("S256")) => {
            return Err(SsoUrlError::InvalidParam("code_challenge", "must be 43-128 characters of A-Z a-z 0-9 - . _ ~"))
        }
        (Some(_), _) | (None, Some(_)) => {
            return Err(SsoUrlError::InvalidParam(
                "code_challenge_method",
                "code_challenge needs code_challenge_method=S256 (plain is refused)",
            ))
        }
    }
    let mut url = format!(
        "{issuer}{AUTHORIZE_PATH}?client_id={}&response_type={}&redirect_uri={}&scope=openid%20email%20profile&\
            customer_account_code={}",
        encode(product.client_id),
        response_type,
        encode(redirect_uri),
        encode(req.customer_account_code),
    );
    for (name, value) in [
        ("state", req.state),
        ("nonce", req.nonce),
        ("code_challenge", req.code_challenge),
        ("code_challenge_method", req.code_challenge.and(req.code_challenge_method)),
        ("login_hint", req.login_hint),
    ] {
        if let Some(v) = value {
            url.push('&');
            url.push_str(name);
            url.push('=');
            url.push_str(&encode(v));
        }
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uris(v: &[&str]) -> Vec<RedirectUri> {
        v.iter().map(|u| RedirectUri::new(*u)).collect()
    }

    fn product(uris: &[RedirectUri]) -> ProductClient<'_> {
        ProductClient { client_id: "cli", redirect_uris: uris, default_response_type: "code" }
    }

    #[test]
    fn builds_the_documented_url() {
        let uris = uris(&["http://127.0.0.1:5000/cb", "app://x"]);
        let req = SsoUrlRequest { customer_account_code: "acme corp", state: Some("s 1"), ..Default::default() };
        let url = build("https://id.example", &product(&uris), &req).expect("url");
        assert_eq!(
            url,
            "https://id.example/oauth2/authorize?client_id=cli&response_type=code&\
                redirect_uri=http%3A%2F%2F127.0.0.1%3A5000%2Fcb&scope=openid%20email%20profile&\
                customer_account_code=acme%20corp&state=s%201"
        );
        let req = SsoUrlRequest {
            customer_account_code: "a",
            response_type: Some("token"),
            redirect_uri: Some("app://x"),
            ..Default::default()
        };
        let url = build("https://id.example", &product(&uris), &req).expect("url");
        assert!(url.contains("response_type=token&redirect_uri=app%3A%2F%2Fx&"));
    }

    #[test]
    fn refuses_bad_input() {
        let uris = uris(&["http://127.0.0.1:5000/cb"]);
        let p = product(&uris);
        let bad_rt =
            SsoUrlRequest { customer_account_code: "a", response_type: Some("id_token"), ..Default::default() };
        assert!(matches!(build("https://i", &p, &bad_rt), Err(SsoUrlError::InvalidResponseType)));
        let bad_uri = SsoUrlRequest {
            customer_account_code: "a",
            redirect_uri: Some("http://127.0.0.1:5000/cb/"),
            ..Default::default()
        };
        assert!(matches!(build("https://i", &p, &bad_uri), Err(SsoUrlError::InvalidRedirectUri)));
        let plain = SsoUrlRequest {
            customer_account_code: "a",
            code_challenge: Some(&"a".repeat(43)),
            code_challenge_method: Some("plain"),
            ..Default::default()
        };
        assert!(matches!(build("https://i", &p, &plain), Err(SsoUrlError::InvalidParam("code_challenge_method", _))));
        assert!(matches!(
            build("https://i", &product(&[]), &SsoUrlRequest { customer_account_code: "a", ..Default::default() }),
            Err(SsoUrlError::InvalidRedirectUri)
        ));
    }
}
