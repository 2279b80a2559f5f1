use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "licenses")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub product_id: String,
    pub customer_account_id: String,
    pub license_key: Option<String>,
    pub license_type: String,
    pub max_activations: i32,
    pub times_activated: i32,
    pub enabled: bool,
    pub is_trial: bool,
    pub user_restricted: bool,
    pub starts_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
