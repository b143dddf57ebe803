//! An Odoo simulator: many databases, each with its own version (12 to 19), users, installed
//! apps and generated data, served over XML-RPC, JSON-RPC and JSON-2 with the behaviours listed
//! in `ODOO-API.md`, plus test hooks (data generation, live mutation, transactions, fault
//! injection, call counters).
//!
//! # Use from tests
//!
//! ```no_run
//! # async fn demo() -> Result<(), sim::SimError> {
//! use sim::{DatabaseSpec, FaultKind, FaultRule, Simulator, Trigger, UserSpec};
//! use serde_json::json;
//!
//! let sim = Simulator::new();
//! let mut spec = DatabaseSpec::new("acme", 17); // admin/admin, uid 2, every app
//! spec.users = vec![UserSpec::admin().with_api_key("secret-key")];
//! spec.data.records = 5_000;
//! let db = sim.add_database(spec)?;
//! let server = sim.serve("127.0.0.1:0").await?;
//! let url = server.url(); // or server.db_url("acme"): that database only
//!
//! // Live changes, each its own transaction stamped now:
//! let id = db.create("res.partner", json!({"name": "New Co", "is_company": true}))?;
//! db.update("res.partner", id, json!({"city": "Paris"}))?;
//! db.archive("res.partner", id)?;
//! // A late-committing transaction: rows carry its start time, appear at commit.
//! let mut tx = db.begin();
//! tx.create("res.partner", json!({"name": "Late"}))?;
//! tx.commit();
//!
//! db.add_fault(FaultRule::new(FaultKind::ServiceUnavailable, Trigger::Next(2)));
//! let calls = db.stats().get("search_read");
//! let mirror_should_be = db.snapshot("res.partner")?; // every row, archived included
//! server.shutdown().await?;
//! # let _ = (url, calls, mirror_should_be); Ok(()) }
//! ```
//!
//! # Routes
//!
//! At the root and again under `/db/<name>` (that database only, answering `version` with its
//! own version): `POST /xmlrpc/2/common` (`version`, `login`, `authenticate`),
//! `POST /xmlrpc/2/object` (`execute_kw`, `execute`), `POST /jsonrpc`,
//! `POST /json/2/<model>/<method>` and `GET /web/version` (version 19 only; older versions
//! answer Odoo's HTML 404 page, as the captured 17.0 does),
//! `POST /web/session/authenticate`. Simulator-only: `GET /__sim/stats`,
//! `GET /__sim/stats/<db>`, `DELETE /__sim/stats/<db>` or `POST /__sim/stats/<db>/reset`.
//! Responses are gzip-compressed when the client accepts it.
//!
//! # Models
//!
//! `res.partner`, `res.users`, `ir.module.module` (Settings group only), `ir.model` (every
//! model of the database), `sale.order` and `sale.order.line` (app `sale`; the unit of measure
//! is `product_uom` until 18, `product_uom_id` on 19), `account.move` and `account.move.line`
//! (13+, `type` on 13, `move_type` from 14) or `account.invoice` and `account.invoice.line` (12)
//! (app `account`), `product.product` (with `sale`, `account` or `stock`), `hr.employee` (HR
//! rights from 13) and `hr.employee.public` (13+) (app `hr`); app `stock` adds the storable
//! product type. Methods: `search`, `search_count`, `search_read`, `read`, `fields_get`,
//! `read_group`, `formatted_read_group` (19), `res.users.context_get`. Domains may follow
//! many2one paths (`move_id.move_type`).
//!
//! Custom (Studio) fields: [`Db::add_custom_field`] at run time, [`DatabaseSpec::custom_fields`]
//! from the start, `--custom-field` on the command line. Adding one leaves `write_date`s alone.
//!
//! # Speed
//!
//! Generating 50,000 records (four models) took 50 to 100 ms before products and document
//! lines were added; those add about 1.5 lines per generated record (77,000 lines for 50,000
//! records) and about three times the time (a debug build went from 1.6 s to 4.7 s). Serving `search_read` pages of
//! 200 records (10 fields) over XML-RPC on loopback, keyset-paged by id, reaches about
//! 250,000 to 280,000 records/s with one client, and up to 480,000 records/s with four clients
//! when the machine is otherwise idle (release build, 2 cores, client in the same process):
//! `cargo run --release -p sim --example bench_search_read`. An engine benchmark well below
//! that measures the engine, not the simulator.
//!
//! # Not simulated
//!
//! Writes through the API (`create`, `write`, `unlink`), dotted paths into the fixed reference
//! models (countries, currencies, companies, categories, units, accounts), `child_of`, time
//! zones in `read_group` (buckets are UTC), stored related fields following their source after
//! creation (a line's `state` does not follow a later change of its order's).

mod catalog;
pub mod cli;
mod conn;
mod counters;
mod custom;
mod database;
mod domain;
mod error;
mod faults;
mod generator;
mod generator_lines;
mod grouping;
mod json2_api;
mod jsonrpc_api;
mod methods;
mod odoo_error;
mod out_of_band;
mod pipeline;
mod render;
mod schema;
mod schema_ext;
mod scope;
mod server;
mod services;
mod simulator;
mod state;
mod value;
mod xmlrpc_api;

pub use cli::{run, SimArgs};
pub use counters::CallStats;
pub use custom::{CustomField, CustomFieldKind};
pub use database::{DatabaseSpec, Db, LoginThrottle, Transaction, UserSpec, TOO_MANY_FAILURES};
pub use error::SimError;
pub use faults::{FaultKind, FaultRule, Trigger};
pub use generator::{BurstSpec, DataSpec};
pub use schema::App;
pub use simulator::{SimServer, Simulator};
