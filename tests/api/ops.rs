//! Health, readiness, the SDK online check, discovery and JWKS.
use crate::dual;
use crate::helpers::TestApp;

async fn health_ready_and_root(app: TestApp) {
    for path in ["/", "/healthz", "/readyz"] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
}

async fn metrics_count_requests_and_logins(app: TestApp) {
    app.code("openid").await;
    let m = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(m.contains("keyway_logins_total{outcome=\"success\"} 1"), "{m}");
    let line = m.lines().find(|l| l.starts_with("keyway_http_requests_total{status=\"3xx\"}")).unwrap();
    assert!(line.split(' ').nth(1).unwrap().parse::<u64>().unwrap() >= 1);
    assert!(m.contains("keyway_signing_keys_published 1"));
    assert!(m.contains("keyway_password_verifications_total 1\n"), "one sign-in, one argon2 verification: {m}");
    let statements = |kind: &str| -> u64 {
        let prefix = format!("keyway_db_statements_total{{kind=\"{kind}\"}} ");
        m.lines().find_map(|l| l.strip_prefix(prefix.as_str())).unwrap().parse().unwrap()
    };
    let now = app.state.store.statement_count();
    assert!(statements("statement") > 0 && statements("statement") <= now.statements);
    assert!(statements("transaction_control") > 0 && statements("transaction_control") <= now.transaction_control);
}

async fn sweep_deletes_expired_rows_in_batches_and_keeps_live_ones(app: TestApp) {
    let now = app.clock.now();
    let product = app.state.store.find_client("demo-app").await.unwrap().unwrap();
    let user_id =
        app.state.store.find_users_by_email_in_org(&product.organization_id, "demo@example.com").await.unwrap()[0]
            .id
            .clone();
    let n = keyway::store::grants::SWEEP_BATCH + 7;
    for i in 0..=n {
        let expires_at = if i == n { now + 300 } else { now - 7200 };
        app.state
            .store
            .insert_code(&keyway::store::grants::CodeRecord {
                id: format!("code-{i}"),
                code_hash: format!("hash-{i}"),
                product_id: product.id.clone(),
                license_user_id: user_id.clone(),
                session_id: None,
                redirect_uri: None,
                scope: "openid".into(),
                nonce: None,
                code_challenge: None,
                auth_time: now,
                expires_at,
                consumed_at: None,
                revoked_at: None,
                created_at: now,
                amr: None,
                idp: None,
            })
            .await
            .unwrap();
    }
    let swept = app.state.store.sweep_expired(now).await.unwrap();
    assert_eq!(swept, n as u64);
    assert!(app.state.store.find_code(&format!("hash-{n}")).await.unwrap().is_some(), "the live code stays");
    assert!(app.state.store.find_code("hash-0").await.unwrap().is_none());
}

async fn discovery_and_jwks(app: TestApp) {
    let d: serde_json::Value =
        app.client.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(d["issuer"], app.base.as_str());
    assert_eq!(d["authorization_endpoint"], format!("{}/oauth2/authorize", app.base));
    assert_eq!(d["userinfo_endpoint"], format!("{}/oauth2/userInfo", app.base));
    assert_eq!(d["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(d["id_token_signing_alg_values_supported"], serde_json::json!(["RS256"]));
    assert!(d["response_types_supported"].as_array().unwrap().iter().any(|v| v == "id_token token"));
    let jwks: serde_json::Value =
        app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(jwks["keys"][0]["kid"], app.state.keys().signer().kid());
}

dual!(
    health_ready_and_root,
    metrics_count_requests_and_logins,
    sweep_deletes_expired_rows_in_batches_and_keeps_live_ones,
    discovery_and_jwks
);
