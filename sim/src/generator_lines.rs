//! Generated products and document lines: a product catalogue (some archived), one to three
//! lines per sales order (a section or note now and then) and the lines of every invoice or
//! journal entry as each version writes them (12's `account.invoice.line`; from 13 product,
//! tax and receivable/payable lines, told apart by `exclude_from_invoice_tab` up to 15 and by
//! `display_type` from 16). Line amounts add up, to the cent, to their document's amounts.
//! Each part draws from its own random stream, so the other models' data does not depend on
//! whether lines exist.

use crate::catalog::*;
use crate::database::Database;
use crate::generator::{money, pick, timestamps, DataSpec, RowBuilder};
use crate::methods::display_name;
use crate::schema::{ModelDef, Schema};
use crate::value::{Cell, Micros};
use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

/// Offsets of the products' and the lines' random streams from the data seed.
const PRODUCT_STREAM: u64 = 0x9E37_79B9_7F4A_7C15;
const LINE_STREAM: u64 = 0xC2B2_AE3D_27D4_EB4F;

/// The tax rate of generated documents (their totals are untaxed amounts plus 15 %).
const TAX_RATE: f64 = 0.15;

/// The models generated here (bursts of them go through [`burst`]).
pub(crate) fn generates(model: &str) -> bool {
    matches!(
        model,
        "product.product" | "sale.order.line" | "account.move.line" | "account.invoice.line"
    )
}

/// A product lines can point to.
#[derive(Debug, Clone)]
struct ProductRef {
    link: Cell,
    name: Arc<str>,
    uom: Cell,
    service: bool,
    sale_ok: bool,
    purchase_ok: bool,
}

/// The version-dependent shape of a database, read once.
struct Ctx<'s> {
    version: u32,
    stock: bool,
    schema: &'s Schema,
}

/// Generates the products, then the lines of the generated orders and invoices.
pub(crate) fn populate(
    db: &Database,
    schema: &Schema,
    spec: &DataSpec,
    start: Micros,
    end: Micros,
) {
    if spec.records == 0 && spec.per_model.is_empty() {
        return;
    }
    let ctx = Ctx {
        version: db.version,
        stock: db.apps.contains(&crate::schema::App::Stock),
        schema,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed.wrapping_add(PRODUCT_STREAM));
    if let Some(m) = schema.model("product.product") {
        let n = spec
            .per_model
            .get("product.product")
            .copied()
            .unwrap_or((spec.records / 20).max(3));
        // At least one archived product whatever the ratio, so that active_test shows.
        let ratio = spec.archived_ratio.max(0.1);
        let rows: Vec<Vec<Cell>> = timestamps(&mut rng, n, start, end)
            .into_iter()
            .enumerate()
            .map(|(k, (create, write))| {
                let archived = k + 1 == n || rng.gen_bool(ratio.min(1.0));
                product_row(
                    &ctx,
                    m,
                    &mut rng,
                    db.allocate_id(m),
                    create,
                    write,
                    archived,
                )
            })
            .collect();
        insert(db, m, rows);
    }
    let products = Catalogue::new(products_of(db, &ctx));
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed.wrapping_add(LINE_STREAM));
    if let (Some(lines), Some(orders)) =
        (schema.model("sale.order.line"), schema.model("sale.order"))
    {
        let parents = parent_rows(db, orders);
        let mut rows = Vec::new();
        for order in &parents {
            rows.extend(order_lines(
                &ctx, db, lines, orders, order, &products, &mut rng,
            ));
        }
        insert(db, lines, rows);
    }
    let invoices = [
        ("account.move.line", "account.move"),
        ("account.invoice.line", "account.invoice"),
    ];
    for (line_model, parent_model) in invoices {
        let (Some(lines), Some(parent)) = (schema.model(line_model), schema.model(parent_model))
        else {
            continue;
        };
        let parents = parent_rows(db, parent);
        let mut rows = Vec::new();
        for doc in &parents {
            rows.extend(invoice_lines(
                &ctx, db, lines, parent, doc, &products, &mut rng,
            ));
        }
        insert(db, lines, rows);
    }
}

