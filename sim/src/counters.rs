//! Per-database call counters by method, so tests and benchmarks can see how many calls of
//! each kind a client made (readable from Rust and as JSON at `/__sim/stats/<db>`).

use parking_lot::Mutex;
use serde::Serialize;
use std::collections::BTreeMap;

/// A snapshot of one database's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CallStats {
    /// Every call counted, whatever its method.
    pub total: u64,
    /// Calls by method: `authenticate`, `login`, `version`, and for `execute_kw` and JSON-2 the
    /// model method (`search_read`, `search_count`, ...).
    pub methods: BTreeMap<String, u64>,
}

impl CallStats {
    /// Calls of one method (0 when never called).
    pub fn get(&self, method: &str) -> u64 {
        self.methods.get(method).copied().unwrap_or(0)
    }
}

/// Live counters of one database.
#[derive(Debug, Default)]
pub struct Counters {
    inner: Mutex<CallStats>,
}

impl Counters {
    /// Counts one call of `method`.
    pub fn record(&self, method: &str) {
        let mut s = self.inner.lock();
        s.total += 1;
        // Look up before inserting so the common case allocates no key.
        match s.methods.get_mut(method) {
            Some(n) => *n += 1,
            None => {
                s.methods.insert(method.to_string(), 1);
            }
        }
    }

    /// The counts so far.
    pub fn snapshot(&self) -> CallStats {
        self.inner.lock().clone()
    }

    /// Sets every count back to zero.
    pub fn reset(&self) {
        *self.inner.lock() = CallStats::default();
    }
}
