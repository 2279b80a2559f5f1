//! keyway-bench: drives a running keyway (or any OP, for the OAuth scenarios) over HTTP with many concurrent
//! keep-alive clients and reports throughput, latency percentiles, errors, and the server's CPU time per operation
//! and memory (from /proc of `--server-pid`). Every response is checked; a wrong response is an error, never
//! throughput. See docs/PERFORMANCE.md.
// A load generator is a client: it reads the wall clock itself (License API `Date` headers, run ids); the
// workspace rule against SystemTime::now is for the server, which takes `now` from its Clock.
#![allow(clippy::disallowed_methods)]
mod federated;
mod http;
mod oidc;
mod procfs;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::{json, Value};

use oidc::{Code, FlowSteps, LicenseApi, Login, Target};

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Scenario {
    /// Complete hosted-login flows: authorize → login form → code → token → id_token verified.
    Flow,
    /// Complete flows through the customer account's own OpenID Provider: authorize → the IdP's login form →
    /// keyway's callback → code → token → id_token verified (the account must be IdP-only; --password is the
    /// password at the IdP).
    FederatedFlow,
    /// Code redemption alone (codes pre-minted through the flow first, untimed).
    Token,
    /// refresh_token grants with rotation (one refresh token chain per worker).
    Refresh,
    /// Signed GET /api/v4/sso_url (HMAC request auth; LicenseSignature checked).
    SsoUrl,
    /// POST /api/v4/activate_license with a fresh code each (codes pre-minted, untimed).
    Activate,
    /// GET jwks_uri.
    Jwks,
    /// GET /.well-known/openid-configuration.
    Discovery,
    /// GET userinfo with a Bearer access token.
    Userinfo,
    /// POST introspection_endpoint for an access token (client_secret_basic).
    Introspect,
}

#[derive(Parser, Debug)]
#[command(
    name = "keyway-bench",
    about = "HTTP load generator for keyway (flows, token, License API, JWKS, discovery, userinfo, introspection)"
)]
struct Args {
    /// Issuer / base URL of the server (http only).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base: String,
    /// Scenarios to run, in order (comma-separated).
    #[arg(long, short = 's', value_enum, value_delimiter = ',', default_value = "flow")]
    scenario: Vec<Scenario>,
    /// Concurrent keep-alive clients (one connection each).
    #[arg(long, short = 'c', default_value_t = 16)]
    concurrency: usize,
    /// Seconds per scenario (ignored when --count is given, and by token/activate which run their pre-minted codes).
    #[arg(long, short = 'd', default_value_t = 10.0)]
    duration: f64,
    /// Operations per scenario instead of a duration (token/activate: how many codes to pre-mint and redeem).
    #[arg(long, short = 'n')]
    count: Option<u64>,
    /// Untimed warm-up seconds before each duration-based scenario.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Fixed total request rate (ops/s) instead of closed-loop; latency is measured from each op's scheduled start.
    #[arg(long)]
    rate: Option<f64>,
    /// Load-generator threads (tokio workers).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// The server's pid: CPU time per operation and RSS from /proc/<pid>.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Credentials from `keyway demo --json` (client, user, License API key, license public key).
    #[arg(long)]
    creds: Option<std::path::PathBuf>,
    #[arg(long)]
    client_id: Option<String>,
    #[arg(long)]
    client_secret: Option<String>,
    #[arg(long)]
    redirect_uri: Option<String>,
    /// Login e-mail / username.
    #[arg(long)]
    username: Option<String>,
    #[arg(long)]
    password: Option<String>,
    /// customer_account_code sent with the authorization request (default: from --creds; "-" for none).
    #[arg(long)]
    account: Option<String>,
    /// License API product code (sso-url, activate).
    #[arg(long)]
    product: Option<String>,
    #[arg(long, default_value = "openid email profile")]
    scope: String,
    /// Extra authorization request parameter K=V (repeatable).
    #[arg(long, value_parser = parse_kv)]
    extra: Vec<(String, String)>,
    /// Label for this run in the output (e.g. "sqlite fast-hash round 1").
    #[arg(long, default_value = "")]
    label: String,
    /// Machine-readable results (one JSON document on stdout; the table goes to stderr).
    #[arg(long)]
    json: bool,
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).ok_or_else(|| "expected K=V".into())
}

