//! The one error type of the Odoo client, classified so the engine can act on it: retry
//! (transient, rate limited), stop the tenant with a clear state (authentication, access,
//! missing model), or fail the attempt (server fault, protocol error).
//!
//! No variant ever carries a secret: requests never put the password or API key in a URL,
//! and messages made from Odoo's answers (which may quote what they were sent) are scrubbed
//! by the connection's `Redactor` (see `redact.rs`) before they become an error.

use std::fmt;
use std::time::Duration;

/// Why a call failed, in the terms the engine decides on.
#[derive(Debug, thiserror::Error)]
pub enum OdooError {
    /// Odoo refused the login or the secret (authenticate returned False, `Access Denied`,
    /// JSON-2 401). Never retried in a loop: Odoo blocks an IP after repeated failures.
    #[error("Odoo refused the credentials: {reason}")]
    AuthenticationFailed { reason: String },

    /// Odoo is refusing logins from this address after too many failures.
    #[error("Odoo is blocking logins after too many failures; wait before trying again")]
    LoginThrottled,

    /// The user may not read this model.
    #[error("access denied on model {model}: {message}")]
    AccessDenied { model: String, message: String },

    /// The model does not exist on this server (its app is not installed).
    #[error("model {model} does not exist on this Odoo server")]
    MissingModel { model: String },

    /// A field named in the call does not exist on the model.
    #[error("invalid field on model {model}: {message}")]
    InvalidField { model: String, message: String },

    /// The database named in the connection does not exist.
    #[error("database {db:?} does not exist on this Odoo server")]
    UnknownDatabase { db: String },

    /// The server answered 429.
    #[error("Odoo rate-limited the call{}", retry_after_text(.retry_after))]
    RateLimited { retry_after: Option<Duration> },

    /// Worth retrying with back-off: connection refused or reset, timeout, 502/503/504.
    #[error("transient error talking to Odoo ({kind}): {detail}")]
    Transient { kind: TransientKind, detail: String },

    /// Odoo raised an error we do not classify further (fault 1 tracebacks, HTTP 500, ...).
    #[error("Odoo server error ({code}): {message}")]
    ServerFault { code: String, message: String },

    /// The endpoint for the external API is not there or refuses the protocol (404 on
    /// `/xmlrpc/2`, JSON-2 on a server older than 19, an Odoo Online plan without API access).
    #[error("the Odoo external API is not available over {protocol}: {detail}")]
    ApiUnavailable { protocol: String, detail: String },

    /// The answer could not be understood (not XML-RPC, not JSON, wrong shape).
    #[error("unexpected answer from Odoo: {0}")]
    Protocol(String),

    /// The connection settings themselves are invalid (caught before any call).
    #[error("invalid Odoo connection setting: {0}")]
    InvalidSetting(String),
}

fn retry_after_text(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!(" (retry after {} s)", d.as_secs()),
        None => String::new(),
    }
}

/// The kinds of transient failure, kept apart for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransientKind {
    Connect,
    Timeout,
    Reset,
    BadGateway,
    ServiceUnavailable,
    GatewayTimeout,
}

impl fmt::Display for TransientKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransientKind::Connect => "connect",
            TransientKind::Timeout => "timeout",
            TransientKind::Reset => "connection reset",
            TransientKind::BadGateway => "502 bad gateway",
            TransientKind::ServiceUnavailable => "503 service unavailable",
            TransientKind::GatewayTimeout => "504 gateway timeout",
        })
    }
}

/// What the engine should do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Retry the same call later with back-off.
    Retryable,
    /// The tenant cannot go on until a person acts (credentials, rights, database).
    TenantBlocked,
    /// This call failed; retrying the same thing is unlikely to help soon.
    Failed,
}

