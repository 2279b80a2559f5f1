//! The language switcher (issue 17 item 5): `?lang=en|de` on any hosted page picks the language and is remembered
//! in a cookie, so the form posted from that page answers in the same language. The choice wins over
//! `Accept-Language` (`web::strings`).
use actix_web::body::MessageBody;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

pub const LANG_COOKIE: &str = "kw_lang";

/// The language named by `?lang=`, if it is one keyway has.
pub fn query_lang(query: &str) -> Option<&'static str> {
    query.split('&').find_map(|p| match p {
        "lang=en" => Some("en"),
        "lang=de" => Some("de"),
        _ => None,
    })
}

pub async fn remember(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let chosen = query_lang(req.query_string());
    let secure = req.connection_info().scheme() == "https";
    let mut res = next.call(req).await?;
    if let Some(lang) = chosen {
        let c = Cookie::build(LANG_COOKIE, lang)
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(secure)
            .max_age(actix_web::cookie::time::Duration::days(365))
            .finish();
        let _ = res.response_mut().add_cookie(&c);
    }
    Ok(res)
}
