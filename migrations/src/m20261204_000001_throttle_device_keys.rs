//! A device's lockout key extends its address's (`<address key>:<device hash>`, 97 characters), so that a new
//! password clears the counts of the user's own browsers with the address's (`store::throttle::FORGET`). The key
//! column was 64 characters, the length of one SHA-256 in hex: PostgreSQL enforces that, SQLite does not (its
//! `varchar(64)` is text of any length), so only PostgreSQL's column changes.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() == DbBackend::Postgres {
            m.get_connection()
                .execute_unprepared("ALTER TABLE login_throttles ALTER COLUMN key TYPE varchar(128)")
                .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Device keys do not fit back: they go (they are counts of at most one lockout window).
        let db = m.get_connection();
        db.execute_unprepared("DELETE FROM login_throttles WHERE length(key) > 64").await?;
        if m.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared("ALTER TABLE login_throttles ALTER COLUMN key TYPE varchar(64)").await?;
        }
        Ok(())
    }
}
