//! Organizations (the tenants), their License API keys and their management tokens.
use std::sync::Arc;

use super::db::{params, Row};
use super::{new_id, Store, StoreError};
use crate::crypto::secrets::Secret;
use crate::model::{ApiKey, ManagementToken, Organization};

fn organization(r: &dyn Row) -> Result<Organization, StoreError> {
    Ok(Organization { id: r.text(0)?, name: r.text(1)?, created_at: r.int(2)? })
}

fn api_key(r: &dyn Row) -> Result<ApiKey, StoreError> {
    Ok(ApiKey {
        id: r.text(0)?,
        organization_id: r.text(1)?,
        api_key: r.text(2)?,
        shared_key: Secret(r.text(3)?),
        revoked: r.flag(4)?,
        created_at: r.int(5)?,
    })
}

fn management_token(r: &dyn Row) -> Result<ManagementToken, StoreError> {
    Ok(ManagementToken {
        id: r.text(0)?,
        organization_id: r.text(1)?,
        name: r.text(2)?,
        revoked: r.flag(3)?,
        created_at: r.int(4)?,
    })
}

impl Store {
    pub async fn create_organization(&self, name: &str, now: i64) -> Result<Organization, StoreError> {
        let id = new_id();
        self.db
            .execute("INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)", params![&id, name, now])
            .await
            .map_err(|e| e.conflict_as("organization"))?;
        Ok(Organization { id, name: name.to_string(), created_at: now })
    }

    /// By id or by name.
    pub async fn find_organization(&self, id_or_name: &str) -> Result<Option<Organization>, StoreError> {
        self.db
            .fetch_optional(
                "SELECT id, name, created_at FROM organizations WHERE id = $1 OR name = $1 ORDER BY created_at LIMIT 1",
                params![id_or_name],
                organization,
            )
            .await
    }

    pub async fn list_organizations(&self) -> Result<Vec<Organization>, StoreError> {
        self.db
            .fetch_all("SELECT id, name, created_at FROM organizations ORDER BY created_at, id", &[], organization)
            .await
    }

    pub async fn create_api_key(
        &self,
        organization_id: &str,
        api_key: &str,
        shared_key: &str,
        now: i64,
    ) -> Result<ApiKey, StoreError> {
        let id = new_id();
        self.db
            .execute(
                "INSERT INTO api_keys (id, organization_id, api_key, shared_key, revoked, created_at) VALUES ($1, $2, \
                    $3, $4, false, $5)",
                params![&id, organization_id, api_key, shared_key, now],
            )
            .await
            .map_err(|e| e.conflict_as("api key"))?;
        Ok(ApiKey {
            id,
            organization_id: organization_id.to_string(),
            api_key: api_key.to_string(),
            shared_key: Secret(shared_key.to_string()),
            revoked: false,
            created_at: now,
        })
    }

    /// By key; cached for `cache::TTL` (hits only, like products).
    pub async fn find_api_key(&self, api_key: &str) -> Result<Option<ApiKey>, StoreError> {
        let load = async {
            let found = self
                .db
                .fetch_optional(
                    "SELECT id, organization_id, api_key, shared_key, revoked, created_at FROM api_keys WHERE \
                        api_key = $1",
                    params![api_key],
                    self::api_key,
                )
                .await?;
            Ok::<_, StoreError>(found.map(Arc::new))
        };
        Ok(self.api_keys.get_or_load(api_key, load).await?.map(|k| (*k).clone()))
    }

    pub async fn list_api_keys(&self, organization_id: &str) -> Result<Vec<ApiKey>, StoreError> {
        self.db
            .fetch_all(
                "SELECT id, organization_id, api_key, shared_key, revoked, created_at FROM api_keys WHERE \
                    organization_id = $1 ORDER BY created_at, id",
                params![organization_id],
                api_key,
            )
            .await
    }

    pub async fn revoke_api_key(&self, api_key: &str) -> Result<(), StoreError> {
        let n = self.db.execute("UPDATE api_keys SET revoked = true WHERE api_key = $1", params![api_key]).await?;
        self.invalidate_caches().await;
        if n == 0 {
            return Err(StoreError::NotFound("api key"));
        }
        Ok(())
    }

    pub async fn create_management_token(
        &self,
        organization_id: &str,
        name: &str,
        token_hash: &str,
        now: i64,
    ) -> Result<ManagementToken, StoreError> {
        let id = new_id();
        self.db
            .execute(
                "INSERT INTO management_tokens (id, organization_id, token_hash, name, revoked, created_at) VALUES \
                    ($1, $2, $3, $4, false, $5)",
                params![&id, organization_id, token_hash, name, now],
            )
            .await
            .map_err(|e| e.conflict_as("management token"))?;
        Ok(ManagementToken {
            id,
            organization_id: organization_id.to_string(),
            name: name.to_string(),
            revoked: false,
            created_at: now,
        })
    }

    /// A live (not revoked) management token by the hash of its value.
    pub async fn find_management_token(&self, token_hash: &str) -> Result<Option<ManagementToken>, StoreError> {
        self.db
            .fetch_optional(
                "SELECT id, organization_id, name, revoked, created_at FROM management_tokens WHERE token_hash = $1 \
                    AND revoked = false",
                params![token_hash],
                management_token,
            )
            .await
    }

    pub async fn revoke_management_token(&self, id: &str) -> Result<(), StoreError> {
        let n = self.db.execute("UPDATE management_tokens SET revoked = true WHERE id = $1", params![id]).await?;
        if n == 0 {
            return Err(StoreError::NotFound("management token"));
        }
        Ok(())
    }
}
