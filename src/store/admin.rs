//! Operator-side records: organizations, API keys, products (OAuth clients), customer accounts, license users,
//! licenses and their assignments, management tokens.
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
};

use super::entity::{
    api_key, customer_account, license, license_assignment, license_user, management_token, organization, product,
};
use super::{Store, StoreError};

pub struct NewProduct {
    pub organization_id: String,
    pub short_code: String,
    pub name: String,
    pub client_id: String,
    pub client_secret_hash: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub default_response_type: String,
    pub allowed_grants: Vec<String>,
    pub linked_products: Vec<String>,
    pub access_token_ttl: i64,
    pub id_token_ttl: i64,
    pub refresh_token_ttl: i64,
}

pub struct NewUser {
    pub customer_account_id: String,
    pub email: String,
    pub name: String,
    pub password_hash: Option<String>,
    pub email_verified: bool,
    pub external_customer_no: Option<String>,
}

pub struct NewLicense {
    pub product_id: String,
    pub customer_account_id: String,
    pub license_key: Option<String>,
    pub license_type: String,
    pub max_activations: i32,
    pub is_trial: bool,
    pub user_restricted: bool,
    pub starts_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub assigned_users: Vec<String>,
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

impl Store {
    pub async fn create_organization(&self, name: &str, now: i64) -> Result<organization::Model, StoreError> {
        organization::ActiveModel { id: Set(new_id()), name: Set(name.to_string()), created_at: Set(now) }
            .insert(&self.db)
            .await
            .map_err(|e| StoreError::unique(e, "organization"))
    }

    pub async fn find_organization(&self, id_or_name: &str) -> Result<Option<organization::Model>, StoreError> {
        Ok(organization::Entity::find()
            .filter(organization::Column::Id.eq(id_or_name).or(organization::Column::Name.eq(id_or_name)))
            .one(&self.db)
            .await?)
    }

    pub async fn list_organizations(&self) -> Result<Vec<organization::Model>, StoreError> {
        Ok(organization::Entity::find().order_by_asc(organization::Column::CreatedAt).all(&self.db).await?)
    }

    pub async fn create_api_key(&self, organization_id: &str, api_key: &str, shared_key: &str, now: i64) -> Result<api_key::Model, StoreError> {
        api_key::ActiveModel {
            id: Set(new_id()),
            organization_id: Set(organization_id.to_string()),
            api_key: Set(api_key.to_string()),
            shared_key: Set(shared_key.to_string()),
            revoked: Set(false),
            created_at: Set(now),
        }
        .insert(&self.db)
        .await
        .map_err(|e| StoreError::unique(e, "api key"))
    }

    pub async fn find_api_key(&self, api_key: &str) -> Result<Option<api_key::Model>, StoreError> {
        Ok(api_key::Entity::find().filter(api_key::Column::ApiKey.eq(api_key)).one(&self.db).await?)
    }

    pub async fn list_api_keys(&self, organization_id: &str) -> Result<Vec<api_key::Model>, StoreError> {
        Ok(api_key::Entity::find()
            .filter(api_key::Column::OrganizationId.eq(organization_id))
            .order_by_asc(api_key::Column::CreatedAt)
            .all(&self.db)
            .await?)
    }

