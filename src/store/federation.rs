//! Customer-account federation (SPEC §4.4): each account's identity provider, the e-mail domains routed to it, the
//! external identities linked to license users, pending upstream logins and used SAML assertion ids.
use super::db::{params, Row};
use super::users::{user, user_cols};
use super::{new_id, Store, StoreError};
use crate::crypto::secrets::Secret;
use crate::model::federation::{OidcSettings, SamlSettings};
use crate::model::{CustomerAccount, IdentityProvider, IdpKind, IdpSettings, LicenseUser};

fn identity_provider(r: &dyn Row) -> Result<IdentityProvider, StoreError> {
    let kind = r.text(1)?;
    let raw = r.text(3)?;
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(format!("identity provider settings: {e}"));
    let settings = match IdpKind::parse(&kind) {
        Some(IdpKind::Oidc) => IdpSettings::Oidc(serde_json::from_str::<OidcSettings>(&raw).map_err(corrupt)?),
        Some(IdpKind::Saml) => IdpSettings::Saml(serde_json::from_str::<SamlSettings>(&raw).map_err(corrupt)?),
        None => return Err(StoreError::Corrupt(format!("identity provider kind {kind}"))),
    };
    Ok(IdentityProvider {
        customer_account_id: r.text(0)?,
        display_name: r.text(2)?,
        settings,
        secret: r.opt_text(4)?.map(Secret),
        sp_certificate: r.opt_text(5)?,
        password_login: r.flag(6)?,
        just_in_time: r.flag(7)?,
        created_at: r.int(8)?,
        updated_at: r.int(9)?,
    })
}

/// A pending upstream login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederationRequest {
    pub id_hash: String,
    pub customer_account_id: String,
    pub kind: IdpKind,
    pub browser_hash: String,
    pub nonce: Option<String>,
    pub code_verifier: Option<Secret>,
    pub saml_request_id: Option<String>,
    /// `authorize:<raw request>` or `portal`.
    pub return_to: String,
    pub status: String,
    /// The verified upstream identity (JSON), between the SAML ACS and the browser's return.
    pub result: Option<String>,
    pub expires_at: i64,
    pub created_at: i64,
}

macro_rules! request_cols {
    () => {
        "id_hash, customer_account_id, kind, browser_hash, nonce, code_verifier, saml_request_id, return_to, status, \
         result, expires_at, created_at"
    };
}

fn federation_request(r: &dyn Row) -> Result<FederationRequest, StoreError> {
    let kind = r.text(2)?;
    Ok(FederationRequest {
        id_hash: r.text(0)?,
        customer_account_id: r.text(1)?,
        kind: IdpKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("federation request kind {kind}")))?,
        browser_hash: r.text(3)?,
        nonce: r.opt_text(4)?,
        code_verifier: r.opt_text(5)?.map(Secret),
        saml_request_id: r.opt_text(6)?,
        return_to: r.text(7)?,
        status: r.text(8)?,
        result: r.opt_text(9)?,
        expires_at: r.int(10)?,
        created_at: r.int(11)?,
    })
}

/// The states of a pending upstream login; each step is one conditional UPDATE, so each happens once.
pub mod status {
    /// Sent to the IdP, waiting for its answer.
    pub const PENDING: &str = "pending";
    /// SAML: the ACS took the response and is verifying it.
    pub const VERIFYING: &str = "verifying";
    /// SAML: verified; the browser's return picks the result up.
    pub const VERIFIED: &str = "verified";
    pub const DONE: &str = "done";
    pub const FAILED: &str = "failed";
}

/// Who the IdP says the person is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UpstreamIdentity {
    /// OIDC issuer or SAML IdP entity id.
    pub issuer: String,
    /// `sub`, or the SAML NameID.
    pub subject: String,
    /// Only a verified address (or one the account accepts unverified) is here.
    pub email: Option<String>,
    pub name: Option<String>,
    /// The upstream's own authentication methods (`amr`), when it says.
    pub amr: Vec<String>,
    /// Google's `hd` claim: the Workspace domain of the account (absent for consumer accounts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosted_domain: Option<String>,
}

