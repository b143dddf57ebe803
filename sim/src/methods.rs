//! The model methods clients call (search, search_count, search_read, read, fields_get,
//! read_group, formatted_read_group, context_get): argument binding as Python does it, access
//! rules, `active_test`, ordering, paging and rendering records as Odoo returns them.

use crate::database::{Database, Table, UserSpec};
use crate::domain::Domain;
use crate::grouping;
use crate::odoo_error::{access_error, OdooError};
use crate::schema::{Access, FieldType, ModelDef, Schema, DISPLAY_NAME, ID};
use crate::value::{py_repr, Cell};
use serde_json::{json, Map, Value as Json};
use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashMap;

/// A call's arguments: positional (XML-RPC/JSON-RPC `args`, JSON-2 `ids`) and named.
#[derive(Debug, Default)]
pub struct Args {
    pub positional: Vec<Json>,
    pub named: Map<String, Json>,
}

/// Signature of a public model method: parameter names (after `self`) and how many are
/// required. `record` methods take the ids as their first positional argument.
struct Signature {
    params: &'static [&'static str],
    required: usize,
    record: bool,
}

fn signature(model: &ModelDef, method: &str, version: u32) -> Option<Signature> {
    let s = |params, required, record| Signature {
        params,
        required,
        record,
    };
    Some(match method {
        "search" => s(&["domain", "offset", "limit", "order"], 1, false),
        "search_count" => s(&["domain", "limit"], 1, false),
        "search_read" => s(
            &["domain", "fields", "offset", "limit", "order", "load"],
            0,
            false,
        ),
        "read" => s(&["ids", "fields", "load"], 1, true),
        "fields_get" => s(&["allfields", "attributes"], 0, false),
        "read_group" => s(
            &[
                "domain", "fields", "groupby", "offset", "limit", "orderby", "lazy",
            ],
            3,
            false,
        ),
        "formatted_read_group" if version >= 19 => s(
            &[
                "domain",
                "groupby",
                "aggregates",
                "having",
                "offset",
                "limit",
                "order",
            ],
            0,
            false,
        ),
        "context_get" if model.name == "res.users" => s(&[], 0, false),
        _ => return None,
    })
}

/// Whether the method takes record ids (JSON-2 passes them as `ids`).
pub fn is_record_method(method: &str) -> bool {
    method == "read"
}

/// Binds arguments to parameters the way Python does, with Python's TypeError messages.
fn bind(method: &str, sig: &Signature, args: Args) -> Result<Vec<Option<Json>>, OdooError> {
    let n = sig.params.len();
    if args.positional.len() > n {
        return Err(OdooError::TypeError(format!(
            "{method}() takes from 1 to {} positional arguments but {} were given",
            n + 1,
            args.positional.len() + 1
        )));
    }
    let mut bound: Vec<Option<Json>> = args.positional.into_iter().map(Some).collect();
    bound.resize(n, None);
    for (key, value) in args.named {
        let Some(i) = sig.params.iter().position(|p| *p == key) else {
            return Err(OdooError::TypeError(format!(
                "{method}() got an unexpected keyword argument '{key}'"
            )));
        };
        if bound[i].is_some() {
            return Err(OdooError::TypeError(format!(
                "{method}() got multiple values for argument '{key}'"
            )));
        }
        bound[i] = Some(value);
    }
    let missing: Vec<String> = sig.params[..sig.required]
        .iter()
        .zip(&bound)
        .filter(|(_, v)| v.is_none())
        .map(|(p, _)| format!("'{p}'"))
        .collect();
    if !missing.is_empty() {
        return Err(OdooError::TypeError(format!(
            "{method}() missing {} required positional argument{}: {}",
            missing.len(),
            if missing.len() == 1 { "" } else { "s" },
            missing.join(" and ")
        )));
    }
    Ok(bound)
}

/// The context of a call, as far as the simulator heeds it.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    pub active_test: bool,
}

impl Context {
    pub fn from_json(ctx: Option<&Json>) -> Context {
        let active_test = !matches!(
            ctx.and_then(|c| c.get("active_test")),
            Some(Json::Bool(false))
        );
        Context { active_test }
    }
}

