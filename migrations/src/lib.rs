//! keyway's schema. Every timestamp is a UTC unix time in seconds (BIGINT), which behaves the same on SQLite and
//! PostgreSQL and keeps the clock a plain parameter in the domain code.
pub use sea_orm_migration::prelude::*;

mod m20261123_000001_initial;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m20261123_000001_initial::Migration)]
    }
}
