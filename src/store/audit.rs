//! The audit trail: who did what, to whom, from where, with what outcome. Never secrets.
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::entity::audit_event;
use super::{Store, StoreError};

pub struct AuditEvent<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub subject: &'a str,
    pub client_ip: Option<&'a str>,
    pub outcome: &'a str,
}

impl Store {
    pub async fn audit(&self, e: AuditEvent<'_>, now: i64) -> Result<(), StoreError> {
        audit_event::ActiveModel {
            at: Set(now),
            actor: Set(e.actor.to_string()),
            action: Set(e.action.to_string()),
            subject: Set(e.subject.to_string()),
            client_ip: Set(e.client_ip.map(str::to_string)),
            outcome: Set(e.outcome.to_string()),
            ..Default::default()
        }
        .insert(&self.db)
        .await?;
        Ok(())
    }

    pub async fn audit_events(&self, action: Option<&str>) -> Result<Vec<audit_event::Model>, StoreError> {
        let mut q = audit_event::Entity::find();
        if let Some(a) = action {
            q = q.filter(audit_event::Column::Action.eq(a));
        }
        Ok(q.order_by_asc(audit_event::Column::Id).all(&self.db).await?)
    }
}