/// How the user behind an upstream identity was found.
#[derive(Debug)]
pub enum FederatedUser {
    /// Linked before (by issuer and subject).
    Linked(LicenseUser),
    /// Found by the verified e-mail; the identity is linked now.
    LinkedByEmail(LicenseUser),
    /// Created just in time, with the identity linked.
    Created(LicenseUser),
    /// No such user in the account, and just-in-time creation is off.
    NotInAccount,
}

/// The associated data of an IdP secret: sealed for one account's row only.
fn secret_context(customer_account_id: &str) -> String {
    format!("identity_providers/{customer_account_id}/secret")
}

impl Store {
    /// The stored form of an IdP secret: sealed with the KEK (issue 15). Without one (a CLI run before any server
    /// start) it is stored as given and sealed by the next `keyway serve` (`seal_plaintext_idp_secrets`).
    fn seal_idp_secret(&self, customer_account_id: &str, secret: &Secret) -> Result<String, StoreError> {
        match self.kek() {
            Some(kek) => kek
                .seal(&secret_context(customer_account_id), secret.expose().as_bytes())
                .map_err(|e| StoreError::Db(format!("sealing the IdP secret: {e}"))),
            None => Ok(secret.expose().to_string()),
        }
    }

    /// The plaintext of a stored IdP secret (plaintext rows from before sealing pass through).
    fn open_idp_secret(&self, customer_account_id: &str, stored: Secret) -> Result<Secret, StoreError> {
        if !crate::crypto::kek::is_sealed(stored.expose()) {
            return Ok(stored);
        }
        let kek = self.kek().ok_or_else(|| StoreError::Corrupt("a sealed IdP secret, and no KEK loaded".into()))?;
        let plain = kek
            .open(&secret_context(customer_account_id), stored.expose())
            .map_err(|e| StoreError::Corrupt(format!("IdP secret of {customer_account_id}: {e}")))?;
        String::from_utf8(plain).map(Secret).map_err(|_| StoreError::Corrupt("IdP secret is not UTF-8".into()))
    }

    /// Start-up: seals IdP secrets stored in plaintext (rows from before issue 15, or set by a CLI run without a KEK).
    pub async fn seal_plaintext_idp_secrets(&self) -> Result<usize, StoreError> {
        self.reseal_idp_secrets(|v| !crate::crypto::kek::is_sealed(v)).await
    }

    /// `keyway keys rewrap`: re-seals IdP secrets not sealed under the first KEK.
    pub async fn rewrap_idp_secrets(&self, kek: &crate::crypto::kek::Kek) -> Result<usize, StoreError> {
        self.reseal_idp_secrets(|v| !kek.is_current(v)).await
    }

    async fn reseal_idp_secrets(&self, needs: impl Fn(&str) -> bool) -> Result<usize, StoreError> {
        if self.kek().is_none() {
            return Ok(0);
        }
        let rows = self
            .db
            .fetch_all(
                "SELECT customer_account_id, secret FROM identity_providers WHERE secret IS NOT NULL",
                params![],
                |r| Ok((r.text(0)?, r.text(1)?)),
            )
            .await?;
        let mut n = 0;
        for (account, stored) in rows.into_iter().filter(|(_, v)| needs(v)) {
            let plain = self.open_idp_secret(&account, Secret(stored.clone()))?;
            let sealed = self.seal_idp_secret(&account, &plain)?;
            // Conditional on the value read: a concurrent change (or another replica sealing) wins.
            n += self
                .db
                .execute(
                    "UPDATE identity_providers SET secret = $1 WHERE customer_account_id = $2 AND secret = $3",
                    params![&sealed, &account, &stored],
                )
                .await?;
        }
        Ok(n as usize)
    }

