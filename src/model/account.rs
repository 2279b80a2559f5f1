//! Tenants and their customers: organizations (software vendors), their License API keys and management tokens,
//! and customer accounts (the vendor's customers, whose people are license users).

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub created_at: i64,
}

/// License API credentials. The shared key must stay readable to verify HMAC signatures (SPEC §3.1).
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: String,
    pub organization_id: String,
    pub api_key: String,
    pub shared_key: crate::crypto::secrets::Secret,
    pub revoked: bool,
    pub created_at: i64,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("api_key", &self.api_key)
            .field("organization_id", &self.organization_id)
            .field("revoked", &self.revoked)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagementToken {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub revoked: bool,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerAccount {
    pub id: String,
    pub organization_id: String,
    /// Unique per organization.
    pub code: String,
    pub name: String,
    /// The user SendGrid-style SSO signs in (SPEC §6.2).
    pub admin_user_id: Option<String>,
    pub created_at: i64,
    /// The account's upstream identity provider, if it has one (SPEC §4.4).
    pub federation: Option<super::federation::FederationPolicy>,
}

impl CustomerAccount {
    /// Whether keyway's own password form may sign this account's users in.
    pub fn password_login(&self) -> bool {
        self.federation.as_ref().is_none_or(|f| f.password_login)
    }
}
