//! keyway: an OAuth 2.0 / OpenID Connect authorization server with a hosted login UI, built for software licensing.
//!
//! Layers point one way: `http` (actix handlers, extractors, per-surface errors) → `oauth`, `license` (protocol
//! and domain logic, no HTTP types) → `store` (the only code touching the database). `crypto` holds keys, JWTs,
//! request signatures and password hashing; `ui` the askama views.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod http;
pub mod license;
pub mod metrics;
pub mod oauth;
pub mod params;
pub mod sso;
pub mod state;
pub mod store;
pub mod ui;

pub use clock::Clock;
pub use config::Config;
pub use state::{build, build_with_listener, Application, StartError};
