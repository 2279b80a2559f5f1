//! sea-orm entities, one per table of the initial migration.
pub mod activation;
pub mod api_key;
pub mod audit_event;
pub mod authorization_code;
pub mod customer_account;
pub mod license;
pub mod license_assignment;
pub mod license_user;
pub mod management_token;
pub mod one_time_token;
pub mod organization;
pub mod product;
pub mod refresh_token;
pub mod revoked_grant;
pub mod revoked_token;
pub mod session;
pub mod used_id_token;