    /// Sets (or replaces) the account's IdP.
    pub async fn set_identity_provider(&self, idp: &IdentityProvider) -> Result<(), StoreError> {
        let secret = idp.secret.as_ref().map(|s| self.seal_idp_secret(&idp.customer_account_id, s)).transpose()?;
        let settings = match &idp.settings {
            IdpSettings::Oidc(o) => serde_json::to_string(o),
            IdpSettings::Saml(s) => serde_json::to_string(s),
        }
        .map_err(|e| StoreError::Db(format!("identity provider settings: {e}")))?;
        self.db
            .execute(
                "INSERT INTO identity_providers (customer_account_id, kind, display_name, settings, secret, \
                    sp_certificate, \
                 password_login, just_in_time, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
                     $10) \
                 ON CONFLICT (customer_account_id) DO UPDATE SET kind = excluded.kind, \
                 display_name = excluded.display_name, settings = excluded.settings, secret = excluded.secret, \
                 sp_certificate = excluded.sp_certificate, password_login = excluded.password_login, \
                 just_in_time = excluded.just_in_time, updated_at = excluded.updated_at",
                params![
                    &idp.customer_account_id,
                    idp.kind().as_str(),
                    &idp.display_name,
                    &settings,
                    &secret,
                    &idp.sp_certificate,
                    idp.password_login,
                    idp.just_in_time,
                    idp.created_at,
                    idp.updated_at
                ],
            )
            .await?;
        self.invalidate_caches().await;
        Ok(())
    }

    pub async fn find_identity_provider(
        &self,
        customer_account_id: &str,
    ) -> Result<Option<IdentityProvider>, StoreError> {
        let found = self
            .db
            .fetch_optional(
                "SELECT customer_account_id, kind, display_name, settings, secret, sp_certificate, password_login, \
                 just_in_time, created_at, updated_at FROM identity_providers WHERE customer_account_id = $1",
                params![customer_account_id],
                identity_provider,
            )
            .await?;
        let Some(mut idp) = found else { return Ok(None) };
        if let Some(stored) = idp.secret.take() {
            idp.secret = Some(self.open_idp_secret(&idp.customer_account_id, stored)?);
        }
        Ok(Some(idp))
    }

    /// Removes the account's IdP; false when it had none.
    pub async fn remove_identity_provider(&self, customer_account_id: &str) -> Result<bool, StoreError> {
        let n = self
            .db
            .execute("DELETE FROM identity_providers WHERE customer_account_id = $1", params![customer_account_id])
            .await?;
        self.invalidate_caches().await;
        Ok(n == 1)
    }

    pub async fn add_account_domain(&self, customer_account_id: &str, domain: &str) -> Result<(), StoreError> {
        self.db
            .execute(
                "INSERT INTO account_domains (domain, customer_account_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                params![domain, customer_account_id],
            )
            .await
            .map(|_| ())
    }

    pub async fn remove_account_domain(&self, customer_account_id: &str, domain: &str) -> Result<bool, StoreError> {
        let n = self
            .db
            .execute(
                "DELETE FROM account_domains WHERE domain = $1 AND customer_account_id = $2",
                params![domain, customer_account_id],
            )
            .await?;
        Ok(n == 1)
    }

    pub async fn account_domains(&self, customer_account_id: &str) -> Result<Vec<String>, StoreError> {
        self.db
            .fetch_all(
                "SELECT domain FROM account_domains WHERE customer_account_id = $1 ORDER BY domain",
                params![customer_account_id],
                |r| r.text(0),
            )
            .await
    }

    /// The ids of the accounts with an IdP that claim this e-mail domain (in one organization, or in all).
    pub async fn accounts_with_domain(
        &self,
        domain: &str,
        organization_id: Option<&str>,
    ) -> Result<Vec<String>, StoreError> {
        self.db
            .fetch_all(
                "SELECT d.customer_account_id FROM account_domains d \
                 JOIN identity_providers p ON p.customer_account_id = d.customer_account_id \
                 JOIN customer_accounts a ON a.id = d.customer_account_id \
                 WHERE d.domain = $1 AND ($2 IS NULL OR a.organization_id = $2) ORDER BY d.customer_account_id",
                params![domain, organization_id],
                |r| r.text(0),
            )
            .await
    }

    pub async fn insert_federation_request(&self, f: &FederationRequest) -> Result<(), StoreError> {
        self.db
            .execute(
                concat!(
                    "INSERT INTO federation_requests (",
                    request_cols!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
                ),
                params![
                    &f.id_hash,
                    &f.customer_account_id,
                    f.kind.as_str(),
                    &f.browser_hash,
                    &f.nonce,
                    f.code_verifier.as_ref().map(Secret::expose),
                    &f.saml_request_id,
                    &f.return_to,
                    &f.status,
                    &f.result,
                    f.expires_at,
                    f.created_at
                ],
            )
            .await
            .map(|_| ())
    }

    /// Moves a pending login from one state to the next if it is in `from`, unexpired, and (when given) started by
    /// this browser; exactly one caller gets it.
    pub async fn advance_federation_request(
        &self,
        id_hash: &str,
        from: &str,
        to: &str,
        browser_hash: Option<&str>,
        now: i64,
    ) -> Result<Option<FederationRequest>, StoreError> {
        self.db
            .fetch_optional(
                concat!(
                    "UPDATE federation_requests SET status = $1 WHERE id_hash = $2 AND status = $3 AND expires_at > $4 \
                     AND ($5 IS NULL OR browser_hash = $5) RETURNING ",
                    request_cols!()
                ),
                params![to, id_hash, from, now, browser_hash],
                federation_request,
            )
            .await
    }

    /// Records the verified identity of a SAML response (`verifying` → `verified`).
    pub async fn federation_request_verified(&self, id_hash: &str, result: &str) -> Result<bool, StoreError> {
        let n = self
            .db
            .execute(
                "UPDATE federation_requests SET status = $1, result = $2 WHERE id_hash = $3 AND status = $4",
                params![status::VERIFIED, result, id_hash, status::VERIFYING],
            )
            .await?;
        Ok(n == 1)
    }

    pub async fn federation_request_failed(&self, id_hash: &str) -> Result<(), StoreError> {
        self.db
            .execute("UPDATE federation_requests SET status = $1 WHERE id_hash = $2", params![status::FAILED, id_hash])
            .await
            .map(|_| ())
    }

    /// Records the one use of a SAML assertion (keyed by the hash of IdP and assertion id) until it expires. False
    /// when it was used before: a replay.
    pub async fn claim_assertion(&self, key: &str, expires_at: i64) -> Result<bool, StoreError> {
        let n = self
            .db
            .execute(
                "INSERT INTO used_assertions (key, expires_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                params![key, expires_at],
            )
            .await?;
        Ok(n == 1)
    }

    /// The account's user behind an upstream identity, in one transaction: by the linked identity; else by the
    /// (verified) e-mail, linking it; else, with `just_in_time`, a new user with the identity linked. Never a user
    /// of another account, never a half-created one.
    pub async fn federated_user(
        &self,
        account: &CustomerAccount,
        who: &UpstreamIdentity,
        just_in_time: bool,
        now: i64,
    ) -> Result<FederatedUser, StoreError> {
        let mut tx = self.db.begin().await?;
        let linked = tx
            .fetch_optional(
                concat!(
                    "SELECT ",
                    user_cols!(),
                    " FROM external_identities x JOIN license_users u ON u.id = x.license_user_id \
                     WHERE x.customer_account_id = $1 AND x.issuer = $2 AND x.subject = $3 AND u.customer_account_id \
                         = $1"
                ),
                params![&account.id, &who.issuer, &who.subject],
                user,
            )
            .await?;
        if let Some(u) = linked {
            tx.execute(
                "UPDATE external_identities SET last_login_at = $1 WHERE customer_account_id = $2 AND issuer = $3 \
                 AND subject = $4",
                params![now, &account.id, &who.issuer, &who.subject],
            )
            .await?;
            tx.commit().await?;
            return Ok(FederatedUser::Linked(u));
        }
        let Some(email) = who.email.as_deref().map(str::to_lowercase) else { return Ok(FederatedUser::NotInAccount) };
        let by_email = tx
            .fetch_optional(
                concat!(
                    "SELECT ",
                    user_cols!(),
                    " FROM license_users u WHERE u.customer_account_id = $1 AND u.email = $2"
                ),
                params![&account.id, &email],
                user,
            )
            .await?;
        let (u, outcome): (LicenseUser, fn(LicenseUser) -> FederatedUser) = match by_email {
            Some(u) => (u, FederatedUser::LinkedByEmail),
            None if just_in_time => {
                let id = new_id();
                let name = who.name.clone().unwrap_or_default();
                tx.execute(
                    "INSERT INTO license_users (id, customer_account_id, email, name, password_hash, email_verified, \
                     disabled, external_customer_no, created_at) VALUES ($1, $2, $3, $4, NULL, true, false, NULL, $5)",
                    params![&id, &account.id, &email, &name, now],
                )
                .await
                .map_err(|e| e.conflict_as("license user"))?;
                let u = LicenseUser {
                    id,
                    customer_account_id: account.id.clone(),
                    email,
                    name,
                    password_hash: None,
                    email_verified: true,
                    disabled: false,
                    external_customer_no: None,
                    created_at: now,
                };
                (u, FederatedUser::Created)
            }
            None => return Ok(FederatedUser::NotInAccount),
        };
        tx.execute(
            "INSERT INTO external_identities (customer_account_id, issuer, subject, license_user_id, created_at, \
             last_login_at) VALUES ($1, $2, $3, $4, $5, $5)",
            params![&account.id, &who.issuer, &who.subject, &u.id, now],
        )
        .await
        .map_err(|e| e.conflict_as("external identity"))?;
        tx.commit().await?;
        Ok(outcome(u))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::kek::{is_sealed, Kek};
    use crate::model::federation::OidcSettings;
    use std::sync::Arc;

    fn idp(secret: &str) -> IdentityProvider {
        IdentityProvider {
            customer_account_id: "acct-1".into(),
            display_name: "Acme".into(),
            settings: IdpSettings::Oidc(OidcSettings {
                issuer: "https://idp.example".into(),
                client_id: "c".into(),
                scopes: vec!["openid".into()],
                email_claim: "email".into(),
                allow_unverified_email: false,
            }),
            secret: Some(Secret::new(secret)),
            sp_certificate: None,
            password_login: false,
            just_in_time: false,
            created_at: 1,
            updated_at: 1,
        }
    }

    async fn stored_secret(store: &Store) -> String {
        store
            .db
            .fetch_optional("SELECT secret FROM identity_providers WHERE customer_account_id = 'acct-1'", &[], |r| {
                r.text(0)
            })
            .await
            .expect("query")
            .expect("row")
    }

    #[tokio::test]
    async fn idp_secrets_are_sealed_and_plaintext_rows_sealed_at_start() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(&format!("sqlite://{}/k.db", dir.path().display()), 2).await.expect("store");
        // A row from before sealing (or set by a CLI run without a KEK) is plaintext …
        store.set_identity_provider(&idp("upstream-secret")).await.expect("set");
        assert_eq!(stored_secret(&store).await, "upstream-secret");
        let old = Kek::generate();
        store.set_kek(Arc::new(Kek::parse(&old).expect("kek")));
        // … and start-up seals it; reading gives the plaintext back.
        assert_eq!(store.seal_plaintext_idp_secrets().await.expect("seal"), 1);
        let sealed = stored_secret(&store).await;
        assert!(is_sealed(&sealed) && !sealed.contains("upstream-secret"), "{sealed}");
        let found = store.find_identity_provider("acct-1").await.expect("find").expect("idp");
        assert_eq!(found.secret.as_ref().map(Secret::expose), Some("upstream-secret"));
        assert_eq!(store.seal_plaintext_idp_secrets().await.expect("seal"), 0, "sealed once");
        // New secrets are sealed when written.
        store.set_identity_provider(&idp("second-secret")).await.expect("set");
        assert!(is_sealed(&stored_secret(&store).await));
        // KEK rotation: rewrap under a new first KEK, after which the old one can go.
        let new = Kek::generate();
        let both = Kek::parse(&format!("{new},{old}")).expect("both");
        store.set_kek(Arc::new(Kek::parse(&format!("{new},{old}")).expect("both")));
        assert_eq!(store.rewrap_idp_secrets(&both).await.expect("rewrap"), 1);
        assert!(both.is_current(&stored_secret(&store).await));
        store.set_kek(Arc::new(Kek::parse(&new).expect("new")));
        let found = store.find_identity_provider("acct-1").await.expect("find").expect("idp");
        assert_eq!(found.secret.as_ref().map(Secret::expose), Some("second-secret"));
        // A KEK that did not seal it opens nothing (a store error, never a plaintext guess).
        store.set_kek(Arc::new(Kek::parse(&old).expect("old")));
        assert!(store.find_identity_provider("acct-1").await.is_err());
    }
}
