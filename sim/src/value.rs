//! Stored field values and their conversion to what Odoo returns: datetimes kept with
//! microseconds but shown to the second, dates as `YYYY-MM-DD`, empty values as `False`,
//! many2one as `[id, "name"]`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::{json, Value as Json};
use std::sync::Arc;

/// Microseconds since the Unix epoch, UTC: how the simulator keeps `write_date` (PostgreSQL
/// keeps microseconds too).
pub type Micros = i64;

/// One stored value.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// NULL: read back as `False`.
    Empty,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// char and selection values.
    Text(Arc<str>),
    Date(NaiveDate),
    DateTime(Micros),
    /// many2one: the target id and its display name (kept with the row so reads are cheap).
    Link(i64, Arc<str>),
}

impl Cell {
    /// A text cell, empty when the string is.
    pub fn text(s: impl AsRef<str>) -> Cell {
        let s = s.as_ref();
        if s.is_empty() {
            Cell::Empty
        } else {
            Cell::Text(Arc::from(s))
        }
    }

    /// The value as Odoo's `read` returns it.
    pub fn to_json(&self) -> Json {
        match self {
            Cell::Empty => Json::Bool(false),
            Cell::Bool(b) => Json::Bool(*b),
            Cell::Int(i) => json!(i),
            Cell::Float(f) => json!(f),
            Cell::Text(s) => Json::String(s.to_string()),
            Cell::Date(d) => Json::String(d.format("%Y-%m-%d").to_string()),
            Cell::DateTime(us) => Json::String(format_datetime(*us)),
            Cell::Link(id, name) => json!([id, name.as_ref()]),
        }
    }

    /// Whether the value is NULL (or an unset boolean).
    pub fn is_empty(&self) -> bool {
        matches!(self, Cell::Empty)
    }
}

/// Whole seconds of a microsecond timestamp (floor, also before 1970).
pub fn seconds(us: Micros) -> i64 {
    us.div_euclid(1_000_000)
}

/// `YYYY-MM-DD HH:MM:SS`, UTC, microseconds dropped as Odoo does.
pub fn format_datetime(us: Micros) -> String {
    format_seconds(seconds(us))
}

/// `YYYY-MM-DD HH:MM:SS` of a whole-second timestamp.
pub fn format_seconds(secs: i64) -> String {
    match DateTime::<Utc>::from_timestamp(secs, 0) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
        None => String::from("1970-01-01 00:00:00"),
    }
}

/// Parses Odoo's datetime text (`YYYY-MM-DD HH:MM:SS`, optionally with fractional seconds,
/// or a bare date meaning midnight) into whole seconds.
pub fn parse_datetime_seconds(s: &str) -> Option<i64> {
    let s = s.trim();
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp())
}

/// Parses a date (`YYYY-MM-DD`, or the date part of a datetime).
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    let head = s.get(..10).unwrap_or(s);
    NaiveDate::parse_from_str(head, "%Y-%m-%d").ok()
}

/// Microseconds of a chrono UTC time.
pub fn micros_of(t: DateTime<Utc>) -> Micros {
    t.timestamp_micros()
}

/// The current time in microseconds.
pub fn now_micros() -> Micros {
    micros_of(Utc::now())
}

/// Python's `repr` of a JSON value, used where Odoo's messages quote a domain term.
pub fn py_repr(v: &Json) -> String {
    match v {
        Json::Null => "None".into(),
        Json::Bool(true) => "True".into(),
        Json::Bool(false) => "False".into(),
        Json::Number(n) => n.to_string(),
        Json::String(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        Json::Array(items) => {
            let inner: Vec<String> = items.iter().map(py_repr).collect();
            format!("[{}]", inner.join(", "))
        }
        Json::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("'{k}': {}", py_repr(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
    }
}

/// A domain term as Python shows it: `('field', '=', 1)`.
pub fn py_term(term: &[Json]) -> String {
    let inner: Vec<String> = term.iter().map(py_repr).collect();
    format!("({})", inner.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_drop_microseconds() {
        let us = parse_datetime_seconds("2026-11-24 18:26:56").unwrap() * 1_000_000 + 999_999;
        assert_eq!(format_datetime(us), "2026-11-24 18:26:56");
        assert_eq!(seconds(-1), -1);
    }

    #[test]
    fn bare_dates_mean_midnight() {
        assert_eq!(
            parse_datetime_seconds("2026-11-24"),
            parse_datetime_seconds("2026-11-24 00:00:00")
        );
    }

    #[test]
    fn python_repr() {
        assert_eq!(
            py_term(&[json!("no_such_field"), json!("="), json!(1)]),
            "('no_such_field', '=', 1)"
        );
        assert_eq!(py_repr(&json!([false, "a'b"])), "[False, 'a\\'b']");
    }
}
