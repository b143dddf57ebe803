//! Prometheus metrics of the API process, served at `/metrics`: its own requests and Odoo
//! connection tests, plus gauges read from the store at scrape time (tenants by status,
//! blocked tenants, live leases — the tenants a worker is on —, batches by status, mirrored
//! records by module). Each [`ApiMetrics`] has its own registry, so several apps in one
//! process (tests) never mix their numbers.
//!
//! Label values are bounded: a request is counted under its matched route template (or
//! `unmatched`) and its method when it is one of HTTP's standard methods (else `other`), so
//! made-up paths and methods cannot grow the registry.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use chrono::Utc;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use shared::modules::Module;
use shared::odoo::OdooError;
use shared::store::{BatchStatus, SharedStore, StoreError, SyncStatus};

use crate::queue::QueueDepth;

/// The API's metrics.
pub struct ApiMetrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_seconds: HistogramVec,
    odoo_probe_seconds: HistogramVec,
    odoo_probe_errors: IntCounterVec,
    tenants: IntGaugeVec,
    blocked_tenants: IntGauge,
    live_leases: IntGauge,
    batches: IntGaugeVec,
    records: IntGaugeVec,
    verify_corrected: IntGaugeVec,
    queue_jobs: IntGaugeVec,
    status_streams: IntGauge,
    status_watchers: IntGauge,
}

impl std::fmt::Debug for ApiMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiMetrics")
    }
}

/// A metric definition that does not register is a bug in this file, caught by every test.
fn registered<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: Result<M, prometheus::Error>,
) -> M {
    let metric = metric.unwrap_or_else(|e| panic!("metric definition: {e}"));
    registry
        .register(Box::new(metric.clone()))
        .unwrap_or_else(|e| panic!("metric registration: {e}"));
    metric
}