/// Data all workers of a scenario share.
struct Shared {
    target: Arc<Target>,
    login: Login,
    license: Option<LicenseApi>,
    codes: Mutex<Vec<Code>>,
    minted: Mutex<Vec<Code>>,
    hw_counter: AtomicU64,
    run_id: String,
    sso_query: String,
    activate_redirect_uri: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Mint,
    Timed(Scenario),
}

struct Worker {
    conn: http::Conn,
    upstreams: federated::Upstreams,
    refresh_token: Option<String>,
    access_token: Option<String>,
}

struct Outcome {
    steps: Option<FlowSteps>,
}

fn h() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram")
}

#[derive(Default)]
struct WorkerResult {
    ok: u64,
    errors: HashMap<String, u64>,
    end: Option<Instant>,
}

struct Hists {
    total: Histogram<u64>,
    authorize: Histogram<u64>,
    login: Histogram<u64>,
    token: Histogram<u64>,
    verify: Histogram<u64>,
}

impl Hists {
    fn new() -> Hists {
        Hists { total: h(), authorize: h(), login: h(), token: h(), verify: h() }
    }
    fn add(&mut self, o: &Hists) {
        let _ = self.total.add(&o.total);
        let _ = self.authorize.add(&o.authorize);
        let _ = self.login.add(&o.login);
        let _ = self.token.add(&o.token);
        let _ = self.verify.add(&o.verify);
    }
}

/// Normalises an error message into a bucket (drops per-request details such as ids).
fn bucket(e: &str) -> String {
    let e: String = e.chars().take(120).collect();
    e
}

