//! Odoo search domains: parsing the prefix notation (`&`, `|`, `!`, implicit `&`) into a tree
//! checked against the model's fields, and evaluating it on stored rows with Odoo's rules
//! (datetimes compared to the whole second, NULL handling of negative operators, many2one by id,
//! dotted many2one paths such as `move_id.move_type` as a sub-search of the target model).

use crate::database::Table;
use crate::odoo_error::OdooError;
use crate::schema::{FieldType, ModelDef, Schema, ID};
use crate::value::{parse_date, parse_datetime_seconds, py_term, seconds, Cell};
use chrono::NaiveDate;
use serde_json::Value as Json;
use std::collections::{HashMap, HashSet};
use std::ops::Bound;
use std::sync::Arc;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `=?`: true when the value is unset, `=` otherwise.
    EqOrUnset,
    In,
    NotIn,
    Like,
    NotLike,
    ILike,
    NotILike,
    EqLike,
    EqILike,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s.to_ascii_lowercase().as_str() {
            "=" | "==" => Op::Eq,
            "!=" | "<>" => Op::Ne,
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "=?" => Op::EqOrUnset,
            "in" => Op::In,
            "not in" => Op::NotIn,
            "like" => Op::Like,
            "not like" => Op::NotLike,
            "ilike" => Op::ILike,
            "not ilike" => Op::NotILike,
            "=like" => Op::EqLike,
            "=ilike" => Op::EqILike,
            _ => return None,
        })
    }

    /// Negative operators also match NULL, as Odoo adds `OR field IS NULL` for them.
    fn matches_null(self) -> bool {
        matches!(self, Op::Ne | Op::NotIn | Op::NotLike | Op::NotILike)
    }
}

/// Deepest operator nesting accepted in a domain.
const MAX_DEPTH: usize = 512;

/// A parsed domain.
#[derive(Debug, Clone)]
pub enum Domain {
    True,
    False,
    And(Vec<Domain>),
    Or(Vec<Domain>),
    Not(Box<Domain>),
    Leaf(Leaf),
    /// `('m2o_field.rest', op, value)`: the many2one points at a record matching
    /// `(rest, op, value)`, as Odoo turns such a leaf into a sub-search of the target model.
    Path(Box<PathLeaf>),
}

/// A dotted leaf on a many2one of this model.
#[derive(Debug, Clone)]
pub struct PathLeaf {
    /// The many2one of this model.
    field: usize,
    /// The target model's table, where `sub` is evaluated.
    table: &'static str,
    sub: Domain,
    /// The target ids matching `sub`, set by [`Domain::bind`] under the tables' lock.
    ids: Option<Arc<HashSet<i64>>>,
}

/// One `(field, operator, value)` term, with the field resolved.
#[derive(Debug, Clone)]
pub struct Leaf {
    pub field: usize,
    pub op: Op,
    pub value: Json,
    /// For datetime fields: the operand in whole seconds (a list for `in`).
    secs: Vec<Option<i64>>,
    /// For date fields: the operand as dates.
    dates: Vec<Option<NaiveDate>>,
}

fn invalid_domain(domain: &Json) -> OdooError {
    OdooError::ValueError(format!("Invalid domain: {}", crate::value::py_repr(domain)))
}

impl Domain {
    /// Parses a JSON domain for `model` (of `schema`, which dotted paths go through). Unknown
    /// fields and operators are Odoo's ValueErrors.
    pub fn parse(schema: &Schema, model: &ModelDef, domain: &Json) -> Result<Domain, OdooError> {
        let items = match domain {
            Json::Array(items) => items,
            Json::Null | Json::Bool(false) => return Ok(Domain::True),
            other => return Err(invalid_domain(other)),
        };
        // Prefix notation is evaluated from the right: operands are pushed, operators pop.
        // Each entry keeps its nesting depth: evaluation (and dropping) recurse, so a hostile
        // chain of operators must be refused before it can overflow the stack.
        let mut stack: Vec<(Domain, usize)> = Vec::new();
        for item in items.iter().rev() {
            let node = match item {
                Json::String(op) if op == "&" || op == "|" => {
                    let (Some((a, da)), Some((b, db))) = (stack.pop(), stack.pop()) else {
                        return Err(invalid_domain(domain));
                    };
                    let node = if op == "&" {
                        Domain::And(vec![a, b])
                    } else {
                        Domain::Or(vec![a, b])
                    };
                    (node, da.max(db) + 1)
                }
                Json::String(op) if op == "!" => {
                    let Some((a, da)) = stack.pop() else {
                        return Err(invalid_domain(domain));
                    };
                    (Domain::Not(Box::new(a)), da + 1)
                }
                Json::Array(term) => (parse_leaf(schema, model, term)?, 1),
                Json::Bool(true) => (Domain::True, 1),
                Json::Bool(false) => (Domain::False, 1),
                _ => return Err(invalid_domain(domain)),
            };
            if node.1 > MAX_DEPTH {
                return Err(OdooError::ValueError(format!(
                    "Domain nested deeper than {MAX_DEPTH} operators"
                )));
            }
            stack.push(node);
        }
        let mut nodes: Vec<Domain> = stack.into_iter().rev().map(|(d, _)| d).collect();
        Ok(match nodes.len() {
            0 => Domain::True,
            1 => nodes.pop().unwrap_or(Domain::True),
            _ => Domain::And(nodes),
        })
    }