/// Runs `model.method(*args, **kwargs)` as `user`.
pub fn execute(
    db: &Database,
    user: &UserSpec,
    model_name: &str,
    method: &str,
    mut args: Args,
    context: Option<Json>,
) -> Result<Json, OdooError> {
    // One schema for the whole call: a custom field added meanwhile shows from the next one.
    let schema = db.schema();
    let model: &ModelDef = schema
        .model(model_name)
        .ok_or_else(|| OdooError::UnknownModel(model_name.to_string()))?;
    if method.starts_with('_') {
        return Err(OdooError::private_method(db.version, model_name, method));
    }
    let sig = signature(model, method, db.version)
        .ok_or_else(|| OdooError::unknown_method(db.version, model_name, method))?;
    check_access(model, user)?;
    // execute_kw passes the context among the named arguments.
    let context = context.or_else(|| args.named.remove("context"));
    let ctx = Context::from_json(context.as_ref());
    let record = sig.record;
    let mut a = bind(method, &sig, args)?.into_iter();
    let mut next = || a.next().flatten();
    match method {
        "search" => {
            let (domain, offset, limit, order) = (next(), next(), next(), next());
            let q = Query::new(
                &schema,
                model,
                domain.as_ref(),
                ctx,
                order.as_ref(),
                offset,
                limit,
            )?;
            Ok(json!(q.run(db, |rows| rows
                .iter()
                .map(|r| r[ID].to_json())
                .collect::<Vec<_>>())))
        }
        "search_count" => {
            let (domain, limit) = (next(), next());
            let q = Query::new(&schema, model, domain.as_ref(), ctx, None, None, limit)?;
            Ok(json!(q.count(db)))
        }
        "search_read" => {
            let (domain, fields, offset, limit, order) = (next(), next(), next(), next(), next());
            let fields = field_list(model, fields.as_ref())?;
            let q = Query::new(
                &schema,
                model,
                domain.as_ref(),
                ctx,
                order.as_ref(),
                offset,
                limit,
            )?;
            Ok(Json::Array(q.run(db, |rows| {
                rows.iter().map(|r| render(model, r, &fields)).collect()
            })))
        }
        "read" => {
            debug_assert!(record);
            let (ids, fields) = (next(), next());
            let fields = field_list(model, fields.as_ref())?;
            read(db, model, user, ids.as_ref(), &fields)
        }
        "fields_get" => {
            let (allfields, attributes) = (next(), next());
            Ok(fields_get(model, allfields.as_ref(), attributes.as_ref()))
        }
        "read_group" => {
            let (domain, fields, groupby, offset, limit, _orderby, lazy) =
                (next(), next(), next(), next(), next(), next(), next());
            let lazy = !matches!(lazy, Some(Json::Bool(false)));
            grouping::read_group(
                db,
                &schema,
                model,
                grouping::GroupArgs {
                    domain: domain.unwrap_or(json!([])),
                    groupby: groupby.unwrap_or(json!([])),
                    aggregates: fields.unwrap_or(json!([])),
                    offset,
                    limit,
                    ctx,
                },
                lazy,
            )
        }
        "formatted_read_group" => {
            let (domain, groupby, aggregates, _having, offset, limit, _order) =
                (next(), next(), next(), next(), next(), next(), next());
            grouping::formatted_read_group(
                db,
                &schema,
                model,
                grouping::GroupArgs {
                    domain: domain.unwrap_or(json!([])),
                    groupby: groupby.unwrap_or(json!([])),
                    aggregates: aggregates.unwrap_or(json!([])),
                    offset,
                    limit,
                    ctx,
                },
            )
        }
        "context_get" => Ok(json!({"lang": "en_US", "tz": "Europe/Brussels", "uid": user.uid})),
        _ => Err(OdooError::unknown_method(db.version, model_name, method)),
    }
}

/// Odoo's model access rules, as far as the simulated groups go.
fn check_access(model: &ModelDef, user: &UserSpec) -> Result<(), OdooError> {
    match model.access {
        Access::Everyone => Ok(()),
        Access::Settings if user.settings => Ok(()),
        Access::Hr if user.hr => Ok(()),
        Access::Settings => Err(access_error(
            model.name,
            model.description,
            "Administration/Settings",
        )),
        Access::Hr => Err(access_error(
            model.name,
            model.description,
            "Employees/Officer: Manage all employees",
        )),
    }
}

/// The `fields` argument: all fields when absent or empty.
pub fn field_list(model: &ModelDef, fields: Option<&Json>) -> Result<Vec<usize>, OdooError> {
    let names = match fields {
        Some(Json::Array(items)) if !items.is_empty() => items,
        Some(Json::String(one)) => {
            return one_field(model, one).map(|i| vec![i]);
        }
        _ => return Ok((0..model.fields.len()).collect()),
    };
    names
        .iter()
        .map(|n| match n.as_str() {
            Some(name) => one_field(model, name),
            None => Err(OdooError::ValueError(format!(
                "Invalid field {} on model '{}'",
                py_repr(n),
                model.name
            ))),
        })
        .collect()
}