async fn op(sh: &Shared, w: &mut Worker, phase: Phase) -> Result<Option<Outcome>, String> {
    let t = &*sh.target;
    match phase {
        Phase::Mint => {
            let mut steps = FlowSteps::default();
            let code = oidc::login_for_code(&mut w.conn, t, &sh.login, &mut steps).await?;
            sh.minted.lock().expect("lock").push(code);
            Ok(Some(Outcome { steps: None }))
        }
        Phase::Timed(Scenario::Flow) => {
            let mut steps = FlowSteps::default();
            let code = oidc::login_for_code(&mut w.conn, t, &sh.login, &mut steps).await?;
            oidc::redeem(&mut w.conn, t, &sh.login, &code, &mut steps).await?;
            Ok(Some(Outcome { steps: Some(steps) }))
        }
        Phase::Timed(Scenario::FederatedFlow) => {
            let mut steps = FlowSteps::default();
            let code = federated::login_for_code(&mut w.conn, &mut w.upstreams, t, &sh.login, &mut steps).await?;
            oidc::redeem(&mut w.conn, t, &sh.login, &code, &mut steps).await?;
            Ok(Some(Outcome { steps: Some(steps) }))
        }
        Phase::Timed(Scenario::Token) => {
            let Some(code) = sh.codes.lock().expect("lock").pop() else { return Ok(None) };
            let mut steps = FlowSteps::default();
            oidc::redeem(&mut w.conn, t, &sh.login, &code, &mut steps).await?;
            Ok(Some(Outcome { steps: None }))
        }
        Phase::Timed(Scenario::Refresh) => {
            let rt = w.refresh_token.take().ok_or("refresh: this worker's refresh token chain broke earlier")?;
            let tokens = oidc::refresh(&mut w.conn, t, &sh.login, &rt).await?;
            w.refresh_token = tokens.refresh_token;
            Ok(Some(Outcome { steps: None }))
        }
        Phase::Timed(Scenario::SsoUrl) => {
            let lic = sh.license.as_ref().ok_or("sso-url needs --creds")?;
            let r = w.conn.get(&sh.sso_query, &lic.signed_headers()).await?;
            oidc::expect_status("sso_url", &r, 200)?;
            lic.check_signature(&r)?;
            let v = oidc::json_of("sso_url", &r)?;
            let url = v["url"].as_str().ok_or("sso_url: no url")?;
            if !url.starts_with(&t.issuer) || !url.contains("client_id=") {
                return Err("sso_url: url is not an authorization URL of the issuer".into());
            }
            if v["openid_configuration"]["issuer"].as_str() != Some(t.issuer.as_str()) {
                return Err("sso_url: openid_configuration.issuer mismatch".into());
            }
            Ok(Some(Outcome { steps: None }))
        }
        Phase::Timed(Scenario::Activate) => {
            let lic = sh.license.as_ref().ok_or("activate needs --creds")?;
            let Some(code) = sh.codes.lock().expect("lock").pop() else { return Ok(None) };
            let hw = format!("kwb-{}-{}", sh.run_id, sh.hw_counter.fetch_add(1, Ordering::Relaxed));
            let body = json!({
                "product": lic.product, "hardware_id": hw, "customer_account_code": lic.account,
                "code": code.code, "redirect_uri": sh.activate_redirect_uri, "code_verifier": code.verifier,
            });
            let mut headers = lic.signed_headers();
            headers.push(("content-type", "application/json".into()));
            let r = w.conn.post("/api/v4/activate_license", &headers, serde_json::to_vec(&body).expect("json")).await?;
            oidc::expect_status("activate_license", &r, 200)?;
            lic.check_signature(&r)?;
            let v = oidc::json_of("activate_license", &r)?;
            if v["hardware_id"].as_str() != Some(hw.as_str())
                || v["license_active"] != Value::Bool(true)
                || !v["license_signature"].is_string()
            {
                return Err("activate_license: response is not an active activation of this hardware_id".into());
            }
            Ok(Some(Outcome { steps: None }))
        }
        Phase::Timed(Scenario::Jwks) => {
            let r = w.conn.get(&t.jwks_path, &[]).await?;
            oidc::expect_status("jwks", &r, 200)?;
            if r.body != t.jwks_body {
                return Err("jwks: body differs from the JWKS fetched at start".into());
            }
            Ok(Some(Outcome { steps: None }))
        }
        Phase::Timed(Scenario::Discovery) => {
            let r = w.conn.get(&t.discovery_path, &[]).await?;
            oidc::expect_status("discovery", &r, 200)?;
            if r.body != t.discovery_body {
                return Err("discovery: body differs from the document fetched at start".into());
            }
            Ok(Some(Outcome { steps: None }))
        }
        Phase::Timed(Scenario::Userinfo) => {
            let at = w.access_token.as_deref().ok_or("userinfo: no access token")?;
            let r = w.conn.get(&t.userinfo_path, &[("authorization", format!("Bearer {at}"))]).await?;
            oidc::expect_status("userinfo", &r, 200)?;
            let v = oidc::json_of("userinfo", &r)?;
            if !v["sub"].is_string() || (sh.login.scope.contains("email") && v["email"].as_str().is_none()) {
                return Err("userinfo: no sub/email".into());
            }
            Ok(Some(Outcome { steps: None }))
        }
        Phase::Timed(Scenario::Introspect) => {
            let at = w.access_token.as_deref().ok_or("introspect: no access token")?;
            let body = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("token", at)
                .append_pair("token_type_hint", "access_token")
                .finish();
            let r = w.conn.post(&t.introspect_path, &oidc::token_headers(&sh.login), body).await?;
            oidc::expect_status("introspect", &r, 200)?;
            let v = oidc::json_of("introspect", &r)?;
            if v["active"] != Value::Bool(true) || v["client_id"].as_str() != Some(sh.login.client_id.as_str()) {
                return Err("introspect: token not active / wrong client_id".into());
            }
            Ok(Some(Outcome { steps: None }))
        }
    }
}

/// Per-worker preparation, untimed: tokens for refresh/userinfo/introspect.
async fn prepare(sh: &Shared, w: &mut Worker, sc: Scenario) -> Result<(), String> {
    let t = &*sh.target;
    match sc {
        Scenario::Refresh | Scenario::Userinfo | Scenario::Introspect => {
            let mut login = sh.login.clone();
            if sc == Scenario::Refresh && !login.scope.split(' ').any(|s| s == "offline_access") {
                login.scope.push_str(" offline_access");
            }
            let mut steps = FlowSteps::default();
            let code = oidc::login_for_code(&mut w.conn, t, &login, &mut steps).await?;
            let tokens = oidc::redeem(&mut w.conn, t, &login, &code, &mut steps).await?;
            if sc == Scenario::Refresh && tokens.refresh_token.is_none() {
                return Err("no refresh_token issued (offline_access allowed for this client?)".into());
            }
            w.access_token = Some(tokens.access_token);
            w.refresh_token = tokens.refresh_token;
            Ok(())
        }
        _ => Ok(()),
    }
}

