//! keyway: an OAuth 2.0 / OpenID Connect authorization server with a hosted login UI, built for software licensing.
//!
//! Layers point one way: `http` (actix handlers, extractors, per-surface errors) → `oauth`, `license`, `sso`,
//! `auth` (the rules: no HTTP types, no application state; they take `now` and the narrow things they use) →
//! `store` (the only code touching the database) over `model` (the records). `crypto` holds keys, JWTs, request
//! signatures and password hashing; `ui` the askama views; `startup` builds the server around `state`.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod admin;
pub mod audit;
pub mod auth;
pub mod branding;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod encoding;
pub mod federation;
pub mod http;
pub mod license;
pub mod mail;
pub mod metrics;
pub mod model;
pub mod oauth;
pub mod params;
pub mod ratelimit;
pub mod sso;
pub mod startup;
pub mod state;
pub mod store;
pub mod ui;

pub use clock::Clock;
pub use config::Config;
pub use startup::{build, build_with_listener, Application};
pub use state::StartError;
