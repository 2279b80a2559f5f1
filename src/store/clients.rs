//! Products, which are the OAuth clients (SPEC §2). Read on every authorize, login, token and License API request,
//! so lookups go through a short read-through cache of parsed [`OAuthClient`]s.
use std::sync::Arc;

use super::db::{params, Row};
use super::{new_id, Store, StoreError};
use crate::model::client::DefaultResponseType;
use crate::model::{ClientId, Grant, GrantSet, OAuthClient, RedirectUri};

pub struct NewProduct {
    pub organization_id: String,
    pub short_code: String,
    pub name: String,
    pub client_id: ClientId,
    pub client_secret_hash: Option<String>,
    pub redirect_uris: Vec<RedirectUri>,
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    pub default_response_type: DefaultResponseType,
    pub grants: GrantSet,
    pub linked_products: Vec<String>,
    pub access_token_ttl: i64,
    pub id_token_ttl: i64,
    pub refresh_token_ttl: i64,
}

macro_rules! client_cols {
    () => {
        "id, organization_id, short_code, name, client_id, client_secret_hash, redirect_uris, \
            post_logout_redirect_uris, \
         default_response_type, allowed_grants, linked_products, access_token_ttl, id_token_ttl, refresh_token_ttl, \
             created_at, disabled"
    };
}

fn list(r: &dyn Row, i: usize) -> Result<Vec<String>, StoreError> {
    let raw = r.text(i)?;
    serde_json::from_str(&raw).map_err(|e| StoreError::Corrupt(format!("product list column {i}: {e}")))
}

fn client(r: &dyn Row) -> Result<OAuthClient, StoreError> {
    let rt = r.text(8)?;
    let grants = list(r, 9)?
        .iter()
        .map(|g| Grant::parse(g).ok_or_else(|| StoreError::Corrupt(format!("unknown grant {g}"))))
        .collect::<Result<GrantSet, _>>()?;
    Ok(OAuthClient {
        id: r.text(0)?,
        organization_id: r.text(1)?,
        short_code: r.text(2)?,
        name: r.text(3)?,
        client_id: ClientId::new(r.text(4)?),
        secret_hash: r.opt_text(5)?,
        redirect_uris: list(r, 6)?.into_iter().map(RedirectUri::new).collect(),
        post_logout_redirect_uris: list(r, 7)?.into_iter().map(RedirectUri::new).collect(),
        default_response_type: DefaultResponseType::parse(&rt)
            .ok_or_else(|| StoreError::Corrupt(format!("response type {rt}")))?,
        grants,
        linked_products: list(r, 10)?,
        access_token_ttl: r.int(11)?,
        id_token_ttl: r.int(12)?,
        refresh_token_ttl: r.int(13)?,
        created_at: r.int(14)?,
        disabled: r.flag(15)?,
    })
}

fn json_list<T: AsRef<str>>(v: &[T]) -> String {
    serde_json::Value::Array(v.iter().map(|s| serde_json::Value::String(s.as_ref().to_string())).collect()).to_string()
}

impl Store {
    pub async fn create_product(&self, p: NewProduct, now: i64) -> Result<OAuthClient, StoreError> {
        let id = new_id();
        let grants: Vec<&str> = p.grants.names();
        self.db
            .execute(
                "INSERT INTO products (id, organization_id, short_code, name, client_id, client_secret_hash, \
                    redirect_uris, \
                 post_logout_redirect_uris, default_response_type, allowed_grants, linked_products, access_token_ttl, \
                     id_token_ttl, \
                 refresh_token_ttl, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
                     $15)",
                params![
                    &id,
                    &p.organization_id,
                    &p.short_code,
                    &p.name,
                    p.client_id.as_str(),
                    &p.client_secret_hash,
                    &json_list(&p.redirect_uris),
                    &json_list(&p.post_logout_redirect_uris),
                    p.default_response_type.as_str(),
                    &json_list(&grants),
                    &json_list(&p.linked_products),
                    p.access_token_ttl,
                    p.id_token_ttl,
                    p.refresh_token_ttl,
                    now,
                ],
            )
            .await
            .map_err(|e| e.conflict_as("product (short code or client id)"))?;
        Ok(OAuthClient {
            id,
            organization_id: p.organization_id,
            short_code: p.short_code,
            name: p.name,
            client_id: p.client_id,
            secret_hash: p.client_secret_hash,
            redirect_uris: p.redirect_uris,
            post_logout_redirect_uris: p.post_logout_redirect_uris,
            default_response_type: p.default_response_type,
            grants: p.grants,
            linked_products: p.linked_products,
            access_token_ttl: p.access_token_ttl,
            id_token_ttl: p.id_token_ttl,
            refresh_token_ttl: p.refresh_token_ttl,
            disabled: false,
            created_at: now,
        })
    }

    /// By OAuth client_id; cached for `cache::TTL` (hits only).
    pub async fn find_client(&self, client_id: &str) -> Result<Option<Arc<OAuthClient>>, StoreError> {
        let load = async {
            let found = self
                .db
                .fetch_optional(
                    concat!("SELECT ", client_cols!(), " FROM products WHERE client_id = $1"),
                    params![client_id],
                    client,
                )
                .await?;
            Ok(found.map(Arc::new))
        };
        self.clients.get_or_load(&format!("c\0{client_id}"), load).await
    }

    /// By the organization's product short code (the License API's `product`); cached like [`Store::find_client`].
    pub async fn find_product_by_code(
        &self,
        organization_id: &str,
        short_code: &str,
    ) -> Result<Option<Arc<OAuthClient>>, StoreError> {
        let load = async {
            let sql =
                concat!("SELECT ", client_cols!(), " FROM products WHERE organization_id = $1 AND short_code = $2");
            Ok(self.db.fetch_optional(sql, params![organization_id, short_code], client).await?.map(Arc::new))
        };
        self.clients.get_or_load(&format!("s\0{organization_id}\0{short_code}"), load).await
    }

    /// By the product's own id; cached like [`Store::find_client`].
    pub async fn find_product(&self, id: &str) -> Result<Option<Arc<OAuthClient>>, StoreError> {
        let load = async {
            Ok(self
                .db
                .fetch_optional(concat!("SELECT ", client_cols!(), " FROM products WHERE id = $1"), params![id], client)
                .await?
                .map(Arc::new))
        };
        self.clients.get_or_load(&format!("i\0{id}"), load).await
    }

    pub async fn set_product_disabled(&self, id: &str, disabled: bool) -> Result<(), StoreError> {
        let n = self.db.execute("UPDATE products SET disabled = $1 WHERE id = $2", params![disabled, id]).await?;
        self.invalidate_caches().await;
        if n == 0 {
            return Err(StoreError::NotFound("product"));
        }
        Ok(())
    }

    pub async fn list_products(&self, organization_id: &str) -> Result<Vec<OAuthClient>, StoreError> {
        self.db
            .fetch_all(
                concat!("SELECT ", client_cols!(), " FROM products WHERE organization_id = $1 ORDER BY created_at, id"),
                params![organization_id],
                client,
            )
            .await
    }
}
