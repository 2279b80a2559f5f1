//! Issue 15 items 4–6 with the real binary: configuration from the environment, the CLI refusing to start a second
//! installation, help text everywhere, the JSON access log, `/metrics` on its own address and the graceful drain.
use std::time::Duration;

use clap::CommandFactory;

use crate::process::{run_in, Client, Install};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn environment_values_keep_their_text_and_mistakes_are_named() {
    let install = Install::new(false).await;
    // A string key whose value looks like a number.
    let out = install.run(&["migrate"], &[("KEYWAY_ADMIN_SECRET", "123456789012")]).await;
    assert!(out.status.success(), "{}", stderr(&out));

    let out = install.run(&["org", "list"], &[("KEYWAY_BIND", "8080")]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("host:port, for example 0.0.0.0:8080"), "{}", stderr(&out));

    std::fs::write(install.path().join("keyway.toml"), "Databse_URL = \"sqlite://x.db\"\n").unwrap();
    let out = install.run(&["org", "list"], &[]).await;
    assert!(stderr(&out).contains("unknown configuration key `Databse_URL` in keyway.toml"), "{}", stderr(&out));
    std::fs::remove_file(install.path().join("keyway.toml")).unwrap();
    let out = install.run(&["org", "list"], &[("KEYWAY_DATABSE_URL", "x")]).await;
    assert!(stderr(&out).contains("unknown configuration key `KEYWAY_DATABSE_URL`"), "{}", stderr(&out));

    // KEYWAY_CONFIG naming a missing file is an error, as --config is.
    let flag = install.run(&["--config", "missing.toml", "org", "list"], &[]).await;
    let env = install.run(&["org", "list"], &[("KEYWAY_CONFIG", "missing.toml")]).await;
    for out in [&flag, &env] {
        assert!(!out.status.success());
        assert!(stderr(out).contains("missing.toml") && stderr(out).contains("does not exist"), "{}", stderr(out));
    }
}

/// Every command but serve, demo and migrate, run where there is no installation, refuses and says where it looked,
/// and leaves nothing behind.
#[tokio::test]
async fn commands_do_not_create_a_second_installation() {
    let empty = tempfile::tempdir().unwrap();
    let env: Vec<(String, String)> = vec![];
    for args in [
        &["keys", "license-public"][..],
        &["keys", "list"],
        &["keys", "rotate"],
        &["org", "list"],
        &["api-key", "list", "--org", "Demo Vendor"],
        &["user", "create", "--org", "o", "--account", "a", "--email", "e@example.com", "--password-stdin"],
    ] {
        let out = run_in(empty.path(), &env, args, &[], Some("a long enough password\n")).await;
        let err = stderr(&out);
        assert!(!out.status.success(), "{args:?}");
        assert!(err.contains("no keyway installation found"), "{args:?}: {err}");
        assert!(err.contains("sqlite://data/keyway.db"), "names the database URL: {err}");
        assert!(err.contains(&format!("{}", empty.path().join("keys").display())), "names the keys dir: {err}");
    }
    assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0, "nothing was created");

    // PostgreSQL: a reachable database without keyway's schema is not migrated by a management command.
    let install = Install::new(true).await;
    let out = install.run(&["org", "list"], &[]).await;
    assert!(stderr(&out).contains("holds no keyway schema"), "{}", stderr(&out));
    let out = install.run(&["migrate"], &[]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = install.run(&["org", "list"], &[]).await;
    assert!(out.status.success(), "{}", stderr(&out));
}

#[tokio::test]
async fn demo_names_the_organization_and_user_create_without_a_terminal_points_to_password_stdin() {
    let install = Install::new(false).await;
    let out = install.run(&["demo"], &[]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("organization           Demo Vendor"));
    let out = install
        .run(&["user", "create", "--org", "Demo Vendor", "--account", "demo-customer", "--email", "n@example.com"], &[])
        .await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--password-stdin"), "{}", stderr(&out));
}

