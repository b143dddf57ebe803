//! The routes, one module per group: health and readiness, the tenant's connection, status
//! (polling and events), dashboard, records, operator routes and page, metrics and the
//! OpenAPI document. [`crate::startup`] puts them together.

pub mod admin;
pub mod connection;
pub mod dashboard;
pub mod docs;
pub mod health;
pub mod metrics;
pub mod modules;
pub mod page;
pub mod records;
pub mod status;
