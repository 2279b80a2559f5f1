//! Hosted UI for real people (issue 17, items 1 and 2): vendor branding per organization and product, and the
//! look-up that lets a newer password-reset or verification link supersede the older ones of the same user.
//! Reset and verification links themselves are one-time tokens (`one_time_tokens`, stored hashed).
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One row per organization default (product_id = '') and per product. The logo is kept base64-encoded in a
        // text column: both engines store it alike, and it is small (the CLI refuses more than 256 KiB).
        m.create_table(
            Table::create()
                .table(Branding::Table)
                .col(ColumnDef::new(Branding::OrganizationId).string_len(64).not_null())
                .col(ColumnDef::new(Branding::ProductId).string_len(64).not_null())
                .col(ColumnDef::new(Branding::DisplayName).text().null())
                .col(ColumnDef::new(Branding::LogoType).text().null())
                .col(ColumnDef::new(Branding::LogoHash).text().null())
                .col(ColumnDef::new(Branding::LogoData).text().null())
                .col(ColumnDef::new(Branding::PrimaryColor).text().null())
                .col(ColumnDef::new(Branding::OnPrimaryColor).text().null())
                .col(ColumnDef::new(Branding::SupportUrl).text().null())
                .col(ColumnDef::new(Branding::PrivacyUrl).text().null())
                .col(ColumnDef::new(Branding::UpdatedAt).big_integer().not_null())
                .primary_key(Index::create().col(Branding::OrganizationId).col(Branding::ProductId))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_branding_logo").table(Branding::Table).col(Branding::LogoHash).to_owned(),
        )
        .await?;
        // A new reset link invalidates the user's older ones of the same kind.
        m.create_index(
            Index::create()
                .name("ix_one_time_user_kind")
                .table(OneTimeTokens::Table)
                .col(OneTimeTokens::LicenseUserId)
                .col(OneTimeTokens::Kind)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("ix_one_time_user_kind").table(OneTimeTokens::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(Branding::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Branding {
    Table,
    OrganizationId,
    ProductId,
    DisplayName,
    LogoType,
    LogoHash,
    LogoData,
    PrimaryColor,
    OnPrimaryColor,
    SupportUrl,
    PrivacyUrl,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum OneTimeTokens {
    Table,
    LicenseUserId,
    Kind,
}