    /// Whether the domain names the field anywhere (Odoo adds no `active` filter then).
    pub fn mentions(&self, field: usize) -> bool {
        match self {
            Domain::True | Domain::False => false,
            Domain::And(v) | Domain::Or(v) => v.iter().any(|d| d.mentions(field)),
            Domain::Not(d) => d.mentions(field),
            Domain::Leaf(l) => l.field == field,
            Domain::Path(p) => p.field == field,
        }
    }

    /// Whether evaluating the domain needs [`Domain::bind`] first.
    pub fn has_paths(&self) -> bool {
        match self {
            Domain::True | Domain::False | Domain::Leaf(_) => false,
            Domain::And(v) | Domain::Or(v) => v.iter().any(Domain::has_paths),
            Domain::Not(d) => d.has_paths(),
            Domain::Path(_) => true,
        }
    }

    /// The domain with every dotted leaf resolved to the target ids it allows, read from
    /// `tables` (the caller holds their lock, so the answer is one consistent view). Like
    /// Odoo's sub-search on a many2one path, the sub-search does not hide archived targets.
    pub fn bind(&self, tables: &HashMap<&'static str, Table>) -> Domain {
        match self {
            Domain::True | Domain::False | Domain::Leaf(_) => self.clone(),
            Domain::And(v) => Domain::And(v.iter().map(|d| d.bind(tables)).collect()),
            Domain::Or(v) => Domain::Or(v.iter().map(|d| d.bind(tables)).collect()),
            Domain::Not(d) => Domain::Not(Box::new(d.bind(tables))),
            Domain::Path(p) => {
                let sub = p.sub.bind(tables);
                let ids: HashSet<i64> = tables
                    .get(p.table)
                    .map(|t| {
                        t.rows
                            .iter()
                            .filter(|(_, row)| sub.matches(row))
                            .map(|(id, _)| *id)
                            .collect()
                    })
                    .unwrap_or_default();
                Domain::Path(Box::new(PathLeaf {
                    field: p.field,
                    table: p.table,
                    sub,
                    ids: Some(Arc::new(ids)),
                }))
            }
        }
    }

