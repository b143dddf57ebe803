//! `read_group` and `formatted_read_group`: counting and aggregating rows per group, with
//! date/datetime granularities (`write_date:day`, `:hour`, ...), in the shapes Odoo returns
//! (`__count`, `__domain`, `__range`, `[start, label]` pairs, `__extra_domain`). Buckets are
//! computed in UTC (the context's timezone is not applied).

use crate::database::Database;
use crate::domain::{and_domains, and_terms};
use crate::methods::{Context, Query};
use crate::odoo_error::OdooError;
use crate::schema::{FieldType, ModelDef, Schema, ID};
use crate::value::{format_seconds, seconds, Cell};
use chrono::{DateTime, Datelike, Months, NaiveDate, Timelike, Utc};
use serde_json::{json, Map, Value as Json};
use std::collections::BTreeMap;

/// Arguments common to both grouping methods.
pub struct GroupArgs {
    pub domain: Json,
    pub groupby: Json,
    /// `fields` of read_group (`["id:count", "amount_total:sum"]`) or `aggregates` of
    /// formatted_read_group (`["__count", "amount_total:sum"]`).
    pub aggregates: Json,
    pub offset: Option<Json>,
    pub limit: Option<Json>,
    pub ctx: Context,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Granularity {
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

struct GroupBy {
    spec: String,
    field: usize,
    gran: Option<Granularity>,
    ty: FieldType,
}

/// The part of a group key for one groupby. Declaration order is the sort order: NULL last.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum KeyPart {
    Bool(bool),
    Int(i64),
    Text(String),
    /// Start of a date/datetime bucket, in seconds.
    Bucket(i64),
    /// many2one: ordered by id here.
    Link(i64, String),
    Empty,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Agg {
    Count,
    CountDistinct,
    Sum,
    Avg,
    Min,
    Max,
}

struct Aggregate {
    /// Output key: `id` for read_group's `id:count`, `amount_total:sum` for formatted.
    key: String,
    field: usize,
    agg: Agg,
}

fn bad_field(model: &ModelDef, name: &str) -> OdooError {
    OdooError::ValueError(format!("Invalid field '{name}' on model '{}'", model.name))
}

fn parse_groupby(model: &ModelDef, groupby: &Json) -> Result<Vec<GroupBy>, OdooError> {
    let specs: Vec<String> = match groupby {
        Json::String(s) => vec![s.clone()],
        Json::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| OdooError::ValueError("Invalid groupby".into()))?,
        _ => Vec::new(),
    };
    specs
        .into_iter()
        .map(|spec| {
            let (name, gran) = match spec.split_once(':') {
                Some((n, g)) => (n.to_string(), Some(g.to_string())),
                None => (spec.clone(), None),
            };
            let field = model
                .field_index(&name)
                .ok_or_else(|| bad_field(model, &name))?;
            let ty = model.fields[field].ty;
            let dated = matches!(ty, FieldType::Date | FieldType::Datetime);
            let gran = match (gran.as_deref(), dated) {
                (None, true) => Some(Granularity::Month),
                (None, false) => None,
                (Some(g), true) => Some(match g {
                    "hour" if ty == FieldType::Datetime => Granularity::Hour,
                    "day" => Granularity::Day,
                    "week" => Granularity::Week,
                    "month" => Granularity::Month,
                    "quarter" => Granularity::Quarter,
                    "year" => Granularity::Year,
                    _ => {
                        return Err(OdooError::ValueError(format!(
                            "Invalid granularity '{g}' for field '{name}'"
                        )))
                    }
                }),
                (Some(g), false) => {
                    return Err(OdooError::ValueError(format!(
                        "Invalid granularity '{g}' for field '{name}'"
                    )))
                }
            };
            Ok(GroupBy {
                spec,
                field,
                gran,
                ty,
            })
        })
        .collect()
}

/// Parses aggregate specs. `formatted` keeps `field:agg` as the key and takes `__count`;
/// read_group keys by field name and sums numeric fields given without an aggregate.
fn parse_aggregates(
    model: &ModelDef,
    specs: &Json,
    formatted: bool,
) -> Result<Vec<Aggregate>, OdooError> {
    let items: Vec<&str> = match specs {
        Json::Array(items) => items.iter().filter_map(Json::as_str).collect(),
        Json::String(s) => vec![s.as_str()],
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for spec in items {
        if spec == "__count" {
            if formatted {
                out.push(Aggregate {
                    key: spec.into(),
                    field: ID,
                    agg: Agg::Count,
                });
            }
            continue;
        }
        // read_group also accepts `alias:agg(field)`.
        let (key, name, agg) = match spec.split_once(':') {
            Some((alias, rest)) if rest.contains('(') => {
                let (agg, field) = rest
                    .trim_end_matches(')')
                    .split_once('(')
                    .unwrap_or((rest, ""));
                (alias.to_string(), field.to_string(), Some(agg.to_string()))
            }
            Some((field, agg)) => (
                if formatted {
                    spec.to_string()
                } else {
                    field.to_string()
                },
                field.to_string(),
                Some(agg.to_string()),
            ),
            None => (spec.to_string(), spec.to_string(), None),
        };
        let field = model
            .field_index(&name)
            .ok_or_else(|| bad_field(model, &name))?;
        let agg = match agg.as_deref() {
            Some("count") => Agg::Count,
            Some("count_distinct") => Agg::CountDistinct,
            Some("sum") => Agg::Sum,
            Some("avg") => Agg::Avg,
            Some("min") => Agg::Min,
            Some("max") => Agg::Max,
            Some(other) => {
                return Err(OdooError::ValueError(format!(
                    "Invalid aggregate function {other:?}"
                )))
            }
            // Without an aggregate, read_group sums numbers and skips the rest.
            None if model.fields[field].ty.is_numeric() => Agg::Sum,
            None => continue,
        };
        out.push(Aggregate { key, field, agg });
    }
    Ok(out)
}

fn bucket_start(secs: i64, gran: Granularity) -> i64 {
    let Some(t) = DateTime::<Utc>::from_timestamp(secs, 0) else {
        return secs;
    };
    let date = t.date_naive();
    let day_start = |d: NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .map_or(secs, |x| x.and_utc().timestamp())
    };
    match gran {
        Granularity::Hour => secs - i64::from(t.minute()) * 60 - i64::from(t.second()),
        Granularity::Day => day_start(date),
        Granularity::Week => {
            // PostgreSQL's date_trunc('week') starts weeks on Monday.
            let back = i64::from(date.weekday().num_days_from_monday());
            day_start(date - chrono::Duration::days(back))
        }
        Granularity::Month => day_start(date.with_day(1).unwrap_or(date)),
        Granularity::Quarter => {
            let m = (date.month0() / 3) * 3 + 1;
            day_start(NaiveDate::from_ymd_opt(date.year(), m, 1).unwrap_or(date))
        }
        Granularity::Year => day_start(NaiveDate::from_ymd_opt(date.year(), 1, 1).unwrap_or(date)),
    }
}

fn bucket_end(start: i64, gran: Granularity) -> i64 {
    let Some(t) = DateTime::<Utc>::from_timestamp(start, 0) else {
        return start;
    };
    let months = |n: u32| {
        t.checked_add_months(Months::new(n))
            .map_or(start, |x| x.timestamp())
    };
    match gran {
        Granularity::Hour => start + 3600,
        Granularity::Day => start + 86_400,
        Granularity::Week => start + 7 * 86_400,
        Granularity::Month => months(1),
        Granularity::Quarter => months(3),
        Granularity::Year => months(12),
    }
}

/// The label Odoo (babel, en_US) gives a bucket.
fn bucket_label(start: i64, gran: Granularity) -> String {
    let Some(t) = DateTime::<Utc>::from_timestamp(start, 0) else {
        return String::new();
    };
    match gran {
        Granularity::Hour => t.format("%H:00 %d %b").to_string(),
        Granularity::Day => t.format("%d %b %Y").to_string(),
        Granularity::Week => format!("W{} {}", t.iso_week().week(), t.iso_week().year()),
        Granularity::Month => t.format("%B %Y").to_string(),
        Granularity::Quarter => format!("Q{} {}", t.month0() / 3 + 1, t.year()),
        Granularity::Year => t.format("%Y").to_string(),
    }
}

fn key_part(cell: &Cell, gb: &GroupBy) -> KeyPart {
    match (cell, gb.gran) {
        (Cell::Empty, _) => KeyPart::Empty,
        (Cell::DateTime(us), Some(g)) => KeyPart::Bucket(bucket_start(seconds(*us), g)),
        (Cell::Date(d), Some(g)) => {
            let secs = d
                .and_hms_opt(0, 0, 0)
                .map_or(0, |x| x.and_utc().timestamp());
            KeyPart::Bucket(bucket_start(secs, g))
        }
        (Cell::Bool(b), _) => KeyPart::Bool(*b),
        (Cell::Int(i), _) => KeyPart::Int(*i),
        (Cell::Link(id, name), _) => KeyPart::Link(*id, name.to_string()),
        (Cell::Text(s), _) => KeyPart::Text(s.to_string()),
        (other, _) => KeyPart::Text(other.to_json().to_string()),
    }
}

/// A bucket boundary as text: datetimes with time, dates without.
fn boundary(secs: i64, ty: FieldType) -> String {
    let s = format_seconds(secs);
    if ty == FieldType::Date {
        s[..10].to_string()
    } else {
        s
    }
}

/// The domain terms selecting one group's rows for one groupby.
fn group_terms(gb: &GroupBy, part: &KeyPart, model: &ModelDef) -> Vec<Json> {
    let name = model.fields[gb.field].name;
    match (part, gb.gran) {
        (KeyPart::Bucket(start), Some(g)) => vec![
            json!([name, ">=", boundary(*start, gb.ty)]),
            json!([name, "<", boundary(bucket_end(*start, g), gb.ty)]),
        ],
        (KeyPart::Empty, _) => vec![json!([name, "=", false])],
        (KeyPart::Bool(b), _) => vec![json!([name, "=", b])],
        (KeyPart::Int(i), _) => vec![json!([name, "=", i])],
        (KeyPart::Link(id, _), _) => vec![json!([name, "=", id])],
        (KeyPart::Text(s), _) => vec![json!([name, "=", s])],
        (KeyPart::Bucket(_), None) => Vec::new(),
    }
}

fn aggregate(agg: &Aggregate, rows: &[&Vec<Cell>]) -> Json {
    let cells = rows
        .iter()
        .map(|r| r.get(agg.field).unwrap_or(&Cell::Empty));
    let numbers = || {
        cells.clone().filter_map(|c| match c {
            Cell::Int(i) => Some(*i as f64),
            Cell::Float(f) => Some(*f),
            _ => None,
        })
    };
    match agg.agg {
        Agg::Count => json!(cells.filter(|c| !c.is_empty()).count()),
        Agg::CountDistinct => {
            let mut seen: Vec<Json> = cells.filter(|c| !c.is_empty()).map(Cell::to_json).collect();
            seen.sort_by_key(|v| v.to_string());
            seen.dedup();
            json!(seen.len())
        }
        Agg::Sum => {
            let s: f64 = numbers().sum();
            if matches!(
                rows.first().and_then(|r| r.get(agg.field)),
                Some(Cell::Int(_))
            ) {
                json!(s as i64)
            } else {
                json!(s)
            }
        }
        Agg::Avg => {
            let v: Vec<f64> = numbers().collect();
            if v.is_empty() {
                Json::Bool(false)
            } else {
                json!(v.iter().sum::<f64>() / v.len() as f64)
            }
        }
        Agg::Min | Agg::Max => {
            let mut best: Option<&Cell> = None;
            for c in cells.filter(|c| !c.is_empty()) {
                let better = best.is_none_or(|b| {
                    let o = crate::methods::compare_cells(c, b);
                    if agg.agg == Agg::Min {
                        o.is_lt()
                    } else {
                        o.is_gt()
                    }
                });
                if better {
                    best = Some(c);
                }
            }
            best.map_or(Json::Bool(false), Cell::to_json)
        }
    }
}

type Groups<'a> = BTreeMap<Vec<KeyPart>, Vec<&'a Vec<Cell>>>;

/// Runs the query and hands the groups (sorted, paged) to `f`.
fn with_groups<R>(
    db: &Database,
    schema: &Schema,
    model: &ModelDef,
    args: &GroupArgs,
    groupbys: &[GroupBy],
    f: impl FnOnce(Vec<(Vec<KeyPart>, Vec<&Vec<Cell>>)>) -> R,
) -> Result<R, OdooError> {
    let q = Query::new(
        schema,
        model,
        Some(&args.domain),
        args.ctx,
        Some(&json!("id")),
        None,
        None,
    )?;
    let offset = args.offset.as_ref().and_then(Json::as_u64).unwrap_or(0) as usize;
    let limit = args
        .limit
        .as_ref()
        .and_then(Json::as_u64)
        .filter(|&l| l > 0)
        .map(|l| l as usize);
    Ok(q.run(db, |rows| {
        let mut groups: Groups = BTreeMap::new();
        for r in rows {
            let key: Vec<KeyPart> = groupbys
                .iter()
                .map(|g| key_part(r.get(g.field).unwrap_or(&Cell::Empty), g))
                .collect();
            groups.entry(key).or_default().push(*r);
        }
        let all: Vec<_> = groups.into_iter().collect();
        let end = limit.map_or(all.len(), |l| (offset + l).min(all.len()));
        let page = all
            .into_iter()
            .skip(offset)
            .take(end.saturating_sub(offset))
            .collect();
        f(page)
    }))
}

/// `read_group(domain, fields, groupby, offset, limit, orderby, lazy)`.
pub fn read_group(
    db: &Database,
    schema: &Schema,
    model: &ModelDef,
    args: GroupArgs,
    lazy: bool,
) -> Result<Json, OdooError> {
    let mut groupbys = parse_groupby(model, &args.groupby)?;
    let rest: Vec<String> = if lazy && groupbys.len() > 1 {
        groupbys.drain(1..).map(|g| g.spec).collect()
    } else {
        Vec::new()
    };
    let aggregates = parse_aggregates(model, &args.aggregates, false)?;
    let has_range = groupbys.iter().any(|g| g.gran.is_some());
    with_groups(db, schema, model, &args, &groupbys, |groups| {
        let out: Vec<Json> = groups
            .into_iter()
            .map(|(key, rows)| {
                let mut m = Map::new();
                let mut terms = Vec::new();
                let mut range = Map::new();
                for (gb, part) in groupbys.iter().zip(&key) {
                    let value = match (part, gb.gran) {
                        (KeyPart::Bucket(start), Some(g)) => {
                            range.insert(
                                gb.spec.clone(),
                                json!({
                                    "from": boundary(*start, gb.ty),
                                    "to": boundary(bucket_end(*start, g), gb.ty),
                                }),
                            );
                            json!(bucket_label(*start, g))
                        }
                        (KeyPart::Empty, Some(_)) => {
                            range.insert(gb.spec.clone(), Json::Bool(false));
                            Json::Bool(false)
                        }
                        (part, _) => part_value(part),
                    };
                    m.insert(gb.spec.clone(), value);
                    terms.extend(group_terms(gb, part, model));
                }
                let count_key = match (lazy, groupbys.first()) {
                    (true, Some(gb)) => format!("{}_count", model.fields[gb.field].name),
                    _ => "__count".to_string(),
                };
                m.insert(count_key, json!(rows.len()));
                for a in &aggregates {
                    m.insert(a.key.clone(), aggregate(a, &rows));
                }
                m.insert("__domain".into(), and_domains(terms, &args.domain));
                if has_range {
                    m.insert("__range".into(), Json::Object(range));
                }
                if !rest.is_empty() {
                    m.insert("__context".into(), json!({ "group_by": rest }));
                }
                Json::Object(m)
            })
            .collect();
        Json::Array(out)
    })
}

/// `formatted_read_group(domain, groupby, aggregates, having, offset, limit, order)` (19+).
pub fn formatted_read_group(
    db: &Database,
    schema: &Schema,
    model: &ModelDef,
    args: GroupArgs,
) -> Result<Json, OdooError> {
    let groupbys = parse_groupby(model, &args.groupby)?;
    let aggregates = parse_aggregates(model, &args.aggregates, true)?;
    with_groups(db, schema, model, &args, &groupbys, |groups| {
        let out: Vec<Json> = groups
            .into_iter()
            .map(|(key, rows)| {
                let mut m = Map::new();
                let mut terms = Vec::new();
                for (gb, part) in groupbys.iter().zip(&key) {
                    let value = match (part, gb.gran) {
                        (KeyPart::Bucket(start), Some(g)) => {
                            json!([boundary(*start, gb.ty), bucket_label(*start, g)])
                        }
                        (part, _) => part_value(part),
                    };
                    m.insert(gb.spec.clone(), value);
                    terms.extend(group_terms(gb, part, model));
                }
                m.insert("__extra_domain".into(), and_terms(terms));
                for a in &aggregates {
                    let v = if a.key == "__count" {
                        json!(rows.len())
                    } else {
                        aggregate(a, &rows)
                    };
                    m.insert(a.key.clone(), v);
                }
                Json::Object(m)
            })
            .collect();
        Json::Array(out)
    })
}

fn part_value(part: &KeyPart) -> Json {
    match part {
        KeyPart::Empty => Json::Bool(false),
        KeyPart::Bool(b) => json!(b),
        KeyPart::Int(i) => json!(i),
        KeyPart::Text(s) => json!(s),
        KeyPart::Link(id, name) => json!([id, name]),
        KeyPart::Bucket(s) => json!(format_seconds(*s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::parse_datetime_seconds;

    #[test]
    fn buckets_and_labels() {
        let t = parse_datetime_seconds("2026-11-24 18:26:56").unwrap();
        let day = bucket_start(t, Granularity::Day);
        assert_eq!(format_seconds(day), "2026-11-24 00:00:00");
        assert_eq!(bucket_label(day, Granularity::Day), "24 Nov 2026");
        assert_eq!(
            format_seconds(bucket_end(day, Granularity::Day)),
            "2026-11-25 00:00:00"
        );
        let hour = bucket_start(t, Granularity::Hour);
        assert_eq!(format_seconds(hour), "2026-11-24 18:00:00");
        assert_eq!(bucket_label(hour, Granularity::Hour), "18:00 24 Nov");
        let month = bucket_start(t, Granularity::Month);
        assert_eq!(bucket_label(month, Granularity::Month), "November 2026");
        assert_eq!(
            format_seconds(bucket_end(month, Granularity::Month)),
            "2026-12-01 00:00:00"
        );
    }
}
