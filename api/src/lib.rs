//! The HTTP API (axum, DESIGN.md 4.3): tenant routes over what the engine writes
//! (save-connection, status with ETag and events, dashboard, records, delete), operator
//! routes and page behind `ADMIN_TOKEN`, health, readiness, Prometheus metrics and the
//! OpenAPI document. The API never runs a sync: workers do.
//!
//! - [`startup`]: the router and the bound [`startup::Application`];
//! - [`routes`]: one module per route group;
//! - [`auth`]: tenants' JWTs and the admin token; [`error`]: errors as JSON;
//! - [`ssrf`] and [`probe`]: which Odoo URLs may be reached, and the connection test;
//! - [`scrub`]: the tenant's secret removed from stored errors when they are read;
//! - [`status`], [`dashboard`], [`operator`]: what the routes compute from the store;
//! - [`status_watch`]: one status watcher per tenant for its event streams, with caps;
//! - [`rate_limit`]: save-connection's per-tenant and overall rate limits;
//! - [`queue`]: the job queue's depth, dead jobs and drain, for operators;
//! - [`serve`], [`http_limits`]: connections and request heads bounded against slow,
//!   idle and oversized clients;
//! - [`extract`], [`metrics`], [`openapi`], [`settings`], [`state`]: the plumbing.

pub mod auth;
pub mod dashboard;
pub mod error;
pub mod extract;
pub mod http_limits;
pub mod metrics;
pub mod openapi;
pub mod operator;
pub mod probe;
pub mod queue;
pub mod rate_limit;
pub mod routes;
pub mod scrub;
pub mod serve;
pub mod settings;
pub mod ssrf;
pub mod startup;
pub mod state;
pub mod status;
pub mod status_watch;
pub mod warning;

pub use settings::ApiSettings;
pub use startup::{router, Application};