fn one_field(model: &ModelDef, name: &str) -> Result<usize, OdooError> {
    model.field_index(name).ok_or_else(|| {
        OdooError::ValueError(format!("Invalid field '{name}' on model '{}'", model.name))
    })
}

/// A row as `read`/`search_read` return it: `id` first, then the fields in the order asked.
/// `display_name` is computed as it is read, as Odoo computes it (see [`display_name`]).
pub fn render(model: &ModelDef, row: &[Cell], fields: &[usize]) -> Json {
    let mut map = Map::with_capacity(fields.len() + 1);
    map.insert("id".to_string(), cell(row, ID).to_json());
    for &i in fields {
        if i == ID {
            continue;
        }
        let field = &model.fields[i];
        let value = if field.name == DISPLAY_NAME {
            Json::String(display_name(model, row))
        } else {
            cell(row, i).to_json()
        };
        map.insert(field.name.to_string(), value);
    }
    Json::Object(map)
}

/// Cell `i` of a row; empty past its end (a row built before a custom field was added).
fn cell(row: &[Cell], i: usize) -> &Cell {
    row.get(i).unwrap_or(&Cell::Empty)
}

fn text<'r>(model: &ModelDef, row: &'r [Cell], field: &str) -> Option<&'r str> {
    match model.field_index(field).and_then(|i| row.get(i)) {
        Some(Cell::Text(s)) => Some(s),
        _ => None,
    }
}

fn link_name<'r>(model: &ModelDef, row: &'r [Cell], field: &str) -> Option<&'r str> {
    match model.field_index(field).and_then(|i| row.get(i)) {
        Some(Cell::Link(_, name)) => Some(name),
        _ => None,
    }
}

/// The name Odoo shows for a record of `model` (what many2one pairs pointing at it carry):
/// its `name` (the simulator has no parent-qualified names), else `model,id`; products
/// prefix their internal reference, order lines their order, journal items their entry, and
/// 12's invoices show their number.
pub fn display_name(model: &ModelDef, row: &[Cell]) -> String {
    let name = text(model, row, "name");
    let shown = match model.name {
        "product.product" => name.map(|n| match text(model, row, "default_code") {
            Some(code) => format!("[{code}] {n}"),
            None => n.to_string(),
        }),
        // `"%s - %s" % (order name, first line of the description)`.
        "sale.order.line" => {
            let order = link_name(model, row, "order_id").unwrap_or_default();
            let first = name.and_then(|n| n.lines().next()).unwrap_or_default();
            Some(format!("{order} - {first}"))
        }
        // The entry's name, then the label when there is one.
        "account.move.line" => {
            let entry = link_name(model, row, "move_id").unwrap_or_default();
            Some(match name {
                Some(label) => format!("{entry} {label}"),
                None => entry.to_string(),
            })
        }
        // 12's `"%s %s" % (inv.number or TYPES[inv.type], inv.name or '')`: the invoice has no
        // description here, so the name keeps its trailing space as Odoo's does.
        "account.invoice" => {
            let number = text(model, row, "number").or_else(|| {
                text(model, row, "type").map(|t| match t {
                    "out_invoice" => "Invoice",
                    "in_invoice" => "Vendor Bill",
                    "out_refund" => "Credit Note",
                    _ => "Vendor Credit note",
                })
            });
            number.map(|n| format!("{n} "))
        }
        _ => name.map(str::to_string),
    };
    shown.unwrap_or_else(|| match row.get(ID) {
        Some(Cell::Int(id)) => format!("{},{id}", model.name),
        _ => model.name.to_string(),
    })
}

fn read(
    db: &Database,
    model: &ModelDef,
    user: &UserSpec,
    ids: Option<&Json>,
    fields: &[usize],
) -> Result<Json, OdooError> {
    let ids: Vec<i64> = match ids {
        Some(Json::Array(items)) => items.iter().filter_map(Json::as_i64).collect(),
        Some(Json::Number(n)) => n.as_i64().into_iter().collect(),
        _ => Vec::new(),
    };
    let tables = db.tables.read();
    let table = tables.get(model.table);
    let mut out = Vec::with_capacity(ids.len());
    let mut missing = Vec::new();
    for id in &ids {
        match table.and_then(|t| t.rows.get(id)) {
            Some(row) => out.push(render(model, row, fields)),
            None => missing.push(id.to_string()),
        }
    }
    if !missing.is_empty() {
        return Err(OdooError::MissingError(format!(
            "Record does not exist or has been deleted.\n(Record: {}({},), User: {})",
            model.name,
            missing.join(", "),
            user.uid
        )));
    }
    Ok(Json::Array(out))
}

