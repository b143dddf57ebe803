//! Conversions between XML-RPC [`Value`]s and `serde_json::Value`, so the engine handles every
//! protocol's answers as JSON, the shape JSON-RPC and JSON-2 already return.
//!
//! Mapping: Int → number, Bool → bool, String → string, Double → number (non-finite → null,
//! JSON has no NaN or infinity), DateTime → the string as sent, Base64 → standard base64
//! string, Nil → null, Array → array, Struct → object (a repeated member name keeps the last
//! value, as Python's dict does). Back from JSON: integers that fit i64 → Int, other numbers →
//! Double, null → Nil, objects → Struct. Both directions recurse once per nesting level; decoded
//! values are bounded by `Limits::max_depth` and serde_json bounds its own parse depth.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{Map, Number};

use super::Value;

impl Value {
    /// Borrowing conversion to JSON (copies strings); prefer `serde_json::Value::from(value)`
    /// when the XML-RPC value is no longer needed.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Int(i) => serde_json::Value::Number((*i).into()),
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::String(s) | Value::DateTime(s) => serde_json::Value::String(s.clone()),
            Value::Double(f) => double(*f),
            Value::Base64(bytes) => serde_json::Value::String(STANDARD.encode(bytes)),
            Value::Nil => serde_json::Value::Null,
            Value::Array(items) => {
                serde_json::Value::Array(items.iter().map(Value::to_json).collect())
            }
            Value::Struct(members) => {
                let mut map = Map::with_capacity(members.len());
                for (name, value) in members {
                    map.insert(name.clone(), value.to_json());
                }
                serde_json::Value::Object(map)
            }
        }
    }

    /// Consuming conversion to JSON: strings and member names are moved, not copied.
    pub fn to_json_owned(self) -> serde_json::Value {
        match self {
            Value::Int(i) => serde_json::Value::Number(i.into()),
            Value::Bool(b) => serde_json::Value::Bool(b),
            Value::String(s) | Value::DateTime(s) => serde_json::Value::String(s),
            Value::Double(f) => double(f),
            Value::Base64(bytes) => serde_json::Value::String(STANDARD.encode(bytes)),
            Value::Nil => serde_json::Value::Null,
            Value::Array(items) => {
                serde_json::Value::Array(items.into_iter().map(Value::to_json_owned).collect())
            }
            Value::Struct(members) => {
                let mut map = Map::with_capacity(members.len());
                for (name, value) in members {
                    map.insert(name, value.to_json_owned());
                }
                serde_json::Value::Object(map)
            }
        }
    }

    /// Converts JSON (for example JSON-RPC call arguments) into an XML-RPC value.
    pub fn from_json(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                // u64 beyond i64 and all non-integers: XML-RPC has no wider integer type.
                None => Value::Double(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(items) => {
                Value::Array(items.iter().map(Value::from_json).collect())
            }
            serde_json::Value::Object(map) => Value::Struct(
                map.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }
}

impl From<Value> for serde_json::Value {
    fn from(value: Value) -> Self {
        value.to_json_owned()
    }
}

fn double(f: f64) -> serde_json::Value {
    Number::from_f64(f).map_or(serde_json::Value::Null, serde_json::Value::Number)
}
