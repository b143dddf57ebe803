//! Graceful shutdown of a worker process, as a small explicit type: a signal (SIGTERM,
//! Ctrl-C, or a call) flips it once; the queue stops handing out jobs; jobs already running
//! get `grace` to finish; whatever leases this process still holds afterwards are released
//! so another worker can take the tenants at once instead of waiting for them to expire.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use shared::store::{Lease, SharedStore, TenantId};
use tokio::sync::{watch, Notify};

/// The stop signal and the in-flight tenants of one process. Cheap to clone.
#[derive(Clone)]
pub struct Shutdown {
    stop: watch::Sender<bool>,
    in_flight: Arc<Mutex<HashMap<TenantId, usize>>>,
    /// Woken whenever a job ends, for [`Shutdown::idle`].
    job_ended: Arc<Notify>,
    grace: Duration,
}

impl Shutdown {
    pub fn new(grace: Duration) -> Self {
        Shutdown {
            stop: watch::channel(false).0,
            in_flight: Arc::new(Mutex::new(HashMap::new())),
            job_ended: Arc::new(Notify::new()),
            grace,
        }
    }

    /// Resolves once no job is running in this process: after a stop, the queue fetchers
    /// have nothing left to finish and can be stopped without waiting out the grace period.
    pub async fn idle(&self) {
        loop {
            let ended = self.job_ended.notified();
            tokio::pin!(ended);
            // Registered before the check, so a job ending in between still wakes us.
            ended.as_mut().enable();
            if self.in_flight.lock().is_empty() {
                return;
            }
            ended.await;
        }
    }

    /// How long running jobs may take to finish once the stop is asked.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// Asks everything to stop (idempotent).
    pub fn trigger(&self) {
        self.stop.send_replace(true);
    }

    pub fn is_triggered(&self) -> bool {
        *self.stop.borrow()
    }

    /// Resolves once the stop was asked.
    pub async fn triggered(&self) {
        let mut rx = self.stop.subscribe();
        // An error means the sender is gone, which cannot happen while `self` lives.
        let _ = rx.wait_for(|stop| *stop).await;
    }

    /// Triggers on SIGTERM or Ctrl-C (SIGINT). Spawns a task; returns at once.
    pub fn on_signals(&self) {
        let this = self.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!(
                "stop requested: no new jobs; running jobs get {:?}",
                this.grace
            );
            this.trigger();
        });
    }

    /// Marks a tenant as being worked on by this process until the guard drops.
    pub fn track(&self, tenant: &TenantId) -> InFlight {
        *self.in_flight.lock().entry(tenant.clone()).or_insert(0) += 1;
        InFlight {
            tenant: tenant.clone(),
            in_flight: self.in_flight.clone(),
            job_ended: self.job_ended.clone(),
        }
    }

    /// Tenants with a job running in this process.
    pub fn in_flight(&self) -> Vec<TenantId> {
        self.in_flight.lock().keys().cloned().collect()
    }

    /// Releases the leases `holder` (this process's engine) still holds on in-flight tenants:
    /// called after the grace period, when the jobs left are being abandoned. A release is
    /// fenced by token and holder, so it can never free another worker's lease.
    pub async fn release_leases(&self, store: &SharedStore, holder: &str) -> usize {
        let mut released = 0;
        for tenant in self.in_flight() {
            let state = match store.tenant(&tenant).await {
                Ok(Some(state)) => state,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(%tenant, error = %e, "cannot read the lease to release it");
                    continue;
                }
            };
            let Some(info) = state.lease.filter(|l| l.holder == holder) else {
                continue;
            };
            let lease = Lease {
                user_id: tenant.clone(),
                holder: info.holder,
                token: info.token,
                expires_at: info.expires_at,
            };
            match store.release_lease(&lease).await {
                Ok(()) => released += 1,
                Err(e) => {
                    tracing::warn!(%tenant, error = %e, "releasing a lease failed; it will expire")
                }
            }
        }
        released
    }
}

/// Keeps a tenant in the in-flight set while a job runs.
pub struct InFlight {
    tenant: TenantId,
    in_flight: Arc<Mutex<HashMap<TenantId, usize>>>,
    job_ended: Arc<Notify>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        {
            let mut map = self.in_flight.lock();
            if let Some(count) = map.get_mut(&self.tenant) {
                *count -= 1;
                if *count == 0 {
                    map.remove(&self.tenant);
                }
            }
        }
        self.job_ended.notify_waiters();
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn trigger_wakes_waiters_once_and_for_all() {
        let shutdown = Shutdown::new(Duration::from_secs(1));
        assert!(!shutdown.is_triggered());
        let waiter = tokio::spawn({
            let s = shutdown.clone();
            async move { s.triggered().await }
        });
        shutdown.trigger();
        shutdown.trigger();
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .expect("woken")
            .expect("joined");
        assert!(shutdown.is_triggered());
        // A late waiter returns at once.
        tokio::time::timeout(Duration::from_millis(100), shutdown.triggered())
            .await
            .expect("already triggered");
    }

    #[tokio::test]
    async fn idle_waits_for_the_last_running_job() {
        let shutdown = Shutdown::new(Duration::from_secs(1));
        shutdown.idle().await;
        let job = shutdown.track(&TenantId::parse("a").expect("id"));
        let waiter = tokio::spawn({
            let s = shutdown.clone();
            async move { s.idle().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "a job is still running");
        drop(job);
        tokio::time::timeout(Duration::from_secs(60), waiter)
            .await
            .expect("idle once the job ended")
            .expect("joined");
    }

    #[test]
    fn in_flight_counts_nested_jobs_of_a_tenant() {
        let shutdown = Shutdown::new(Duration::from_secs(1));
        let t = TenantId::parse("a").expect("id");
        let first = shutdown.track(&t);
        let second = shutdown.track(&t);
        drop(first);
        assert_eq!(shutdown.in_flight(), vec![t.clone()]);
        drop(second);
        assert!(shutdown.in_flight().is_empty());
    }
}