/// Walks the command tree: every subcommand has a description and every argument a help text, and
/// `keyway help <command…>` answers for each.
#[tokio::test]
async fn every_subcommand_and_flag_has_help() {
    fn walk(cmd: &clap::Command, path: Vec<String>, out: &mut Vec<Vec<String>>, missing: &mut Vec<String>) {
        if !path.is_empty() && cmd.get_about().is_none() {
            missing.push(format!("command `{}`", path.join(" ")));
        }
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if id != "help" && id != "version" && arg.get_help().is_none() {
                missing.push(format!("`{}` argument `{id}`", path.join(" ")));
            }
        }
        out.push(path.clone());
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let mut p = path.clone();
            p.push(sub.get_name().to_string());
            walk(sub, p, out, missing);
        }
    }
    let mut paths = Vec::new();
    let mut missing = Vec::new();
    walk(&keyway::cli::Cli::command(), vec![], &mut paths, &mut missing);
    assert!(missing.is_empty(), "without help text: {missing:#?}");
    assert!(paths.len() > 20, "{paths:?}");
    let dir = tempfile::tempdir().unwrap();
    for path in paths {
        let mut args = vec!["help"];
        args.extend(path.iter().map(String::as_str));
        let out = run_in(dir.path(), &[], &args, &[], None).await;
        assert!(out.status.success(), "keyway {args:?}: {}", stderr(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage:"), "keyway {args:?}");
    }
}

/// The JSON access log: one line per request with id, method, route template, status and latency, and nowhere in
/// the output the password, the code, the tokens or the License API shared key that went through the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_is_json_with_the_fields_and_no_secrets() {
    let install = Install::new(false).await;
    let demo = install.demo().await;
    let server = install.serve(&[]).await;
    let client = Client::new(&demo);
    let code = client.code(&server.base).await.unwrap();
    let tokens: serde_json::Value = client.redeem(&server.base, &code).await.unwrap().json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    let res = client.http.get(server.url("/oauth2/userInfo?access_token=x")).bearer_auth(&access).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(client.license(&server.base, "activate", "log-hw").await.unwrap().status(), 200);
    // The last request's line, and with it every earlier one.
    let output = server.output_containing("\"/api/v4/activate_license\"", Duration::from_secs(10)).await;

    let lines: Vec<serde_json::Value> = output
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    let access_lines: Vec<&serde_json::Value> = lines.iter().filter(|l| l["target"] == "keyway::access").collect();
    let token_line = access_lines
        .iter()
        .find(|l| l["fields"]["route"] == "/oauth2/token")
        .unwrap_or_else(|| panic!("a line for the token request: {output}"));
    assert_eq!(token_line["fields"]["method"], "POST");
    assert_eq!(token_line["fields"]["status"], 200);
    assert!(token_line["fields"]["latency_ms"].as_f64().is_some());
    assert!(token_line["span"]["request_id"].as_str().is_some_and(|id| id.len() >= 16), "{token_line}");
    let userinfo = access_lines.iter().find(|l| l["fields"]["route"] == "/oauth2/userInfo").unwrap();
    assert_eq!(userinfo["fields"]["status"], 200, "the route template, without the query string");
    assert!(access_lines.iter().any(|l| l["fields"]["route"] == "/api/v4/activate_license"));
    for secret in [&demo.user_password, &code, &access, &refresh, &demo.shared_key, &demo.client_secret] {
        assert!(!output.contains(secret.as_str()), "a secret in the log: {secret}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_on_their_own_address_with_histograms_and_process_metrics() {
    let install = Install::new(false).await;
    let _ = install.demo().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let bind = format!("127.0.0.1:{port}");
    let server = install.serve(&[("KEYWAY_METRICS_BIND", &bind)]).await;
    assert_eq!(reqwest::get(server.url("/readyz")).await.unwrap().status(), 200);
    assert_eq!(reqwest::get(server.url("/metrics")).await.unwrap().status(), 404, "not on the public port");
    let m = reqwest::get(format!("http://{bind}/metrics")).await.unwrap().text().await.unwrap();
    assert!(
        m.contains("keyway_http_request_duration_seconds_bucket{method=\"GET\",route=\"/readyz\",le=\"0.005\"}"),
        "{m}"
    );
    assert!(
        m.contains("keyway_http_request_duration_seconds_count{method=\"GET\",route=\"/metrics\"}")
            || m.contains("route=\"/readyz\"")
    );
    assert!(m.contains("process_resident_memory_bytes "), "{m}");
    assert!(m.contains("keyway_db_statements_total{kind=\"statement\"}"));
}

/// SIGTERM (and SIGINT) stop accepting, let the request in flight finish, and exit 0 within the drain timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_the_request_in_flight_and_exits() {
    let install = Install::new(false).await;
    // argon2 made slow on purpose (256 MiB, 6 passes), also for the demo user's stored hash: a sign-in is in flight
    // for a while.
    let slow =
        [("KEYWAY_ARGON2_MEMORY_KIB", "262144"), ("KEYWAY_ARGON2_ITERATIONS", "6"), ("KEYWAY_SHUTDOWN_TIMEOUT", "8")];
    let out = install.run(&["demo", "--json"], &slow).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let demo: keyway::cli::demo::Demo = serde_json::from_slice(&out.stdout).unwrap();
    let mut server = install.serve(&slow).await;
    let client = Client::new(&demo);
    let base = server.base.clone();
    let in_flight = tokio::spawn(async move { client.code(&base).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.signal("TERM");
    let status = server.wait(Duration::from_secs(10)).await;
    assert!(status.success(), "{status:?}: {}", server.output());
    assert!(in_flight.await.unwrap().is_ok(), "the sign-in in flight was answered");
    let out = server.output();
    assert!(out.contains("shutting down") && out.contains("SIGTERM") && out.contains("\"stopped\""), "{out}");

    let mut server = install.serve(&[]).await;
    server.signal("INT");
    assert!(server.wait(Duration::from_secs(10)).await.success());
    assert!(server.output().contains("SIGINT"));
}
