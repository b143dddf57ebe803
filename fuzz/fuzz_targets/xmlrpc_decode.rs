//! Fuzz target: the XML-RPC decoder on arbitrary bytes must return a value or an error, never
//! panic, overflow the stack or allocate without bound.
//!
//! cargo-fuzz compiles with `cfg(fuzzing)`, under which every successful decode through the
//! decoder's fast path is also decoded by its quick-xml path and the two results compared, so
//! this target also hunts for inputs on which the two paths disagree.

#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::odoo::xmlrpc::{decode_call, decode_response, Limits};

fuzz_target!(|data: &[u8]| {
    // Small limits so that deep and large inputs reach the limit checks quickly.
    let limits = Limits {
        max_depth: 32,
        max_bytes: 1 << 20,
    };
    let _ = decode_response(data, &limits);
    let _ = decode_call(data, &limits);
});
