//! The protocol side: discovery, the hosted login (authorize → form → code), code redemption and refresh with full
//! response checks (id_token RS256 against the JWKS, iss, aud, nonce, exp), the License API's HMAC request signing
//! and its `LicenseSignature` response check.
use std::collections::HashMap;
use std::time::Instant;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rand::RngCore;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::http::{Conn, Response};

/// Everything a worker needs to know about the server, resolved once before the run.
pub struct Target {
    pub issuer: String,
    pub host: String,
    pub addr: std::net::SocketAddr,
    pub authorize_path: String,
    pub token_path: String,
    pub userinfo_path: String,
    pub introspect_path: String,
    pub jwks_path: String,
    pub discovery_path: String,
    pub jwks: HashMap<String, DecodingKey>,
    pub jwks_body: bytes::Bytes,
    pub discovery_body: bytes::Bytes,
}

/// An OAuth client and the user that logs in through it.
#[derive(Clone)]
pub struct Login {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
    pub username: String,
    pub password: String,
    /// Sent as `customer_account_code` on the authorization request (keyway asks for it otherwise).
    pub account: Option<String>,
    pub scope: String,
    pub extra: Vec<(String, String)>,
}

impl Login {
    pub fn basic_auth(&self) -> String {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        format!("Basic {}", STANDARD.encode(format!("{}:{}", enc(&self.client_id), enc(&self.client_secret))))
    }
}

/// License API credentials and the key that signs its responses.
pub struct LicenseApi {
    pub api_key: String,
    pub shared_key: String,
    pub product: String,
    pub account: String,
    pub signature_key: DecodingKey,
}

/// A code ready to be redeemed.
pub struct Code {
    pub code: String,
    pub verifier: String,
    pub nonce: String,
}

#[derive(Default, Clone, Copy)]
pub struct FlowSteps {
    pub authorize_us: u64,
    pub login_us: u64,
    pub token_us: u64,
    pub verify_us: u64,
}

pub(crate) fn b64u_random(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

pub fn path_of(url: &str) -> Result<String, String> {
    let u = url::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
    Ok(match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    })
}

pub(crate) fn short(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(100)]).replace('\n', " ")
}

pub fn expect_status(step: &str, r: &Response, status: u16) -> Result<(), String> {
    if r.status == status {
        Ok(())
    } else {
        Err(format!("{step}: HTTP {} (expected {status}) {}", r.status, short(&r.body)))
    }
}

pub fn json_of(step: &str, r: &Response) -> Result<Value, String> {
    serde_json::from_slice(&r.body).map_err(|e| format!("{step}: not JSON: {e}"))
}

impl Target {
    pub async fn discover(base: &str) -> Result<Target, String> {
        let u = url::Url::parse(base).map_err(|e| format!("--base {base}: {e}"))?;
        if u.scheme() != "http" {
            return Err("only http:// targets are supported (measure the server, not TLS)".into());
        }
        let host = format!("{}:{}", u.host_str().unwrap_or("127.0.0.1"), u.port_or_known_default().unwrap_or(80));
        let addr =
            tokio::net::lookup_host(&host).await.map_err(|e| format!("{host}: {e}"))?.next().ok_or("no address")?;
        let mut conn = Conn::new(addr, &host);
        let discovery_path = format!("{}/.well-known/openid-configuration", u.path().trim_end_matches('/'));
        let r = conn.get(&discovery_path, &[("accept", "application/json".into())]).await?;
        expect_status("discovery", &r, 200)?;
        let d = json_of("discovery", &r)?;
        let s = |k: &str| d[k].as_str().map(str::to_string).ok_or(format!("discovery has no {k}"));
        let jwks_path = path_of(&s("jwks_uri")?)?;
        let jr = conn.get(&jwks_path, &[]).await?;
        expect_status("jwks", &jr, 200)?;
        let set: JwkSet = serde_json::from_slice(&jr.body).map_err(|e| format!("jwks: {e}"))?;
        let mut jwks = HashMap::new();
        for k in &set.keys {
            if let (Some(kid), Ok(key)) = (k.common.key_id.clone(), DecodingKey::from_jwk(k)) {
                jwks.insert(kid, key);
            }
        }
        Ok(Target {
            issuer: s("issuer")?,
            host,
            addr,
            authorize_path: path_of(&s("authorization_endpoint")?)?,
            token_path: path_of(&s("token_endpoint")?)?,
            userinfo_path: s("userinfo_endpoint").and_then(|x| path_of(&x)).unwrap_or_default(),
            introspect_path: s("introspection_endpoint").and_then(|x| path_of(&x)).unwrap_or_default(),
            jwks_path,
            discovery_path,
            jwks,
            jwks_body: jr.body,
            discovery_body: r.body,
        })
    }