/// `count` generated rows of a product or line model, stamped `stamp`; returns their ids.
pub(crate) fn burst(
    db: &Database,
    schema: &Schema,
    m: &ModelDef,
    count: usize,
    seed: u64,
    stamp: Micros,
) -> Vec<i64> {
    let ctx = Ctx {
        version: db.version,
        stock: db.apps.contains(&crate::schema::App::Stock),
        schema,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let products = Catalogue::new(products_of(db, &ctx));
    let parent = match m.name {
        "sale.order.line" => schema.model("sale.order"),
        "account.move.line" => schema.model("account.move"),
        "account.invoice.line" => schema.model("account.invoice"),
        _ => None,
    };
    let parents = parent.map(|p| parent_rows(db, p)).unwrap_or_default();
    let mut rows = Vec::with_capacity(count);
    for _ in 0..count {
        let id = db.allocate_id(m);
        let row = match (m.name, parent, pick(&mut rng, &parents)) {
            ("product.product", _, _) => product_row(&ctx, m, &mut rng, id, stamp, stamp, false),
            (_, Some(parent), Some(doc)) => {
                let product = pick(&mut rng, &products.sale).cloned();
                let mut b = line_base(&ctx, m, parent, doc, id, stamp, stamp);
                let qty = f64::from(rng.gen_range(1..=5));
                let price = money(&mut rng, 10.0, 500.0);
                let subtotal = (qty * price * 100.0).round() / 100.0;
                let tax = (subtotal * TAX_RATE * 100.0).round() / 100.0;
                product_line(&ctx, &mut b, product.as_ref(), qty, price, subtotal, tax);
                b.cells
            }
            // A line model without any parent document: an empty line.
            _ => RowBuilder::new(m, id, stamp, stamp).cells,
        };
        rows.push(row);
    }
    let ids = rows
        .iter()
        .filter_map(|r| match r.first() {
            Some(Cell::Int(id)) => Some(*id),
            _ => None,
        })
        .collect();
    insert(db, m, rows);
    ids
}

fn insert(db: &Database, m: &ModelDef, rows: Vec<Vec<Cell>>) {
    let mut tables = db.tables.write();
    let table = tables.entry(m.table).or_default();
    for row in rows {
        if let Some(Cell::Int(id)) = row.first() {
            table.rows.insert(*id, row);
        }
    }
}

fn product_row(
    ctx: &Ctx,
    m: &ModelDef,
    rng: &mut ChaCha8Rng,
    id: i64,
    create: Micros,
    write: Micros,
    archived: bool,
) -> Vec<Cell> {
    let mut b = RowBuilder::new(m, id, create, write);
    let service = rng.gen_bool(0.25);
    let name = if service {
        pick(rng, SERVICE_NAMES).unwrap_or(&"Service").to_string()
    } else {
        format!(
            "{} {}",
            pick(rng, PRODUCT_ADJECTIVES).unwrap_or(&"Office"),
            pick(rng, PRODUCT_WORDS).unwrap_or(&"Desk")
        )
    };
    let code = rng
        .gen_bool(0.8)
        .then(|| format!("{}_{id:04}", if service { "SERV" } else { "FURN" }));
    let barcode = (!service && rng.gen_bool(0.5))
        .then(|| format!("540{:010}", (id.unsigned_abs() * 7_919) % 10_000_000_000));
    let list_price = money(rng, 5.0, 2_000.0);
    let categories = reference_table("product.category", ctx.version).unwrap_or(&[]);
    // 12-18: All (1), All / Saleable (2), All / Expenses (3); 19: Goods, Services, Expenses.
    let categ = match (service, ctx.version >= 19) {
        (true, true) => categories.get(1),
        (true, false) => categories.first(),
        (false, _) => categories.get(if ctx.version >= 19 { 0 } else { 1 }),
    };
    let goods_type = if ctx.stock && ctx.version <= 17 && rng.gen_bool(0.6) {
        "product"
    } else {
        "consu"
    };
    let ty = if service { "service" } else { goods_type };
    let uoms = reference_table("uom.uom", ctx.version).unwrap_or(&[]);
    let uom = if service { uoms.get(3) } else { uoms.first() };
    let display = match &code {
        Some(c) => format!("[{c}] {name}"),
        None => name.clone(),
    };
    b.set("name", Cell::text(&name))
        .set("default_code", code.map_or(Cell::Empty, Cell::text))
        .set("barcode", barcode.map_or(Cell::Empty, Cell::text))
        .set("list_price", Cell::Float(list_price))
        .set(
            "standard_price",
            Cell::Float((list_price * 0.6 * 100.0).round() / 100.0),
        )
        .set(
            "categ_id",
            categ.map_or(Cell::Empty, |(i, n)| Cell::Link(*i, (*n).into())),
        )
        .set("type", Cell::text(ty))
        .set("detailed_type", Cell::text(ty))
        .set(
            "is_storable",
            Cell::Bool(!service && ctx.stock && rng.gen_bool(0.6)),
        )
        .set(
            "uom_id",
            uom.map_or(Cell::Empty, |(i, n)| Cell::Link(*i, (*n).into())),
        )
        .set("sale_ok", Cell::Bool(rng.gen_bool(0.95)))
        .set("purchase_ok", Cell::Bool(!service || rng.gen_bool(0.5)))
        .set(
            "company_id",
            if rng.gen_bool(0.2) {
                Cell::Link(COMPANIES[0].0, COMPANIES[0].1.into())
            } else {
                Cell::Empty
            },
        )
        .set("active", Cell::Bool(!archived))
        // One variant per template: the template shares the product's id and name.
        .set("product_tmpl_id", Cell::Link(id, display.as_str().into()));
    b.cells
}

/// The active products, for lines to point to.
fn products_of(db: &Database, ctx: &Ctx) -> Vec<ProductRef> {
    let Some(m) = ctx.schema.model("product.product") else {
        return Vec::new();
    };
    let (Some(active), Some(name), Some(uom), Some(ty)) = (
        m.field_index("active"),
        m.field_index("name"),
        m.field_index("uom_id"),
        m.field_index("type"),
    ) else {
        return Vec::new();
    };
    let flag = |r: &[Cell], f: &str| {
        m.field_index(f)
            .is_some_and(|i| matches!(r.get(i), Some(Cell::Bool(true))))
    };
    let tables = db.tables.read();
    let Some(table) = tables.get(m.table) else {
        return Vec::new();
    };
    table
        .rows
        .iter()
        .filter(|(_, r)| matches!(r.get(active), Some(Cell::Bool(true))))
        .map(|(id, r)| {
            let shown: Arc<str> = display_name(m, r).into();
            ProductRef {
                link: Cell::Link(*id, shown.clone()),
                name: match r.get(name) {
                    Some(Cell::Text(n)) => n.clone(),
                    _ => shown,
                },
                uom: r.get(uom).cloned().unwrap_or(Cell::Empty),
                service: matches!(r.get(ty), Some(Cell::Text(t)) if &**t == "service"),
                sale_ok: flag(r, "sale_ok"),
                purchase_ok: flag(r, "purchase_ok"),
            }
        })
        .collect()
}

/// The active products that can be sold and those that can be bought (all of them when none
/// qualifies).
struct Catalogue {
    sale: Vec<ProductRef>,
    buy: Vec<ProductRef>,
}

impl Catalogue {
    fn new(products: Vec<ProductRef>) -> Catalogue {
        let only = |ok: fn(&ProductRef) -> bool| {
            let some: Vec<ProductRef> = products.iter().filter(|p| ok(p)).cloned().collect();
            if some.is_empty() {
                products.clone()
            } else {
                some
            }
        };
        Catalogue {
            sale: only(|p| p.sale_ok),
            buy: only(|p| p.purchase_ok),
        }
    }
}

/// A document (order, invoice, entry) as its lines need it.
#[derive(Debug, Clone)]
struct Doc {
    row: Vec<Cell>,
    link: Cell,
}

fn parent_rows(db: &Database, m: &ModelDef) -> Vec<Doc> {
    let tables = db.tables.read();
    tables
        .get(m.table)
        .map(|t| {
            t.rows
                .iter()
                .map(|(id, r)| Doc {
                    row: r.clone(),
                    link: Cell::Link(*id, display_name(m, r).into()),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn get<'r>(m: &ModelDef, row: &'r [Cell], field: &str) -> &'r Cell {
    m.field_index(field)
        .and_then(|i| row.get(i))
        .unwrap_or(&Cell::Empty)
}

fn text<'r>(m: &ModelDef, row: &'r [Cell], field: &str) -> &'r str {
    match get(m, row, field) {
        Cell::Text(s) => s,
        _ => "",
    }
}

fn cents(m: &ModelDef, row: &[Cell], field: &str) -> i64 {
    match get(m, row, field) {
        Cell::Float(f) => (f * 100.0).round() as i64,
        _ => 0,
    }
}

fn amount(cents: i64) -> f64 {
    cents as f64 / 100.0
}

/// Splits `total` cents into `k` positive parts (fewer when there are too few cents), the last
/// taking what rounding left.
fn split(rng: &mut ChaCha8Rng, total: i64, k: usize) -> Vec<i64> {
    let k = k.clamp(1, total.max(1) as usize);
    let weights: Vec<f64> = (0..k).map(|_| rng.gen_range(0.5..1.5)).collect();
    let sum: f64 = weights.iter().sum();
    let mut parts: Vec<i64> = weights
        .iter()
        .take(k - 1)
        .map(|w| ((total as f64) * w / sum).floor().max(1.0) as i64)
        .collect();
    let used: i64 = parts.iter().sum();
    parts.push(total - used);
    parts
}

/// The tax of each part, proportional, the last taking what rounding left.
fn spread(tax: i64, parts: &[i64]) -> Vec<i64> {
    let total: i64 = parts.iter().sum();
    let mut out: Vec<i64> = parts
        .iter()
        .take(parts.len().saturating_sub(1))
        .map(|p| {
            if total == 0 {
                0
            } else {
                ((tax as f64) * (*p as f64) / (total as f64)).round() as i64
            }
        })
        .collect();
    let used: i64 = out.iter().sum();
    out.push(tax - used);
    out
}

/// A line with the fields every line of `doc` shares (parent, partner, currency, company,
/// status, dates).
fn line_base<'m>(
    ctx: &Ctx,
    m: &'m ModelDef,
    parent: &ModelDef,
    doc: &Doc,
    id: i64,
    create: Micros,
    write: Micros,
) -> RowBuilder<'m> {
    let mut b = RowBuilder::new(m, id, create, write);
    let row = &doc.row;
    let partner = get(parent, row, "partner_id").clone();
    b.set("order_id", doc.link.clone())
        .set("move_id", doc.link.clone())
        .set("invoice_id", doc.link.clone())
        .set("order_partner_id", partner.clone())
        .set("partner_id", partner)
        .set("salesman_id", get(parent, row, "user_id").clone())
        .set("currency_id", get(parent, row, "currency_id").clone())
        .set("company_id", get(parent, row, "company_id").clone())
        .set("state", get(parent, row, "state").clone())
        .set("parent_state", get(parent, row, "state").clone());
    if m.name == "account.move.line" {
        // The accounting date: the invoice date, else the day the entry was made.
        let date = match get(parent, row, "invoice_date") {
            Cell::Date(d) => Cell::Date(*d),
            _ => DateTime::<Utc>::from_timestamp_micros(create)
                .map_or(Cell::Empty, |t| Cell::Date(t.date_naive())),
        };
        b.set("date", date);
        if ctx.version <= 15 {
            b.set("exclude_from_invoice_tab", Cell::Bool(false));
        }
    }
    b
}