    pub async fn revoke_api_key(&self, api_key: &str) -> Result<(), StoreError> {
        let res = api_key::Entity::update_many()
            .col_expr(api_key::Column::Revoked, sea_orm::sea_query::Expr::value(true))
            .filter(api_key::Column::ApiKey.eq(api_key))
            .exec(&self.db)
            .await?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound("api key"));
        }
        Ok(())
    }

    pub async fn create_product(&self, p: NewProduct, now: i64) -> Result<product::Model, StoreError> {
        product::ActiveModel {
            id: Set(new_id()),
            organization_id: Set(p.organization_id),
            short_code: Set(p.short_code),
            name: Set(p.name),
            client_id: Set(p.client_id),
            client_secret_hash: Set(p.client_secret_hash),
            redirect_uris: Set(json_list(&p.redirect_uris)),
            post_logout_redirect_uris: Set(json_list(&p.post_logout_redirect_uris)),
            default_response_type: Set(p.default_response_type),
            allowed_grants: Set(json_list(&p.allowed_grants)),
            linked_products: Set(json_list(&p.linked_products)),
            access_token_ttl: Set(p.access_token_ttl),
            id_token_ttl: Set(p.id_token_ttl),
            refresh_token_ttl: Set(p.refresh_token_ttl),
            created_at: Set(now),
        }
        .insert(&self.db)
        .await
        .map_err(|e| StoreError::unique(e, "product (short code or client id)"))
    }

    pub async fn find_product_by_code(&self, organization_id: &str, short_code: &str) -> Result<Option<product::Model>, StoreError> {
        Ok(product::Entity::find()
            .filter(product::Column::OrganizationId.eq(organization_id))
            .filter(product::Column::ShortCode.eq(short_code))
            .one(&self.db)
            .await?)
    }

    /// Cached for `cache::TTL` (hits only).
    pub async fn find_product_by_client_id(&self, client_id: &str) -> Result<Option<product::Model>, StoreError> {
        let load = product::Entity::find().filter(product::Column::ClientId.eq(client_id)).one(&self.db);
        Ok(self.clients.get_or_load(client_id, load).await?)
    }

    pub async fn find_product(&self, id: &str) -> Result<Option<product::Model>, StoreError> {
        Ok(product::Entity::find_by_id(id.to_string()).one(&self.db).await?)
    }

    pub async fn list_products(&self, organization_id: &str) -> Result<Vec<product::Model>, StoreError> {
        Ok(product::Entity::find()
            .filter(product::Column::OrganizationId.eq(organization_id))
            .order_by_asc(product::Column::CreatedAt)
            .all(&self.db)
            .await?)
    }

    pub async fn create_customer_account(&self, organization_id: &str, code: &str, name: &str, now: i64) -> Result<customer_account::Model, StoreError> {
        customer_account::ActiveModel {
            id: Set(new_id()),
            organization_id: Set(organization_id.to_string()),
            code: Set(code.to_string()),
            name: Set(name.to_string()),
            admin_user_id: Set(None),
            created_at: Set(now),
        }
        .insert(&self.db)
        .await
        .map_err(|e| StoreError::unique(e, "customer account"))
    }

    /// Through the 5 s account cache, like [`Store::find_customer_account`].
    pub async fn find_customer_account_by_code(&self, organization_id: &str, code: &str) -> Result<Option<customer_account::Model>, StoreError> {
        let load = customer_account::Entity::find()
            .filter(customer_account::Column::OrganizationId.eq(organization_id))
            .filter(customer_account::Column::Code.eq(code))
            .one(&self.db);
        // Ids are UUIDs; the NUL keeps (organization, code) keys apart from them and from each other.
        Ok(self.accounts.get_or_load(&format!("{organization_id}\0{code}"), load).await?)
    }

    /// Accounts with this code in any organization (codes are unique per organization only).
    pub async fn find_customer_accounts_by_code(&self, code: &str) -> Result<Vec<customer_account::Model>, StoreError> {
        Ok(customer_account::Entity::find().filter(customer_account::Column::Code.eq(code)).all(&self.db).await?)
    }

    /// Through the 5 s account cache (accounts change only through the CLI; an admin change here clears it).
    pub async fn find_customer_account(&self, id: &str) -> Result<Option<customer_account::Model>, StoreError> {
        let load = customer_account::Entity::find_by_id(id.to_string()).one(&self.db);
        Ok(self.accounts.get_or_load(id, load).await?)
    }

    pub async fn list_customer_accounts(&self, organization_id: &str) -> Result<Vec<customer_account::Model>, StoreError> {
        Ok(customer_account::Entity::find()
            .filter(customer_account::Column::OrganizationId.eq(organization_id))
            .order_by_asc(customer_account::Column::CreatedAt)
            .all(&self.db)
            .await?)
    }

    pub async fn set_customer_account_admin(&self, account_id: &str, user_id: &str) -> Result<(), StoreError> {
        customer_account::Entity::update_many()
            .col_expr(customer_account::Column::AdminUserId, sea_orm::sea_query::Expr::value(user_id))
            .filter(customer_account::Column::Id.eq(account_id))
            .exec(&self.db)
            .await?;
        self.accounts.clear();
        Ok(())
    }

    pub async fn create_user(&self, u: NewUser, now: i64) -> Result<license_user::Model, StoreError> {
        license_user::ActiveModel {
            id: Set(new_id()),
            customer_account_id: Set(u.customer_account_id),
            email: Set(u.email.to_lowercase()),
            name: Set(u.name),
            password_hash: Set(u.password_hash),
            email_verified: Set(u.email_verified),
            disabled: Set(false),
            external_customer_no: Set(u.external_customer_no),
            failed_logins: Set(0),
            locked_until: Set(None),
            created_at: Set(now),
        }
        .insert(&self.db)
        .await
        .map_err(|e| StoreError::unique(e, "license user"))
    }

    pub async fn find_user_by_email(&self, customer_account_id: &str, email: &str) -> Result<Option<license_user::Model>, StoreError> {
        Ok(license_user::Entity::find()
            .filter(license_user::Column::CustomerAccountId.eq(customer_account_id))
            .filter(license_user::Column::Email.eq(email.to_lowercase()))
            .one(&self.db)
            .await?)
    }

    pub async fn find_user(&self, id: &str) -> Result<Option<license_user::Model>, StoreError> {
        Ok(license_user::Entity::find_by_id(id.to_string()).one(&self.db).await?)
    }

    pub async fn list_users(&self, customer_account_id: &str) -> Result<Vec<license_user::Model>, StoreError> {
        Ok(license_user::Entity::find()
            .filter(license_user::Column::CustomerAccountId.eq(customer_account_id))
            .order_by_asc(license_user::Column::Email)
            .all(&self.db)
            .await?)
    }

    pub async fn set_user_disabled(&self, user_id: &str, disabled: bool) -> Result<(), StoreError> {
        let res = license_user::Entity::update_many()
            .col_expr(license_user::Column::Disabled, sea_orm::sea_query::Expr::value(disabled))
            .filter(license_user::Column::Id.eq(user_id))
            .exec(&self.db)
            .await?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound("license user"));
        }
        Ok(())
    }

    /// Creates the license and its user assignments in one transaction.
    pub async fn create_license(&self, l: NewLicense, now: i64) -> Result<license::Model, StoreError> {
        let txn = self.db.begin().await?;
        let created = license::ActiveModel {
            product_id: Set(l.product_id),
            customer_account_id: Set(l.customer_account_id),
            license_key: Set(l.license_key),
            license_type: Set(l.license_type),
            max_activations: Set(l.max_activations),
            times_activated: Set(0),
            enabled: Set(true),
            is_trial: Set(l.is_trial),
            user_restricted: Set(l.user_restricted),
            starts_at: Set(l.starts_at),
            expires_at: Set(l.expires_at),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(|e| StoreError::unique(e, "license key"))?;
        for user_id in l.assigned_users {
            license_assignment::ActiveModel { license_id: Set(created.id), license_user_id: Set(user_id) }
                .insert(&txn)
                .await
                .map_err(|e| StoreError::unique(e, "license assignment"))?;
        }
        txn.commit().await?;
        Ok(created)
    }

    pub async fn assign_license(&self, license_id: i64, user_id: &str) -> Result<(), StoreError> {
        license_assignment::ActiveModel { license_id: Set(license_id), license_user_id: Set(user_id.to_string()) }
            .insert(&self.db)
            .await
            .map_err(|e| StoreError::unique(e, "license assignment"))?;
        Ok(())
    }

    pub async fn find_license(&self, id: i64) -> Result<Option<license::Model>, StoreError> {
        Ok(license::Entity::find_by_id(id).one(&self.db).await?)
    }

    pub async fn find_license_by_key(&self, product_id: &str, key: &str) -> Result<Option<license::Model>, StoreError> {
        Ok(license::Entity::find()
            .filter(license::Column::ProductId.eq(product_id))
            .filter(license::Column::LicenseKey.eq(key))
            .one(&self.db)
            .await?)
    }

    pub async fn list_licenses(&self, customer_account_id: &str) -> Result<Vec<license::Model>, StoreError> {
        Ok(license::Entity::find()
            .filter(license::Column::CustomerAccountId.eq(customer_account_id))
            .order_by_asc(license::Column::Id)
            .all(&self.db)
            .await?)
    }

    pub async fn set_license_enabled(&self, id: i64, enabled: bool) -> Result<(), StoreError> {
        self.update_license(id, license::Column::Enabled, enabled.into()).await
    }

    /// Changes a license's seat count. Lowering it below the devices already active keeps them; new activations are
    /// refused until enough are deactivated (the seat claim compares with the stored count).
    pub async fn set_license_max_activations(&self, id: i64, max_activations: i32) -> Result<(), StoreError> {
        self.update_license(id, license::Column::MaxActivations, max_activations.into()).await
    }

    pub async fn set_license_expiry(&self, id: i64, expires_at: Option<i64>) -> Result<(), StoreError> {
        self.update_license(id, license::Column::ExpiresAt, expires_at.into()).await
    }

    /// One column of one license; `NotFound` when there is no such license.
    async fn update_license(&self, id: i64, column: license::Column, value: sea_orm::Value) -> Result<(), StoreError> {
        let res = license::Entity::update_many()
            .col_expr(column, sea_orm::sea_query::Expr::value(value))
            .filter(license::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound("license"));
        }
        Ok(())
    }

    pub async fn count_users(&self) -> Result<u64, StoreError> {
        Ok(license_user::Entity::find().count(&self.db).await?)
    }

    pub async fn create_management_token(&self, organization_id: &str, name: &str, token_hash: &str, now: i64) -> Result<management_token::Model, StoreError> {
        management_token::ActiveModel {
            id: Set(new_id()),
            organization_id: Set(organization_id.to_string()),
            token_hash: Set(token_hash.to_string()),
            name: Set(name.to_string()),
            revoked: Set(false),
            created_at: Set(now),
        }
        .insert(&self.db)
        .await
        .map_err(|e| StoreError::unique(e, "management token"))
    }

    pub async fn find_management_token(&self, token_hash: &str) -> Result<Option<management_token::Model>, StoreError> {
        Ok(management_token::Entity::find()
            .filter(management_token::Column::TokenHash.eq(token_hash))
            .filter(management_token::Column::Revoked.eq(false))
            .one(&self.db)
            .await?)
    }

    pub async fn revoke_management_token(&self, id: &str) -> Result<(), StoreError> {
        let res = management_token::Entity::update_many()
            .col_expr(management_token::Column::Revoked, sea_orm::sea_query::Expr::value(true))
            .filter(management_token::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound("management token"));
        }
        Ok(())
    }
}

fn parse_list(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}

impl product::Model {
    pub fn redirect_uri_list(&self) -> Vec<String> {
        parse_list(&self.redirect_uris)
    }
    pub fn post_logout_redirect_uri_list(&self) -> Vec<String> {
        parse_list(&self.post_logout_redirect_uris)
    }
    pub fn allowed_grant_list(&self) -> Vec<String> {
        parse_list(&self.allowed_grants)
    }
    pub fn linked_product_list(&self) -> Vec<String> {
        parse_list(&self.linked_products)
    }
    pub fn is_public_client(&self) -> bool {
        self.client_secret_hash.is_none()
    }
}
