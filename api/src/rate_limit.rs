//! The rate limits of `POST /odoo/save-connection`: each call makes the API log in to an
//! Odoo server for up to `PROBE_TIMEOUT_SECONDS`, so a tenant (or many) calling it in a loop
//! would tie the API up and get its address blocked by Odoo's login throttle. Limits per
//! tenant and for all tenants together, per minute, as governor's GCRA (a burst of the
//! minute's quota, then an even rate); over either one the caller gets a JSON 429 with
//! `Retry-After`.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use shared::store::TenantId;

use crate::error::ApiError;

/// Tenants remembered before idle ones are forgotten (their buckets are full again anyway).
const FORGET_ABOVE: usize = 10_000;

/// The save-connection limits of one API.
pub struct SaveConnectionLimiter {
    per_tenant: DefaultKeyedRateLimiter<TenantId>,
    total: DefaultDirectRateLimiter,
    clock: DefaultClock,
}

impl std::fmt::Debug for SaveConnectionLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SaveConnectionLimiter")
    }
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

impl SaveConnectionLimiter {
    pub fn new(per_tenant_per_minute: u32, total_per_minute: u32) -> SaveConnectionLimiter {
        SaveConnectionLimiter {
            per_tenant: RateLimiter::keyed(per_minute(per_tenant_per_minute)),
            total: RateLimiter::direct(per_minute(total_per_minute)),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one call of `tenant`'s allowance, or a 429 saying when to come back.
    pub fn check(&self, tenant: &TenantId) -> Result<(), ApiError> {
        if self.per_tenant.len() > FORGET_ABOVE {
            self.per_tenant.retain_recent();
        }
        if let Err(not_until) = self.per_tenant.check_key(tenant) {
            return Err(ApiError::TooManyRequests {
                code: "rate_limited",
                message: "too many save-connection calls for this tenant; wait and try again"
                    .into(),
                retry_after: Some(seconds(not_until.wait_time_from(self.clock.now()))),
            });
        }
        if let Err(not_until) = self.total.check() {
            return Err(ApiError::TooManyRequests {
                code: "rate_limited_overall",
                message: "too many save-connection calls right now; wait and try again".into(),
                retry_after: Some(seconds(not_until.wait_time_from(self.clock.now()))),
            });
        }
        Ok(())
    }
}

/// Whole seconds, rounded up, at least 1 (`Retry-After: 0` would invite a busy loop).
fn seconds(wait: std::time::Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(name: &str) -> TenantId {
        TenantId::parse(name).expect("valid")
    }

    #[test]
    fn each_tenant_has_its_own_allowance_under_a_shared_one() {
        let limiter = SaveConnectionLimiter::new(2, 3);
        assert!(limiter.check(&tenant("a")).is_ok());
        assert!(limiter.check(&tenant("a")).is_ok());
        match limiter.check(&tenant("a")) {
            Err(ApiError::TooManyRequests {
                code: "rate_limited",
                retry_after: Some(s),
                ..
            }) => assert!((1..=60).contains(&s), "{s}"),
            other => panic!("expected a per-tenant 429, got {other:?}"),
        }
        assert!(limiter.check(&tenant("b")).is_ok());
        assert!(matches!(
            limiter.check(&tenant("c")),
            Err(ApiError::TooManyRequests {
                code: "rate_limited_overall",
                ..
            })
        ));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        use std::time::Duration;
        assert_eq!(seconds(Duration::ZERO), 1);
        assert_eq!(seconds(Duration::from_millis(1)), 1);
        assert_eq!(seconds(Duration::from_millis(1500)), 2);
        assert_eq!(seconds(Duration::from_secs(20)), 20);
    }
}