    /// Bounds on `id` implied by the top-level conjunction (`id > n`, `id <= m`...), so that
    /// keyset paging scans only the rows after the last page. The domain is still evaluated on
    /// every row in the range; this only narrows the scan.
    pub fn id_bounds(&self) -> (Bound<i64>, Bound<i64>) {
        let leaves: Vec<&Leaf> = match self {
            Domain::Leaf(l) => vec![l],
            Domain::And(v) => v
                .iter()
                .filter_map(|d| match d {
                    Domain::Leaf(l) => Some(l),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        // Inclusive bounds: ids are integers, so `> n` is `>= n + 1`.
        let (mut lo, mut hi) = (i64::MIN, i64::MAX);
        for l in leaves {
            let Some(n) = l.value.as_i64().filter(|_| l.field == ID) else {
                continue;
            };
            match l.op {
                Op::Gt => lo = lo.max(n.saturating_add(1)),
                Op::Ge => lo = lo.max(n),
                Op::Lt => hi = hi.min(n.saturating_sub(1)),
                Op::Le => hi = hi.min(n),
                _ => {}
            }
        }
        if lo > hi {
            // BTreeMap::range panics on inverted bounds; this one is empty and valid.
            return (Bound::Included(0), Bound::Excluded(0));
        }
        (Bound::Included(lo), Bound::Included(hi))
    }

    /// Evaluates the domain on a row.
    pub fn matches(&self, row: &[Cell]) -> bool {
        match self {
            Domain::True => true,
            Domain::False => false,
            Domain::And(v) => v.iter().all(|d| d.matches(row)),
            Domain::Or(v) => v.iter().any(|d| d.matches(row)),
            Domain::Not(d) => !d.matches(row),
            Domain::Leaf(l) => l.matches(row.get(l.field).unwrap_or(&Cell::Empty)),
            // A record without a target matches no path condition (an inner join).
            Domain::Path(p) => match (row.get(p.field), &p.ids) {
                (Some(Cell::Link(id, _)), Some(ids)) => ids.contains(id),
                _ => false,
            },
        }
    }
}

fn parse_leaf(schema: &Schema, model: &ModelDef, term: &[Json]) -> Result<Domain, OdooError> {
    if term.len() != 3 {
        return Err(OdooError::ValueError(format!(
            "Invalid leaf {}",
            py_term(term)
        )));
    }
    // Odoo's TRUE_LEAF (1, '=', 1) and FALSE_LEAF (0, '=', 1).
    if let (Some(l), Some("="), Some(1)) = (term[0].as_i64(), term[1].as_str(), term[2].as_i64()) {
        return Ok(if l == 1 { Domain::True } else { Domain::False });
    }
    let Some(name) = term[0].as_str() else {
        return Err(OdooError::ValueError(format!(
            "Invalid leaf {}",
            py_term(term)
        )));
    };
    let invalid = || OdooError::invalid_field(model.version, model.name, name, &py_term(term));
    if let Some((head, rest)) = name.split_once('.') {
        let field = model.field_index(head).ok_or_else(invalid)?;
        let FieldType::Many2one(relation) = model.fields[field].ty else {
            return Err(invalid());
        };
        // Reference models (countries, currencies...) have no rows to search.
        let target = schema.model(relation).ok_or_else(|| {
            OdooError::ValueError(format!(
                "the simulator cannot search {relation} records through {}.{head}",
                model.name
            ))
        })?;
        let mut sub_term = term.to_vec();
        sub_term[0] = Json::String(rest.to_string());
        let sub = parse_leaf(schema, target, &sub_term)?;
        return Ok(Domain::Path(Box::new(PathLeaf {
            field,
            table: target.table,
            sub,
            ids: None,
        })));
    }
    let Some(field) = model.field_index(name) else {
        return Err(invalid());
    };
    let op = term[1]
        .as_str()
        .and_then(Op::parse)
        .ok_or_else(|| OdooError::ValueError(format!("Invalid leaf {}", py_term(term))))?;
    let value = term[2].clone();
    let operands: Vec<&Json> = match &value {
        Json::Array(items) if matches!(op, Op::In | Op::NotIn) => items.iter().collect(),
        other => vec![other],
    };
    let ty = model.fields[field].ty;
    let secs = if ty == FieldType::Datetime {
        operands
            .iter()
            .map(|v| v.as_str().and_then(parse_datetime_seconds))
            .collect()
    } else {
        Vec::new()
    };
    let dates = if ty == FieldType::Date {
        operands
            .iter()
            .map(|v| v.as_str().and_then(parse_date))
            .collect()
    } else {
        Vec::new()
    };
    // A datetime compared to text that is not a date is a server error in Odoo too.
    if ty == FieldType::Datetime
        && !matches!(
            op,
            Op::Like | Op::NotLike | Op::ILike | Op::NotILike | Op::EqLike | Op::EqILike
        )
    {
        for (v, s) in operands.iter().zip(&secs) {
            if v.is_string() && s.is_none() {
                return Err(OdooError::ValueError(format!(
                    "time data {} does not match format '%Y-%m-%d %H:%M:%S'",
                    crate::value::py_repr(v)
                )));
            }
        }
    }
    Ok(Domain::Leaf(Leaf {
        field,
        op,
        value,
        secs,
        dates,
    }))
}

/// SQL LIKE with `%` and `_`.
fn like(text: &str, pattern: &str) -> bool {
    let t: Vec<char> = text.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    // Iterative matcher with backtracking on the last `%`.
    let (mut ti, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '_' || p[pi] == t[ti]) {
            ti += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '%' {
        pi += 1;
    }
    pi == p.len()
}

fn cmp_ord<T: PartialOrd>(op: Op, a: &T, b: &T) -> bool {
    match op {
        Op::Eq | Op::EqOrUnset | Op::In => a == b,
        Op::Ne | Op::NotIn => a != b,
        Op::Lt => a < b,
        Op::Le => a <= b,
        Op::Gt => a > b,
        Op::Ge => a >= b,
        _ => false,
    }
}

impl Leaf {
    fn operands(&self) -> Vec<&Json> {
        match &self.value {
            Json::Array(items) if matches!(self.op, Op::In | Op::NotIn) => items.iter().collect(),
            other => vec![other],
        }
    }

    fn matches(&self, cell: &Cell) -> bool {
        let op = self.op;
        // `=?` with an unset value is always true.
        if op == Op::EqOrUnset && matches!(self.value, Json::Bool(false) | Json::Null) {
            return true;
        }
        if matches!(op, Op::In | Op::NotIn) {
            let hit = self
                .operands()
                .iter()
                .enumerate()
                .any(|(i, v)| self.compare_one(cell, Op::Eq, v, i));
            // NULL is never `in` a list of values, but is `not in` one (unless False is listed).
            return if op == Op::In { hit } else { !hit };
        }
        self.compare_one(cell, op, &self.value, 0)
    }

    /// Compares the cell with one operand (`i` indexes the pre-parsed datetime/date operands).
    fn compare_one(&self, cell: &Cell, op: Op, v: &Json, i: usize) -> bool {
        // Comparing with False or None tests for NULL.
        if matches!(v, Json::Bool(false) | Json::Null) && !matches!(cell, Cell::Bool(_)) {
            return match op {
                Op::Eq | Op::EqOrUnset => cell.is_empty(),
                Op::Ne => !cell.is_empty(),
                _ => false,
            };
        }
        if cell.is_empty() {
            return op.matches_null();
        }
        match (cell, op) {
            (_, Op::Like | Op::NotLike | Op::ILike | Op::NotILike | Op::EqLike | Op::EqILike) => {
                let text = match cell {
                    Cell::Link(_, name) => name.to_string(),
                    other => json_text(&other.to_json()),
                };
                let pat = json_text(v);
                let hit = match op {
                    Op::Like | Op::NotLike => like(&text, &format!("%{pat}%")),
                    Op::ILike | Op::NotILike => {
                        like(&text.to_lowercase(), &format!("%{}%", pat.to_lowercase()))
                    }
                    Op::EqLike => like(&text, &pat),
                    _ => like(&text.to_lowercase(), &pat.to_lowercase()),
                };
                if matches!(op, Op::NotLike | Op::NotILike) {
                    !hit
                } else {
                    hit
                }
            }
            (Cell::DateTime(us), _) => match self.secs.get(i).copied().flatten() {
                // Both sides at whole seconds: `> S` means `>= S+1s`, `= S` means within S.
                Some(s) => cmp_ord(op, &seconds(*us), &s),
                None => false,
            },
            (Cell::Date(d), _) => match self.dates.get(i).copied().flatten() {
                Some(x) => cmp_ord(op, d, &x),
                None => false,
            },
            (Cell::Bool(b), _) => {
                let x = match v {
                    Json::Bool(x) => *x,
                    Json::Number(n) => n.as_i64().unwrap_or(0) != 0,
                    Json::String(s) => !s.is_empty(),
                    _ => false,
                };
                cmp_ord(op, b, &x)
            }
            (Cell::Int(a), _) => match v.as_f64() {
                Some(x) => cmp_ord(op, &(*a as f64), &x),
                None => false,
            },
            (Cell::Float(a), _) => match v.as_f64() {
                Some(x) => cmp_ord(op, a, &x),
                None => false,
            },
            (Cell::Text(s), _) => match v {
                Json::String(x) => cmp_ord(op, &s.as_ref(), &x.as_str()),
                _ => op == Op::Ne,
            },
            // many2one: by id, or by display name when the operand is text.
            (Cell::Link(id, name), _) => match v {
                Json::Number(n) => match n.as_i64() {
                    Some(x) => cmp_ord(op, id, &x),
                    None => false,
                },
                Json::String(x) => cmp_ord(op, &name.as_ref(), &x.as_str()),
                _ => op == Op::Ne,
            },
            (Cell::Empty, _) => op.matches_null(),
        }
    }
}

fn json_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `A AND B` in Odoo's normalized prefix form, as `__domain` shows it.
pub fn and_terms(terms: Vec<Json>) -> Json {
    let mut out = Vec::with_capacity(terms.len() * 2);
    for _ in 1..terms.len() {
        out.push(Json::String("&".into()));
    }
    out.extend(terms);
    Json::Array(out)
}

/// Combines a group's terms with the caller's domain, normalized like Odoo's `AND`.
pub fn and_domains(group: Vec<Json>, domain: &Json) -> Json {
    let mut terms = group;
    let extra: Vec<Json> = match domain {
        Json::Array(items) if !items.is_empty() => {
            // A caller's domain may use implicit `&`; as one operand it must be normalized.
            vec![normalize(items)]
        }
        _ => Vec::new(),
    };
    let n_extra = extra.len();
    if n_extra == 0 {
        return and_terms(terms);
    }
    // Flatten the normalized caller domain after the group's terms.
    let mut out = Vec::new();
    for _ in 0..terms.len() {
        out.push(Json::String("&".into()));
    }
    out.append(&mut terms);
    for e in extra {
        if let Json::Array(items) = e {
            out.extend(items);
        }
    }
    Json::Array(out)
}

/// Adds the implicit `&` operators of a prefix domain.
fn normalize(items: &[Json]) -> Json {
    // Count top-level expressions: each operator consumes operands, leaves add one.
    let mut expected = 1i64;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if expected == 0 {
            out.insert(0, Json::String("&".into()));
            expected = 1;
        }
        match item.as_str() {
            Some("&") | Some("|") => expected += 1,
            Some("!") => {}
            _ => expected -= 1,
        }
        out.push(item.clone());
    }
    Json::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{App, Schema};
    use serde_json::json;

    #[test]
    fn like_patterns() {
        assert!(like("Acme Corp", "%me C%"));
        assert!(like("abc", "a_c"));
        assert!(!like("abc", "a_"));
        assert!(like("", "%"));
        assert!(like("a%b", "a%b"));
    }

    #[test]
    fn prefix_and_implicit_and() {
        let schema = Schema::new(19, &[App::Contacts]);
        let m = schema.model("res.partner").unwrap();
        let d = Domain::parse(
            &schema,
            m,
            &json!(["|", ["id", "=", 1], ["id", "=", 2], ["name", "!=", false]]),
        )
        .unwrap();
        assert!(matches!(d, Domain::And(ref v) if v.len() == 2));
        assert!(Domain::parse(&schema, m, &json!(["&", ["id", "=", 1]])).is_err());
        assert!(Domain::parse(&schema, m, &json!([["id", "~", 1]])).is_err());
    }

    #[test]
    fn hostile_nesting_is_refused() {
        let schema = Schema::new(19, &[]);
        let m = schema.model("res.partner").unwrap();
        let mut deep: Vec<Json> = vec![json!("!"); 100_000];
        deep.push(json!(["id", "=", 1]));
        assert!(Domain::parse(&schema, m, &Json::Array(deep)).is_err());
        let mut chain: Vec<Json> = vec![json!("&"); 10_000];
        chain.extend(vec![json!(["id", "=", 1]); 10_001]);
        assert!(Domain::parse(&schema, m, &Json::Array(chain)).is_err());
        let flat: Vec<Json> = vec![json!(["id", ">", 0]); 10_000];
        assert!(Domain::parse(&schema, m, &Json::Array(flat)).is_ok());
    }

    #[test]
    fn id_bounds_narrow_the_scan() {
        use std::ops::Bound::*;
        let schema = Schema::new(19, &[]);
        let m = schema.model("res.partner").unwrap();
        let d = Domain::parse(
            &schema,
            m,
            &json!([["id", ">", 10], ["id", "<=", 20], ["name", "=", "x"]]),
        )
        .unwrap();
        assert_eq!(d.id_bounds(), (Included(11), Included(20)));
        let empty = Domain::parse(&schema, m, &json!([["id", ">", 10], ["id", "<", 5]])).unwrap();
        let mut rows = std::collections::BTreeMap::new();
        rows.insert(7i64, ());
        assert_eq!(rows.range(empty.id_bounds()).count(), 0);
        let or = Domain::parse(&schema, m, &json!(["|", ["id", ">", 10], ["id", "=", 1]])).unwrap();
        assert_eq!(or.id_bounds(), (Included(i64::MIN), Included(i64::MAX)));
    }

    #[test]
    fn normalizes_implicit_and() {
        assert_eq!(
            normalize(&[json!(["a", "=", 1]), json!(["b", "=", 2])]),
            json!(["&", ["a", "=", 1], ["b", "=", 2]])
        );
    }
}