    pub fn conn(&self) -> Conn {
        Conn::new(self.addr, &self.host)
    }
}

/// `name` → value of the attribute inside one tag's text (`<input type="hidden" name="x" value="y">`).
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = tag;
    loop {
        let i = rest.find(name)?;
        let before = rest[..i].chars().last();
        let after = &rest[i + name.len()..];
        if matches!(before, Some(' ') | Some('\n') | Some('\t')) && after.starts_with('=') {
            let v = &after[1..];
            return Some(match v.chars().next() {
                Some(q @ ('"' | '\'')) => v[1..].split(q).next().unwrap_or(""),
                _ => v.split(|c: char| c.is_whitespace() || c == '>').next().unwrap_or(""),
            });
        }
        rest = after;
    }
}

fn html_unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|e| *e < 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let ent = &rest[1..end];
        let ch = match ent {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ if ent.starts_with("#x") || ent.starts_with("#X") => {
                u32::from_str_radix(&ent[2..], 16).ok().and_then(char::from_u32)
            }
            _ if ent.starts_with('#') => ent[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The first `<form>` of a login page, filled in: (action, urlencoded body). The user field is `email`, `username`
/// or (an IdP's form) `login`.
pub(crate) fn fill_login_form(html: &str, login: &Login) -> Result<(String, String), String> {
    let start = html.find("<form").ok_or("login page has no <form>")?;
    let form = &html[start..];
    let form = &form[..form.find("</form>").unwrap_or(form.len())];
    let open = &form[..form.find('>').ok_or("bad <form>")?];
    if !attr(open, "method").is_some_and(|m| m.eq_ignore_ascii_case("post")) {
        return Err("login form is not method=post".into());
    }
    let action = html_unescape(attr(open, "action").unwrap_or(""));
    let mut body = url::form_urlencoded::Serializer::new(String::new());
    let (mut user_done, mut pass_done) = (false, false);
    for piece in form.split("<input").skip(1) {
        let tag = &piece[..piece.find('>').unwrap_or(piece.len())];
        let tag = format!(" {tag}");
        let Some(name) = attr(&tag, "name") else { continue };
        let typ = attr(&tag, "type").unwrap_or("text").to_ascii_lowercase();
        let value = match typ.as_str() {
            "submit" | "button" | "image" | "reset" | "checkbox" | "radio" => continue,
            "password" if !pass_done => {
                pass_done = true;
                login.password.clone()
            }
            "text" | "email" if !user_done && matches!(name, "email" | "username" | "login") => {
                user_done = true;
                login.username.clone()
            }
            _ if name == "customer_account_code" => login.account.clone().unwrap_or_default(),
            _ => html_unescape(attr(&tag, "value").unwrap_or("")),
        };
        body.append_pair(name, &value);
    }
    if !(user_done && pass_done) {
        return Err("login form has no e-mail/password inputs".into());
    }
    Ok((action, body.finish()))
}

/// A per-flow cookie jar (one origin; paths ignored: sending a cookie to a sibling path is harmless here).
#[derive(Default)]
pub(crate) struct Jar(Vec<(String, String)>);

impl Jar {
    pub(crate) fn store(&mut self, r: &Response) {
        for v in r.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()) {
            let mut parts = v.split(';');
            let Some((name, value)) = parts.next().and_then(|kv| kv.split_once('=')) else { continue };
            let (name, value) = (name.trim(), value.trim());
            let expired = value.is_empty()
                || parts.any(|a| {
                    let a = a.trim().to_ascii_lowercase();
                    a.starts_with("max-age=0")
                        || a.starts_with("max-age=-")
                        || (a.starts_with("expires=") && a.contains("1970"))
                });
            self.0.retain(|(n, _)| n != name);
            if !expired {
                self.0.push((name.to_string(), value.to_string()));
            }
        }
    }

    pub(crate) fn header(&self) -> Option<(&'static str, String)> {
        (!self.0.is_empty())
            .then(|| ("cookie", self.0.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ")))
    }
}

/// Follows redirects (GET) until a non-redirect response or a Location at redirect_uri.
async fn follow(
    conn: &mut Conn,
    t: &Target,
    jar: &mut Jar,
    mut r: Response,
    redirect_uri: &str,
    step: &str,
) -> Result<(Response, Option<String>), String> {
    for _ in 0..10 {
        if !matches!(r.status, 301 | 302 | 303 | 307) {
            return Ok((r, None));
        }
        let loc = r.header("location").ok_or(format!("{step}: redirect without Location"))?.to_string();
        if loc.starts_with(redirect_uri) {
            return Ok((r, Some(loc)));
        }
        let path = if loc.starts_with('/') {
            loc
        } else if loc.starts_with(&t.issuer) || loc.starts_with("http://") {
            path_of(&loc)?
        } else {
            return Err(format!("{step}: redirect to {loc}"));
        };
        let headers: Vec<_> = jar.header().into_iter().collect();
        r = conn.get(&path, &headers).await?;
        jar.store(&r);
    }
    Err(format!("{step}: too many redirects"))
}

pub(crate) fn authorize_query(login: &Login, state: &str, nonce: &str, challenge: &str) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("response_type", "code")
        .append_pair("client_id", &login.client_id)
        .append_pair("redirect_uri", &login.redirect_uri)
        .append_pair("scope", &login.scope)
        .append_pair("state", state)
        .append_pair("nonce", nonce)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    if let Some(a) = &login.account {
        q.append_pair("customer_account_code", a);
    }
    for (k, v) in &login.extra {
        q.append_pair(k, v);
    }
    q.finish()
}

/// authorize → login form → submit → code at redirect_uri (state and iss checked). Every call starts with an empty
/// cookie jar, so every call logs in with the password.
pub async fn login_for_code(conn: &mut Conn, t: &Target, login: &Login, steps: &mut FlowSteps) -> Result<Code, String> {
    let verifier = b64u_random(32);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let (state, nonce) = (b64u_random(16), b64u_random(16));
    let query = authorize_query(login, &state, &nonce, &challenge);
    let sep = if t.authorize_path.contains('?') { '&' } else { '?' };
    let url = format!("{}{sep}{}", t.authorize_path, query);

    let mut jar = Jar::default();
    let t0 = Instant::now();
    let first = conn.get(&url, &[]).await?;
    jar.store(&first);
    let (page, _) = follow(conn, t, &mut jar, first, &login.redirect_uri, "authorize").await?;
    steps.authorize_us = t0.elapsed().as_micros() as u64;
    expect_status("login page", &page, 200)?;
    let html = std::str::from_utf8(&page.body).map_err(|_| "authorize: page is not UTF-8")?;
    let (action, body) = fill_login_form(html, login)?;
    let action = if action.is_empty() { url.clone() } else { action };
    let action = if action.starts_with("http://") { path_of(&action)? } else { action };

    let t1 = Instant::now();
    let mut headers = vec![("content-type", "application/x-www-form-urlencoded".to_string())];
    headers.extend(jar.header());
    let r = conn.post(&action, &headers, body).await?;
    jar.store(&r);
    if !matches!(r.status, 301 | 302 | 303 | 307) {
        return Err(format!("login: HTTP {} (expected a redirect) {}", r.status, short(&r.body)));
    }
    let (r, loc) = follow(conn, t, &mut jar, r, &login.redirect_uri, "login").await?;
    steps.login_us = t1.elapsed().as_micros() as u64;
    let loc =
        loc.ok_or_else(|| format!("login: ended at HTTP {} instead of redirect_uri {}", r.status, short(&r.body)))?;
    code_from_callback(t, &loc, &state).map(|code| Code { code, verifier, nonce })
}

/// The code of an authorization response at the redirect_uri, its `state` and `iss` (RFC 9207) checked.
pub(crate) fn code_from_callback(t: &Target, location: &str, state: &str) -> Result<String, String> {
    let cb = url::Url::parse(location).map_err(|e| format!("callback: {e}"))?;
    let p: HashMap<String, String> = cb.query_pairs().into_owned().collect();
    if let Some(e) = p.get("error") {
        return Err(format!("callback: error={e}"));
    }
    if p.get("state").map(String::as_str) != Some(state) {
        return Err("callback: state mismatch".into());
    }
    if p.get("iss").is_some_and(|i| *i != t.issuer) {
        return Err("callback: iss mismatch".into());
    }
    p.get("code").cloned().ok_or_else(|| "callback: no code".into())
}

#[derive(serde::Deserialize)]
struct IdClaims {
    nonce: Option<String>,
}

/// Checks an id_token: RS256 signature by the JWKS key named in its header, iss, aud, exp, nonce.
pub fn verify_id_token(t: &Target, token: &str, client_id: &str, nonce: Option<&str>) -> Result<(), String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| format!("id_token header: {e}"))?;
    if header.alg != Algorithm::RS256 {
        return Err(format!("id_token alg {:?}", header.alg));
    }
    let key = header
        .kid
        .as_ref()
        .and_then(|k| t.jwks.get(k))
        .or_else(|| if t.jwks.len() == 1 { t.jwks.values().next() } else { None })
        .ok_or("id_token kid not in the JWKS")?;
    let mut v = Validation::new(Algorithm::RS256);
    v.set_issuer(&[&t.issuer]);
    v.set_audience(&[client_id]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let data = jsonwebtoken::decode::<IdClaims>(token, key, &v).map_err(|e| format!("id_token: {e}"))?;
    if let Some(n) = nonce {
        if data.claims.nonce.as_deref() != Some(n) {
            return Err("id_token nonce mismatch".into());
        }
    }
    Ok(())
}

/// What a token response carried.
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
}

