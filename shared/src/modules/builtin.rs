//! The modules written in this program, as data: the four a dashboard starts with (sales,
//! invoices, contacts, employees) and the optional ones a tenant or the settings may enable
//! (sale order lines, invoice lines, products). Model and field names per Odoo version
//! (12–19) are listed in docs/ODOO-API.md with the source each was checked against.

use serde_json::json;

use super::spec::{Kind, ModuleSpec, Origin, StructuredField, Variant};
use crate::odoo::{Domain, Op};

/// The invoice kinds of `account.move` (`move_type` from 14, `type` on 13).
const INVOICE_TYPES: [&str; 6] = [
    "out_invoice",
    "out_refund",
    "in_invoice",
    "in_refund",
    "out_receipt",
    "in_receipt",
];

const fn field(
    name: &'static str,
    kind: Kind,
    sources: &'static [&'static str],
) -> StructuredField {
    StructuredField {
        name,
        kind,
        sources,
    }
}

fn variant(
    since: u32,
    model: &'static str,
    fields: &[&'static str],
    domain: Domain,
    has_active: bool,
) -> Variant {
    Variant {
        since,
        model,
        fallback_model: None,
        fields: fields.to_vec(),
        domain,
        has_active,
    }
}

/// Every built-in module, in the order status and overviews list them.
pub(super) fn all() -> Vec<ModuleSpec> {
    vec![
        sales(),
        invoices(),
        contacts(),
        employees(),
        sale_lines(),
        invoice_lines(),
        products(),
    ]
}

fn sales() -> ModuleSpec {
    ModuleSpec {
        name: "sales",
        display_name: "Sales Orders",
        collection: "odoosaleorders",
        origin: Origin::BuiltIn,
        app: Some(("sale", &["sale.order"])),
        variants: vec![variant(
            12,
            "sale.order",
            &[
                "name",
                "partner_id",
                "date_order",
                "state",
                "amount_total",
                "amount_untaxed",
                "currency_id",
                "user_id",
                "company_id",
                "invoice_status",
                // What many2one pairs pointing at an order show (order lines): followed on renames.
                "display_name",
            ],
            Domain::all(),
            false,
        )],
        structured: vec![
            field("name", Kind::Text, &["name"]),
            field("partner", Kind::Many2one(Some("contacts")), &["partner_id"]),
            field("dateOrder", Kind::DateTime, &["date_order"]),
            field("state", Kind::Text, &["state"]),
            field("amountTotal", Kind::Float, &["amount_total"]),
            field("amountUntaxed", Kind::Float, &["amount_untaxed"]),
            field("currency", Kind::Many2one(None), &["currency_id"]),
            // `user_id` is the salesperson; `userId` already names the tenant in every document.
            field("salesperson", Kind::Many2one(None), &["user_id"]),
            field("company", Kind::Many2one(None), &["company_id"]),
            field("invoiceStatus", Kind::Text, &["invoice_status"]),
        ],
        field_patterns: Vec::new(),
    }
}

fn invoices() -> ModuleSpec {
    let v13 = [
        "name",
        "type",
        "partner_id",
        "invoice_date",
        "invoice_date_due",
        "state",
        "invoice_payment_state",
        "amount_total",
        "amount_residual",
        "currency_id",
        "company_id",
        "display_name",
    ];
    let v14 = [
        "name",
        "move_type",
        "partner_id",
        "invoice_date",
        "invoice_date_due",
        "state",
        "payment_state",
        "amount_total",
        "amount_residual",
        "currency_id",
        "company_id",
        "display_name",
    ];
    ModuleSpec {
        name: "invoices",
        display_name: "Invoices",
        collection: "odooinvoices",
        origin: Origin::BuiltIn,
        app: Some(("account", &["account.move", "account.invoice"])),
        variants: vec![
            variant(
                12,
                "account.invoice",
                &[
                    "number",
                    "type",
                    "partner_id",
                    "date_invoice",
                    "date_due",
                    "state",
                    "amount_total",
                    "residual",
                    "currency_id",
                    "company_id",
                    "display_name",
                ],
                Domain::all(),
                false,
            ),
            variant(
                13,
                "account.move",
                &v13,
                Domain::all().and("type", Op::NotIn, json!(["entry"])),
                false,
            ),
            variant(
                14,
                "account.move",
                &v14,
                Domain::all().and("move_type", Op::NotIn, json!(["entry"])),
                false,
            ),
        ],
        structured: vec![
            field("name", Kind::Text, &["name", "number"]),
            field("moveType", Kind::Text, &["move_type", "type"]),
            field("partner", Kind::Many2one(Some("contacts")), &["partner_id"]),
            field("invoiceDate", Kind::Date, &["invoice_date", "date_invoice"]),
            field(
                "invoiceDateDue",
                Kind::Date,
                &["invoice_date_due", "date_due"],
            ),
            field("state", Kind::Text, &["state"]),
            field(
                "paymentState",
                Kind::Text,
                &["payment_state", "invoice_payment_state"],
            ),
            field("amountTotal", Kind::Float, &["amount_total"]),
            field(
                "amountResidual",
                Kind::Float,
                &["amount_residual", "residual"],
            ),
            field("currency", Kind::Many2one(None), &["currency_id"]),
            field("company", Kind::Many2one(None), &["company_id"]),
        ],
        field_patterns: Vec::new(),
    }
}

fn contacts() -> ModuleSpec {
    ModuleSpec {
        name: "contacts",
        display_name: "Contacts",
        collection: "odoocontacts",
        origin: Origin::BuiltIn,
        // `res.partner` exists in every database, so the app's own model is probed.
        app: Some(("contacts", &["res.partner"])),
        variants: vec![variant(
            12,
            "res.partner",
            &[
                "name",
                "email",
                "phone",
                "is_company",
                "parent_id",
                "country_id",
                "city",
                "company_id",
                "active",
                // What many2one pairs pointing at a contact show: followed on renames.
                "display_name",
            ],
            Domain::all(),
            true,
        )],
        structured: vec![
            field("name", Kind::Text, &["name"]),
            field("email", Kind::Text, &["email"]),
            field("phone", Kind::Text, &["phone"]),
            field("isCompany", Kind::Bool, &["is_company"]),
            field("parent", Kind::Many2one(Some("contacts")), &["parent_id"]),
            field("country", Kind::Many2one(None), &["country_id"]),
            field("city", Kind::Text, &["city"]),
            field("company", Kind::Many2one(None), &["company_id"]),
        ],
        field_patterns: Vec::new(),
    }
}

fn employees() -> ModuleSpec {
    let fields = [
        "name",
        "work_email",
        "department_id",
        "job_title",
        "parent_id",
        "company_id",
        "active",
        "display_name",
    ];
    let mut v13 = variant(13, "hr.employee", &fields, Domain::all(), true);
    // From 13 a user without HR rights may read only the public view of employees.
    v13.fallback_model = Some("hr.employee.public");
    ModuleSpec {
        name: "employees",
        display_name: "Employees",
        collection: "odooemployees",
        origin: Origin::BuiltIn,
        app: Some(("hr", &["hr.employee", "hr.employee.public"])),
        variants: vec![
            variant(12, "hr.employee", &fields, Domain::all(), true),
            v13,
        ],
        structured: vec![
            field("name", Kind::Text, &["name"]),
            field("workEmail", Kind::Text, &["work_email"]),
            field("department", Kind::Many2one(None), &["department_id"]),
            field("jobTitle", Kind::Text, &["job_title"]),
            field("manager", Kind::Many2one(Some("employees")), &["parent_id"]),
            field("company", Kind::Many2one(None), &["company_id"]),
        ],
        field_patterns: Vec::new(),
    }
}

fn sale_lines() -> ModuleSpec {
    let common = [
        "order_id",
        "name",
        "sequence",
        "display_type",
        "product_id",
        "product_uom_qty",
        "qty_delivered",
        "qty_invoiced",
        "price_unit",
        "discount",
        "price_subtotal",
        "price_tax",
        "price_total",
        "currency_id",
        "company_id",
        "order_partner_id",
        "salesman_id",
        "state",
    ];
    let with = |uom: &'static str| {
        let mut fields = common.to_vec();
        fields.push(uom);
        fields
    };
    // Product lines only: section and note lines carry no product, quantity or amount.
    let product_lines = || Domain::all().and("display_type", Op::Eq, false);
    ModuleSpec {
        name: "sale_lines",
        display_name: "Sales Order Lines",
        collection: "odoosaleorderlines",
        origin: Origin::BuiltInOptional,
        app: Some(("sale", &["sale.order.line"])),
        variants: vec![
            variant(
                12,
                "sale.order.line",
                &with("product_uom"),
                product_lines(),
                false,
            ),
            variant(
                19,
                "sale.order.line",
                &with("product_uom_id"),
                product_lines(),
                false,
            ),
        ],
        structured: vec![
            field("order", Kind::Many2one(Some("sales")), &["order_id"]),
            field("name", Kind::Text, &["name"]),
            field("product", Kind::Many2one(Some("products")), &["product_id"]),
            field("quantity", Kind::Float, &["product_uom_qty"]),
            field(
                "uom",
                Kind::Many2one(None),
                &["product_uom_id", "product_uom"],
            ),
            field("qtyDelivered", Kind::Float, &["qty_delivered"]),
            field("qtyInvoiced", Kind::Float, &["qty_invoiced"]),
            field("priceUnit", Kind::Float, &["price_unit"]),
            field("discount", Kind::Float, &["discount"]),
            field("priceSubtotal", Kind::Float, &["price_subtotal"]),
            field("priceTax", Kind::Float, &["price_tax"]),
            field("priceTotal", Kind::Float, &["price_total"]),
            field("currency", Kind::Many2one(None), &["currency_id"]),
            field("company", Kind::Many2one(None), &["company_id"]),
            field(
                "customer",
                Kind::Many2one(Some("contacts")),
                &["order_partner_id"],
            ),
            field("salesperson", Kind::Many2one(None), &["salesman_id"]),
            field("state", Kind::Text, &["state"]),
        ],
        field_patterns: Vec::new(),
    }
}

