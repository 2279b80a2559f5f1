//! Domain-tier tests (issue 12, item 9): the oauth and license rules called directly, with narrow inputs, on the real
//! migrations of SQLite and PostgreSQL. No HTTP server: each test opens a `Store` (a temp SQLite file, or a fresh
//! PostgreSQL database) and builds the few records it needs. `dual_store!` runs each test on both engines.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod activation;
mod code;
mod fixture;
mod pkce;
mod recovery_links;
mod refresh;
mod seats;
mod sso_link;
mod throttle;
mod totp_sealing;
