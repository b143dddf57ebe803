//! Search domains and contexts in Odoo's own shape: a domain is a list of `[field, op, value]`
//! terms and prefix operators, sent as JSON (and as XML-RPC arrays by the XML-RPC transport).

use serde_json::{json, Map, Value};

/// A comparison operator Odoo's domains accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
    Like,
    ILike,
    EqLike,
    EqILike,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::In => "in",
            Op::NotIn => "not in",
            Op::Like => "like",
            Op::ILike => "ilike",
            Op::EqLike => "=like",
            Op::EqILike => "=ilike",
        }
    }
}

/// A domain: terms joined by Odoo's implicit `&`, plus raw prefix operators when needed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Domain(Vec<Value>);

impl Domain {
    /// The empty domain: every record.
    pub fn all() -> Self {
        Domain(Vec::new())
    }

    /// Adds `[field, op, value]`, joined to the rest with `&`.
    pub fn and(mut self, field: &str, op: Op, value: impl Into<Value>) -> Self {
        self.0.push(json!([field, op.as_str(), value.into()]));
        self
    }

    /// Adds the terms of another domain, joined with `&`.
    pub fn and_domain(mut self, other: &Domain) -> Self {
        self.0.extend(other.0.iter().cloned());
        self
    }

    /// A domain from Odoo's raw JSON form (prefix operators included).
    pub fn from_raw(items: Vec<Value>) -> Self {
        Domain(items)
    }

    pub fn to_value(&self) -> Value {
        Value::Array(self.0.clone())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The few context keys the engine sets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Context {
    /// `Some(false)` includes archived records.
    pub active_test: Option<bool>,
}

impl Context {
    /// Include archived records (`active_test: False`).
    pub fn with_archived() -> Self {
        Context {
            active_test: Some(false),
        }
    }

    pub fn to_value(self) -> Value {
        let mut map = Map::new();
        if let Some(active_test) = self.active_test {
            map.insert("active_test".into(), Value::Bool(active_test));
        }
        Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_odoo_domains() {
        let d = Domain::all()
            .and("write_date", Op::Ge, "2026-01-01 00:00:00")
            .and("id", Op::Gt, 10)
            .and("move_type", Op::NotIn, json!(["entry"]));
        assert_eq!(
            d.to_value(),
            json!([
                ["write_date", ">=", "2026-01-01 00:00:00"],
                ["id", ">", 10],
                ["move_type", "not in", ["entry"]]
            ])
        );
        assert_eq!(
            Context::with_archived().to_value(),
            json!({"active_test": false})
        );
        assert_eq!(Context::default().to_value(), json!({}));
    }
}