fn invoice_lines() -> ModuleSpec {
    let amounts = [
        "name",
        "product_id",
        "quantity",
        "price_unit",
        "discount",
        "price_subtotal",
        "price_total",
        "account_id",
        "partner_id",
        "currency_id",
        "company_id",
        "display_type",
    ];
    let plus = |more: &[&'static str]| {
        let mut fields = amounts.to_vec();
        fields.extend_from_slice(more);
        fields
    };
    // 13–15: product lines are the invoice tab's lines that are neither sections nor notes,
    // on moves that are invoices; 16+ types every line (`product`, `tax`, `payment_term`...).
    let tab_lines = |move_type: &str| {
        Domain::all()
            .and("exclude_from_invoice_tab", Op::Eq, false)
            .and("display_type", Op::Eq, false)
            .and(move_type, Op::In, json!(INVOICE_TYPES))
    };
    let v13_fields = plus(&[
        "move_id",
        "date",
        "parent_state",
        "exclude_from_invoice_tab",
    ]);
    ModuleSpec {
        name: "invoice_lines",
        display_name: "Invoice Lines",
        collection: "odooinvoicelines",
        origin: Origin::BuiltInOptional,
        app: Some(("account", &["account.move.line", "account.invoice.line"])),
        variants: vec![
            variant(
                12,
                "account.invoice.line",
                &plus(&["invoice_id"]),
                Domain::all().and("display_type", Op::Eq, false),
                false,
            ),
            variant(
                13,
                "account.move.line",
                &v13_fields,
                tab_lines("move_id.type"),
                false,
            ),
            variant(
                14,
                "account.move.line",
                &v13_fields,
                tab_lines("move_id.move_type"),
                false,
            ),
            variant(
                16,
                "account.move.line",
                &plus(&["move_id", "date", "parent_state"]),
                // `product` also types the lines of plain journal entries.
                Domain::all().and("display_type", Op::Eq, "product").and(
                    "move_id.move_type",
                    Op::In,
                    json!(INVOICE_TYPES),
                ),
                false,
            ),
        ],
        structured: vec![
            field(
                "invoice",
                Kind::Many2one(Some("invoices")),
                &["move_id", "invoice_id"],
            ),
            field("name", Kind::Text, &["name"]),
            field("product", Kind::Many2one(Some("products")), &["product_id"]),
            field("quantity", Kind::Float, &["quantity"]),
            field("priceUnit", Kind::Float, &["price_unit"]),
            field("discount", Kind::Float, &["discount"]),
            field("priceSubtotal", Kind::Float, &["price_subtotal"]),
            field("priceTotal", Kind::Float, &["price_total"]),
            field("account", Kind::Many2one(None), &["account_id"]),
            field("partner", Kind::Many2one(Some("contacts")), &["partner_id"]),
            field("currency", Kind::Many2one(None), &["currency_id"]),
            field("company", Kind::Many2one(None), &["company_id"]),
            field("date", Kind::Date, &["date"]),
            field("parentState", Kind::Text, &["parent_state"]),
        ],
        field_patterns: Vec::new(),
    }
}