struct PlanCfg {
    concurrency: usize,
    deadline: Option<Duration>,
    count: Option<u64>,
    rate: Option<f64>,
    warmup: Duration,
}

#[derive(Serialize, Default)]
struct Lat {
    p50: f64,
    p90: f64,
    p99: f64,
    p999: f64,
    max: f64,
    mean: f64,
}

fn lat(hh: &Histogram<u64>) -> Lat {
    let ms = |v: u64| (v as f64 / 1000.0 * 100.0).round() / 100.0;
    if hh.is_empty() {
        return Lat::default();
    }
    Lat {
        p50: ms(hh.value_at_quantile(0.50)),
        p90: ms(hh.value_at_quantile(0.90)),
        p99: ms(hh.value_at_quantile(0.99)),
        p999: ms(hh.value_at_quantile(0.999)),
        max: ms(hh.max()),
        mean: (hh.mean() / 10.0).round() / 100.0,
    }
}

#[derive(Serialize)]
struct Report {
    label: String,
    scenario: String,
    concurrency: usize,
    rate: Option<f64>,
    ops: u64,
    errors: u64,
    error_kinds: BTreeMap<String, u64>,
    wall_s: f64,
    ops_per_s: f64,
    latency_ms: Lat,
    steps_ms: BTreeMap<String, Lat>,
    server_cpu_ms_per_op: Option<f64>,
    server_cores: Option<f64>,
    client_cpu_ms_per_op: f64,
    client_cores: f64,
    machine_busy_cores: Option<f64>,
    other_cores: Option<f64>,
    server_rss_mib_start: Option<f64>,
    server_rss_mib_peak: Option<f64>,
    server_vmhwm_mib: Option<f64>,
    http_requests: u64,
    connects: u64,
}

