//! One status watcher per tenant, shared by all of that tenant's event streams: the first
//! stream starts a task that reads the tenant's status every `status_poll_interval` and
//! publishes it on a `tokio::sync::watch` channel; later streams subscribe to the same
//! channel, and the last one to close stops the task. So 5,000 streams of one tenant cost
//! one store read per interval, not 5,000.
//!
//! Streams are capped per tenant (429 `too_many_streams`) and in total (503
//! `streams_exhausted`), and [`StatusWatchers::close`] ends every stream at shutdown, so a
//! server stopping gracefully does not wait on streams that never end by themselves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shared::store::{SharedStore, TenantId};
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::error::ApiError;
use crate::scrub::StoredErrorScrubber;
use crate::status::{tenant_status, StatusBody};

/// The latest status of a watched tenant (`None` until the first read).
pub type Latest = Option<Arc<StatusBody>>;

/// The watchers of one API.
pub struct StatusWatchers {
    store: SharedStore,
    scrubber: Arc<StoredErrorScrubber>,
    interval: Duration,
    per_tenant: usize,
    total: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    tenants: HashMap<TenantId, Watcher>,
    streams: usize,
    closed: bool,
}

struct Watcher {
    latest: watch::Receiver<Latest>,
    task: AbortHandle,
    streams: usize,
}

impl std::fmt::Debug for StatusWatchers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (streams, watchers) = self.counts();
        f.debug_struct("StatusWatchers")
            .field("streams", &streams)
            .field("watchers", &watchers)
            .finish_non_exhaustive()
    }
}

impl StatusWatchers {
    pub fn new(
        store: SharedStore,
        scrubber: Arc<StoredErrorScrubber>,
        interval: Duration,
        per_tenant: usize,
        total: usize,
    ) -> StatusWatchers {
        StatusWatchers {
            store,
            scrubber,
            interval,
            per_tenant,
            total,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain counters behind: still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Open streams and watched tenants.
    pub fn counts(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.streams, inner.tenants.len())
    }

    /// A new stream of `user_id`'s status, or why it may not be opened.
    pub fn subscribe(self: &Arc<Self>, user_id: &TenantId) -> Result<Subscription, ApiError> {
        let mut inner = self.lock();
        if inner.closed {
            return Err(ApiError::Overloaded {
                code: "shutting_down",
                message: "the server is shutting down".into(),
            });
        }
        let tenant_streams = inner.tenants.get(user_id).map_or(0, |w| w.streams);
        if tenant_streams >= self.per_tenant {
            return Err(ApiError::TooManyRequests {
                code: "too_many_streams",
                message: format!(
                    "at most {} status streams per tenant may be open; close one first",
                    self.per_tenant
                ),
                retry_after: None,
            });
        }
        if inner.streams >= self.total {
            return Err(ApiError::Overloaded {
                code: "streams_exhausted",
                message: "the server holds as many status streams as it can; poll \
                          GET /odoo/status instead or try again later"
                    .into(),
            });
        }
        inner.streams += 1;
        let watcher = inner
            .tenants
            .entry(user_id.clone())
            .or_insert_with(|| self.start(user_id));
        watcher.streams += 1;
        let mut latest = watcher.latest.clone();
        // The stream's first event is the status already known, if any.
        latest.mark_changed();
        Ok(Subscription {
            latest,
            _guard: StreamGuard {
                watchers: Arc::clone(self),
                user_id: user_id.clone(),
            },
        })
    }

    fn start(&self, user_id: &TenantId) -> Watcher {
        let (sender, latest) = watch::channel(None);
        let task = tokio::spawn(watch_tenant(
            self.store.clone(),
            self.scrubber.clone(),
            user_id.clone(),
            self.interval,
            sender,
        ));
        Watcher {
            latest,
            task: task.abort_handle(),
            streams: 0,
        }
    }

    fn release(&self, user_id: &TenantId) {
        let mut inner = self.lock();
        inner.streams = inner.streams.saturating_sub(1);
        let last = match inner.tenants.get_mut(user_id) {
            Some(watcher) => {
                watcher.streams = watcher.streams.saturating_sub(1);
                watcher.streams == 0
            }
            None => false,
        };
        if last {
            if let Some(watcher) = inner.tenants.remove(user_id) {
                watcher.task.abort();
            }
        }
    }

    /// Ends every stream (their watchers stop, so the channels close) and refuses new ones.
    pub fn close(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        for (_, watcher) in inner.tenants.drain() {
            watcher.task.abort();
        }
    }
}

/// Reads the tenant's status every `interval` and publishes it when it changed.
async fn watch_tenant(
    store: SharedStore,
    scrubber: Arc<StoredErrorScrubber>,
    user_id: TenantId,
    interval: Duration,
    sender: watch::Sender<Latest>,
) {
    let mut last_etag = None;
    loop {
        match tenant_status(&store, &user_id, &scrubber).await {
            Ok(body) => {
                let etag = body.etag();
                if last_etag.as_ref() != Some(&etag) {
                    last_etag = Some(etag);
                    sender.send_replace(Some(Arc::new(body)));
                }
            }
            Err(e) => {
                tracing::warn!(tenant = %user_id, error = %e, "status watcher: store error");
            }
        }
        tokio::time::sleep(interval).await;
    }
}

/// One stream's view of its tenant's watcher; dropping it releases the stream's place.
pub struct Subscription {
    latest: watch::Receiver<Latest>,
    _guard: StreamGuard,
}

impl Subscription {
    /// The next status that differs from the last one seen; `None` once the watcher stopped
    /// (shutdown).
    pub async fn next(&mut self) -> Option<Arc<StatusBody>> {
        loop {
            self.latest.changed().await.ok()?;
            if let Some(body) = self.latest.borrow_and_update().clone() {
                return Some(body);
            }
        }
    }
}

struct StreamGuard {
    watchers: Arc<StatusWatchers>,
    user_id: TenantId,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.watchers.release(&self.user_id);
    }
}
