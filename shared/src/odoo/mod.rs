//! Odoo's external API: the wire codecs (XML-RPC, JSON), the three transports and the client
//! the engine talks to. `ODOO-API.md` in the shared folder lists the server behaviour this
//! module copes with.

mod choice;
mod client;
mod connection;
mod domain;
mod error;
mod pacer;
mod paging;
mod probe;
mod redact;
mod transport;
mod version;
pub mod xmlrpc;

pub use choice::{NoJson2, ProtocolChoice, ProtocolReason};
pub use client::{
    http_client, AppProbe, ClientSettings, Granularity, KeyOwnerError, OdooClient, PeriodCount,
    Record, RetryPolicy, SearchOptions,
};
pub use connection::{ConnectionInfo, Credential, DatabaseName, Login, OdooUrl};
pub use domain::{Context, Domain, Op};
pub use error::{ErrorClass, OdooError, TransientKind};
pub use pacer::Pacer;
pub use paging::{page_too_big, PageAnswer, PageSizer, MIN_PAGE};
pub use probe::{probe_protocols, ProbeOutcome, ProtocolProbe};
pub use redact::{Redactor, REDACTED};
pub use transport::Protocol;
pub use version::ServerVersion;
