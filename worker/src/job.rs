//! Tenant jobs as they travel through the queue: a small versioned JSON envelope,
//! `{"v":1,"kind":"process","tenant":"alice"}`, and a codec that never fails to decode.
//!
//! A payload this version cannot read (another version, another kind, a broken tenant id,
//! not JSON at all) decodes to [`Incoming::Unreadable`]: the worker logs it and drops it.
//! apalis stops a worker on a decode error (QUEUE-NOTES.md), and the next worker that picks
//! the payload up would stop too, so decoding must not be able to fail.

use std::fmt;

use apalis_core::backend::codec::Codec;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::store::TenantId;

/// The envelope version this build writes and reads.
pub const VERSION: u32 = 1;

/// Payload bytes quoted in the log of an unreadable job, at most.
const PREVIEW_BYTES: usize = 120;

/// What a job asks a worker to do for one tenant. A job is a hint: the store decides what
/// actually happens (DESIGN.md section 2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TenantJob {
    /// Plan the initial sync (connect, detect apps, plan windows).
    Prepare(TenantId),
    /// Run the tenant's next runnable batch.
    Process(TenantId),
}

impl TenantJob {
    pub fn tenant(&self) -> &TenantId {
        match self {
            TenantJob::Prepare(t) | TenantJob::Process(t) => t,
        }
    }

    /// `prepare` or `process`, as on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            TenantJob::Prepare(_) => "prepare",
            TenantJob::Process(_) => "process",
        }
    }

    /// The wire form.
    pub fn encode(&self) -> Vec<u8> {
        let envelope = Envelope {
            v: VERSION,
            kind: self.kind().to_string(),
            tenant: self.tenant().as_str().to_string(),
        };
        // Serializing a struct of a number and two strings cannot fail.
        serde_json::to_vec(&envelope).unwrap_or_default()
    }
}

impl fmt::Display for TenantJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind(), self.tenant())
    }
}

/// A payload as a worker receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    Job(TenantJob),
    /// Not a job this version can run: why, and the start of the payload.
    Unreadable {
        reason: String,
        preview: String,
    },
}

impl Incoming {
    /// Reads a payload; never fails.
    pub fn decode(bytes: &[u8]) -> Incoming {
        match decode_job(bytes) {
            Ok(job) => Incoming::Job(job),
            Err(reason) => Incoming::Unreadable {
                reason,
                preview: preview(bytes),
            },
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    v: u32,
    kind: String,
    tenant: String,
}

fn decode_job(bytes: &[u8]) -> Result<TenantJob, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON ({e})"))?;
    let version = value
        .get("v")
        .and_then(Value::as_u64)
        .ok_or("no version field \"v\"")?;
    if version != u64::from(VERSION) {
        return Err(format!(
            "envelope version {version}, this worker reads {VERSION}"
        ));
    }
    let envelope: Envelope =
        serde_json::from_value(value).map_err(|e| format!("bad envelope ({e})"))?;
    let tenant = TenantId::parse(&envelope.tenant).map_err(|e| e.to_string())?;
    match envelope.kind.as_str() {
        "prepare" => Ok(TenantJob::Prepare(tenant)),
        "process" => Ok(TenantJob::Process(tenant)),
        other => Err(format!("unknown job kind {other:?}")),
    }
}

fn preview(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(PREVIEW_BYTES)];
    String::from_utf8_lossy(cut).into_owned()
}

/// The queue codec: jobs encode to the envelope, anything decodes (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct JobCodec;

/// Only jobs can be pushed; an `Unreadable` is something received, never sent.
#[derive(Debug, thiserror::Error)]
#[error("only tenant jobs can be pushed")]
pub struct NotAJob;

impl Codec<Incoming> for JobCodec {
    type Compact = Vec<u8>;
    type Error = NotAJob;

    fn encode(&self, value: &Incoming) -> Result<Vec<u8>, NotAJob> {
        match value {
            Incoming::Job(job) => Ok(job.encode()),
            Incoming::Unreadable { .. } => Err(NotAJob),
        }
    }

    fn decode(&self, compact: &Vec<u8>) -> Result<Incoming, NotAJob> {
        Ok(Incoming::decode(compact))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(id: &str) -> TenantId {
        TenantId::parse(id).expect("valid id")
    }

    #[test]
    fn jobs_round_trip() {
        for job in [
            TenantJob::Prepare(tenant("alice")),
            TenantJob::Process(tenant("bob@example.com")),
        ] {
            assert_eq!(Incoming::decode(&job.encode()), Incoming::Job(job));
        }
    }

    #[test]
    fn wire_form_is_the_documented_envelope() {
        let bytes = TenantJob::Process(tenant("t-1")).encode();
        let value: Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(
            value,
            serde_json::json!({"v": 1, "kind": "process", "tenant": "t-1"})
        );
    }

    #[test]
    fn anything_else_is_unreadable_not_an_error() {
        let cases: &[&[u8]] = &[
            b"",
            b"\xff\xfe garbage",
            b"42",
            b"[1,2,3]",
            b"{\"kind\":\"process\",\"tenant\":\"a\"}",
            b"{\"v\":2,\"kind\":\"process\",\"tenant\":\"a\"}",
            b"{\"v\":1,\"kind\":\"explode\",\"tenant\":\"a\"}",
            b"{\"v\":1,\"kind\":\"process\",\"tenant\":\"no spaces allowed\"}",
            b"{\"v\":1,\"kind\":\"process\"}",
        ];
        for bytes in cases {
            let decoded = JobCodec.decode(&bytes.to_vec()).expect("never fails");
            assert!(
                matches!(decoded, Incoming::Unreadable { .. }),
                "{:?} decoded as {decoded:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn extra_fields_of_a_newer_minor_writer_are_ignored() {
        let bytes = br#"{"v":1,"kind":"prepare","tenant":"a","traceId":"x"}"#;
        assert_eq!(
            Incoming::decode(bytes),
            Incoming::Job(TenantJob::Prepare(tenant("a")))
        );
    }

    #[test]
    fn unreadable_cannot_be_pushed() {
        let bad = Incoming::Unreadable {
            reason: "x".into(),
            preview: String::new(),
        };
        assert!(JobCodec.encode(&bad).is_err());
    }
}
