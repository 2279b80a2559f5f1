//! Request rate limits per client address and per account identifier (issue 15 item 4), in memory per process:
//! token buckets from `governor` (GCRA), one keyed limiter per (surface, key kind). With N replicas behind a load
//! balancer the effective limit is up to N times the configured one, which is fine for what these are for: slowing a
//! guessing or flooding script to a crawl, not metering. Password guessing against one account is stopped for good by
//! the lockout (`auth::password`), which lives in the database.
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::config::Config;

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock>;

/// One surface's pair of limits; `None` = unlimited (configured 0).
struct Pair {
    by_ip: Option<Keyed<IpAddr>>,
    by_account: Option<Keyed<String>>,
}

/// A refusal: how long until a request with the same key would be let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds for the `Retry-After` header (RFC 9110 §10.2.3), at least 1.
    pub fn seconds(&self) -> u64 {
        let s = self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0);
        s.max(1)
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Surface {
    /// The hosted sign-in and portal forms: per address and per e-mail.
    Login,
    /// The token endpoint: per address and per client_id.
    Token,
    /// The License API: per address and per API key.
    License,
    /// Mail sent on an anonymous request ("forgot password"): per address and per e-mail address, per hour, so
    /// nobody can flood an inbox through keyway (or keyway's SMTP reputation with it).
    Mail,
}

pub struct RateLimits {
    login: Pair,
    token: Pair,
    license: Pair,
    mail: Pair,
    clock: DefaultClock,
}

fn quota(per_minute: u32) -> Option<Quota> {
    // A bucket of `per_minute` requests, refilled evenly over the minute: a burst of up to the limit passes.
    NonZeroU32::new(per_minute).map(Quota::per_minute)
}

fn hourly_quota(per_hour: u32) -> Option<Quota> {
    let n = NonZeroU32::new(per_hour)?;
    // A bucket of `per_hour`, one request's worth refilled every hour / per_hour.
    Quota::with_period(std::time::Duration::from_secs(3600) / n.get()).map(|q| q.allow_burst(n))
}

impl Pair {
    fn new(ip: u32, account: u32) -> Pair {
        Pair::of(quota(ip), quota(account))
    }

    fn of(ip: Option<Quota>, account: Option<Quota>) -> Pair {
        Pair { by_ip: ip.map(RateLimiter::keyed), by_account: account.map(RateLimiter::keyed) }
    }
}

impl RateLimits {
    pub fn new(c: &Config) -> RateLimits {
        RateLimits {
            login: Pair::new(c.rate_limit_login_per_ip, c.rate_limit_login_per_account),
            token: Pair::new(c.rate_limit_token_per_ip, c.rate_limit_token_per_client),
            license: Pair::new(c.rate_limit_license_per_ip, c.rate_limit_license_per_api_key),
            mail: Pair::of(hourly_quota(c.rate_limit_mail_per_ip), hourly_quota(c.rate_limit_mail_per_address)),
            clock: DefaultClock::default(),
        }
    }

    fn pair(&self, surface: Surface) -> &Pair {
        match surface {
            Surface::Login => &self.login,
            Surface::Token => &self.token,
            Surface::License => &self.license,
            Surface::Mail => &self.mail,
        }
    }

    /// Counts one request against the address, then (if the address may go on) against the account identifier,
    /// compared case-insensitively as e-mail addresses are. An address over its limit does not also drain the
    /// account's bucket: one script must not lock a user out of the form.
    pub fn check(&self, surface: Surface, ip: Option<IpAddr>, account: Option<&str>) -> Result<(), RetryAfter> {
        let pair = self.pair(surface);
        if let (Some(l), Some(ip)) = (&pair.by_ip, ip) {
            l.check_key(&ip).map_err(|n| RetryAfter(n.wait_time_from(self.clock.now())))?;
        }
        if let (Some(l), Some(a)) = (&pair.by_account, account.map(str::trim).filter(|a| !a.is_empty())) {
            l.check_key(&a.to_lowercase()).map_err(|n| RetryAfter(n.wait_time_from(self.clock.now())))?;
        }
        Ok(())
    }

    /// Forgets keys whose buckets are full again (the background job calls this each minute), so the maps hold only
    /// recently active addresses and accounts.
    pub fn forget_idle(&self) {
        for p in [&self.login, &self.token, &self.license, &self.mail] {
            if let Some(l) = &p.by_ip {
                l.retain_recent();
                l.shrink_to_fit();
            }
            if let Some(l) = &p.by_account {
                l.retain_recent();
                l.shrink_to_fit();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_minute: u32) -> RateLimits {
        let c = Config {
            rate_limit_login_per_ip: per_minute,
            rate_limit_login_per_account: per_minute,
            rate_limit_token_per_ip: 0,
            rate_limit_token_per_client: 0,
            ..Config::default()
        };
        RateLimits::new(&c)
    }

    #[test]
    fn a_burst_beyond_the_limit_is_refused_with_a_wait_and_other_keys_are_not() {
        let l = limits(3);
        let ip: IpAddr = [10, 0, 0, 1].into();
        for _ in 0..3 {
            assert_eq!(l.check(Surface::Login, Some(ip), Some("a@example.com")), Ok(()));
        }
        let refused = l.check(Surface::Login, Some(ip), Some("b@example.com")).unwrap_err();
        // One request back every 20 s at 3 per minute.
        assert!(refused.seconds() >= 1 && refused.seconds() <= 20, "{refused:?}");
        assert!(l.check(Surface::Login, Some([10, 0, 0, 2].into()), Some("A@Example.com ")).is_err(), "same account");
        assert_eq!(l.check(Surface::Login, Some([10, 0, 0, 3].into()), Some("c@example.com")), Ok(()));
    }

    #[test]
    fn zero_means_unlimited() {
        let l = limits(3);
        for _ in 0..100 {
            assert_eq!(l.check(Surface::Token, Some([10, 0, 0, 1].into()), Some("demo-app")), Ok(()));
        }
    }
}
