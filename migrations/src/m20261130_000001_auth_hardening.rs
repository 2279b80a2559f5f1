//! Authentication hardening. Login attempt counters move from the user row to their own table keyed by (account,
//! normalised e-mail[, device]):
//! unknown e-mail addresses are then throttled exactly like known ones, and a known device has its own counter
//! (authentication hardening, OWASP device cookies).
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(LoginThrottles::Table)
                .col(ColumnDef::new(LoginThrottles::Key).string_len(64).not_null().primary_key())
                .col(ColumnDef::new(LoginThrottles::Failures).integer().not_null())
                .col(ColumnDef::new(LoginThrottles::LockedUntil).big_integer().null())
                .col(ColumnDef::new(LoginThrottles::ExpiresAt).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_login_throttles_expires")
                .table(LoginThrottles::Table)
                .col(LoginThrottles::ExpiresAt)
                .to_owned(),
        )
        .await?;
        // One column per statement: SQLite's ALTER TABLE drops one at a time.
        m.alter_table(Table::alter().table(LicenseUsers::Table).drop_column(LicenseUsers::FailedLogins).to_owned())
            .await?;
        m.alter_table(Table::alter().table(LicenseUsers::Table).drop_column(LicenseUsers::LockedUntil).to_owned())
            .await?;
        // Products can be disabled (authentication hardening: their tokens stop being active).
        m.alter_table(
            Table::alter()
                .table(Products::Table)
                .add_column(ColumnDef::new(Products::Disabled).boolean().not_null().default(false))
                .to_owned(),
        )
        .await?;
        // Ending a user's other sessions (password change) looks sessions up by user.
        m.create_index(
            Index::create().name("ix_sessions_user").table(Sessions::Table).col(Sessions::LicenseUserId).to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("ix_sessions_user").table(Sessions::Table).to_owned()).await?;
        m.alter_table(Table::alter().table(Products::Table).drop_column(Products::Disabled).to_owned()).await?;
        m.alter_table(
            Table::alter()
                .table(LicenseUsers::Table)
                .add_column(ColumnDef::new(LicenseUsers::FailedLogins).integer().not_null().default(0))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(LicenseUsers::Table)
                .add_column(ColumnDef::new(LicenseUsers::LockedUntil).big_integer().null())
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(LoginThrottles::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum LoginThrottles {
    Table,
    Key,
    Failures,
    LockedUntil,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum LicenseUsers {
    Table,
    FailedLogins,
    LockedUntil,
}

#[derive(DeriveIden)]
enum Products {
    Table,
    Disabled,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    LicenseUserId,
}
