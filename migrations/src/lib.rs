//! keyway's schema. Every timestamp is a UTC unix time in seconds (BIGINT), which behaves the same on SQLite and
//! PostgreSQL and keeps the clock a plain parameter in the domain code.
pub use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::Database;

mod m20261123_000001_initial;
mod m20261130_000001_auth_hardening;
mod m20261201_000001_federation;
mod m20261202_000001_ui_recovery;
mod m20261202_000002_mfa;
mod m20261202_000003_keys;
mod m20261203_000001_lean_audit;
mod m20261204_000001_throttle_device_keys;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_initial::Migration),
            Box::new(m20261130_000001_auth_hardening::Migration),
            Box::new(m20261201_000001_federation::Migration),
            Box::new(m20261202_000001_ui_recovery::Migration),
            Box::new(m20261202_000002_mfa::Migration),
            Box::new(m20261202_000003_keys::Migration),
            Box::new(m20261203_000001_lean_audit::Migration),
            Box::new(m20261204_000001_throttle_device_keys::Migration),
        ]
    }
}

/// Applies every pending migration to the database at `url` (the SQLite file must exist).
pub async fn run(url: &str) -> Result<(), DbErr> {
    run_first(url, None).await
}

/// Applies the first `n` pending migrations (all with None): the upgrade tests build an older schema with it.
pub async fn run_first(url: &str, n: Option<u32>) -> Result<(), DbErr> {
    let db = Database::connect(url).await?;
    let result = Migrator::up(&db, n).await;
    db.close().await?;
    result
}