fn products() -> ModuleSpec {
    let fields = [
        "name",
        "default_code",
        "barcode",
        "list_price",
        "standard_price",
        "categ_id",
        "type",
        "uom_id",
        "sale_ok",
        "purchase_ok",
        "company_id",
        "active",
        "product_tmpl_id",
        // What many2one pairs pointing at a product show ("[CODE] Name"): followed on renames.
        "display_name",
    ];
    let mut v18 = fields.to_vec();
    // 18 split "storable" out of `type` (now consu / service / combo).
    v18.push("is_storable");
    ModuleSpec {
        name: "products",
        display_name: "Products",
        collection: "odooproducts",
        origin: Origin::BuiltInOptional,
        app: Some(("product", &["product.product"])),
        variants: vec![
            variant(12, "product.product", &fields, Domain::all(), true),
            variant(18, "product.product", &v18, Domain::all(), true),
        ],
        structured: vec![
            field("name", Kind::Text, &["name"]),
            field("defaultCode", Kind::Text, &["default_code"]),
            field("barcode", Kind::Text, &["barcode"]),
            field("listPrice", Kind::Float, &["list_price"]),
            field("standardPrice", Kind::Float, &["standard_price"]),
            field("category", Kind::Many2one(None), &["categ_id"]),
            field("type", Kind::Text, &["type"]),
            field("isStorable", Kind::Bool, &["is_storable"]),
            field("uom", Kind::Many2one(None), &["uom_id"]),
            field("saleOk", Kind::Bool, &["sale_ok"]),
            field("purchaseOk", Kind::Bool, &["purchase_ok"]),
            field("company", Kind::Many2one(None), &["company_id"]),
            field("template", Kind::Many2one(None), &["product_tmpl_id"]),
        ],
        field_patterns: Vec::new(),
    }
}
