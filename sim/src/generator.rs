//! Seeded data generation: Odoo's base records plus generated partners, sales orders,
//! invoices and employees, with `write_date` spread over a range of days (quiet and busy days)
//! and optional bursts of rows sharing one transaction timestamp. Products and document lines
//! come from `generator_lines`. Deterministic for a seed and an end time.

use crate::catalog::*;
use crate::database::{Database, UserSpec};
use crate::error::SimError;
use crate::schema::{App, FieldType, ModelDef, Schema, MOVE_TYPES};
use crate::value::{micros_of, seconds, Cell, Micros};
use chrono::{DateTime, Datelike, Duration as ChronoDuration, Utc};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::sync::Arc;

pub(crate) const DAY_US: i64 = 86_400_000_000;

/// A burst: `count` rows of `model` written in one transaction (one `write_date`).
#[derive(Debug, Clone, PartialEq)]
pub struct BurstSpec {
    pub model: String,
    pub count: usize,
    /// The transaction's timestamp; a random instant of the range when `None`.
    pub at: Option<DateTime<Utc>>,
}

/// What data a database starts with.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSpec {
    /// Seed of every random choice (and of rate-based faults).
    pub seed: u64,
    /// Generated records in total, split over the installed models (40 % partners, 25 % sales
    /// orders, 25 % invoices, 10 % employees), on top of Odoo's base records.
    pub records: usize,
    /// Exact counts for some models, overriding the split (`"res.partner" => 1000`).
    pub per_model: BTreeMap<String, usize>,
    /// `write_date`s spread over the last `days` days before `end`.
    pub days: u32,
    /// End of the range; now when `None` (set it for reproducible timestamps).
    pub end: Option<DateTime<Utc>>,
    /// Share of partners and employees archived.
    pub archived_ratio: f64,
    pub bursts: Vec<BurstSpec>,
}

impl Default for DataSpec {
    fn default() -> Self {
        DataSpec {
            seed: 1,
            records: 200,
            per_model: BTreeMap::new(),
            days: 90,
            end: None,
            archived_ratio: 0.05,
            bursts: Vec::new(),
        }
    }
}

/// Records that generated rows point to.
#[derive(Default)]
struct Refs {
    partners: Vec<(i64, Arc<str>)>,
    companies: Vec<(i64, Arc<str>)>,
    employees: Vec<(i64, Arc<str>)>,
    users: Vec<(i64, Arc<str>)>,
}

/// A row under construction, filled by field name.
pub(crate) struct RowBuilder<'m> {
    model: &'m ModelDef,
    pub(crate) cells: Vec<Cell>,
}

impl<'m> RowBuilder<'m> {
    pub(crate) fn new(model: &'m ModelDef, id: i64, create: Micros, write: Micros) -> Self {
        let mut cells = Database::default_row(model, id, create);
        cells[model.write_date_index()] = Cell::DateTime(write);
        RowBuilder { model, cells }
    }

    /// Sets a field if this version's model has it (so one builder serves every version).
    pub(crate) fn set(&mut self, field: &str, cell: Cell) -> &mut Self {
        if let Some(i) = self.model.field_index(field) {
            self.cells[i] = cell;
        }
        self
    }
}

pub(crate) fn link(pair: &(i64, Arc<str>)) -> Cell {
    Cell::Link(pair.0, pair.1.clone())
}

pub(crate) fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> Option<&'a T> {
    items.choose(rng)
}

fn person_name(rng: &mut ChaCha8Rng) -> String {
    format!(
        "{} {}",
        pick(rng, FIRST_NAMES).unwrap_or(&"Ann"),
        pick(rng, LAST_NAMES).unwrap_or(&"Lee")
    )
}

fn email_of(name: &str, n: i64) -> String {
    let slug: String = name
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('.'),
            c if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect();
    format!("{slug}{n}@example.com")
}

pub(crate) fn money(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    (rng.gen_range(lo..hi) * 100.0).round() / 100.0
}