async fn run_phase(sh: Arc<Shared>, phase: Phase, plan: PlanCfg, server_pid: Option<u32>, label: &str) -> Report {
    let c = plan.concurrency;
    // Two barriers: every worker is prepared and warmed up (ready), then the counters are read and t0 is set (go).
    let barrier = Arc::new(tokio::sync::Barrier::new(c + 1));
    let go = Arc::new(tokio::sync::Barrier::new(c + 1));
    let tickets = Arc::new(AtomicU64::new(0));
    let start_cell: Arc<tokio::sync::OnceCell<Instant>> = Arc::new(tokio::sync::OnceCell::new());
    let mut tasks = Vec::new();
    for id in 0..c {
        let (sh, barrier, go, tickets, start_cell) =
            (sh.clone(), barrier.clone(), go.clone(), tickets.clone(), start_cell.clone());
        let (deadline, count, rate, warmup) = (plan.deadline, plan.count, plan.rate, plan.warmup);
        tasks.push(tokio::spawn(async move {
            let mut w = Worker {
                conn: sh.target.conn(),
                upstreams: Default::default(),
                refresh_token: None,
                access_token: None,
            };
            let mut res = WorkerResult::default();
            let mut hists = Hists::new();
            if let Phase::Timed(sc) = phase {
                if let Err(e) = prepare(&sh, &mut w, sc).await {
                    *res.errors.entry(format!("prepare: {}", bucket(&e))).or_default() += 1;
                }
                let until = Instant::now() + warmup;
                while Instant::now() < until {
                    if !matches!(op(&sh, &mut w, phase).await, Ok(Some(_))) {
                        break;
                    }
                }
            }
            let (r0, k0) = (w.conn.requests, w.conn.connects);
            barrier.wait().await;
            go.wait().await;
            let t0 = *start_cell.get().expect("start set before the barrier releases");
            let mut k: u64 = 0;
            loop {
                let now = Instant::now();
                if deadline.is_some_and(|d| now >= t0 + d) {
                    break;
                }
                if let Some(n) = count {
                    if tickets.fetch_add(1, Ordering::Relaxed) >= n {
                        break;
                    }
                }
                let begin = match rate {
                    Some(r) => {
                        let at = t0 + Duration::from_secs_f64((k as f64 * c as f64 + id as f64) / r);
                        k += 1;
                        if at > now {
                            tokio::time::sleep_until(at.into()).await;
                        }
                        at
                    }
                    None => now,
                };
                match op(&sh, &mut w, phase).await {
                    Ok(Some(o)) => {
                        res.ok += 1;
                        let _ = hists.total.record(begin.elapsed().as_micros().max(1) as u64);
                        if let Some(s) = o.steps {
                            let _ = hists.authorize.record(s.authorize_us.max(1));
                            let _ = hists.login.record(s.login_us.max(1));
                            let _ = hists.token.record(s.token_us.max(1));
                            let _ = hists.verify.record(s.verify_us.max(1));
                        }
                    }
                    Ok(None) => break,
                    Err(e) => *res.errors.entry(bucket(&e)).or_default() += 1,
                }
            }
            res.end = Some(Instant::now());
            (res, hists, w.conn.requests - r0, w.conn.connects - k0)
        }));
    }
    barrier.wait().await;
    let rss0 = server_pid.and_then(procfs::memory_kib).map(|m| m.0);
    let cpu0 = server_pid.and_then(procfs::cpu_seconds);
    let me0 = procfs::self_cpu_seconds();
    let m0 = procfs::machine_busy();
    let sampler = server_pid.map(procfs::RssSampler::start);
    let t0 = Instant::now();
    start_cell.set(t0).expect("start once");
    go.wait().await;
    let mut all = Hists::new();
    let (mut ok, mut errors, mut end, mut reqs, mut connects) = (0u64, BTreeMap::<String, u64>::new(), t0, 0u64, 0u64);
    for t in tasks {
        match t.await {
            Ok((r, hh, rq, cn)) => {
                ok += r.ok;
                for (k, v) in r.errors {
                    *errors.entry(k).or_default() += v;
                }
                end = end.max(r.end.unwrap_or(t0));
                all.add(&hh);
                reqs += rq;
                connects += cn;
            }
            Err(e) => *errors.entry(format!("worker panicked: {e}")).or_default() += 1,
        }
    }
    let wall = (end - t0).as_secs_f64().max(1e-9);
    let cpu1 = server_pid.and_then(procfs::cpu_seconds);
    let me1 = procfs::self_cpu_seconds();
    let m1 = procfs::machine_busy();
    let peak = sampler.map(|s| s.finish());
    let hwm = server_pid.and_then(procfs::memory_kib).map(|m| m.1);
    let server_cpu = match (cpu0, cpu1) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let client_cpu = me1 - me0;
    let busy = match (m0, m1) {
        (Some(a), Some(b)) => Some(b.0 - a.0),
        _ => None,
    };
    let mib = |k: u64| (k as f64 / 1024.0 * 10.0).round() / 10.0;
    let r2 = |x: f64| (x * 100.0).round() / 100.0;
    let mut steps_ms = BTreeMap::new();
    if !all.authorize.is_empty() {
        steps_ms.insert("1_authorize".to_string(), lat(&all.authorize));
        steps_ms.insert("2_login_submit".to_string(), lat(&all.login));
        steps_ms.insert("3_token".to_string(), lat(&all.token));
        steps_ms.insert("4_verify_client".to_string(), lat(&all.verify));
    }
    Report {
        label: label.to_string(),
        scenario: match phase {
            Phase::Mint => "mint-codes".into(),
            Phase::Timed(s) => s.to_possible_value().map(|v| v.get_name().to_string()).unwrap_or_default(),
        },
        concurrency: c,
        rate: plan.rate,
        ops: ok,
        errors: errors.values().sum(),
        error_kinds: errors,
        wall_s: r2(wall),
        ops_per_s: (ok as f64 / wall * 10.0).round() / 10.0,
        latency_ms: lat(&all.total),
        steps_ms,
        server_cpu_ms_per_op: server_cpu.map(|s| (s * 1000.0 / ok.max(1) as f64 * 1000.0).round() / 1000.0),
        server_cores: server_cpu.map(|s| r2(s / wall)),
        client_cpu_ms_per_op: (client_cpu * 1000.0 / ok.max(1) as f64 * 1000.0).round() / 1000.0,
        client_cores: r2(client_cpu / wall),
        machine_busy_cores: busy.map(|b| r2(b / wall)),
        other_cores: match (busy, server_cpu) {
            (Some(b), Some(s)) => Some(r2((b - s - client_cpu) / wall)),
            _ => None,
        },
        server_rss_mib_start: rss0.map(mib),
        server_rss_mib_peak: peak.map(mib),
        server_vmhwm_mib: hwm.map(mib),
        http_requests: reqs,
        connects,
    }
}

