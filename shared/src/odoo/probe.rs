//! What a server offers before anyone logs in: for each of the three protocols, whether its
//! endpoint answers and which version it reports (`odoo-sync inspect` prints it). Unlike
//! detection, which stops at the first protocol that will do, every protocol is tried, each
//! once: no retries (a probe that fails says so), the politeness gap between requests, and
//! no secret sent.

use std::fmt;

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::client::ClientSettings;
use super::connection::{DatabaseName, OdooUrl};
use super::pacer::Pacer;
use super::redact::Redactor;
use super::transport::{CallTarget, Protocol, Wire};
use super::version::ServerVersion;
use super::{OdooError, TransientKind};

/// The JSON-2 call a probe makes without a key: answered with 401 where JSON-2 is served,
/// 404 where it is not. Harmless: no key is checked, so no failed login is counted.
const JSON2_PROBE: &str = "/json/2/res.users/context_get";

/// How one protocol's endpoint answered.
#[derive(Debug)]
pub enum ProbeOutcome {
    /// The endpoint answered as the protocol does; `version` when it said one.
    Answered { version: Option<ServerVersion> },
    /// The server was reached, but this endpoint is not there or speaks something else.
    NotOffered { detail: String },
    /// No usable answer: connection refused, timeout, throttling, a server error.
    Failed { error: OdooError },
}

/// One protocol's probe.
#[derive(Debug)]
pub struct ProtocolProbe {
    pub protocol: Protocol,
    pub outcome: ProbeOutcome,
}

impl ProtocolProbe {
    pub fn answered(&self) -> bool {
        matches!(self.outcome, ProbeOutcome::Answered { .. })
    }

    /// The version this protocol's endpoint reported.
    pub fn version(&self) -> Option<&ServerVersion> {
        match &self.outcome {
            ProbeOutcome::Answered { version } => version.as_ref(),
            _ => None,
        }
    }

    /// True when the request never got an answer from a server (refused, timed out, cut):
    /// a server that cannot be reached fails every probe this way.
    pub fn unreachable(&self) -> bool {
        matches!(
            &self.outcome,
            ProbeOutcome::Failed {
                error: OdooError::Transient {
                    kind: TransientKind::Connect | TransientKind::Timeout | TransientKind::Reset,
                    ..
                }
            }
        )
    }
}

impl fmt::Display for ProbeOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeOutcome::Answered {
                version: Some(version),
            } => write!(f, "answers (Odoo {version})"),
            ProbeOutcome::Answered { version: None } => f.write_str("answers"),
            ProbeOutcome::NotOffered { detail } => write!(f, "not offered ({detail})"),
            ProbeOutcome::Failed { error } => write!(f, "error ({error})"),
        }
    }
}

/// Probes JSON-2, XML-RPC and JSON-RPC on `url`, in that order, for database `db`.
pub async fn probe_protocols(
    http: &reqwest::Client,
    url: &OdooUrl,
    db: &DatabaseName,
    settings: &ClientSettings,
) -> Vec<ProtocolProbe> {
    // No secret travels in a probe, so there is nothing to scrub.
    let wire = Wire::new(
        http.clone(),
        url.clone(),
        settings.limits,
        Redactor::default(),
    );
    let pacer = Pacer::new(settings.call_delay);
    let target = CallTarget {
        db: db.as_str(),
        model: None,
    };
    let json2 = probe_json2(http, url, db, &wire, &pacer).await;
    let mut probes = vec![ProtocolProbe {
        protocol: Protocol::Json2,
        outcome: json2,
    }];
    for protocol in [Protocol::XmlRpc, Protocol::JsonRpc] {
        let answer = {
            let _turn = pacer.turn().await;
            match protocol {
                Protocol::XmlRpc => wire.xmlrpc("common", "version", &[], target).await,
                _ => wire.jsonrpc("common", "version", &[], target).await,
            }
        };
        let outcome = match answer {
            Ok(answer) => ProbeOutcome::Answered {
                version: ServerVersion::from_answer(&answer).ok(),
            },
            Err(OdooError::ApiUnavailable { detail, .. }) => ProbeOutcome::NotOffered { detail },
            // An answer that is not this protocol (an HTML page, another service).
            Err(OdooError::Protocol(detail)) => ProbeOutcome::NotOffered { detail },
            Err(error) => ProbeOutcome::Failed { error },
        };
        probes.push(ProtocolProbe { protocol, outcome });
    }
    probes
}

/// `POST /json/2/res.users/context_get` without a key: 401 (or 403, or an answer) means the
/// endpoint is there; then `GET /web/version` for the version it runs.
async fn probe_json2(
    http: &reqwest::Client,
    url: &OdooUrl,
    db: &DatabaseName,
    wire: &Wire,
    pacer: &Pacer,
) -> ProbeOutcome {
    let (status, json_body) = {
        let _turn = pacer.turn().await;
        let sent = http
            .post(url.endpoint(JSON2_PROBE))
            .header("X-Odoo-Database", db.as_str())
            .json(&json!({}))
            .send()
            .await;
        match sent {
            Ok(response) => {
                let status = response.status();
                (status, is_json(response).await)
            }
            Err(error) => {
                return ProbeOutcome::Failed {
                    error: unreached(&error),
                }
            }
        }
    };
    // JSON-2 answers 401 without a key; its other errors (an unknown database, say) come
    // as JSON with a real status, where a server without it sends its HTML 404 page.
    let answered = status.is_success()
        || status == StatusCode::UNAUTHORIZED
        || status == StatusCode::FORBIDDEN
        || (status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS && json_body);
    if !answered {
        return match status.as_u16() {
            429 | 500..=599 => ProbeOutcome::Failed {
                error: OdooError::ServerFault {
                    code: status.as_u16().to_string(),
                    message: format!("POST {JSON2_PROBE} answered {status}"),
                },
            },
            _ => ProbeOutcome::NotOffered {
                detail: format!("POST {JSON2_PROBE} answered {status}"),
            },
        };
    }
    let version = {
        let _turn = pacer.turn().await;
        wire.web_version().await
    };
    ProbeOutcome::Answered {
        version: version
            .ok()
            .and_then(|answer: Value| ServerVersion::from_answer(&answer).ok()),
    }
}

/// Whether the body is JSON. Read up to 64 KiB: an error body is short, and a probe must
/// not buffer whatever a server sends.
async fn is_json(mut response: reqwest::Response) -> bool {
    const MAX: usize = 64 * 1024;
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        if body.len() + chunk.len() > MAX {
            return false;
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice::<Value>(&body).is_ok()
}

/// A request that got no answer, classified as the transport classifies it. reqwest's
/// message names the URL, never a secret (none is sent here).
fn unreached(error: &reqwest::Error) -> OdooError {
    let kind = if error.is_timeout() {
        TransientKind::Timeout
    } else if error.is_connect() {
        TransientKind::Connect
    } else {
        TransientKind::Reset
    };
    let mut detail = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        detail.push_str(": ");
        detail.push_str(&inner.to_string());
        source = inner.source();
    }
    OdooError::Transient { kind, detail }
}