/// Checks a token endpoint response (200, JSON, Bearer, access_token, id_token when expected and valid).
pub fn check_token_response(
    t: &Target,
    login: &Login,
    r: &Response,
    nonce: Option<&str>,
    want_id_token: bool,
    steps: &mut FlowSteps,
) -> Result<Tokens, String> {
    expect_status("token", r, 200)?;
    let v = json_of("token", r)?;
    let access_token = v["access_token"].as_str().ok_or("token: no access_token")?.to_string();
    if !v["token_type"].as_str().is_some_and(|s| s.eq_ignore_ascii_case("bearer")) {
        return Err("token: token_type is not Bearer".into());
    }
    if want_id_token {
        let idt = v["id_token"].as_str().ok_or("token: no id_token")?;
        let t0 = Instant::now();
        verify_id_token(t, idt, &login.client_id, nonce)?;
        steps.verify_us = t0.elapsed().as_micros() as u64;
    }
    Ok(Tokens { access_token, refresh_token: v["refresh_token"].as_str().map(str::to_string) })
}

/// POST token_endpoint grant_type=authorization_code with client_secret_basic.
pub async fn redeem(
    conn: &mut Conn,
    t: &Target,
    login: &Login,
    code: &Code,
    steps: &mut FlowSteps,
) -> Result<Tokens, String> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", &code.code)
        .append_pair("redirect_uri", &login.redirect_uri)
        .append_pair("code_verifier", &code.verifier)
        .finish();
    let t0 = Instant::now();
    let r = conn.post(&t.token_path, &token_headers(login), body).await?;
    steps.token_us = t0.elapsed().as_micros() as u64;
    check_token_response(t, login, &r, Some(&code.nonce), login.scope.split(' ').any(|s| s == "openid"), steps)
}

