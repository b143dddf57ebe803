//! `TenantLease`: holds a tenant's lease for as long as work runs, renewing it in the
//! background and noticing when it is lost, and releases it at the end.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::store::{Lease, SharedStore, StoreError, TenantId};

/// A held lease with its renewal task. Fenced writes use [`TenantLease::lease`]; the store
/// refuses them once another worker has taken the tenant, whatever this side believes.
pub struct TenantLease {
    store: SharedStore,
    lease: Lease,
    lost: Arc<AtomicBool>,
    renewal: JoinHandle<()>,
}

impl TenantLease {
    /// Takes the tenant's lease, or `None` when another live holder has it.
    pub async fn acquire(
        store: SharedStore,
        user_id: &TenantId,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<TenantLease>, StoreError> {
        let Some(lease) = store.acquire_lease(user_id, holder, ttl).await? else {
            return Ok(None);
        };
        let lost = Arc::new(AtomicBool::new(false));
        let renewal = tokio::spawn(renew_until_lost(
            store.clone(),
            lease.clone(),
            ttl,
            lost.clone(),
        ));
        Ok(Some(TenantLease {
            store,
            lease,
            lost,
            renewal,
        }))
    }

    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// True once a renewal found the lease taken by someone else.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }

    /// Asks whether the lease is still held, for work running in a task of its own.
    pub fn still_held(&self) -> impl Fn() -> bool + Send + Sync + 'static {
        let lost = Arc::clone(&self.lost);
        move || !lost.load(Ordering::Relaxed)
    }

    /// Stops renewing and gives the lease up.
    pub async fn release(self) -> Result<(), StoreError> {
        self.renewal.abort();
        self.store.release_lease(&self.lease).await
    }
}

impl Drop for TenantLease {
    fn drop(&mut self) {
        // Without an explicit release (a panic, a cancelled task) the lease simply expires.
        self.renewal.abort();
    }
}

async fn renew_until_lost(store: SharedStore, lease: Lease, ttl: Duration, lost: Arc<AtomicBool>) {
    let period = ttl / 3;
    loop {
        tokio::time::sleep(period).await;
        match store.renew_lease(&lease, ttl).await {
            Ok(_) => {}
            Err(StoreError::LeaseLost { .. }) => {
                tracing::warn!(tenant = %lease.user_id, token = lease.token, "lease lost");
                lost.store(true, Ordering::Relaxed);
                return;
            }
            // A store hiccup: keep trying; if the lease expires meanwhile the fence protects.
            Err(e) => tracing::warn!(tenant = %lease.user_id, error = %e, "lease renewal failed"),
        }
    }
}