fn print_table(reports: &[Report]) {
    let o = |x: Option<f64>, p: usize| x.map(|v| format!("{v:.p$}")).unwrap_or_else(|| "-".into());
    eprintln!(
        "{:<11} {:>4} {:>7} {:>10} {:>6} {:>8} {:>8} {:>8} {:>8} {:>10} {:>6} {:>6} {:>7} {:>8}",
        "scenario",
        "c",
        "ops",
        "ops/s",
        "errors",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "srv ms/op",
        "srv c",
        "cli c",
        "other",
        "RSS pk"
    );
    for r in reports {
        eprintln!(
            "{:<11} {:>4} {:>7} {:>10.1} {:>6} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>10} {:>6} {:>6.2} {:>7} {:>8}",
            r.scenario,
            r.concurrency,
            r.ops,
            r.ops_per_s,
            r.errors,
            r.latency_ms.p50,
            r.latency_ms.p90,
            r.latency_ms.p99,
            r.latency_ms.max,
            o(r.server_cpu_ms_per_op, 3),
            o(r.server_cores, 2),
            r.client_cores,
            o(r.other_cores, 2),
            o(r.server_rss_mib_peak, 1),
        );
        for (s, l) in &r.steps_ms {
            eprintln!("    step {:<16} p50 {:>7.2} ms  p99 {:>7.2} ms", s, l.p50, l.p99);
        }
        for (e, n) in r.error_kinds.iter().take(5) {
            eprintln!("    error x{n}: {e}");
        }
    }
}

fn creds_str(c: &Value, k: &str) -> Option<String> {
    c[k].as_str().map(str::to_string)
}

fn main() {
    let a = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(a.threads.max(1))
        .enable_all()
        .build()
        .expect("runtime");
    let code = rt.block_on(run(a));
    std::process::exit(code);
}

