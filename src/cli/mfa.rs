//! `keyway account mfa …` (an account's MFA policy) and `keyway user mfa reset` (support staff: a user who lost
//! every factor), issue 17 item 3.
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;

use super::manage::UserRef;
use super::CliError;
use crate::admin;
use crate::store::mfa::MfaPolicy;
use crate::store::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

impl OnOff {
    fn on(self) -> bool {
        self == OnOff::On
    }
}

/// `keyway account mfa`: show or set a customer account's MFA policy.
#[derive(Args, Debug)]
pub struct AccountMfa {
    /// Organization name or id.
    #[arg(long)]
    pub org: String,
    /// Customer account code.
    #[arg(long)]
    pub account: String,
    /// Every user must pass a second factor; users without one enrol at their next sign-in.
    #[arg(long)]
    pub required: Option<OnOff>,
    /// Federated sign-ins also need keyway's second factor on top of the IdP's (off by default).
    #[arg(long)]
    pub after_idp: Option<OnOff>,
}

#[derive(Subcommand, Debug)]
pub enum UserMfaCmd {
    /// Remove every factor and recovery code of a user (they enrol again when their account requires MFA).
    Reset(UserRef),
}

pub async fn account(store: &Store, cmd: AccountMfa, now: i64) -> Result<(), CliError> {
    let o = admin::organization(store, &cmd.org).await?;
    let a = admin::customer_account(store, &o.id, &cmd.account).await?;
    let mut policy = store.mfa_policy(&a.id).await?;
    if cmd.required.is_some() || cmd.after_idp.is_some() {
        policy = MfaPolicy {
            required: cmd.required.map_or(policy.required, OnOff::on),
            after_idp: cmd.after_idp.map_or(policy.after_idp, OnOff::on),
        };
        store.set_mfa_policy(&a.id, policy, now).await?;
    }
    println!("{}", json!({"account": a.code, "mfa_required": policy.required, "mfa_after_idp": policy.after_idp}));
    Ok(())
}

pub async fn user(store: &Store, cmd: UserMfaCmd, now: i64) -> Result<(), CliError> {
    match cmd {
        UserMfaCmd::Reset(r) => {
            let u = super::manage::user_of(store, &r).await?;
            store.reset_mfa(&u.id).await?;
            crate::audit::record(
                store,
                crate::store::audit::AuditEvent {
                    actor: crate::audit::Actor::manager("cli").as_str(),
                    action: "mfa.reset",
                    subject: &u.id,
                    client_ip: None,
                    outcome: "success",
                },
                now,
            )
            .await;
            println!("{}", json!({"id": u.id, "email": u.email, "mfa": "reset"}));
        }
    }
    Ok(())
}
