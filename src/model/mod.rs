//! Domain records and the newtypes that keep identifiers apart. The store builds them from rows once (lists parsed,
//! types checked), the rules in `oauth`, `license` and `sso` work on them, and nothing here touches the database or
//! HTTP.
pub mod account;
pub mod client;
pub mod federation;
pub mod ids;
pub mod license;
pub mod user;

pub use account::{ApiKey, CustomerAccount, ManagementToken, Organization};
pub use client::{Grant, GrantSet, OAuthClient};
pub use federation::{FederationPolicy, IdentityProvider, IdpKind, IdpSettings};
pub use ids::{ClientId, HardwareId, RedirectUri};
pub use license::{Activation, License, LicenseType};
pub use user::LicenseUser;