/// Fills a product line: product, description, quantity, prices and amounts.
fn product_line(
    ctx: &Ctx,
    b: &mut RowBuilder,
    product: Option<&ProductRef>,
    qty: f64,
    price_unit: f64,
    subtotal: f64,
    tax: f64,
) {
    let uom = product.map_or(Cell::Empty, |p| p.uom.clone());
    let label = product.map_or_else(|| "Miscellaneous".to_string(), |p| p.link_name());
    b.set(
        "product_id",
        product.map_or(Cell::Empty, |p| p.link.clone()),
    )
    .set("name", Cell::text(label))
    .set("product_uom_qty", Cell::Float(qty))
    .set("quantity", Cell::Float(qty))
    .set("product_uom", uom.clone())
    .set("product_uom_id", uom.clone())
    .set("uom_id", uom)
    .set("price_unit", Cell::Float(price_unit))
    .set("price_subtotal", Cell::Float(subtotal))
    .set("price_tax", Cell::Float(tax))
    .set(
        "price_total",
        Cell::Float(((subtotal + tax) * 100.0).round() / 100.0),
    );
    if ctx.version >= 16 {
        b.set("display_type", Cell::text("product"));
    }
}

impl ProductRef {
    /// What a line's description starts as: the product's display name.
    fn link_name(&self) -> String {
        match &self.link {
            Cell::Link(_, shown) => shown.to_string(),
            _ => self.name.to_string(),
        }
    }
}