/// Picks `(create, write)` pairs: writes spread over the days with per-day weights (quiet,
/// normal and busy days), creates between the range start and the write.
pub(crate) fn timestamps(
    rng: &mut ChaCha8Rng,
    n: usize,
    start: Micros,
    end: Micros,
) -> Vec<(Micros, Micros)> {
    let span = (end - start).max(1);
    let days = ((span + DAY_US - 1) / DAY_US).max(1) as usize;
    let mut cumulative = Vec::with_capacity(days);
    let mut total = 0.0;
    for _ in 0..days {
        let r: f64 = rng.gen();
        total += if r < 0.2 {
            0.1
        } else if r < 0.3 {
            5.0
        } else {
            1.0
        };
        cumulative.push(total);
    }
    let mut out: Vec<(Micros, Micros)> = (0..n)
        .map(|_| {
            let x = rng.gen_range(0.0..total);
            let day = cumulative.partition_point(|&c| c <= x).min(days - 1) as i64;
            let write = (start + day * DAY_US + rng.gen_range(0..DAY_US)).min(end - 1);
            let create = start + rng.gen_range(0..=(write - start).max(0));
            (create, write)
        })
        .collect();
    // Ids follow creation order, as a sequence gives them.
    out.sort_unstable();
    out
}

/// Fills a new database: base records, then generated ones, then bursts.
pub(crate) fn populate(db: &Database, users: &[UserSpec], spec: &DataSpec) -> Result<(), SimError> {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let end = micros_of(spec.end.unwrap_or_else(Utc::now));
    let start = end - i64::from(spec.days.max(1)) * DAY_US;
    let mut refs = Refs {
        companies: COMPANIES.iter().map(|(i, n)| (*i, Arc::from(*n))).collect(),
        ..Refs::default()
    };
    let schema = db.schema();
    base_records(db, &schema, users, &mut refs, start);

    let has = |m: &str| schema.model(m).is_some();
    let invoice_model = if has("account.move") {
        "account.move"
    } else {
        "account.invoice"
    };
    let shares = [
        ("res.partner", 40),
        ("sale.order", 25),
        (invoice_model, 25),
        ("hr.employee", 10),
    ];
    let installed: Vec<(&str, usize)> = shares.into_iter().filter(|(m, _)| has(m)).collect();
    let weight: usize = installed.iter().map(|(_, w)| w).sum();
    for (model, w) in &installed {
        let n = spec
            .per_model
            .get(*model)
            .copied()
            .unwrap_or(spec.records * w / weight.max(1));
        let Some(m) = schema.model(model) else {
            continue;
        };
        let stamps = timestamps(&mut rng, n, start, end);
        let rows: Vec<Vec<Cell>> = stamps
            .into_iter()
            .map(|(create, write)| {
                let id = db.allocate_id(m);
                build_row(
                    m,
                    &mut rng,
                    &mut refs,
                    id,
                    create,
                    write,
                    spec.archived_ratio,
                )
            })
            .collect();
        let mut tables = db.tables.write();
        let table = tables.entry(m.table).or_default();
        for row in rows {
            if let Some(Cell::Int(id)) = row.first() {
                table.rows.insert(*id, row);
            }
        }
    }
    // Products and lines draw from their own random streams, so that adding them left the
    // data of the other models as it was for a given seed.
    crate::generator_lines::populate(db, &schema, spec, start, end);
    for b in &spec.bursts {
        let at = match b.at {
            Some(t) => micros_of(t),
            None => rng.gen_range(start..end),
        };
        burst(db, &b.model, b.count, rng.gen(), at)?;
    }
    Ok(())
}

