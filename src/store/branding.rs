//! Vendor branding (issue 17 item 1): one row per organization default (`product_id = ''`) and per product.
use std::sync::Arc;

use super::db::{params, Row};
use super::{Store, StoreError};

/// A stored branding row. `logo_data` is base64; only the logo route reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrandingRecord {
    pub organization_id: String,
    /// Empty for the organization's default.
    pub product_id: String,
    pub display_name: Option<String>,
    pub logo_type: Option<String>,
    pub logo_hash: Option<String>,
    pub primary_color: Option<String>,
    pub on_primary_color: Option<String>,
    pub support_url: Option<String>,
    pub privacy_url: Option<String>,
    pub updated_at: i64,
}

macro_rules! cols {
    () => {
        "organization_id, product_id, display_name, logo_type, logo_hash, primary_color, on_primary_color, \
         support_url, privacy_url, updated_at"
    };
}

fn record(r: &dyn Row) -> Result<BrandingRecord, StoreError> {
    Ok(BrandingRecord {
        organization_id: r.text(0)?,
        product_id: r.text(1)?,
        display_name: r.opt_text(2)?,
        logo_type: r.opt_text(3)?,
        logo_hash: r.opt_text(4)?,
        primary_color: r.opt_text(5)?,
        on_primary_color: r.opt_text(6)?,
        support_url: r.opt_text(7)?,
        privacy_url: r.opt_text(8)?,
        updated_at: r.int(9)?,
    })
}

impl Store {
    /// Replaces the branding row (with its logo, base64, when `logo_data` is given; otherwise the stored logo
    /// stays unless `b.logo_hash` is None and `clear_logo`).
    pub async fn put_branding(&self, b: &BrandingRecord, logo_data: Option<&str>) -> Result<(), StoreError> {
        let mut tx = self.db.begin().await?;
        let old: Option<(Option<String>, Option<String>, Option<String>)> = tx
            .fetch_optional(
                "SELECT logo_type, logo_hash, logo_data FROM branding WHERE organization_id = $1 AND product_id = $2",
                params![&b.organization_id, &b.product_id],
                |r| Ok((r.opt_text(0)?, r.opt_text(1)?, r.opt_text(2)?)),
            )
            .await?;
        let (logo_type, logo_hash, data) = match logo_data {
            Some(d) => (b.logo_type.clone(), b.logo_hash.clone(), Some(d.to_string())),
            None if b.logo_hash.is_none() => (None, None, None),
            None => old.unwrap_or_default(),
        };
        tx.execute(
            "DELETE FROM branding WHERE organization_id = $1 AND product_id = $2",
            params![&b.organization_id, &b.product_id],
        )
        .await?;
        tx.execute(
            "INSERT INTO branding (organization_id, product_id, display_name, logo_type, logo_hash, logo_data, \
                primary_color, on_primary_color, support_url, privacy_url, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            params![
                &b.organization_id,
                &b.product_id,
                &b.display_name,
                &logo_type,
                &logo_hash,
                &data,
                &b.primary_color,
                &b.on_primary_color,
                &b.support_url,
                &b.privacy_url,
                b.updated_at
            ],
        )
        .await?;
        tx.commit().await?;
        self.invalidate_caches().await;
        Ok(())
    }

    /// Through the branding cache (`Store::branding`: a change through this process is seen at once, another's
    /// within `cache::TTL`, as for products).
    pub async fn find_branding(
        &self,
        organization_id: &str,
        product_id: &str,
    ) -> Result<Option<BrandingRecord>, StoreError> {
        let key = format!("{organization_id}\0{product_id}");
        if let Some(cached) = self.branding.get(&key) {
            return Ok(cached.as_deref().cloned());
        }
        let found = self
            .db
            .fetch_optional(
                concat!("SELECT ", cols!(), " FROM branding WHERE organization_id = $1 AND product_id = $2"),
                params![organization_id, product_id],
                record,
            )
            .await?;
        self.branding.put(&key, found.clone().map(Arc::new));
        Ok(found)
    }

    /// Removes a branding row; false when there was none.
    pub async fn delete_branding(&self, organization_id: &str, product_id: &str) -> Result<bool, StoreError> {
        let n = self
            .db
            .execute(
                "DELETE FROM branding WHERE organization_id = $1 AND product_id = $2",
                params![organization_id, product_id],
            )
            .await?;
        self.invalidate_caches().await;
        Ok(n > 0)
    }

    /// The logo with this content hash: (media type, base64 data).
    pub async fn find_logo(&self, hash: &str) -> Result<Option<(String, String)>, StoreError> {
        self.db
            .fetch_optional(
                "SELECT logo_type, logo_data FROM branding WHERE logo_hash = $1 AND logo_data IS NOT NULL LIMIT 1",
                params![hash],
                |r| Ok((r.text(0)?, r.text(1)?)),
            )
            .await
    }
}
