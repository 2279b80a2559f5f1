//! Prometheus metrics (SPEC §7): request counts by status class and latency sum, plus domain counters. Atomics in
//! `AppState`, rendered in the text exposition format; no secrets or per-user labels.
use std::sync::atomic::{AtomicU64, Ordering};

use crate::store::StatementCount;

#[derive(Default)]
pub struct Metrics {
    pub requests_2xx: AtomicU64,
    pub requests_3xx: AtomicU64,
    pub requests_4xx: AtomicU64,
    pub requests_5xx: AtomicU64,
    pub request_micros: AtomicU64,
    pub logins_ok: AtomicU64,
    pub logins_failed: AtomicU64,
    pub tokens_issued: AtomicU64,
    pub activations: AtomicU64,
}

impl Metrics {
    pub fn record_response(&self, status: u16, micros: u64) {
        let c = match status {
            200..=299 => &self.requests_2xx,
            300..=399 => &self.requests_3xx,
            400..=499 => &self.requests_4xx,
            _ => &self.requests_5xx,
        };
        c.fetch_add(1, Ordering::Relaxed);
        self.request_micros.fetch_add(micros, Ordering::Relaxed);
    }

    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The text exposition; the gauges and counters kept elsewhere come in as arguments.
    pub fn render(&self, keys_published: usize, db: StatementCount, password_verifications: u64) -> String {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::with_capacity(1024);
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
        out.push_str(&format!(
            "# HELP keyway_http_request_seconds_sum Total time spent answering requests.\n# TYPE \
                keyway_http_request_seconds_sum counter\nkeyway_http_request_seconds_sum {:.6}\n",
            g(&self.request_micros) as f64 / 1e6
        ));
        for (name, help, c) in [
            ("keyway_logins_total{outcome=\"success\"}", "Hosted sign-ins.", &self.logins_ok),
            ("keyway_logins_total{outcome=\"failure\"}", "", &self.logins_failed),
            ("keyway_tokens_issued_total", "Token endpoint successes.", &self.tokens_issued),
            ("keyway_license_activations_total", "Successful license activations.", &self.activations),
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
        out
    }
}
