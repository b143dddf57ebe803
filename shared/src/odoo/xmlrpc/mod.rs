//! XML-RPC codec: the value model, a streaming decoder on quick-xml and an encoder.
//!
//! The decoder reads events straight into [`Value`]s (no DOM) and refuses hostile input
//! with a [`DecodeError`] instead of panicking or allocating without bound; [`Limits`] say how
//! deep and how large a document may be. Both the client (responses) and the simulator
//! (calls) use this one codec.

mod decode;
mod encode;
mod json;

pub use decode::{decode_call, decode_response, DecodeError};
pub use encode::{encode_call, encode_fault, encode_response};

/// One XML-RPC value, with every type of the specification plus the `nil` and `i8`
/// extensions Odoo emits.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `<int>`, `<i4>` and `<i8>`.
    Int(i64),
    Bool(bool),
    /// `<string>` and bare text inside `<value>`.
    String(String),
    Double(f64),
    /// `<dateTime.iso8601>`, kept as the text the peer sent (Odoo itself sends datetimes as
    /// strings, so nothing in the engine needs these parsed).
    DateTime(String),
    /// `<base64>`, decoded.
    Base64(Vec<u8>),
    Nil,
    Array(Vec<Value>),
    /// `<struct>` members in document order.
    Struct(Vec<(String, Value)>),
}

/// An XML-RPC fault: Odoo uses code 1 (server error), 2 (user error), 3 (access denied) and
/// 4 (access error).
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub code: i64,
    pub message: String,
}

/// A decoded `<methodResponse>`.
#[derive(Debug, Clone, PartialEq)]
pub enum MethodResponse {
    Success(Value),
    Fault(Fault),
}

/// A decoded `<methodCall>`.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodCall {
    pub method: String,
    pub params: Vec<Value>,
}

/// Bounds the decoder enforces so that hostile input costs bounded memory and stack.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Deepest nesting of arrays and structs.
    pub max_depth: usize,
    /// Largest document accepted, in bytes.
    pub max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 64,
            max_bytes: 256 * 1024 * 1024,
        }
    }
}
