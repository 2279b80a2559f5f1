//! Prometheus metrics (SPEC §7): request latency histograms per route (the route template, never the raw path),
//! responses by status class, domain counters and the process collector (CPU, resident memory, open descriptors),
//! rendered in the text exposition format by the `prometheus` crate. No secrets or per-user labels.
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus::{Encoder, HistogramOpts, HistogramVec, Registry, TextEncoder};

use crate::store::StatementCount;

pub struct Metrics {
    pub requests_2xx: AtomicU64,
    pub requests_3xx: AtomicU64,
    pub requests_4xx: AtomicU64,
    pub requests_5xx: AtomicU64,
    pub logins_ok: AtomicU64,
    pub logins_failed: AtomicU64,
    pub tokens_issued: AtomicU64,
    pub activations: AtomicU64,
    pub rate_limited: AtomicU64,
    /// `keyway_http_request_duration_seconds{method,route}` and the process collector.
    registry: Registry,
    latency: Option<HistogramVec>,
}

/// Buckets from 1 ms (a cached discovery document) to 10 s (argon2 under a login burst, a slow database).
const LATENCY_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let opts = HistogramOpts::new(
            "keyway_http_request_duration_seconds",
            "Time from request to response head, by method and route template.",
        )
        .buckets(LATENCY_BUCKETS.to_vec());
        // Both registrations only fail on a duplicate name or bad options, which are constants here; a failure
        // leaves the metric out of the exposition rather than stopping the server.
        let latency = HistogramVec::new(opts, &["method", "route"]).ok();
        if let Some(h) = &latency {
            let _ = registry.register(Box::new(h.clone()));
        }
        #[cfg(target_os = "linux")]
        let _ = registry.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()));
        Metrics {
            requests_2xx: AtomicU64::new(0),
            requests_3xx: AtomicU64::new(0),
            requests_4xx: AtomicU64::new(0),
            requests_5xx: AtomicU64::new(0),
            logins_ok: AtomicU64::new(0),
            logins_failed: AtomicU64::new(0),
            tokens_issued: AtomicU64::new(0),
            activations: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            registry,
            latency,
        }
    }

    /// One answered request. `route` is the matched route template (`/api/v4/check_license`), or "unmatched":
    /// bounded label values whatever paths clients send.
    pub fn record_response(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let c = match status {
            200..=299 => &self.requests_2xx,
            300..=399 => &self.requests_3xx,
            400..=499 => &self.requests_4xx,
            _ => &self.requests_5xx,
        };
        c.fetch_add(1, Ordering::Relaxed);
        if status == 429 {
            self.rate_limited.fetch_add(1, Ordering::Relaxed);
        }
        // Only the methods keyway routes: anything else would let clients mint label values.
        let method = match method {
            "GET" | "POST" | "HEAD" | "OPTIONS" | "PUT" | "DELETE" | "PATCH" => method,
            _ => "other",
        };
        if let Some(Ok(h)) = self.latency.as_ref().map(|l| l.get_metric_with_label_values(&[method, route])) {
            h.observe(seconds);
        }
    }

    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The text exposition; the gauges and counters kept elsewhere come in as arguments.
    pub fn render(&self, keys_published: usize, db: StatementCount, password_verifications: u64) -> String {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::with_capacity(8192);
        out.push_str(
            "# HELP keyway_http_requests_total HTTP responses by status class.\n# TYPE \
            keyway_http_requests_total counter\n",
        );
        for (class, c) in [
            ("2xx", &self.requests_2xx),
            ("3xx", &self.requests_3xx),
            ("4xx", &self.requests_4xx),
            ("5xx", &self.requests_5xx),
        ] {
            out.push_str(&format!("keyway_http_requests_total{{status=\"{class}\"}} {}\n", g(c)));
        }
        for (name, help, c) in [
            ("keyway_logins_total{outcome=\"success\"}", "Hosted sign-ins.", &self.logins_ok),
            ("keyway_logins_total{outcome=\"failure\"}", "", &self.logins_failed),
            ("keyway_tokens_issued_total", "Token endpoint successes.", &self.tokens_issued),
            ("keyway_license_activations_total", "Successful license activations.", &self.activations),
            ("keyway_rate_limited_total", "Requests answered 429 by the rate limits.", &self.rate_limited),
        ] {
            if !help.is_empty() {
                let base = name.split('{').next().unwrap_or(name);
                out.push_str(&format!("# HELP {base} {help}\n# TYPE {base} counter\n"));
            }
            out.push_str(&format!("{name} {}\n", g(c)));
        }
        out.push_str(&format!(
            "# HELP keyway_db_statements_total SQL statements run: queries and writes, and BEGIN/COMMIT/ROLLBACK \
                apart.\n# TYPE keyway_db_statements_total counter\nkeyway_db_statements_total{{kind=\"statement\"}} \
                {}\nkeyway_db_statements_total{{kind=\"transaction_control\"}} {}\n",
            db.statements, db.transaction_control
        ));
        out.push_str(&format!(
            "# HELP keyway_password_verifications_total argon2 verifications (real and dummy).\n# TYPE \
                keyway_password_verifications_total counter\nkeyway_password_verifications_total \
                {password_verifications}\n"
        ));
        out.push_str(&format!(
            "# HELP keyway_signing_keys_published Keys in the JWKS.\n# TYPE \
            keyway_signing_keys_published gauge\nkeyway_signing_keys_published {keys_published}\n"
        ));
        let mut buf = Vec::new();
        if TextEncoder::new().encode(&self.registry.gather(), &mut buf).is_ok() {
            out.push_str(&String::from_utf8_lossy(&buf));
        }
        out
    }
}
