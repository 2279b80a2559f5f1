//! Customer-account federation (SPEC §4.4): an upstream identity provider per customer account, the e-mail domains
//! that route to it (home-realm discovery), external identities linked to license users, pending upstream logins,
//! used SAML assertion ids; and how a session was authenticated (`amr`, `idp`), carried into codes and refresh tokens
//! for the id_tokens issued from them.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn text(c: impl IntoIden) -> ColumnDef {
    ColumnDef::new(c).text().not_null().to_owned()
}
fn opt_text(c: impl IntoIden) -> ColumnDef {
    ColumnDef::new(c).text().null().to_owned()
}
fn ts(c: impl IntoIden) -> ColumnDef {
    ColumnDef::new(c).big_integer().not_null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(IdentityProviders::Table)
                // At most one IdP per customer account (LicenseSpring's model).
                .col(ColumnDef::new(IdentityProviders::CustomerAccountId).string_len(36).not_null().primary_key())
                .col(text(IdentityProviders::Kind))
                .col(text(IdentityProviders::DisplayName))
                // OIDC: issuer, client id, scopes, e-mail claim, unverified e-mail policy; SAML: the IdP metadata XML,
                // its entity id, the e-mail attribute: as JSON (no secrets).
                .col(text(IdentityProviders::Settings))
                // The OIDC client secret; the SAML SP signing key (PEM). Secrets, never printed.
                .col(opt_text(IdentityProviders::Secret))
                .col(opt_text(IdentityProviders::SpCertificate))
                .col(ColumnDef::new(IdentityProviders::PasswordLogin).boolean().not_null().default(false))
                .col(ColumnDef::new(IdentityProviders::JustInTime).boolean().not_null().default(false))
                .col(ts(IdentityProviders::CreatedAt))
                .col(ts(IdentityProviders::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(AccountDomains::Table)
                .col(ColumnDef::new(AccountDomains::Domain).string_len(253).not_null())
                .col(ColumnDef::new(AccountDomains::CustomerAccountId).string_len(36).not_null())
                .primary_key(Index::create().col(AccountDomains::Domain).col(AccountDomains::CustomerAccountId))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ExternalIdentities::Table)
                .col(ColumnDef::new(ExternalIdentities::CustomerAccountId).string_len(36).not_null())
                // OIDC issuer or SAML IdP entity id, and the subject there (`sub`, NameID).
                .col(text(ExternalIdentities::Issuer))
                .col(text(ExternalIdentities::Subject))
                .col(ColumnDef::new(ExternalIdentities::LicenseUserId).string_len(36).not_null())
                .col(ts(ExternalIdentities::CreatedAt))
                .col(ts(ExternalIdentities::LastLoginAt))
                .primary_key(
                    Index::create()
                        .col(ExternalIdentities::CustomerAccountId)
                        .col(ExternalIdentities::Issuer)
                        .col(ExternalIdentities::Subject),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_external_identities_user")
                .table(ExternalIdentities::Table)
                .col(ExternalIdentities::LicenseUserId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(FederationRequests::Table)
                // SHA-256 of the `state` (OIDC) or RelayState (SAML) handle.
                .col(ColumnDef::new(FederationRequests::IdHash).string_len(64).not_null().primary_key())
                .col(ColumnDef::new(FederationRequests::CustomerAccountId).string_len(36).not_null())
                .col(text(FederationRequests::Kind))
                // SHA-256 of the browser-binding cookie: the callback must come from the browser that started.
                .col(text(FederationRequests::BrowserHash))
                .col(opt_text(FederationRequests::Nonce))
                .col(opt_text(FederationRequests::CodeVerifier))
                .col(opt_text(FederationRequests::SamlRequestId))
                // Where to continue: an authorization request (raw), or the portal.
                .col(text(FederationRequests::ReturnTo))
                .col(ColumnDef::new(FederationRequests::Status).string_len(16).not_null())
                // The verified upstream identity between the SAML ACS and the browser's return (JSON).
                .col(opt_text(FederationRequests::Result))
                .col(ts(FederationRequests::ExpiresAt))
                .col(ts(FederationRequests::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_federation_requests_expires")
                .table(FederationRequests::Table)
                .col(FederationRequests::ExpiresAt)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(UsedAssertions::Table)
                .col(ColumnDef::new(UsedAssertions::Key).string_len(64).not_null().primary_key())
                .col(ts(UsedAssertions::ExpiresAt))
                .to_owned(),
        )
        .await?;
        for table in
            [Sessions::Table.into_iden(), AuthorizationCodes::Table.into_iden(), RefreshTokens::Table.into_iden()]
        {
            m.alter_table(Table::alter().table(table.clone()).add_column(opt_text(Auth::Amr)).to_owned()).await?;
            m.alter_table(Table::alter().table(table).add_column(opt_text(Auth::Idp)).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in
            [Sessions::Table.into_iden(), AuthorizationCodes::Table.into_iden(), RefreshTokens::Table.into_iden()]
        {
            m.alter_table(Table::alter().table(table.clone()).drop_column(Auth::Amr).to_owned()).await?;
            m.alter_table(Table::alter().table(table).drop_column(Auth::Idp).to_owned()).await?;
        }
        for t in [
            UsedAssertions::Table.into_iden(),
            FederationRequests::Table.into_iden(),
            ExternalIdentities::Table.into_iden(),
            AccountDomains::Table.into_iden(),
            IdentityProviders::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum IdentityProviders {
    Table,
    CustomerAccountId,
    Kind,
    DisplayName,
    Settings,
    Secret,
    SpCertificate,
    PasswordLogin,
    JustInTime,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AccountDomains {
    Table,
    Domain,
    CustomerAccountId,
}

#[derive(DeriveIden)]
enum ExternalIdentities {
    Table,
    CustomerAccountId,
    Issuer,
    Subject,
    LicenseUserId,
    CreatedAt,
    LastLoginAt,
}

#[derive(DeriveIden)]
enum FederationRequests {
    Table,
    IdHash,
    CustomerAccountId,
    Kind,
    BrowserHash,
    Nonce,
    CodeVerifier,
    SamlRequestId,
    ReturnTo,
    Status,
    Result,
    ExpiresAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum UsedAssertions {
    Table,
    Key,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
}

#[derive(DeriveIden)]
enum AuthorizationCodes {
    Table,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
}

#[derive(DeriveIden)]
enum Auth {
    Amr,
    Idp,
}
