//! The one place that reads the wall clock (clippy's `disallowed-methods` keeps it so). Everything else takes `now`
//! as a parameter, so expiry is testable without sleeping.
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

#[derive(Clone, Debug)]
pub enum Clock {
    System,
    /// A clock the caller moves by hand (tests).
    Manual(Arc<AtomicI64>),
}

impl Clock {
    pub fn manual(start: i64) -> Clock {
        Clock::Manual(Arc::new(AtomicI64::new(start)))
    }

    /// Seconds since the unix epoch.
    pub fn now(&self) -> i64 {
        match self {
            Clock::System => system_now(),
            Clock::Manual(t) => t.load(Ordering::SeqCst),
        }
    }

    /// Moves a manual clock; no effect on the system clock.
    pub fn advance(&self, seconds: i64) {
        if let Clock::Manual(t) = self {
            t.fetch_add(seconds, Ordering::SeqCst);
        }
    }
}

/// The system time, for the CLI and start-up (which have no `Clock` to share).
#[allow(clippy::disallowed_methods)]
pub fn system_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
