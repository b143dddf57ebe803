//! The engine library shared by every process: configuration, the Odoo external-API client
//! and the per-model mapping. Later: the sync engine, the stores and the queue contracts.

pub mod config;
pub mod crypto;
pub mod figures;
pub mod mirror;
pub mod modules;
pub mod money;
pub mod odoo;
pub mod store;
pub mod sync;
pub mod warnings;