/// A section or note line: no product, no amounts.
fn display_line(b: &mut RowBuilder, kind: &str, label: &str) {
    b.set("display_type", Cell::text(kind))
        .set("name", Cell::text(label))
        .set("product_uom_qty", Cell::Float(0.0))
        .set("quantity", Cell::Float(0.0));
}

fn stamps(m: &ModelDef, row: &[Cell]) -> (Micros, Micros) {
    let at = |i: usize| match row.get(i) {
        Some(Cell::DateTime(us)) => *us,
        _ => 0,
    };
    (at(m.create_date_index()), at(m.write_date_index()))
}

/// The lines of one sales order: their subtotals add up to its untaxed amount and their
/// totals to its total. Lines are written with their order, so they share its timestamps.
fn order_lines(
    ctx: &Ctx,
    db: &Database,
    m: &ModelDef,
    orders: &ModelDef,
    order: &Doc,
    products: &Catalogue,
    rng: &mut ChaCha8Rng,
) -> Vec<Vec<Cell>> {
    let (create, write) = stamps(orders, &order.row);
    let untaxed = cents(orders, &order.row, "amount_untaxed");
    let tax = cents(orders, &order.row, "amount_total") - untaxed;
    let state = text(orders, &order.row, "state");
    let invoiced = text(orders, &order.row, "invoice_status") == "invoiced";
    let products = &products.sale;
    let mut rows = Vec::new();
    let mut sequence = 10;
    let mut next = |b: &mut RowBuilder| {
        b.set("sequence", Cell::Int(sequence));
        sequence += 1;
    };
    if rng.gen_bool(0.1) {
        let mut b = line_base(ctx, m, orders, order, db.allocate_id(m), create, write);
        display_line(&mut b, "line_section", "Products");
        next(&mut b);
        rows.push(b.cells);
    }
    let k = rng.gen_range(1..=3);
    let parts = split(rng, untaxed, k);
    for (part, tax) in parts.iter().zip(spread(tax, &parts)) {
        let product = pick(rng, products);
        // Services are sold by the hour, goods by the unit.
        let most = if product.is_some_and(|p| p.service) {
            8
        } else {
            10
        };
        let qty = f64::from(rng.gen_range(1..=most));
        let discount = if rng.gen_bool(0.15) { 10.0 } else { 0.0 };
        let subtotal = amount(*part);
        let price_unit = (subtotal / (qty * (1.0 - discount / 100.0)) * 100.0).round() / 100.0;
        let mut b = line_base(ctx, m, orders, order, db.allocate_id(m), create, write);
        product_line(ctx, &mut b, product, qty, price_unit, subtotal, amount(tax));
        let delivered = match state {
            "sale" | "done" if invoiced || rng.gen_bool(0.7) => qty,
            _ => 0.0,
        };
        b.set("discount", Cell::Float(discount))
            .set("qty_delivered", Cell::Float(delivered))
            .set(
                "qty_invoiced",
                Cell::Float(if invoiced { qty } else { 0.0 }),
            )
            // Sales order lines have no display type but sections and notes.
            .set("display_type", Cell::Empty);
        next(&mut b);
        rows.push(b.cells);
    }
    if rng.gen_bool(0.1) {
        let mut b = line_base(ctx, m, orders, order, db.allocate_id(m), create, write);
        display_line(&mut b, "line_note", "Delivery within two weeks.");
        next(&mut b);
        rows.push(b.cells);
    }
    rows
}

