//! Errors of the simulator's own API (setting it up, mutating data, serving), as opposed to
//! the Odoo exceptions it simulates for clients (`odoo_error`).

use std::net::SocketAddr;

/// Why a simulator operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("no database named {0:?}")]
    UnknownDatabase(String),
    #[error("database {0:?} already exists")]
    DuplicateDatabase(String),
    #[error("Odoo version {0} is not simulated (12 to 19 are)")]
    UnsupportedVersion(u32),
    #[error("model {model:?} does not exist in database {database:?}")]
    UnknownModel { database: String, model: String },
    #[error("model {model:?} has no field {field:?}")]
    UnknownField { model: String, field: String },
    #[error("model {model:?} has no archive flag (`active`)")]
    NotArchivable { model: String },
    #[error("field {model}.{field}: {reason}")]
    InvalidValue {
        model: String,
        field: String,
        reason: String,
    },
    #[error("cannot add custom field {model}.{field}: {reason}")]
    InvalidCustomField {
        model: String,
        field: String,
        reason: String,
    },
    #[error("record {model}({id}) does not exist")]
    MissingRecord { model: String, id: i64 },
    #[error("no user with login {0:?}")]
    UnknownUser(String),
    #[error("invalid {what} {input:?}: {reason}")]
    InvalidSpec {
        what: &'static str,
        input: String,
        reason: String,
    },
    // The cause is the `source`: `{e:#}` prints it after this text, once.
    #[error("cannot listen on {addr} (another server on that port? `--listen 127.0.0.1:0` picks a free one)")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("server on {addr} failed: {source}")]
    Serve {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write to standard output: {0}")]
    Output(#[source] std::io::Error),
}
