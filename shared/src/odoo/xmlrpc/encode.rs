//! XML-RPC encoder, writing the exact layout of the peers we talk to.
//!
//! Calls are written as Python's `xmlrpc.client` writes them (what Odoo receives from every
//! Python client, see the fixtures' `*.request`); responses and faults as Odoo 19 writes them
//! (Python's marshaller inside Odoo's own `<?xml version="1.0"?>` envelope, see the fixtures'
//! `*.response`), so the simulator's answers are byte-for-byte in the real server's shape.
//!
//! Text is escaped for XML 1.0: `&`, `<`, `>` as entities; `\r` as `&#13;` so line-ending
//! normalisation cannot turn it into `\n`; other C0 controls as character references (our
//! decoder reads them back; XML 1.0 has no lossless way to carry them); NUL, which no XML can
//! carry, as U+FFFD.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::{Fault, Value};

/// Encodes a `<methodCall>` as Python's `xmlrpc.client.dumps((params…), method)` does.
pub fn encode_call(method: &str, params: &[Value]) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + params.len() * 64);
    out.extend_from_slice(b"<?xml version='1.0'?>\n<methodCall>\n<methodName>");
    escape_into(&mut out, method);
    out.extend_from_slice(b"</methodName>\n<params>\n");
    for param in params {
        out.extend_from_slice(b"<param>\n");
        encode_value(&mut out, param);
        out.extend_from_slice(b"</param>\n");
    }
    out.extend_from_slice(b"</params>\n</methodCall>\n");
    out
}

/// Encodes a successful `<methodResponse>` carrying one value, as Odoo 19 does.
pub fn encode_response(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"<?xml version=\"1.0\"?>\n<methodResponse>\n<params>\n<param>\n");
    encode_value(&mut out, value);
    out.extend_from_slice(b"</param>\n</params>\n\n</methodResponse>\n");
    out
}

/// Encodes a fault `<methodResponse>`, as Odoo 19 does.
pub fn encode_fault(fault: &Fault) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + fault.message.len());
    out.extend_from_slice(
        b"<?xml version=\"1.0\"?>\n<methodResponse>\n<fault>\n<value><struct>\n\
          <member>\n<name>faultCode</name>\n",
    );
    encode_value(&mut out, &Value::Int(fault.code));
    out.extend_from_slice(b"</member>\n<member>\n<name>faultString</name>\n<value><string>");
    escape_into(&mut out, &fault.message);
    out.extend_from_slice(
        b"</string></value>\n</member>\n</struct></value>\n</fault>\n\n</methodResponse>\n",
    );
    out
}

/// Appends one `<value>` in Python's marshaller layout. Recursion depth is the value's nesting
/// depth, which is set by our own code (decoded values are bounded by `Limits::max_depth`).
fn encode_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Int(i) => {
            // Python (and so Odoo) only reads `<int>` as 32-bit in strict peers; larger numbers
            // use the `<i8>` extension that Python's client understands.
            if i32::try_from(*i).is_ok() {
                out.extend_from_slice(b"<value><int>");
                push_i64(out, *i);
                out.extend_from_slice(b"</int></value>\n");
            } else {
                out.extend_from_slice(b"<value><i8>");
                push_i64(out, *i);
                out.extend_from_slice(b"</i8></value>\n");
            }
        }
        Value::Bool(b) => out.extend_from_slice(if *b {
            b"<value><boolean>1</boolean></value>\n"
        } else {
            b"<value><boolean>0</boolean></value>\n"
        }),
        Value::String(s) => {
            out.extend_from_slice(b"<value><string>");
            escape_into(out, s);
            out.extend_from_slice(b"</string></value>\n");
        }
        Value::Double(f) => {
            out.extend_from_slice(b"<value><double>");
            // `{:?}` is shortest-round-trip like Python's repr and keeps the `.0` of whole
            // numbers (`31750.0`, as in the fixtures).
            out.extend_from_slice(format!("{f:?}").as_bytes());
            out.extend_from_slice(b"</double></value>\n");
        }
        Value::DateTime(s) => {
            out.extend_from_slice(b"<value><dateTime.iso8601>");
            escape_into(out, s);
            out.extend_from_slice(b"</dateTime.iso8601></value>\n");
        }
        Value::Base64(bytes) => {
            // Python's `base64.encodebytes`: 76-character lines, each ending in a newline.
            out.extend_from_slice(b"<value><base64>\n");
            let encoded = STANDARD.encode(bytes);
            for line in encoded.as_bytes().chunks(76) {
                out.extend_from_slice(line);
                out.push(b'\n');
            }
            out.extend_from_slice(b"</base64></value>\n");
        }
        // Python writes nil without the trailing newline.
        Value::Nil => out.extend_from_slice(b"<value><nil/></value>"),
        Value::Array(items) => {
            out.extend_from_slice(b"<value><array><data>\n");
            for item in items {
                encode_value(out, item);
            }
            out.extend_from_slice(b"</data></array></value>\n");
        }
        Value::Struct(members) => {
            out.extend_from_slice(b"<value><struct>\n");
            for (name, value) in members {
                out.extend_from_slice(b"<member>\n<name>");
                escape_into(out, name);
                out.extend_from_slice(b"</name>\n");
                encode_value(out, value);
                out.extend_from_slice(b"</member>\n");
            }
            out.extend_from_slice(b"</struct></value>\n");
        }
    }
}

fn push_i64(out: &mut Vec<u8>, i: i64) {
    let mut buf = [0u8; 20];
    let mut n = i.unsigned_abs();
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[at..]);
}

/// Appends `s` escaped as XML character data; runs that need no escaping are copied whole.
fn escape_into(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let replacement: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'\t' | b'\n' => continue,
            b'\r' => b"&#13;",
            0 => "\u{FFFD}".as_bytes(),
            1..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(b"&#");
                push_i64(out, i64::from(b));
                out.push(b';');
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(replacement);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}