/// The lines of one invoice, bill, credit note or journal entry.
fn invoice_lines(
    ctx: &Ctx,
    db: &Database,
    m: &ModelDef,
    parent: &ModelDef,
    doc: &Doc,
    products: &Catalogue,
    rng: &mut ChaCha8Rng,
) -> Vec<Vec<Cell>> {
    let (create, write) = stamps(parent, &doc.row);
    let move_type = match text(parent, &doc.row, "move_type") {
        "" => text(parent, &doc.row, "type"),
        t => t,
    };
    let sale = move_type.starts_with("out_");
    let total = cents(parent, &doc.row, "amount_total");
    let untaxed = (total as f64 / (1.0 + TAX_RATE)).round() as i64;
    let tax = total - untaxed;
    let account = |k: usize| Cell::Link(ACCOUNTS[k].0, ACCOUNTS[k].1.into());
    // Invoices sell what can be sold, bills buy what can be purchased.
    let products = if sale { &products.sale } else { &products.buy };
    let mut rows = Vec::new();
    let mut sequence = 10;
    let mut new_line = || {
        let mut b = line_base(ctx, m, parent, doc, db.allocate_id(m), create, write);
        b.set("sequence", Cell::Int(sequence));
        sequence += 1;
        b
    };
    if move_type == "entry" {
        // A miscellaneous entry: two balancing journal items, "product" lines from 16.
        for k in [ACCOUNT_EXPENSES, ACCOUNT_PAYABLE] {
            let mut b = new_line();
            b.set("name", Cell::text("Adjustment"))
                .set("account_id", account(k))
                .set("quantity", Cell::Float(1.0));
            if ctx.version >= 16 {
                b.set("display_type", Cell::text("product"));
            }
            rows.push(b.cells);
        }
        return rows;
    }
    if rng.gen_bool(0.1) {
        let mut b = new_line();
        display_line(&mut b, "line_section", "Products");
        rows.push(b.cells);
    }
    let k = rng.gen_range(1..=3);
    let parts = split(rng, untaxed, k);
    for (part, part_tax) in parts.iter().zip(spread(tax, &parts)) {
        let product = pick(rng, products);
        // Services are sold by the hour, goods by the unit.
        let most = if product.is_some_and(|p| p.service) {
            8
        } else {
            10
        };
        let qty = f64::from(rng.gen_range(1..=most));
        let subtotal = amount(*part);
        let price_unit = (subtotal / qty * 100.0).round() / 100.0;
        let mut b = new_line();
        product_line(
            ctx,
            &mut b,
            product,
            qty,
            price_unit,
            subtotal,
            amount(part_tax),
        );
        b.set(
            "account_id",
            account(if sale {
                ACCOUNT_SALES
            } else {
                ACCOUNT_EXPENSES
            }),
        );
        if ctx.version <= 15 {
            // Product lines: no display type before 16.
            b.set("display_type", Cell::Empty);
        }
        rows.push(b.cells);
    }
    if m.name == "account.move.line" {
        // The tax line and the receivable/payable line, hidden from the invoice tab.
        let counterpart = [
            (
                "tax",
                "Tax 15%",
                if sale {
                    ACCOUNT_TAX_RECEIVED
                } else {
                    ACCOUNT_TAX_PAID
                },
                tax,
            ),
            (
                "payment_term",
                text(parent, &doc.row, "name"),
                if sale {
                    ACCOUNT_RECEIVABLE
                } else {
                    ACCOUNT_PAYABLE
                },
                -total,
            ),
        ];
        for (kind, label, k, value) in counterpart {
            if kind == "tax" && value == 0 {
                continue;
            }
            let mut b = new_line();
            b.set("name", Cell::text(label))
                .set("account_id", account(k));
            if ctx.version >= 16 {
                // Only product lines carry amounts in these fields from 16.
                b.set("display_type", Cell::text(kind))
                    .set("quantity", Cell::Float(0.0));
            } else {
                b.set("exclude_from_invoice_tab", Cell::Bool(true))
                    .set("quantity", Cell::Float(1.0))
                    .set("price_unit", Cell::Float(amount(value)))
                    .set("price_subtotal", Cell::Float(amount(value)))
                    .set("price_total", Cell::Float(amount(value)));
            }
            rows.push(b.cells);
        }
    }
    if rng.gen_bool(0.1) {
        let mut b = new_line();
        display_line(&mut b, "line_note", "Payment within 30 days.");
        rows.push(b.cells);
    }
    rows
}