impl OdooError {
    /// How the engine should treat this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            // An unparseable answer is most often a proxy or a connection cut short: retry.
            OdooError::RateLimited { .. }
            | OdooError::Transient { .. }
            | OdooError::Protocol(_) => ErrorClass::Retryable,
            OdooError::AuthenticationFailed { .. }
            | OdooError::LoginThrottled
            | OdooError::AccessDenied { .. }
            | OdooError::UnknownDatabase { .. }
            | OdooError::ApiUnavailable { .. }
            | OdooError::InvalidSetting(_) => ErrorClass::TenantBlocked,
            OdooError::MissingModel { .. }
            | OdooError::InvalidField { .. }
            | OdooError::ServerFault { .. } => ErrorClass::Failed,
        }
    }

    /// True for errors that are worth retrying with back-off.
    pub fn is_retryable(&self) -> bool {
        self.class() == ErrorClass::Retryable
    }

    /// The delay the server asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            OdooError::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }

    /// A short stable code for metrics, logs and status documents.
    pub fn code(&self) -> &'static str {
        match self {
            OdooError::AuthenticationFailed { .. } => "authentication_failed",
            OdooError::LoginThrottled => "login_throttled",
            OdooError::AccessDenied { .. } => "access_denied",
            OdooError::MissingModel { .. } => "missing_model",
            OdooError::InvalidField { .. } => "invalid_field",
            OdooError::UnknownDatabase { .. } => "unknown_database",
            OdooError::RateLimited { .. } => "rate_limited",
            OdooError::Transient { .. } => "transient",
            OdooError::ServerFault { .. } => "server_fault",
            OdooError::ApiUnavailable { .. } => "api_unavailable",
            OdooError::Protocol(_) => "protocol_error",
            OdooError::InvalidSetting(_) => "invalid_setting",
        }
    }
}

/// Odoo's fault strings are often whole tracebacks; keep the last meaningful line, which
/// names the exception, and cap its length so a status document stays readable.
pub(crate) fn summarize_server_message(message: &str) -> String {
    const MAX: usize = 500;
    let line = message
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    if line.chars().count() > MAX {
        let cut: String = line.chars().take(MAX).collect();
        format!("{cut}…")
    } else {
        line.to_string()
    }
}

/// Classifies an Odoo error by the exception name (JSON-RPC `data.name`, JSON-2 `name`, or
/// the text of an XML-RPC fault) and its message. `model` is the model the call was about.
pub(crate) fn classify_odoo_exception(
    name: &str,
    message: &str,
    model: Option<&str>,
    db: &str,
) -> OdooError {
    let model_name = model.unwrap_or("").to_string();
    let text = summarize_server_message(message);
    if message.contains("Too many login failures") {
        return OdooError::LoginThrottled;
    }
    if name.ends_with("AccessDenied") || text == "Access Denied" {
        return OdooError::AuthenticationFailed {
            reason: "Access Denied".into(),
        };
    }
    if name.ends_with("AccessError") {
        return OdooError::AccessDenied {
            model: model_name,
            message: text,
        };
    }
    if message.contains("doesn't exist") && message.contains("Object ") {
        return OdooError::MissingModel { model: model_name };
    }
    if message.contains("Invalid field") {
        return OdooError::InvalidField {
            model: model_name,
            message: text,
        };
    }
    if message.contains("database") && message.contains("does not exist") {
        return OdooError::UnknownDatabase { db: db.to_string() };
    }
    let code = if name.is_empty() {
        "fault".to_string()
    } else {
        name.rsplit('.').next().unwrap_or(name).to_string()
    };
    OdooError::ServerFault {
        code,
        message: text,
    }
}

/// Classifies an XML-RPC fault by Odoo's fault codes: 1 server error, 2 user error,
/// 3 access denied (bad uid or secret), 4 access error.
pub(crate) fn classify_fault(code: i64, message: &str, model: Option<&str>, db: &str) -> OdooError {
    if message.contains("Too many login failures") {
        return OdooError::LoginThrottled;
    }
    match code {
        3 => OdooError::AuthenticationFailed {
            reason: summarize_server_message(message),
        },
        4 => classify_odoo_exception("odoo.exceptions.AccessError", message, model, db),
        2 => classify_odoo_exception("odoo.exceptions.UserError", message, model, db),
        _ => classify_odoo_exception("", message, model, db),
    }
}
