//! License users: the people who sign in. `id` is the `sub` of their tokens.

#[derive(Clone, PartialEq, Eq)]
pub struct LicenseUser {
    pub id: String,
    pub customer_account_id: String,
    /// Stored lower-cased: unique per account, case-insensitively (SPEC §2).
    pub email: String,
    pub name: String,
    /// argon2id PHC string; None for users who only sign in through SSO.
    pub password_hash: Option<String>,
    pub email_verified: bool,
    pub disabled: bool,
    /// An external customer number (ABC's CIINo).
    pub external_customer_no: Option<String>,
    pub created_at: i64,
}

impl std::fmt::Debug for LicenseUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LicenseUser")
            .field("id", &self.id)
            .field("customer_account_id", &self.customer_account_id)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}
