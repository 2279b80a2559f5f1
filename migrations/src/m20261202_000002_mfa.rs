//! Multi-factor authentication (issue 17 items 3 and 4): TOTP secrets (encrypted) with the last accepted time step
//! (replay refusal), hashed one-time recovery codes, WebAuthn credentials (passkeys), the short-lived pending state
//! between the first factor and the second, WebAuthn ceremony state, and the per-account MFA policy. Policy lives in
//! its own table (not columns of customer_accounts) so the account record and its cache stay as they are.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(MfaTotp::Table)
                .col(ColumnDef::new(MfaTotp::LicenseUserId).string_len(64).not_null().primary_key())
                .col(ColumnDef::new(MfaTotp::SecretEnc).text().not_null())
                .col(ColumnDef::new(MfaTotp::Confirmed).boolean().not_null().default(false))
                .col(ColumnDef::new(MfaTotp::LastStep).big_integer().null())
                .col(ColumnDef::new(MfaTotp::CreatedAt).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(MfaRecoveryCodes::Table)
                .col(ColumnDef::new(MfaRecoveryCodes::CodeHash).string_len(64).not_null().primary_key())
                .col(ColumnDef::new(MfaRecoveryCodes::LicenseUserId).string_len(64).not_null())
                .col(ColumnDef::new(MfaRecoveryCodes::UsedAt).big_integer().null())
                .col(ColumnDef::new(MfaRecoveryCodes::CreatedAt).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_mfa_recovery_user")
                .table(MfaRecoveryCodes::Table)
                .col(MfaRecoveryCodes::LicenseUserId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(MfaPasskeys::Table)
                .col(ColumnDef::new(MfaPasskeys::CredentialId).string_len(512).not_null().primary_key())
                .col(ColumnDef::new(MfaPasskeys::LicenseUserId).string_len(64).not_null())
                .col(ColumnDef::new(MfaPasskeys::Name).string_len(128).not_null())
                .col(ColumnDef::new(MfaPasskeys::Passkey).text().not_null())
                .col(ColumnDef::new(MfaPasskeys::CreatedAt).big_integer().not_null())
                .col(ColumnDef::new(MfaPasskeys::LastUsedAt).big_integer().null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_mfa_passkeys_user")
                .table(MfaPasskeys::Table)
                .col(MfaPasskeys::LicenseUserId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(MfaPending::Table)
                .col(ColumnDef::new(MfaPending::IdHash).string_len(64).not_null().primary_key())
                .col(ColumnDef::new(MfaPending::Kind).string_len(32).not_null())
                .col(ColumnDef::new(MfaPending::LicenseUserId).string_len(64).null())
                .col(ColumnDef::new(MfaPending::CustomerAccountId).string_len(64).null())
                .col(ColumnDef::new(MfaPending::Amr).string_len(128).null())
                .col(ColumnDef::new(MfaPending::Idp).text().null())
                .col(ColumnDef::new(MfaPending::ReturnTo).text().null())
                .col(ColumnDef::new(MfaPending::State).text().null())
                .col(ColumnDef::new(MfaPending::Verified).string_len(128).null())
                .col(ColumnDef::new(MfaPending::ExpiresAt).big_integer().not_null())
                .col(ColumnDef::new(MfaPending::CreatedAt).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_mfa_pending_expires")
                .table(MfaPending::Table)
                .col(MfaPending::ExpiresAt)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(MfaPolicies::Table)
                .col(ColumnDef::new(MfaPolicies::CustomerAccountId).string_len(64).not_null().primary_key())
                .col(ColumnDef::new(MfaPolicies::Required).boolean().not_null().default(false))
                .col(ColumnDef::new(MfaPolicies::AfterIdp).boolean().not_null().default(false))
                .col(ColumnDef::new(MfaPolicies::UpdatedAt).big_integer().not_null())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(MfaPolicies::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(MfaPending::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(MfaPasskeys::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(MfaRecoveryCodes::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(MfaTotp::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum MfaTotp {
    Table,
    LicenseUserId,
    SecretEnc,
    Confirmed,
    LastStep,
    CreatedAt,
}

#[derive(DeriveIden)]
enum MfaRecoveryCodes {
    Table,
    CodeHash,
    LicenseUserId,
    UsedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum MfaPasskeys {
    Table,
    CredentialId,
    LicenseUserId,
    Name,
    Passkey,
    CreatedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum MfaPending {
    Table,
    IdHash,
    Kind,
    LicenseUserId,
    CustomerAccountId,
    Amr,
    Idp,
    ReturnTo,
    State,
    Verified,
    ExpiresAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum MfaPolicies {
    Table,
    CustomerAccountId,
    Required,
    AfterIdp,
    UpdatedAt,
}