impl Default for ApiMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ApiMetrics {
    pub fn new() -> ApiMetrics {
        let registry = Registry::new_custom(Some("odoo_sync".into()), None)
            .unwrap_or_else(|e| panic!("metric registry: {e}"));
        let r = &registry;
        ApiMetrics {
            http_requests: registered(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "http_requests_total",
                        "API requests by route, method and status",
                    ),
                    &["route", "method", "status"],
                ),
            ),
            http_seconds: registered(
                r,
                HistogramVec::new(
                    HistogramOpts::new("http_request_duration_seconds", "API request latency"),
                    &["route", "method"],
                ),
            ),
            odoo_probe_seconds: registered(
                r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "odoo_call_duration_seconds",
                        "Latency of Odoo connection tests made by the API, by outcome",
                    )
                    .buckets(vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
                    &["outcome"],
                ),
            ),
            odoo_probe_errors: registered(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "odoo_call_errors_total",
                        "Failed Odoo connection tests by error class and code",
                    ),
                    &["class", "code"],
                ),
            ),
            tenants: registered(
                r,
                IntGaugeVec::new(Opts::new("tenants", "Tenants by sync status"), &["status"]),
            ),
            blocked_tenants: registered(
                r,
                IntGauge::new("tenants_blocked", "Tenants blocked until a person acts"),
            ),
            live_leases: registered(
                r,
                IntGauge::new("leases_live", "Tenants a worker holds a live lease on"),
            ),
            batches: registered(
                r,
                IntGaugeVec::new(Opts::new("batches", "Batches by status"), &["status"]),
            ),
            records: registered(
                r,
                IntGaugeVec::new(
                    Opts::new("records_synced", "Mirrored records (not deleted) by module"),
                    &["module"],
                ),
            ),
            verify_corrected: registered(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "verify_corrected_records",
                        "Records verifies found different from Odoo and rewrote, by module, \
                         over every tenant",
                    ),
                    &["module"],
                ),
            ),
            queue_jobs: registered(
                r,
                IntGaugeVec::new(
                    Opts::new("queue_jobs", "Jobs in the job queue: waiting, and dead"),
                    &["state"],
                ),
            ),
            status_streams: registered(
                r,
                IntGauge::new("status_streams", "Open status event streams"),
            ),
            status_watchers: registered(
                r,
                IntGauge::new(
                    "status_watchers",
                    "Tenants whose status is being watched for their event streams",
                ),
            ),
            registry,
        }
    }

    /// Sets the status stream gauges.
    pub fn observe_status_streams(&self, streams: usize, watchers: usize) {
        self.status_streams.set(gauge(streams as u64));
        self.status_watchers.set(gauge(watchers as u64));
    }

    /// Sets the queue gauges from a fresh reading.
    pub fn observe_queue(&self, depth: &QueueDepth) {
        self.queue_jobs
            .with_label_values(&["waiting"])
            .set(gauge(depth.waiting));
        self.queue_jobs
            .with_label_values(&["dead"])
            .set(gauge(depth.dead));
    }

    /// Counts one connection test.
    pub fn observe_probe(&self, elapsed: Duration, error: Option<&OdooError>) {
        let outcome = if error.is_some() { "error" } else { "ok" };
        self.odoo_probe_seconds
            .with_label_values(&[outcome])
            .observe(elapsed.as_secs_f64());
        if let Some(e) = error {
            let class = format!("{:?}", e.class()).to_lowercase();
            self.odoo_probe_errors
                .with_label_values(&[class.as_str(), e.code()])
                .inc();
        }
    }

    fn observe_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        self.http_requests
            .with_label_values(&[route, method, &status.to_string()])
            .inc();
        self.http_seconds
            .with_label_values(&[route, method])
            .observe(elapsed.as_secs_f64());
    }

    /// Refreshes the store gauges and renders everything in the text format.
    pub async fn render(&self, store: &SharedStore) -> Result<String, StoreError> {
        let overview = store.overview(Utc::now()).await?;
        for status in SyncStatus::ALL {
            let n = overview.tenants.get(status).copied().unwrap_or(0);
            self.tenants
                .with_label_values(&[status.as_str()])
                .set(gauge(n));
        }
        self.blocked_tenants.set(gauge(overview.blocked_tenants));
        self.live_leases.set(gauge(overview.live_leases));
        let b = overview.batches;
        for (status, n) in [
            (BatchStatus::Pending, b.pending),
            (BatchStatus::InProgress, b.in_progress),
            (BatchStatus::Done, b.done),
            (BatchStatus::Failed, b.failed),
            (BatchStatus::PermanentlyFailed, b.permanently_failed),
        ] {
            self.batches
                .with_label_values(&[status.as_str()])
                .set(gauge(n));
        }
        for (module, n) in &overview.records {
            self.records
                .with_label_values(&[module.as_str()])
                .set(gauge(*n));
        }
        for module in Module::all() {
            let n = overview.verify_corrected.get(&module).copied().unwrap_or(0);
            self.verify_corrected
                .with_label_values(&[module.as_str()])
                .set(gauge(n));
        }
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .map_err(|e| StoreError::Backend(format!("encoding metrics: {e}")))?;
        String::from_utf8(out).map_err(|e| StoreError::Backend(format!("metrics text: {e}")))
    }
}

fn gauge(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The method as a label: one of HTTP's standard methods, else `other` (any token is a
/// valid method, so the raw value would let clients add label values at will).
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::PATCH, "PATCH"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::CONNECT, "CONNECT"),
        (Method::TRACE, "TRACE"),
    ];
    KNOWN
        .iter()
        .find(|(known, _)| known == method)
        .map_or("other", |(_, label)| label)
}

/// Middleware counting every request by its route template (never the raw path, which
/// would carry ids and blow up the label space) and its bounded method label.
pub async fn track(
    State(metrics): State<Arc<ApiMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_string();
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.observe_request(
        &route,
        method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        for made_up in ["FOO", "BREW", "get2", "PROPFIND"] {
            let method = Method::from_bytes(made_up.as_bytes()).expect("a token");
            assert_eq!(method_label(&method), "other", "{made_up}");
        }
    }
}