async fn run(a: Args) -> i32 {
    let creds: Value = match &a.creds {
        Some(p) => match std::fs::read_to_string(p)
            .map_err(|e| e.to_string())
            .and_then(|s| serde_json::from_str(&s).map_err(|e| e.to_string()))
        {
            Ok(v) => v,
            Err(e) => {
                eprintln!("--creds {}: {e}", p.display());
                return 2;
            }
        },
        None => Value::Null,
    };
    let target = match Target::discover(&a.base).await {
        Ok(t) => Arc::new(t),
        Err(e) => {
            eprintln!("discovery failed: {e}");
            return 2;
        }
    };
    let pick = |arg: &Option<String>, key: &str, default: &str| {
        arg.clone().or_else(|| creds_str(&creds, key)).unwrap_or_else(|| default.to_string())
    };
    let account = pick(&a.account, "customer_account_code", "-");
    let login = Login {
        client_id: pick(&a.client_id, "client_id", "bench"),
        client_secret: pick(&a.client_secret, "client_secret", "bench-secret"),
        redirect_uri: pick(&a.redirect_uri, "redirect_uri", "http://127.0.0.1:9/cb"),
        username: pick(&a.username, "user_email", "alice"),
        password: pick(&a.password, "user_password", "alice-password"),
        account: (account != "-").then_some(account.clone()),
        scope: a.scope.clone(),
        extra: a.extra.clone(),
    };
    let license = match (
        creds_str(&creds, "api_key"),
        creds_str(&creds, "shared_key"),
        creds_str(&creds, "license_public_key_pem"),
    ) {
        (Some(api_key), Some(shared_key), Some(pem)) => match jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()) {
            Ok(key) => Some(LicenseApi {
                api_key,
                shared_key,
                product: pick(&a.product, "product", "demo-app"),
                account: account.clone(),
                signature_key: key,
            }),
            Err(e) => {
                eprintln!("license_public_key_pem: {e}");
                return 2;
            }
        },
        _ => None,
    };
    let sso_query = format!(
        "/api/v4/sso_url?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("product", license.as_ref().map(|l| l.product.as_str()).unwrap_or(""))
            .append_pair("customer_account_code", &account)
            .append_pair("redirect_uri", &login.redirect_uri)
            .append_pair("state", "kwbench-state")
            .append_pair("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
            .append_pair("code_challenge_method", "S256")
            .finish()
    );
    // Unique per run, from the wall clock (see bench/src/oidc.rs `signed_headers`).
    #[allow(clippy::disallowed_methods)]
    let run_id = format!(
        "{:x}",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0)
    );
    let shared = Arc::new(Shared {
        target: target.clone(),
        activate_redirect_uri: login.redirect_uri.clone(),
        login,
        license,
        codes: Mutex::new(Vec::new()),
        minted: Mutex::new(Vec::new()),
        hw_counter: AtomicU64::new(0),
        run_id,
        sso_query,
    });
    let idle = a.server_pid.and_then(procfs::memory_kib);
    if let Some((rss, hwm)) = idle {
        eprintln!(
            "# server pid {} before the run: VmRSS {:.1} MiB, VmHWM {:.1} MiB",
            a.server_pid.unwrap_or(0),
            rss as f64 / 1024.0,
            hwm as f64 / 1024.0
        );
    }
    let mut reports = Vec::new();
    for &sc in &a.scenario {
        let needs_codes = matches!(sc, Scenario::Token | Scenario::Activate);
        if needs_codes {
            let n = a.count.unwrap_or(2000);
            let plan = PlanCfg {
                concurrency: a.concurrency,
                deadline: None,
                count: Some(n),
                rate: None,
                warmup: Duration::ZERO,
            };
            let m = run_phase(shared.clone(), Phase::Mint, plan, a.server_pid, &a.label).await;
            eprintln!("# minted {} codes for {:?} in {:.1}s ({} errors)", m.ops, sc, m.wall_s, m.errors);
            for (e, n) in m.error_kinds.iter().take(3) {
                eprintln!("#   mint error x{n}: {e}");
            }
            let minted = std::mem::take(&mut *shared.minted.lock().expect("lock"));
            *shared.codes.lock().expect("lock") = minted;
        }
        let plan = PlanCfg {
            concurrency: a.concurrency,
            deadline: if needs_codes || a.count.is_some() { None } else { Some(Duration::from_secs_f64(a.duration)) },
            count: if needs_codes { None } else { a.count },
            rate: a.rate,
            warmup: if needs_codes { Duration::ZERO } else { Duration::from_secs_f64(a.warmup) },
        };
        let r = run_phase(shared.clone(), Phase::Timed(sc), plan, a.server_pid, &a.label).await;
        print_table(std::slice::from_ref(&r));
        reports.push(r);
    }
    let end_mem = a.server_pid.and_then(procfs::memory_kib);
    if let Some((rss, hwm)) = end_mem {
        eprintln!(
            "# server after the run: VmRSS {:.1} MiB, VmHWM (peak) {:.1} MiB",
            rss as f64 / 1024.0,
            hwm as f64 / 1024.0
        );
    }
    eprintln!();
    print_table(&reports);
    if a.json {
        let out = json!({
            "base": a.base, "label": a.label, "threads": a.threads,
            "server_rss_mib_before": idle.map(|m| m.0 as f64 / 1024.0),
            "server_rss_mib_after": end_mem.map(|m| m.0 as f64 / 1024.0),
            "server_vmhwm_mib": end_mem.map(|m| m.1 as f64 / 1024.0),
            "results": reports,
        });
        println!("{}", serde_json::to_string(&out).expect("json"));
    }
    let failed = reports.iter().any(|r| r.ops == 0);
    if failed {
        1
    } else {
        0
    }
}