pub fn token_headers(login: &Login) -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "application/x-www-form-urlencoded".to_string()),
        ("accept", "application/json".to_string()),
        ("authorization", login.basic_auth()),
    ]
}

/// One refresh_token grant; returns the rotated refresh token.
pub async fn refresh(conn: &mut Conn, t: &Target, login: &Login, rt: &str) -> Result<Tokens, String> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "refresh_token")
        .append_pair("refresh_token", rt)
        .finish();
    let r = conn.post(&t.token_path, &token_headers(login), body).await?;
    let mut steps = FlowSteps::default();
    // A refreshed id_token carries no nonce (OIDC Core §12.2): only signature, iss, aud, exp are checked.
    let tokens = check_token_response(t, login, &r, None, login.scope.split(' ').any(|s| s == "openid"), &mut steps)?;
    if tokens.refresh_token.is_none() {
        return Err("refresh: no rotated refresh_token".into());
    }
    Ok(tokens)
}

impl LicenseApi {
    /// `Date` and `Authorization` headers: signature = base64(HMAC-SHA256(shared_key, "licenseSpring\ndate: " + Date)).
    pub fn signed_headers(&self) -> Vec<(&'static str, String)> {
        // A load generator signs for a live server: the wall clock is the time it needs (clippy.toml's rule is for
        // keyway's own code, where time is a parameter).
        #[allow(clippy::disallowed_methods)]
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.shared_key.as_bytes()).expect("hmac key");
        mac.update(b"licenseSpring\ndate: ");
        mac.update(date.as_bytes());
        let sig = STANDARD.encode(mac.finalize().into_bytes());
        vec![
            ("date", date),
            (
                "authorization",
                format!(r#"algorithm="hmac-sha256",headers="date",signature="{sig}",apikey="{}""#, self.api_key),
            ),
            ("accept", "application/json".to_string()),
        ]
    }

