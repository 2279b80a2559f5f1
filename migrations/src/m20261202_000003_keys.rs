//! Keys in the database (issue 15 item 1): the OpenID signing keys, the License API response key and the cookie key,
//! each sealed with the key-encryption key (`src/crypto/kek.rs`), so replicas that share only the database share
//! their keys. A signing key is published from `created_at` and signs from `signing_at` (a rotation schedules it
//! `key_publication_delay` ahead); retirement and removal follow from the successor's `signing_at`.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Keys::Table)
                // Fixed ids for the first key set ("oidc-rs256-initial", …): concurrent first starts insert the
                // same ids, so exactly one set exists; rotations use random ids.
                .col(ColumnDef::new(Keys::Id).string_len(64).not_null().primary_key())
                // "oidc", "license" or "cookie".
                .col(ColumnDef::new(Keys::Purpose).string_len(16).not_null())
                // "RS256", "ES256"; "HS256" for the cookie key.
                .col(ColumnDef::new(Keys::Alg).string_len(16).not_null())
                // `kek1.<kek id>.<…>`: never the plaintext.
                .col(ColumnDef::new(Keys::Sealed).text().not_null())
                .col(ColumnDef::new(Keys::CreatedAt).big_integer().not_null())
                .col(ColumnDef::new(Keys::SigningAt).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_keys_purpose").table(Keys::Table).col(Keys::Purpose).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Keys::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Keys {
    Table,
    Id,
    Purpose,
    Alg,
    Sealed,
    CreatedAt,
    SigningAt,
}