fn fields_get(model: &ModelDef, allfields: Option<&Json>, attributes: Option<&Json>) -> Json {
    let wanted: Option<Vec<&str>> = match allfields {
        Some(Json::Array(items)) if !items.is_empty() => {
            Some(items.iter().filter_map(Json::as_str).collect())
        }
        _ => None,
    };
    let attrs: Option<Vec<&str>> = match attributes {
        Some(Json::Array(items)) if !items.is_empty() => {
            Some(items.iter().filter_map(Json::as_str).collect())
        }
        _ => None,
    };
    let mut out = Map::new();
    let defs: Vec<_> = match &wanted {
        Some(names) => names
            .iter()
            .filter_map(|n| model.field_index(n).map(|i| &model.fields[i]))
            .collect(),
        None => model.fields.iter().collect(),
    };
    for f in defs {
        // Attributes in alphabetical order, as Odoo's answer has them.
        let mut all: Vec<(&str, Json)> = vec![
            ("manual", json!(f.manual)),
            ("readonly", json!(f.readonly)),
            ("required", json!(f.required)),
            ("searchable", json!(f.searchable(model.version))),
            ("sortable", json!(f.sortable())),
            ("store", json!(f.stored())),
            ("string", json!(f.label)),
            ("type", json!(f.ty.odoo_name())),
        ];
        match f.ty {
            FieldType::Many2one(rel) => all.push(("relation", json!(rel))),
            FieldType::Selection(choices) => all.push((
                "selection",
                Json::Array(choices.iter().map(|(k, v)| json!([k, v])).collect()),
            )),
            _ => {}
        }
        all.sort_by(|a, b| a.0.cmp(b.0));
        let mut desc = Map::new();
        for (k, v) in all {
            if attrs.as_ref().is_none_or(|a| a.contains(&k)) {
                desc.insert(k.to_string(), v);
            }
        }
        out.insert(f.name.to_string(), Json::Object(desc));
    }
    Json::Object(out)
}

/// A parsed `search`: domain with `active_test` applied, order, offset and limit.
pub struct Query<'m> {
    pub model: &'m ModelDef,
    domain: Domain,
    active_filter: Option<usize>,
    order: Vec<(usize, bool)>,
    offset: usize,
    limit: Option<usize>,
}

impl<'m> Query<'m> {
    pub fn new(
        schema: &Schema,
        model: &'m ModelDef,
        domain: Option<&Json>,
        ctx: Context,
        order: Option<&Json>,
        offset: Option<Json>,
        limit: Option<Json>,
    ) -> Result<Query<'m>, OdooError> {
        let domain = Domain::parse(schema, model, domain.unwrap_or(&Json::Null))?;
        // Archived rows are hidden unless the context says otherwise or the domain itself
        // filters on `active`.
        let active_filter = model
            .active_index()
            .filter(|&i| ctx.active_test && !domain.mentions(i));
        let order = match order {
            Some(Json::String(s)) if !s.trim().is_empty() => parse_order(model, s)?,
            _ => parse_order(model, model.default_order)?,
        };
        let offset = match offset {
            Some(Json::Number(n)) => n.as_u64().unwrap_or(0) as usize,
            _ => 0,
        };
        // No limit unless one is given (0, None and False all mean none).
        let limit = match limit {
            Some(Json::Number(n)) => n.as_u64().filter(|&l| l > 0).map(|l| l as usize),
            _ => None,
        };
        Ok(Query {
            model,
            domain,
            active_filter,
            order,
            offset,
            limit,
        })
    }

    fn visible(&self, domain: &Domain, row: &[Cell]) -> bool {
        if let Some(i) = self.active_filter {
            if !matches!(row.get(i), Some(Cell::Bool(true))) {
                return false;
            }
        }
        domain.matches(row)
    }

    /// The domain ready to evaluate: dotted paths resolved against `tables`.
    fn bound(&self, tables: &HashMap<&'static str, Table>) -> Cow<'_, Domain> {
        if self.domain.has_paths() {
            Cow::Owned(self.domain.bind(tables))
        } else {
            Cow::Borrowed(&self.domain)
        }
    }

    /// Matching rows, ordered and paged, handed to `f` under the table's read lock (one
    /// consistent view, as one Odoo call is one transaction).
    pub fn run<R>(&self, db: &Database, f: impl FnOnce(&[&Vec<Cell>]) -> R) -> R {
        let tables = db.tables.read();
        let Some(table) = tables.get(self.model.table) else {
            return f(&[]);
        };
        let domain = self.bound(&tables);
        let candidates = table.rows.range(domain.id_bounds()).map(|(_, r)| r);
        if self.order.len() == 1 && self.order[0] == (ID, false) {
            // Rows are kept in id order: stop as soon as the page is full, so keyset paging
            // costs one page rather than a scan of the table.
            let page: Vec<&Vec<Cell>> = candidates
                .filter(|r| self.visible(&domain, r))
                .skip(self.offset)
                .take(self.limit.unwrap_or(usize::MAX))
                .collect();
            return f(&page);
        }
        let mut rows: Vec<&Vec<Cell>> = candidates.filter(|r| self.visible(&domain, r)).collect();
        // Rows come in id order, so a stable sort keeps ties by id (PostgreSQL gives no such
        // promise, but a deterministic answer makes tests reproducible).
        rows.sort_by(|a, b| compare_rows(a, b, &self.order));
        let start = self.offset.min(rows.len());
        let end = self
            .limit
            .map_or(rows.len(), |l| start.saturating_add(l).min(rows.len()));
        f(&rows[start..end])
    }

    /// Number of matching rows (up to the limit).
    pub fn count(&self, db: &Database) -> usize {
        let tables = db.tables.read();
        let domain = self.bound(&tables);
        let n = tables.get(self.model.table).map_or(0, |t| {
            t.rows
                .range(domain.id_bounds())
                .filter(|(_, r)| self.visible(&domain, r))
                .count()
        });
        self.limit.map_or(n, |l| n.min(l))
    }
}

