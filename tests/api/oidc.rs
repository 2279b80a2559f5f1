//! The OpenID Provider over HTTP: flows and their negative cases (SPEC §4).
use crate::dual;
use crate::helpers::{fragment_params, hidden, jwt_claims, query_param, TestApp, CHALLENGE, VERIFIER};

const CB: &str = "http://127.0.0.1:8765/callback";

async fn code_pkce_flow_refresh_and_replay(app: TestApp) {
    let code = app.code("openid%20email%20profile%20offline_access").await;
    let res = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", VERIFIER),
        ])
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let tok: serde_json::Value = res.json().await.unwrap();
    assert_eq!(tok["token_type"], "Bearer");
    let id = jwt_claims(tok["id_token"].as_str().unwrap());
    assert_eq!(id["iss"], app.base.as_str());
    assert_eq!(id["aud"], "demo-app");
    assert_eq!(id["nonce"], "n1");
    assert_eq!(id["email"], "demo@example.com");
    assert_eq!(id["customer_account_code"], "demo-customer");
    assert!(id["sid"].is_string() && id["auth_time"].is_i64());
    let at = jwt_claims(tok["access_token"].as_str().unwrap());
    assert_eq!(at["client_id"], "demo-app");
    assert!(at["jti"].is_string());
    let ui: serde_json::Value = app
        .client
        .get(app.url("/oauth2/userInfo"))
        .bearer_auth(tok["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ui["sub"], id["sub"]);

    // Refresh rotates; the old refresh token then revokes the family.
    let r1 = tok["refresh_token"].as_str().unwrap().to_string();
    let res = app.token(&[("grant_type", "refresh_token"), ("refresh_token", &r1)]).await;
    assert_eq!(res.status(), 200);
    let tok2: serde_json::Value = res.json().await.unwrap();
    let r2 = tok2["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(r1, r2);
    let reuse = app.token(&[("grant_type", "refresh_token"), ("refresh_token", &r1)]).await;
    assert_eq!(reuse.status(), 400);
    assert_eq!(reuse.json::<serde_json::Value>().await.unwrap()["error"], "invalid_grant");
    let after = app.token(&[("grant_type", "refresh_token"), ("refresh_token", &r2)]).await;
    assert_eq!(after.status(), 400, "reuse of a rotated token revokes the whole family");
    let res = app
        .client
        .get(app.url("/oauth2/userInfo"))
        .bearer_auth(tok2["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // Replaying the code fails and revokes what it issued.
    let replay = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", VERIFIER),
        ])
        .await;
    assert_eq!(replay.json::<serde_json::Value>().await.unwrap()["error"], "invalid_grant");
}

async fn code_replay_revokes_access_token(app: TestApp) {
    let code = app.code("openid").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CB),
        ("code_verifier", VERIFIER),
    ];
    let tok: serde_json::Value = app.token(&form).await.json().await.unwrap();
    let at = tok["access_token"].as_str().unwrap();
    assert_eq!(app.client.get(app.url("/oauth2/userInfo")).bearer_auth(at).send().await.unwrap().status(), 200);
    let replay = app.token(&form).await;
    assert_eq!(replay.status(), 400);
    assert_eq!(app.client.get(app.url("/oauth2/userInfo")).bearer_auth(at).send().await.unwrap().status(), 401);
    let intro: serde_json::Value = app
        .client
        .post(app.url("/oauth2/introspect"))
        .basic_auth("demo-app", Some(&app.demo.client_secret))
        .form(&[("token", at)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(intro["active"], false);
}

async fn token_endpoint_rejections(app: TestApp) {
    let code = app.code("openid").await;
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1:8765/other"),
                ("code_verifier", VERIFIER),
            ],
            "invalid_grant",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
                ("code_verifier", "wrong-verifier-wrong-verifier-wrong-verifier-xx"),
            ],
            "invalid_grant",
        ),
        (vec![("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB)], "invalid_grant"),
        (vec![("grant_type", "authorization_code"), ("redirect_uri", CB)], "invalid_request"),
        (vec![("grant_type", "password")], "unsupported_grant_type"),
        (vec![("code", &code)], "invalid_request"),
    ];
    for (form, err) in cases {
        let res = app.token(&form).await;
        assert_eq!(res.status(), 400, "{form:?}");
        assert_eq!(res.json::<serde_json::Value>().await.unwrap()["error"], err, "{form:?}");
    }
    // The failed attempts did not consume the code.
    let ok = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", VERIFIER),
        ])
        .await;
    assert_eq!(ok.status(), 200);
    // Bad client secret with Basic: 401 + WWW-Authenticate.
    let res = app
        .client
        .post(app.url("/oauth2/token"))
        .basic_auth("demo-app", Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["error"], "invalid_client");
    // client_secret_post works; duplicate parameters are refused.
    let res = app
        .client
        .post(app.url("/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "demo-app"),
            ("client_secret", app.demo.client_secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .client
        .post(app.url("/oauth2/token"))
        .basic_auth("demo-app", Some(&app.demo.client_secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["error"], "invalid_request");
    let res = app
        .client
        .post(app.url("/oauth2/token"))
        .basic_auth("demo-app", Some(&app.demo.client_secret))
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

async fn expired_code_is_refused(app: TestApp) {
    let code = app.code("openid").await;
    app.clock.advance(301);
    let res = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", VERIFIER),
        ])
        .await;
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["error"], "invalid_grant");
}

async fn implicit_flows_use_the_fragment_with_at_hash(app: TestApp) {
    let loc =
        app.login(&app.authorize_url("response_type=id_token%20token&scope=openid%20email&nonce=abc&state=st")).await;
    assert!(loc.starts_with(&format!("{CB}#")), "{loc}");
    let f = fragment_params(&loc);
    assert_eq!(f["token_type"], "Bearer");
    assert_eq!(f["state"], "st");
    assert_eq!(f["iss"], app.base);
    let id = jwt_claims(&f["id_token"]);
    assert_eq!(id["nonce"], "abc");
    assert_eq!(id["at_hash"].as_str().unwrap(), keyway::crypto::jwt::half_hash(&f["access_token"]));
    // Cognito-style `token`: the session now exists, so no login page.
    let res =
        app.client.get(app.authorize_url("response_type=token&scope=openid%20email%20profile")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let f = fragment_params(res.headers()["location"].to_str().unwrap());
    assert!(f.contains_key("access_token") && f.contains_key("id_token") && f.contains_key("expires_in"));
    // id_token without nonce is an error, redirected in the fragment.
    let res = app.client.get(app.authorize_url("response_type=id_token&scope=openid&state=q")).send().await.unwrap();
    let f = fragment_params(res.headers()["location"].to_str().unwrap());
    assert_eq!(f["error"], "invalid_request");
    assert_eq!(f["state"], "q");
    // Tokens never in the query.
    let res =
        app.client.get(app.authorize_url("response_type=token&scope=openid&response_mode=query")).send().await.unwrap();
    let loc = res.headers()["location"].to_str().unwrap();
    assert!(!loc.contains("access_token") && loc.contains("#error=invalid_request"), "{loc}");
}

async fn unknown_client_and_open_redirects_never_redirect(app: TestApp) {
    let bad = [
        format!(
            "{}/oauth2/authorize?client_id=nope&redirect_uri=https%3A%2F%2Fevil.example%2F&response_type=code&\
            scope=openid",
            app.base
        ),
        format!(
            "{}/oauth2/authorize?client_id=demo-app&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&\
            response_type=code&scope=openid",
            app.base
        ),
        format!(
            "{}/oauth2/authorize?client_id=demo-app&\
            redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback%2F..%2Fx&response_type=code&scope=openid",
            app.base
        ),
        format!(
            "{}/oauth2/authorize?client_id=demo-app&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback%3Fx%3D1&\
            response_type=code&scope=openid",
            app.base
        ),
        format!("{}/oauth2/authorize?redirect_uri=https%3A%2F%2Fevil.example%2F", app.base),
    ];
    for url in bad {
        let res = app.client.get(&url).send().await.unwrap();
        assert_eq!(res.status(), 400, "{url}");
        assert!(res.headers().get("location").is_none());
        assert!(res.text().await.unwrap().contains("<html"));
    }
    // Valid client and redirect_uri: errors are redirected, with iss (RFC 9207).
    let res = app
        .client
        .get(
            app.authorize_url("response_type=code&scope=openid&code_challenge_method=plain&code_challenge=abc&state=z"),
        )
        .send()
        .await
        .unwrap();
    let loc = res.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(query_param(&loc, "error").unwrap(), "invalid_request");
    assert_eq!(query_param(&loc, "iss").unwrap(), app.base);
    assert_eq!(query_param(&loc, "state").unwrap(), "z");
    // RFC 6749 §3.1.2.3: with one registered URI a plain OAuth request may omit redirect_uri; OIDC may not.
    let res = app
        .client
        .get(format!(
            "{}/oauth2/authorize?client_id=demo-app&response_type=code&scope=email&customer_account_code=demo-customer",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "login page");
    let res = app
        .client
        .get(format!("{}/oauth2/authorize?client_id=demo-app&response_type=code&scope=openid", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(query_param(res.headers()["location"].to_str().unwrap(), "error").unwrap(), "invalid_request");
    // An unsupported hybrid type's error goes where its RP reads: the fragment (Multiple Response Types §5).
    let res =
        app.client.get(app.authorize_url("response_type=code%20id_token&scope=openid&state=h")).send().await.unwrap();
    let loc = res.headers()["location"].to_str().unwrap().to_string();
    assert!(query_param(&loc, "error").is_none(), "not in the query: {loc}");
    let frag = fragment_params(&loc);
    assert_eq!(frag["error"], "unsupported_response_type");
    assert_eq!(frag["state"], "h");
}

async fn prompt_none_and_login_and_max_age(app: TestApp) {
    let res = app.client.get(app.authorize_url("response_type=code&scope=openid&prompt=none")).send().await.unwrap();
    assert_eq!(query_param(res.headers()["location"].to_str().unwrap(), "error").unwrap(), "login_required");
    app.code("openid").await;
    // Signed in: prompt=none succeeds silently, prompt=login shows the form again.
    let res = app
        .client
        .get(app.authorize_url(&format!(
            "response_type=code&scope=openid&prompt=none&code_challenge={CHALLENGE}&code_challenge_method=S256"
        )))
        .send()
        .await
        .unwrap();
    assert!(query_param(res.headers()["location"].to_str().unwrap(), "code").is_some());
    let res = app.client.get(app.authorize_url("response_type=code&scope=openid&prompt=login")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    app.clock.advance(120);
    let res = app.client.get(app.authorize_url("response_type=code&scope=openid&max_age=60")).send().await.unwrap();
    assert_eq!(res.status(), 200, "max_age exceeded: login again");
}

/// Issue 12 item 10 (found by openid-client): OIDC Core §3.1.2.1 makes `max_age=0` a `prompt=login`. Right after a
/// login, in the same second (the manual clock does not move), the session must not answer it.
async fn max_age_zero_right_after_login_shows_the_login_page(app: TestApp) {
    app.code("openid").await;
    let pkce = format!("code_challenge={CHALLENGE}&code_challenge_method=S256");
    let url = app.authorize_url(&format!("response_type=code&scope=openid&max_age=0&{pkce}"));
    let res = app.client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200, "max_age=0 in the second of the login: the login page again");
    let page = res.text().await.unwrap();
    assert!(page.contains("name=\"password\""), "{page}");
    // Signing in answers the request (the fresh login satisfies max_age=0: no loop), with a new auth_time.
    let res = app.submit_login(&page, &app.demo.user_email, &app.demo.user_password).await;
    assert_eq!(res.status(), 303);
    assert!(query_param(res.headers()["location"].to_str().unwrap(), "code").is_some());
    // max_age=1 in the same second is satisfied by the session.
    let url = app.authorize_url(&format!("response_type=code&scope=openid&max_age=1&{pkce}"));
    let res = app.client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert!(query_param(res.headers()["location"].to_str().unwrap(), "code").is_some());
}

/// Issue 12 item 10 (found by openid-client): the error for an unsupported response type that would return tokens
/// from the authorization endpoint goes in the fragment, where its relying party reads (OAuth 2.0 Multiple Response
/// Types §5), with `state` and `iss`; a plain unknown type's error goes in the query.
async fn unsupported_response_types_with_tokens_answer_in_the_fragment(app: TestApp) {
    for rt in ["code%20id_token", "id_token%20code", "code%20token", "code%20id_token%20token"] {
        let url = app.authorize_url(&format!("response_type={rt}&scope=openid&state=h&nonce=n"));
        let res = app.client.get(url).send().await.unwrap();
        assert_eq!(res.status(), 303, "{rt}");
        let loc = res.headers()["location"].to_str().unwrap().to_string();
        assert!(loc.starts_with(&format!("{CB}#")) && query_param(&loc, "error").is_none(), "{rt}: {loc}");
        let frag = fragment_params(&loc);
        assert_eq!(frag["error"], "unsupported_response_type", "{rt}");
        assert_eq!((frag["state"].as_str(), frag["iss"].as_str()), ("h", app.base.as_str()), "{rt}");
    }
    let res = app.client.get(app.authorize_url("response_type=bogus&scope=openid&state=h")).send().await.unwrap();
    let loc = res.headers()["location"].to_str().unwrap();
    assert_eq!(query_param(loc, "error").as_deref(), Some("unsupported_response_type"), "{loc}");
}

async fn csrf_is_required_and_failures_look_alike(app: TestApp) {
    let page = app.login_page(&app.authorize_url("response_type=code&scope=openid")).await;
    let authz = hidden(&page, "authz").unwrap();
    let res = app
        .client
        .post(app.url("/login"))
        .form(&[
            ("authz", authz.as_str()),
            ("email", "demo@example.com"),
            ("password", app.demo.user_password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "no CSRF token, no login");
    let res = app
        .client
        .post(app.url("/login"))
        .form(&[
            ("authz", authz.as_str()),
            ("csrf_token", "forged"),
            ("email", "demo@example.com"),
            ("password", app.demo.user_password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let page = app.login_page(&app.authorize_url("response_type=code&scope=openid")).await;
    let wrong_pw = app.submit_login(&page, "demo@example.com", "wrong password").await.text().await.unwrap();
    let unknown = app.submit_login(&page, "nobody@example.com", "wrong password").await.text().await.unwrap();
    let msg = |h: &str| h.split("role=\"alert\"").nth(1).map(|s| s.split("</div>").next().unwrap_or("").to_string());
    assert!(msg(&wrong_pw).is_some());
    assert_eq!(msg(&wrong_pw), msg(&unknown));
}

async fn repeated_failures_lock_out_and_are_audited(app: TestApp) {
    let page = app.login_page(&app.authorize_url("response_type=code&scope=openid")).await;
    for _ in 0..5 {
        let res = app.submit_login(&page, "demo@example.com", "wrong password").await;
        assert_eq!(res.status(), 200);
    }
    let res = app.submit_login(&page, "demo@example.com", &app.demo.user_password).await;
    assert_eq!(res.status(), 200, "locked: the right password is refused");
    let lockouts = app.state.store.audit_events(Some("login.lockout")).await.unwrap();
    assert_eq!(lockouts.len(), 1);
    app.clock.advance(301);
    let res = app.submit_login(&page, "demo@example.com", &app.demo.user_password).await;
    assert_eq!(res.status(), 303, "the lock expires");
}

async fn german_login_page(app: TestApp) {
    let res = app
        .client
        .get(app.authorize_url("response_type=code&scope=openid"))
        .header("Accept-Language", "de-DE,de;q=0.9")
        .send()
        .await
        .unwrap();
    let html = res.text().await.unwrap();
    assert!(html.contains("lang=\"de\"") && html.contains("Passwort"));
}

async fn form_post_mode(app: TestApp) {
    let page = app
        .login_page(&app.authorize_url(&format!(
            "response_type=code&scope=openid&response_mode=form_post&\
        state=fp&code_challenge={CHALLENGE}&code_challenge_method=S256"
        )))
        .await;
    let res = app.submit_login(&page, &app.demo.user_email, &app.demo.user_password).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'sha256-"));
    let html = res.text().await.unwrap();
    assert!(html.contains(&format!("action=\"{CB}\"")), "{html}");
    assert!(html.contains("<html lang=\"en\">") && html.contains("Press Continue to return"), "{html}");
    assert_eq!(hidden(&html, "state").unwrap(), "fp");
    assert_eq!(hidden(&html, "iss").unwrap(), app.base);
    let code = hidden(&html, "code").unwrap();
    let res = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", VERIFIER),
        ])
        .await;
    assert_eq!(res.status(), 200);
    // The same page in the browser's language (its text and button show only without JavaScript).
    let url = app.authorize_url(&format!(
        "response_type=code&scope=openid&response_mode=form_post&state=fp&code_challenge={CHALLENGE}&\
         code_challenge_method=S256&prompt=login"
    ));
    let german = app.new_browser();
    let page = german.get(url).header("accept-language", "de").send().await.unwrap().text().await.unwrap();
    let form = [
        ("csrf_token", hidden(&page, "csrf_token").unwrap()),
        ("authz", hidden(&page, "authz").unwrap()),
        ("email", app.demo.user_email.clone()),
        ("password", app.demo.user_password.clone()),
    ];
    let res = german.post(app.url("/login")).header("accept-language", "de").form(&form).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("<html lang=\"de\">") && html.contains("um zur Anwendung zurückzukehren"), "{html}");
}

async fn revocation_and_introspection(app: TestApp) {
    let code = app.code("openid%20offline_access").await;
    let tok: serde_json::Value = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", VERIFIER),
        ])
        .await
        .json()
        .await
        .unwrap();
    let at = tok["access_token"].as_str().unwrap();
    let introspect = |t: String| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/oauth2/introspect"))
                .basic_auth("demo-app", Some(&app.demo.client_secret))
                .form(&[("token", t)])
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let i = introspect(at.to_string()).await;
    assert_eq!(i["active"], true);
    assert_eq!(i["client_id"], "demo-app");
    assert_eq!(introspect(tok["refresh_token"].as_str().unwrap().to_string()).await["active"], true);
    let res = app
        .client
        .post(app.url("/oauth2/revoke"))
        .basic_auth("demo-app", Some(&app.demo.client_secret))
        .form(&[("token", at)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(introspect(at.to_string()).await["active"], false);
    let res = app
        .client
        .post(app.url("/oauth2/revoke"))
        .basic_auth("demo-app", Some(&app.demo.client_secret))
        .form(&[("token", "unknown-token")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "RFC 7009 §2.2: unknown tokens are fine");
    let res = app.client.post(app.url("/oauth2/introspect")).form(&[("token", at)]).send().await.unwrap();
    assert_eq!(res.status(), 401);
}

async fn rp_initiated_logout(app: TestApp) {
    let code = app.code("openid").await;
    let tok: serde_json::Value = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", VERIFIER),
        ])
        .await
        .json()
        .await
        .unwrap();
    let id = tok["id_token"].as_str().unwrap();
    let res =
        app.client
            .get(app.url(&format!(
                "/oauth2/logout?id_token_hint={id}&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F"
            )))
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), 400, "unregistered post_logout_redirect_uri");
    let res = app
        .client
        .get(app.url(&format!(
            "/oauth2/logout?id_token_hint={id}&\
        post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback&state=bye"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "http://127.0.0.1:8765/callback?state=bye");
    let res = app.client.get(app.authorize_url("response_type=code&scope=openid&prompt=none")).send().await.unwrap();
    assert_eq!(
        query_param(res.headers()["location"].to_str().unwrap(), "error").unwrap(),
        "login_required",
        "the session ended"
    );
}

async fn discovery_is_accepted_by_openidconnect_types(app: TestApp) {
    let body = app.client.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().text().await.unwrap();
    let meta: openidconnect::core::CoreProviderMetadata =
        serde_json::from_str(&body).expect("CoreProviderMetadata parses");
    assert_eq!(meta.issuer().as_str(), app.base);
    let jwks = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap().text().await.unwrap();
    let _: openidconnect::core::CoreJsonWebKeySet = serde_json::from_str(&jwks).expect("JWKS parses");
}

dual!(
    code_pkce_flow_refresh_and_replay,
    code_replay_revokes_access_token,
    token_endpoint_rejections,
    expired_code_is_refused,
    implicit_flows_use_the_fragment_with_at_hash,
    unknown_client_and_open_redirects_never_redirect,
    prompt_none_and_login_and_max_age,
    max_age_zero_right_after_login_shows_the_login_page,
    unsupported_response_types_with_tokens_answer_in_the_fragment,
    csrf_is_required_and_failures_look_alike,
    repeated_failures_lock_out_and_are_audited,
    german_login_page,
    form_post_mode,
    revocation_and_introspection,
    rp_initiated_logout,
    discovery_is_accepted_by_openidconnect_types
);

/// `access_token_signing_alg = "ES256"`: access tokens from every issuing path are ES256 with a P-256 key published
/// in the JWKS (verified here from the JWK, independently of the server's key objects), id_tokens stay RS256 with
/// at_hash, and keyway's own verifiers (userinfo, introspection, revocation) accept the ES256 tokens.
async fn es256_access_tokens(app: crate::helpers::TestApp) {
    use jsonwebtoken::{decode, decode_header, jwk::JwkSet, Algorithm, DecodingKey, Validation};
    let jwks_text = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap().text().await.unwrap();
    let _: openidconnect::core::CoreJsonWebKeySet =
        serde_json::from_str(&jwks_text).expect("openidconnect parses the JWKS");
    let jwks: JwkSet = serde_json::from_str(&jwks_text).unwrap();
    assert_eq!(jwks.keys.len(), 2, "one RSA and one P-256 key");
    let verify = |token: &str, alg: Algorithm, aud: Option<&str>| -> serde_json::Value {
        let header = decode_header(token).unwrap();
        assert_eq!(header.alg, alg);
        let jwk = jwks.find(header.kid.as_deref().unwrap()).expect("kid in the JWKS");
        let mut v = Validation::new(alg);
        v.set_issuer(&[app.base.as_str()]);
        match aud {
            Some(a) => v.set_audience(&[a]),
            None => v.validate_aud = false,
        }
        decode::<serde_json::Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &v)
            .expect("verifies against the published JWK")
            .claims
    };

    // Authorization code grant, then refresh.
    let code = app.code("openid%20email%20offline_access").await;
    let tok: serde_json::Value = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", VERIFIER),
        ])
        .await
        .json()
        .await
        .unwrap();
    let at = tok["access_token"].as_str().unwrap();
    assert_eq!(decode_header(at).unwrap().typ.as_deref(), Some("at+jwt"));
    assert_eq!(verify(at, Algorithm::ES256, None)["client_id"], "demo-app");
    let id = verify(tok["id_token"].as_str().unwrap(), Algorithm::RS256, Some("demo-app"));
    assert_eq!(id["nonce"], "n1");
    let ui = app.client.get(app.url("/oauth2/userInfo")).bearer_auth(at).send().await.unwrap();
    assert_eq!(ui.status(), 200);
    assert_eq!(ui.json::<serde_json::Value>().await.unwrap()["sub"], id["sub"]);
    let refreshed: serde_json::Value = app
        .token(&[("grant_type", "refresh_token"), ("refresh_token", tok["refresh_token"].as_str().unwrap())])
        .await
        .json()
        .await
        .unwrap();
    verify(refreshed["access_token"].as_str().unwrap(), Algorithm::ES256, None);

    // Implicit `id_token token`: at_hash of the ES256 access token in the RS256 id_token.
    let loc = app
        .client
        .get(app.authorize_url("response_type=id_token%20token&scope=openid&nonce=n2&state=s2"))
        .send()
        .await
        .unwrap()
        .headers()["location"]
        .to_str()
        .unwrap()
        .to_string();
    let frag = fragment_params(&loc);
    verify(&frag["access_token"], Algorithm::ES256, None);
    let id2 = verify(&frag["id_token"], Algorithm::RS256, Some("demo-app"));
    assert_eq!(id2["at_hash"], keyway::crypto::jwt::half_hash(&frag["access_token"]));

    // client_credentials; introspection and revocation of an ES256 token.
    let cc = app.client_token(&app.demo.client_id, &app.demo.client_secret).await;
    assert_eq!(verify(&cc, Algorithm::ES256, None)["sub"], app.demo.client_id.as_str());
    let introspect = |t: String| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/oauth2/introspect"))
                .basic_auth("demo-app", Some(&app.demo.client_secret))
                .form(&[("token", t)])
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(introspect(at.to_string()).await["active"], true);
    let res = app
        .client
        .post(app.url("/oauth2/revoke"))
        .basic_auth("demo-app", Some(&app.demo.client_secret))
        .form(&[("token", at)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(introspect(at.to_string()).await["active"], false);
    assert_eq!(app.client.get(app.url("/oauth2/userInfo")).bearer_auth(at).send().await.unwrap().status(), 401);

    // An ES256 access token is not an id_token.
    let res = app
        .client
        .get(app.url(&format!("/oauth2/logout?id_token_hint={}", refreshed["access_token"].as_str().unwrap())))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

mod es256_access_tokens {
    use crate::helpers::{spawn_app_with, Db};
    use keyway::crypto::keys::SigningAlg;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::es256_access_tokens(spawn_app_with(Db::Sqlite, |c| c.access_token_signing_alg = SigningAlg::ES256).await)
            .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::es256_access_tokens(
            spawn_app_with(Db::Postgres, |c| c.access_token_signing_alg = SigningAlg::ES256).await,
        )
        .await
    }
}