/// Creates `count` generated rows of `model`, all stamped `stamp` (one transaction).
pub(crate) fn burst(
    db: &Database,
    model: &str,
    count: usize,
    seed: u64,
    stamp: Micros,
) -> Result<Vec<i64>, SimError> {
    let schema = db.schema();
    let m = schema.model(model).ok_or_else(|| SimError::UnknownModel {
        database: db.name.clone(),
        model: model.to_string(),
    })?;
    if crate::generator_lines::generates(model) {
        return Ok(crate::generator_lines::burst(
            db, &schema, m, count, seed, stamp,
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut refs = refs_of(db, &schema);
    let mut ids = Vec::with_capacity(count);
    let rows: Vec<Vec<Cell>> = (0..count)
        .map(|_| {
            let id = db.allocate_id(m);
            ids.push(id);
            build_row(m, &mut rng, &mut refs, id, stamp, stamp, 0.0)
        })
        .collect();
    let mut tables = db.tables.write();
    let table = tables.entry(m.table).or_default();
    for (id, row) in ids.iter().zip(rows) {
        table.rows.insert(*id, row);
    }
    Ok(ids)
}

/// References for bursts into an existing database.
fn refs_of(db: &Database, schema: &Schema) -> Refs {
    let tables = db.tables.read();
    let collect = |model: &str| -> Vec<(i64, Arc<str>)> {
        let Some(m) = schema.model(model) else {
            return Vec::new();
        };
        let Some(name) = m.field_index("name") else {
            return Vec::new();
        };
        tables
            .get(m.table)
            .map(|t| {
                t.rows
                    .iter()
                    .filter_map(|(id, r)| match r.get(name) {
                        Some(Cell::Text(s)) => Some((*id, s.clone())),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    Refs {
        partners: collect("res.partner"),
        companies: COMPANIES.iter().map(|(i, n)| (*i, Arc::from(*n))).collect(),
        employees: collect("hr.employee"),
        users: collect("res.users"),
    }
}

/// Odoo's own records: the company, OdooBot, the users' partners and users, the modules and
/// the administrator's employee.
fn base_records(db: &Database, schema: &Schema, users: &[UserSpec], refs: &mut Refs, at: Micros) {
    if let Some(m) = schema.model("res.partner") {
        let mut rows = vec![
            {
                let mut b = RowBuilder::new(m, 1, at, at);
                b.set("name", Cell::text("YourCompany"))
                    .set("email", Cell::text("info@yourcompany.com"))
                    .set("phone", Cell::text("+1 555-555-5556"))
                    .set("is_company", Cell::Bool(true))
                    .set("country_id", Cell::Link(233, "United States".into()))
                    .set("city", Cell::text("Brisbane"));
                b.cells
            },
            {
                let mut b = RowBuilder::new(m, 2, at, at);
                b.set("name", Cell::text("OdooBot"))
                    .set("email", Cell::text("odoobot@example.com"))
                    .set("active", Cell::Bool(false));
                b.cells
            },
        ];
        for (k, u) in users.iter().enumerate() {
            let mut b = RowBuilder::new(m, 3 + k as i64, at, at);
            b.set("name", Cell::text(&u.name))
                .set("email", Cell::text(format!("{}@example.com", u.login)))
                .set("company_id", Cell::Link(1, "YourCompany".into()));
            rows.push(b.cells);
        }
        for r in rows {
            if let (Some(Cell::Int(id)), Some(Cell::Text(name))) =
                (r.first(), m.field_index("name").and_then(|i| r.get(i)))
            {
                if *id != 2 {
                    refs.partners.push((*id, name.clone()));
                }
            }
            db.insert_row(m, r);
        }
    }
    if let Some(m) = schema.model("res.users") {
        let mut b = RowBuilder::new(m, 1, at, at);
        b.set("name", Cell::text("OdooBot"))
            .set("login", Cell::text("__system__"))
            .set("active", Cell::Bool(false));
        db.insert_row(m, b.cells);
        for u in users {
            let mut b = RowBuilder::new(m, u.uid, at, at);
            b.set("name", Cell::text(&u.name))
                .set("login", Cell::text(&u.login))
                .set("company_id", Cell::Link(1, "YourCompany".into()));
            db.insert_row(m, b.cells);
            refs.users.push((u.uid, Arc::from(u.name.as_str())));
        }
    }
    if let Some(m) = schema.model("ir.module.module") {
        // New modules go last: the ids of the earlier ones stay what they were.
        let modules: [(&str, &str, bool); 13] = [
            ("base", "Base", false),
            ("web", "Web", false),
            ("mail", "Discuss", true),
            ("contacts", "Contacts", true),
            ("sale", "Sales", true),
            ("account", "Invoicing", true),
            ("hr", "Employees", true),
            ("crm", "CRM", true),
            ("stock", "Inventory", true),
            ("project", "Project", true),
            ("website", "Website", true),
            ("product", "Products & Pricelists", false),
            ("uom", "Units of measure", false),
        ];
        let installed_modules = installed_modules(&db.apps);
        for (k, (name, desc, application)) in modules.iter().enumerate() {
            let installed = installed_modules.contains(name);
            let mut b = RowBuilder::new(m, k as i64 + 1, at, at);
            b.set("name", Cell::text(name))
                .set("shortdesc", Cell::text(desc))
                .set(
                    "state",
                    Cell::text(if installed {
                        "installed"
                    } else {
                        "uninstalled"
                    }),
                )
                .set("application", Cell::Bool(*application))
                .set("sequence", Cell::Int(100));
            db.insert_row(m, b.cells);
        }
    }
    if let Some(m) = schema.model("ir.model") {
        // One record per model of this database, as `ir.model` lists installed models.
        let installed = installed_modules(&db.apps);
        for (k, model) in schema.models().iter().enumerate() {
            let in_apps: Vec<&str> = {
                let mut names: Vec<&str> = model
                    .modules
                    .iter()
                    .copied()
                    .filter(|n| installed.contains(n))
                    .collect();
                names.sort_unstable();
                names
            };
            let mut b = RowBuilder::new(m, k as i64 + 1, at, at);
            b.set("name", Cell::text(model.description))
                .set("model", Cell::text(model.name))
                .set("state", Cell::text("base"))
                .set("transient", Cell::Bool(false))
                .set("modules", Cell::text(in_apps.join(", ")));
            db.insert_row(m, b.cells);
        }
    }
    if let Some(m) = schema.model("hr.employee") {
        let admin = users.first().map_or("Mitchell Admin", |u| u.name.as_str());
        let mut b = RowBuilder::new(m, 1, at, at);
        b.set("name", Cell::text(admin))
            .set("work_email", Cell::text("admin@example.com"))
            .set("job_title", Cell::text("Chief Technical Officer"))
            .set("department_id", Cell::Link(2, "Management".into()))
            .set("parent_id", Cell::Link(1, admin.into()))
            .set("company_id", Cell::Link(1, "YourCompany".into()));
        db.insert_row(m, b.cells);
        refs.employees.push((1, Arc::from(admin)));
    }
}

/// The technical names of the installed modules: base and web always, mail with any business
/// app, product and uom with any app that depends on them, and the apps themselves.
pub(crate) fn installed_modules(apps: &[App]) -> Vec<&'static str> {
    let mut names = vec!["base", "web"];
    if !apps.is_empty() {
        names.push("mail");
    }
    if apps
        .iter()
        .any(|a| matches!(a, App::Sale | App::Account | App::Stock))
    {
        names.extend(["product", "uom"]);
    }
    names.extend(apps.iter().map(|a| a.module_name()));
    names
}

/// One generated row of a business model.
fn build_row(
    m: &ModelDef,
    rng: &mut ChaCha8Rng,
    refs: &mut Refs,
    id: i64,
    create: Micros,
    write: Micros,
    archived_ratio: f64,
) -> Vec<Cell> {
    let mut b = RowBuilder::new(m, id, create, write);
    let created = DateTime::<Utc>::from_timestamp(seconds(create), 0).unwrap_or_default();
    let year = created.year();
    let company = refs.companies.first().map_or(Cell::Empty, link);
    let currency = {
        let r: f64 = rng.gen();
        let (cid, cname) = if r < 0.8 {
            CURRENCIES[0]
        } else if r < 0.95 {
            CURRENCIES[1]
        } else {
            CURRENCIES[2]
        };
        Cell::Link(cid, cname.into())
    };
    let partner = pick(rng, &refs.partners).map_or(Cell::Empty, link);
    match m.name {
        "res.partner" => {
            let is_company = rng.gen_bool(0.25);
            let name = if is_company {
                format!(
                    "{} {}",
                    pick(rng, COMPANY_WORDS).unwrap_or(&"Acme"),
                    pick(rng, COMPANY_SUFFIXES).unwrap_or(&"Corporation")
                )
            } else {
                person_name(rng)
            };
            let parent = if !is_company && rng.gen_bool(0.5) {
                pick(rng, &refs.partners).map_or(Cell::Empty, link)
            } else {
                Cell::Empty
            };
            let phone = if rng.gen_bool(0.7) {
                Cell::text(format!("+1 555-{:04}", rng.gen_range(0..10_000)))
            } else {
                Cell::Empty
            };
            let country = if rng.gen_bool(0.85) {
                pick(rng, COUNTRIES).map_or(Cell::Empty, |(i, n)| Cell::Link(*i, (*n).into()))
            } else {
                Cell::Empty
            };
            let city = if rng.gen_bool(0.8) {
                Cell::text(pick(rng, CITIES).unwrap_or(&"Paris"))
            } else {
                Cell::Empty
            };
            b.set("email", Cell::text(email_of(&name, id)))
                .set("phone", phone)
                .set("is_company", Cell::Bool(is_company))
                .set("parent_id", parent)
                .set("country_id", country)
                .set("city", city)
                .set("active", Cell::Bool(!rng.gen_bool(archived_ratio)))
                .set(
                    "company_id",
                    if rng.gen_bool(0.2) {
                        company
                    } else {
                        Cell::Empty
                    },
                );
            let name: Arc<str> = Arc::from(name.as_str());
            b.set("name", Cell::Text(name.clone()));
            refs.partners.push((id, name));
        }
        "sale.order" => {
            let states: &[(&str, f64)] = if m
                .field_index("state")
                .is_some_and(|i| matches!(m.fields[i].ty, FieldType::Selection(c) if c.iter().any(|(k, _)| *k == "done")))
            {
                &[("draft", 0.3), ("sent", 0.1), ("sale", 0.45), ("done", 0.1), ("cancel", 0.05)]
            } else {
                &[("draft", 0.3), ("sent", 0.15), ("sale", 0.5), ("cancel", 0.05)]
            };
            let state = weighted(rng, states);
            let untaxed = money(rng, 50.0, 50_000.0);
            let invoice_status = match state {
                "sale" | "done" => {
                    if rng.gen_bool(0.5) {
                        "invoiced"
                    } else {
                        "to invoice"
                    }
                }
                _ => "no",
            };
            b.set("name", Cell::text(format!("S{id:05}")))
                .set("partner_id", partner)
                .set("date_order", Cell::DateTime(seconds(create) * 1_000_000))
                .set("state", Cell::text(state))
                .set("amount_untaxed", Cell::Float(untaxed))
                .set(
                    "amount_total",
                    Cell::Float((untaxed * 1.15 * 100.0).round() / 100.0),
                )
                .set("currency_id", currency)
                .set("user_id", pick(rng, &refs.users).map_or(Cell::Empty, link))
                .set("company_id", company)
                .set("invoice_status", Cell::text(invoice_status));
        }
        "account.move" => {
            let move_type = weighted(
                rng,
                &[
                    ("out_invoice", 0.5),
                    ("in_invoice", 0.25),
                    ("out_refund", 0.08),
                    ("in_refund", 0.07),
                    ("entry", 0.1),
                ],
            );
            debug_assert!(MOVE_TYPES.iter().any(|(k, _)| *k == move_type));
            let state = weighted(rng, &[("posted", 0.8), ("draft", 0.15), ("cancel", 0.05)]);
            let total = money(rng, 20.0, 60_000.0);
            let paid = if state == "posted" && move_type != "entry" {
                weighted(
                    rng,
                    &[
                        ("not_paid", 0.5),
                        ("paid", 0.35),
                        ("in_payment", 0.1),
                        ("partial", 0.05),
                    ],
                )
            } else {
                "not_paid"
            };
            let residual = match paid {
                "paid" | "in_payment" => 0.0,
                "partial" => (total * 0.4 * 100.0).round() / 100.0,
                _ => total,
            };
            let prefix = match move_type {
                "out_invoice" => "INV",
                "in_invoice" => "BILL",
                "out_refund" => "RINV",
                "in_refund" => "RBILL",
                _ => "MISC",
            };
            let date = created.date_naive();
            let (invoice_date, due) = if move_type == "entry" {
                (Cell::Empty, Cell::Empty)
            } else {
                (
                    Cell::Date(date),
                    Cell::Date(date + ChronoDuration::days(30)),
                )
            };
            // Version 13 had no `partial` payment state.
            let paid13 = if paid == "partial" { "not_paid" } else { paid };
            b.set("name", Cell::text(format!("{prefix}/{year}/{id:05}")))
                .set(
                    "partner_id",
                    if move_type == "entry" {
                        Cell::Empty
                    } else {
                        partner
                    },
                )
                .set("invoice_date", invoice_date)
                .set("invoice_date_due", due)
                .set("state", Cell::text(state))
                .set("amount_total", Cell::Float(total))
                .set("amount_residual", Cell::Float(residual))
                .set("currency_id", currency)
                .set("company_id", company)
                .set("move_type", Cell::text(move_type))
                .set("type", Cell::text(move_type))
                .set("payment_state", Cell::text(paid))
                .set("invoice_payment_state", Cell::text(paid13));
        }
        "account.invoice" => {
            let inv_type = weighted(
                rng,
                &[
                    ("out_invoice", 0.55),
                    ("in_invoice", 0.3),
                    ("out_refund", 0.08),
                    ("in_refund", 0.07),
                ],
            );
            let state = weighted(
                rng,
                &[
                    ("draft", 0.15),
                    ("open", 0.4),
                    ("paid", 0.4),
                    ("cancel", 0.05),
                ],
            );
            let total = money(rng, 20.0, 60_000.0);
            let date = created.date_naive();
            let number = if state == "draft" {
                Cell::Empty
            } else {
                Cell::text(format!("INV/{year}/{id:04}"))
            };
            b.set("number", number)
                .set("type", Cell::text(inv_type))
                .set("partner_id", partner)
                .set("date_invoice", Cell::Date(date))
                .set("date_due", Cell::Date(date + ChronoDuration::days(30)))
                .set("state", Cell::text(state))
                .set("amount_total", Cell::Float(total))
                .set(
                    "residual",
                    Cell::Float(if state == "paid" { 0.0 } else { total }),
                )
                .set("currency_id", currency)
                .set("company_id", company);
        }
        "hr.employee" => {
            let name = person_name(rng);
            b.set("work_email", Cell::text(email_of(&name, id)))
                .set(
                    "department_id",
                    pick(rng, DEPARTMENTS)
                        .map_or(Cell::Empty, |(i, n)| Cell::Link(*i, (*n).into())),
                )
                .set(
                    "job_title",
                    Cell::text(pick(rng, JOB_TITLES).unwrap_or(&"Consultant")),
                )
                .set(
                    "parent_id",
                    pick(rng, &refs.employees).map_or(Cell::Empty, link),
                )
                .set("company_id", company)
                .set("active", Cell::Bool(!rng.gen_bool(archived_ratio)));
            let name: Arc<str> = Arc::from(name.as_str());
            b.set("name", Cell::Text(name.clone()));
            refs.employees.push((id, name));
        }
        _ => {
            // Other models get a name when they have one.
            b.set("name", Cell::text(format!("{} {id}", m.description)));
        }
    }
    b.cells
}

pub(crate) fn weighted<'a>(rng: &mut ChaCha8Rng, choices: &[(&'a str, f64)]) -> &'a str {
    let total: f64 = choices.iter().map(|(_, w)| w).sum();
    let mut x = rng.gen_range(0.0..total.max(f64::MIN_POSITIVE));
    for (v, w) in choices {
        if x < *w {
            return v;
        }
        x -= w;
    }
    choices.last().map_or("", |(v, _)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_stay_in_range_and_sorted() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let stamps = timestamps(&mut rng, 1000, 0, 10 * DAY_US);
        assert!(stamps.windows(2).all(|w| w[0].0 <= w[1].0));
        assert!(stamps
            .iter()
            .all(|(c, w)| 0 <= *c && c <= w && *w < 10 * DAY_US));
    }
}