/// Parses `"field [asc|desc] [nulls first|last], ..."`.
pub fn parse_order(model: &ModelDef, order: &str) -> Result<Vec<(usize, bool)>, OdooError> {
    let mut out = Vec::new();
    for part in order.split(',') {
        let words: Vec<&str> = part.split_whitespace().collect();
        let Some(name) = words.first() else {
            return Err(OdooError::ValueError(format!("Invalid order '{order}'")));
        };
        let field = model.field_index(name).ok_or_else(|| {
            OdooError::ValueError(format!("Invalid field '{name}' on model '{}'", model.name))
        })?;
        let desc = match words.get(1).map(|w| w.to_ascii_lowercase()) {
            None => false,
            Some(w) if w == "asc" => false,
            Some(w) if w == "desc" => true,
            Some(_) => return Err(OdooError::ValueError(format!("Invalid order '{order}'"))),
        };
        out.push((field, desc));
    }
    Ok(out)
}

/// Orders cells as PostgreSQL does: NULLs after every value when ascending.
pub fn compare_cells(a: &Cell, b: &Cell) -> Ordering {
    use Cell::*;
    match (a, b) {
        (Empty, Empty) => Ordering::Equal,
        (Empty, _) => Ordering::Greater,
        (_, Empty) => Ordering::Less,
        (Bool(x), Bool(y)) => x.cmp(y),
        (Int(x), Int(y)) => x.cmp(y),
        (Float(x), Float(y)) => x.total_cmp(y),
        (Text(x), Text(y)) => x.cmp(y),
        (Date(x), Date(y)) => x.cmp(y),
        (DateTime(x), DateTime(y)) => x.cmp(y),
        // many2one sorts by the target's name (its `_order` in Odoo), then id.
        (Link(i, x), Link(j, y)) => x.cmp(y).then(i.cmp(j)),
        _ => Ordering::Equal,
    }
}

fn compare_rows(a: &[Cell], b: &[Cell], order: &[(usize, bool)]) -> Ordering {
    for &(i, desc) in order {
        let o = compare_cells(cell(a, i), cell(b, i));
        let o = if desc { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_like_python() {
        let sig = Signature {
            params: &["domain", "offset", "limit", "order"],
            required: 1,
            record: false,
        };
        let mut named = Map::new();
        named.insert("limit".into(), json!(5));
        let b = bind(
            "search",
            &sig,
            Args {
                positional: vec![json!([])],
                named,
            },
        )
        .unwrap();
        assert_eq!(b[2], Some(json!(5)));
        let err = bind("search", &sig, Args::default()).unwrap_err();
        assert!(err.to_string().contains("missing 1 required"));
        let mut named = Map::new();
        named.insert("bogus".into(), json!(1));
        let err = bind(
            "search",
            &sig,
            Args {
                positional: vec![json!([])],
                named,
            },
        )
        .unwrap_err();
        assert!(matches!(err, OdooError::TypeError(_)));
    }
}
