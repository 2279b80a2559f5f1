//! The federated login (`-s federated-flow`): keyway sends the browser to the customer account's OpenID Provider,
//! the IdP's login form is filled and posted, the IdP sends the browser back to keyway's callback, and keyway on to
//! the redirect_uri with its own code, which is then redeemed like in `flow`. Two origins: one keep-alive connection
//! and one cookie jar each; every flow starts with empty jars, so every flow signs in at the IdP.
use std::collections::HashMap;
use std::time::Instant;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::http::{Conn, Response};
use crate::oidc::{
    authorize_query, b64u_random, code_from_callback, fill_login_form, short, Code, FlowSteps, Jar, Login, Target,
};

/// Connections to the origins other than keyway's (the IdP), kept alive across a worker's flows.
#[derive(Default)]
pub struct Upstreams(HashMap<String, Conn>);

/// "host:port" and origin-form path of an absolute http URL.
fn split(url: &str) -> Result<(String, String), String> {
    let u = url::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
    if u.scheme() != "http" {
        return Err(format!("{url}: only http origins are measured"));
    }
    let host = format!("{}:{}", u.host_str().unwrap_or(""), u.port_or_known_default().unwrap_or(80));
    let path = match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    };
    Ok((host, path))
}

struct Browser<'a> {
    keyway: &'a mut Conn,
    keyway_host: String,
    upstreams: &'a mut Upstreams,
    jars: HashMap<String, Jar>,
}

impl Browser<'_> {
    async fn send(&mut self, url: &str, form: Option<String>) -> Result<Response, String> {
        let (host, path) = split(url)?;
        let mut headers: Vec<(&'static str, String)> =
            self.jars.entry(host.clone()).or_default().header().into_iter().collect();
        let conn = if host == self.keyway_host {
            &mut *self.keyway
        } else {
            if !self.upstreams.0.contains_key(&host) {
                let addr = tokio::net::lookup_host(&host)
                    .await
                    .map_err(|e| format!("{host}: {e}"))?
                    .next()
                    .ok_or(format!("{host}: no address"))?;
                self.upstreams.0.insert(host.clone(), Conn::new(addr, &host));
            }
            self.upstreams.0.get_mut(&host).ok_or("upstream connection")?
        };
        let r = match form {
            Some(body) => {
                headers.push(("content-type", "application/x-www-form-urlencoded".into()));
                conn.post(&path, &headers, body).await?
            }
            None => conn.get(&path, &headers).await?,
        };
        self.jars.entry(host).or_default().store(&r);
        Ok(r)
    }

    /// Sends and follows redirects (as GET) across origins: the final page and its URL, or the Location at
    /// `redirect_uri` (never fetched).
    async fn navigate(
        &mut self,
        mut url: String,
        mut form: Option<String>,
        redirect_uri: &str,
        step: &str,
    ) -> Result<Result<String, (Response, String)>, String> {
        for _ in 0..12 {
            let r = self.send(&url, form.take()).await?;
            if !matches!(r.status, 301 | 302 | 303 | 307) {
                return Ok(Err((r, url)));
            }
            let loc = r.header("location").ok_or(format!("{step}: redirect without Location"))?;
            let next = url::Url::parse(&url).and_then(|base| base.join(loc)).map_err(|e| format!("{step}: {e}"))?;
            if next.as_str().starts_with(redirect_uri) {
                return Ok(Ok(next.to_string()));
            }
            url = next.to_string();
        }
        Err(format!("{step}: too many redirects"))
    }
}

/// authorize at keyway → the IdP's login form → post → back through keyway's callback → code at redirect_uri
/// (state and iss checked). The account must be IdP-only (keyway shows no page of its own).
pub async fn login_for_code(
    keyway: &mut Conn,
    upstreams: &mut Upstreams,
    t: &Target,
    login: &Login,
    steps: &mut FlowSteps,
) -> Result<Code, String> {
    let verifier = b64u_random(32);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let (state, nonce) = (b64u_random(16), b64u_random(16));
    let sep = if t.authorize_path.contains('?') { '&' } else { '?' };
    let authorize =
        format!("{}{}{sep}{}", t.issuer, t.authorize_path, authorize_query(login, &state, &nonce, &challenge));
    let mut b = Browser { keyway, keyway_host: t.host.clone(), upstreams, jars: HashMap::new() };

    let t0 = Instant::now();
    let (page, page_url) = match b.navigate(authorize, None, &login.redirect_uri, "authorize").await? {
        Err(page) => page,
        Ok(loc) => return Err(format!("authorize: went to the redirect_uri without a login: {loc}")),
    };
    steps.authorize_us = t0.elapsed().as_micros() as u64;
    if page.status != 200 || split(&page_url)?.0 == t.host {
        return Err(format!(
            "authorize: expected the IdP's login form, got HTTP {} at {page_url} (is the account IdP-only?) {}",
            page.status,
            short(&page.body)
        ));
    }
    let html = std::str::from_utf8(&page.body).map_err(|_| "IdP login page is not UTF-8")?;
    let (action, body) = fill_login_form(html, login)?;
    let action = url::Url::parse(&page_url).and_then(|u| u.join(&action)).map_err(|e| format!("IdP form: {e}"))?;

    let t1 = Instant::now();
    let loc = match b.navigate(action.to_string(), Some(body), &login.redirect_uri, "IdP login").await? {
        Ok(loc) => loc,
        Err((r, at)) => {
            return Err(format!(
                "IdP login: ended at HTTP {} {at} instead of the redirect_uri {}",
                r.status,
                short(&r.body)
            ))
        }
    };
    steps.login_us = t1.elapsed().as_micros() as u64;
    code_from_callback(t, &loc, &state).map(|code| Code { code, verifier, nonce })
}
