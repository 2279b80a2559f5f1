use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn id(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).string_len(36).not_null().primary_key().to_owned()
}
fn fk_id(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).string_len(36).not_null().to_owned()
}
fn text(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).text().not_null().to_owned()
}
fn opt_text(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).text().null().to_owned()
}
fn ts(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).big_integer().not_null().to_owned()
}
fn opt_ts(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).big_integer().null().to_owned()
}
fn flag(name: impl IntoIden, default: bool) -> ColumnDef {
    ColumnDef::new(name).boolean().not_null().default(default).to_owned()
}
fn fk(
    from_table: impl IntoIden + 'static,
    from_col: impl IntoIden + 'static,
    to_table: impl IntoIden + 'static,
    to_col: impl IntoIden + 'static,
) -> ForeignKeyCreateStatement {
    ForeignKey::create().from(from_table, from_col).to(to_table, to_col).on_delete(ForeignKeyAction::Cascade).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Organizations::Table)
                .col(id(Organizations::Id))
                .col(text(Organizations::Name))
                .col(ts(Organizations::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_organizations_name")
                .table(Organizations::Table)
                .col(Organizations::Name)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(ApiKeys::Table)
                .col(id(ApiKeys::Id))
                .col(fk_id(ApiKeys::OrganizationId))
                .col(ColumnDef::new(ApiKeys::ApiKey).string_len(64).not_null().unique_key())
                // The HMAC shared key must be readable to verify signatures (SPEC §3.1); it is the one secret kept as
                // is.
                .col(text(ApiKeys::SharedKey))
                .col(flag(ApiKeys::Revoked, false))
                .col(ts(ApiKeys::CreatedAt))
                .foreign_key(&mut fk(ApiKeys::Table, ApiKeys::OrganizationId, Organizations::Table, Organizations::Id))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Products::Table)
                .col(id(Products::Id))
                .col(fk_id(Products::OrganizationId))
                .col(text(Products::ShortCode))
                .col(text(Products::Name))
                .col(ColumnDef::new(Products::ClientId).string_len(128).not_null().unique_key())
                .col(opt_text(Products::ClientSecretHash))
                .col(text(Products::RedirectUris))
                .col(text(Products::PostLogoutRedirectUris))
                .col(text(Products::DefaultResponseType))
                .col(text(Products::AllowedGrants))
                .col(text(Products::LinkedProducts))
                .col(ColumnDef::new(Products::AccessTokenTtl).big_integer().not_null())
                .col(ColumnDef::new(Products::IdTokenTtl).big_integer().not_null())
                .col(ColumnDef::new(Products::RefreshTokenTtl).big_integer().not_null())
                .col(ts(Products::CreatedAt))
                .foreign_key(&mut fk(
                    Products::Table,
                    Products::OrganizationId,
                    Organizations::Table,
                    Organizations::Id,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_products_org_code")
                .table(Products::Table)
                .col(Products::OrganizationId)
                .col(Products::ShortCode)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(CustomerAccounts::Table)
                .col(id(CustomerAccounts::Id))
                .col(fk_id(CustomerAccounts::OrganizationId))
                .col(text(CustomerAccounts::Code))
                .col(text(CustomerAccounts::Name))
                .col(opt_text(CustomerAccounts::AdminUserId))
                .col(ts(CustomerAccounts::CreatedAt))
                .foreign_key(&mut fk(
                    CustomerAccounts::Table,
                    CustomerAccounts::OrganizationId,
                    Organizations::Table,
                    Organizations::Id,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_customer_accounts_org_code")
                .table(CustomerAccounts::Table)
                .col(CustomerAccounts::OrganizationId)
                .col(CustomerAccounts::Code)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(LicenseUsers::Table)
                .col(id(LicenseUsers::Id))
                .col(fk_id(LicenseUsers::CustomerAccountId))
                // Stored lower-cased: e-mail addresses are unique per account, case-insensitively (SPEC §2).
                .col(text(LicenseUsers::Email))
                .col(text(LicenseUsers::Name))
                .col(opt_text(LicenseUsers::PasswordHash))
                .col(flag(LicenseUsers::EmailVerified, false))
                .col(flag(LicenseUsers::Disabled, false))
                .col(opt_text(LicenseUsers::ExternalCustomerNo))
                .col(ColumnDef::new(LicenseUsers::FailedLogins).integer().not_null().default(0))
                .col(opt_ts(LicenseUsers::LockedUntil))
                .col(ts(LicenseUsers::CreatedAt))
                .foreign_key(&mut fk(
                    LicenseUsers::Table,
                    LicenseUsers::CustomerAccountId,
                    CustomerAccounts::Table,
                    CustomerAccounts::Id,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_license_users_account_email")
                .table(LicenseUsers::Table)
                .col(LicenseUsers::CustomerAccountId)
                .col(LicenseUsers::Email)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Licenses::Table)
                .col(ColumnDef::new(Licenses::Id).big_integer().not_null().auto_increment().primary_key())
                .col(fk_id(Licenses::ProductId))
                .col(fk_id(Licenses::CustomerAccountId))
                .col(ColumnDef::new(Licenses::LicenseKey).string_len(64).null().unique_key())
                .col(text(Licenses::LicenseType))
                .col(ColumnDef::new(Licenses::MaxActivations).integer().not_null())
                // Seats in use, kept beside the limit so that a seat is claimed by one conditional UPDATE.
                .col(ColumnDef::new(Licenses::TimesActivated).integer().not_null().default(0))
                .col(flag(Licenses::Enabled, true))
                .col(flag(Licenses::IsTrial, false))
                .col(flag(Licenses::UserRestricted, false))
                .col(opt_ts(Licenses::StartsAt))
                .col(opt_ts(Licenses::ExpiresAt))
                .col(ts(Licenses::CreatedAt))
                .foreign_key(&mut fk(Licenses::Table, Licenses::ProductId, Products::Table, Products::Id))
                .foreign_key(&mut fk(
                    Licenses::Table,
                    Licenses::CustomerAccountId,
                    CustomerAccounts::Table,
                    CustomerAccounts::Id,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_licenses_product_account")
                .table(Licenses::Table)
                .col(Licenses::ProductId)
                .col(Licenses::CustomerAccountId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(LicenseAssignments::Table)
                .col(ColumnDef::new(LicenseAssignments::LicenseId).big_integer().not_null())
                .col(fk_id(LicenseAssignments::LicenseUserId))
                .primary_key(Index::create().col(LicenseAssignments::LicenseId).col(LicenseAssignments::LicenseUserId))
                .foreign_key(&mut fk(
                    LicenseAssignments::Table,
                    LicenseAssignments::LicenseId,
                    Licenses::Table,
                    Licenses::Id,
                ))
                .foreign_key(&mut fk(
                    LicenseAssignments::Table,
                    LicenseAssignments::LicenseUserId,
                    LicenseUsers::Table,
                    LicenseUsers::Id,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_license_assignments_user")
                .table(LicenseAssignments::Table)
                .col(LicenseAssignments::LicenseUserId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Activations::Table)
                .col(ColumnDef::new(Activations::Id).big_integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new(Activations::LicenseId).big_integer().not_null())
                .col(ColumnDef::new(Activations::LicenseUserId).string_len(36).null())
                .col(text(Activations::HardwareId))
                .col(flag(Activations::Active, true))
                .col(opt_text(Activations::DeviceInfo))
                .col(ts(Activations::ActivatedAt))
                .col(opt_ts(Activations::DeactivatedAt))
                .foreign_key(&mut fk(Activations::Table, Activations::LicenseId, Licenses::Table, Licenses::Id))
                .to_owned(),
        )
        .await?;
        // One row per (license, device): re-activation flips `active` back, so "at most one active" holds by
        // construction.
        m.create_index(
            Index::create()
                .name("ux_activations_license_hw")
                .table(Activations::Table)
                .col(Activations::LicenseId)
                .col(Activations::HardwareId)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AuthorizationCodes::Table)
                // The id doubles as the grant id: tokens issued from the code carry it so that a replay can revoke
                // them.
                .col(id(AuthorizationCodes::Id))
                .col(ColumnDef::new(AuthorizationCodes::CodeHash).string_len(64).not_null().unique_key())
                .col(fk_id(AuthorizationCodes::ProductId))
                .col(fk_id(AuthorizationCodes::LicenseUserId))
                .col(opt_text(AuthorizationCodes::SessionId))
                .col(opt_text(AuthorizationCodes::RedirectUri))
                .col(text(AuthorizationCodes::Scope))
                .col(opt_text(AuthorizationCodes::Nonce))
                .col(opt_text(AuthorizationCodes::CodeChallenge))
                .col(ts(AuthorizationCodes::AuthTime))
                .col(ts(AuthorizationCodes::ExpiresAt))
                .col(opt_ts(AuthorizationCodes::ConsumedAt))
                .col(opt_ts(AuthorizationCodes::RevokedAt))
                .col(ts(AuthorizationCodes::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_authorization_codes_expires")
                .table(AuthorizationCodes::Table)
                .col(AuthorizationCodes::ExpiresAt)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(RefreshTokens::Table)
                .col(id(RefreshTokens::Id))
                .col(ColumnDef::new(RefreshTokens::TokenHash).string_len(64).not_null().unique_key())
                .col(fk_id(RefreshTokens::GrantId))
                .col(fk_id(RefreshTokens::ProductId))
                .col(fk_id(RefreshTokens::LicenseUserId))
                .col(opt_text(RefreshTokens::SessionId))
                .col(text(RefreshTokens::Scope))
                .col(ts(RefreshTokens::AuthTime))
                .col(ts(RefreshTokens::ExpiresAt))
                .col(opt_ts(RefreshTokens::RotatedAt))
                .col(opt_ts(RefreshTokens::RevokedAt))
                .col(ts(RefreshTokens::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_refresh_tokens_grant")
                .table(RefreshTokens::Table)
                .col(RefreshTokens::GrantId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(RevokedTokens::Table)
                .col(ColumnDef::new(RevokedTokens::Jti).string_len(64).not_null().primary_key())
                .col(ts(RevokedTokens::ExpiresAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(RevokedGrants::Table)
                .col(ColumnDef::new(RevokedGrants::GrantId).string_len(64).not_null().primary_key())
                .col(ts(RevokedGrants::RevokedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(UsedIdTokens::Table)
                .col(ColumnDef::new(UsedIdTokens::Jti).string_len(64).not_null().primary_key())
                .col(ts(UsedIdTokens::ExpiresAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Sessions::Table)
                .col(ColumnDef::new(Sessions::IdHash).string_len(64).not_null().primary_key())
                // `sid` claim: a stable public id, so the cookie value itself never leaves the browser.
                .col(fk_id(Sessions::Sid))
                .col(fk_id(Sessions::LicenseUserId))
                .col(fk_id(Sessions::CustomerAccountId))
                .col(ts(Sessions::AuthTime))
                .col(ts(Sessions::ExpiresAt))
                .col(ts(Sessions::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_sessions_sid").table(Sessions::Table).col(Sessions::Sid).to_owned())
            .await?;

        m.create_table(
            Table::create()
                .table(OneTimeTokens::Table)
                .col(ColumnDef::new(OneTimeTokens::TokenHash).string_len(64).not_null().primary_key())
                .col(text(OneTimeTokens::Kind))
                .col(fk_id(OneTimeTokens::LicenseUserId))
                .col(opt_text(OneTimeTokens::Payload))
                .col(ts(OneTimeTokens::ExpiresAt))
                .col(opt_ts(OneTimeTokens::ConsumedAt))
                .col(ts(OneTimeTokens::CreatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(ManagementTokens::Table)
                .col(id(ManagementTokens::Id))
                .col(fk_id(ManagementTokens::OrganizationId))
                .col(ColumnDef::new(ManagementTokens::TokenHash).string_len(64).not_null().unique_key())
                .col(text(ManagementTokens::Name))
                .col(flag(ManagementTokens::Revoked, false))
                .col(ts(ManagementTokens::CreatedAt))
                .foreign_key(&mut fk(
                    ManagementTokens::Table,
                    ManagementTokens::OrganizationId,
                    Organizations::Table,
                    Organizations::Id,
                ))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AuditEvents::Table)
                .col(ColumnDef::new(AuditEvents::Id).big_integer().not_null().auto_increment().primary_key())
                .col(ts(AuditEvents::At))
                .col(text(AuditEvents::Actor))
                .col(text(AuditEvents::Action))
                .col(text(AuditEvents::Subject))
                .col(opt_text(AuditEvents::ClientIp))
                .col(text(AuditEvents::Outcome))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_audit_events_at").table(AuditEvents::Table).col(AuditEvents::At).to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            AuditEvents::Table.into_iden(),
            ManagementTokens::Table.into_iden(),
            OneTimeTokens::Table.into_iden(),
            Sessions::Table.into_iden(),
            UsedIdTokens::Table.into_iden(),
            RevokedGrants::Table.into_iden(),
            RevokedTokens::Table.into_iden(),
            RefreshTokens::Table.into_iden(),
            AuthorizationCodes::Table.into_iden(),
            Activations::Table.into_iden(),
            LicenseAssignments::Table.into_iden(),
            Licenses::Table.into_iden(),
            LicenseUsers::Table.into_iden(),
            CustomerAccounts::Table.into_iden(),
            Products::Table.into_iden(),
            ApiKeys::Table.into_iden(),
            Organizations::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
    Name,
    CreatedAt,
}
#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    OrganizationId,
    ApiKey,
    SharedKey,
    Revoked,
    CreatedAt,
}
#[derive(DeriveIden)]
#[allow(clippy::enum_variant_names)]
enum Products {
    Table,
    Id,
    OrganizationId,
    ShortCode,
    Name,
    ClientId,
    ClientSecretHash,
    RedirectUris,
    PostLogoutRedirectUris,
    DefaultResponseType,
    AllowedGrants,
    LinkedProducts,
    AccessTokenTtl,
    IdTokenTtl,
    RefreshTokenTtl,
    CreatedAt,
}
#[derive(DeriveIden)]
enum CustomerAccounts {
    Table,
    Id,
    OrganizationId,
    Code,
    Name,
    AdminUserId,
    CreatedAt,
}
#[derive(DeriveIden)]
enum LicenseUsers {
    Table,
    Id,
    CustomerAccountId,
    Email,
    Name,
    PasswordHash,
    EmailVerified,
    Disabled,
    ExternalCustomerNo,
    FailedLogins,
    LockedUntil,
    CreatedAt,
}
#[derive(DeriveIden)]
enum Licenses {
    Table,
    Id,
    ProductId,
    CustomerAccountId,
    LicenseKey,
    LicenseType,
    MaxActivations,
    TimesActivated,
    Enabled,
    IsTrial,
    UserRestricted,
    StartsAt,
    ExpiresAt,
    CreatedAt,
}
#[derive(DeriveIden)]
enum LicenseAssignments {
    Table,
    LicenseId,
    LicenseUserId,
}
#[derive(DeriveIden)]
enum Activations {
    Table,
    Id,
    LicenseId,
    LicenseUserId,
    HardwareId,
    Active,
    DeviceInfo,
    ActivatedAt,
    DeactivatedAt,
}
#[derive(DeriveIden)]
enum AuthorizationCodes {
    Table,
    Id,
    CodeHash,
    ProductId,
    LicenseUserId,
    SessionId,
    RedirectUri,
    Scope,
    Nonce,
    CodeChallenge,
    AuthTime,
    ExpiresAt,
    ConsumedAt,
    RevokedAt,
    CreatedAt,
}
#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Id,
    TokenHash,
    GrantId,
    ProductId,
    LicenseUserId,
    SessionId,
    Scope,
    AuthTime,
    ExpiresAt,
    RotatedAt,
    RevokedAt,
    CreatedAt,
}
#[derive(DeriveIden)]
enum RevokedTokens {
    Table,
    Jti,
    ExpiresAt,
}
#[derive(DeriveIden)]
enum RevokedGrants {
    Table,
    GrantId,
    RevokedAt,
}
#[derive(DeriveIden)]
enum UsedIdTokens {
    Table,
    Jti,
    ExpiresAt,
}
#[derive(DeriveIden)]
enum Sessions {
    Table,
    IdHash,
    Sid,
    LicenseUserId,
    CustomerAccountId,
    AuthTime,
    ExpiresAt,
    CreatedAt,
}
#[derive(DeriveIden)]
enum OneTimeTokens {
    Table,
    TokenHash,
    Kind,
    LicenseUserId,
    Payload,
    ExpiresAt,
    ConsumedAt,
    CreatedAt,
}
#[derive(DeriveIden)]
enum ManagementTokens {
    Table,
    Id,
    OrganizationId,
    TokenHash,
    Name,
    Revoked,
    CreatedAt,
}
#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    At,
    Actor,
    Action,
    Subject,
    ClientIp,
    Outcome,
}
