//! One integration test binary (links once). Every test starts the real server on a random port with its own
//! database; `dual!` runs each on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod activation;
mod backend_sso;
mod cli;
mod external;
mod faults;
mod federation;
mod hardening;
mod helpers;
mod license_api_auth;
mod lockout;
mod mfa;
mod oidc;
mod ops;
mod outage;
mod process;
mod ratelimit;
mod recovery;
mod replicas;
mod round_trips;
mod sdk_matrix;
mod sso_url;
mod ui_a11y;
mod ui_recovery;
mod upgrades;