    /// The `LicenseSignature` header: base64 RSASSA-PKCS1-v1_5/SHA-256 over the exact body bytes.
    pub fn check_signature(&self, r: &Response) -> Result<(), String> {
        let sig = r.header("licensesignature").ok_or("no LicenseSignature header")?;
        let raw = STANDARD.decode(sig).map_err(|_| "LicenseSignature is not base64")?;
        let ok =
            jsonwebtoken::crypto::verify(&URL_SAFE_NO_PAD.encode(raw), &r.body, &self.signature_key, Algorithm::RS256)
                .map_err(|e| format!("LicenseSignature: {e}"))?;
        if ok {
            Ok(())
        } else {
            Err("LicenseSignature does not verify".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_keyway_form() {
        let html = r#"<p>x</p><form method="post" action="/login" novalidate>
  <input type="hidden" name="csrf_token" value="a&#x2f;b">
  <input type="hidden" name="authz" value="Zm9v&amp;">
  <input type="email" id="email" name="email" value="" required autocomplete="username" autofocus>
  <input type="password" id="password" name="password" required>
  <button type="submit">Sign in</button></form>"#;
        let login = Login {
            client_id: "c".into(),
            client_secret: "s".into(),
            redirect_uri: "http://x/cb".into(),
            username: "u@x".into(),
            password: "p w".into(),
            account: None,
            scope: "openid".into(),
            extra: vec![],
        };
        let (action, body) = fill_login_form(html, &login).unwrap();
        assert_eq!(action, "/login");
        assert_eq!(body, "csrf_token=a%2Fb&authz=Zm9v%26&email=u%40x&password=p+w");
    }
}
