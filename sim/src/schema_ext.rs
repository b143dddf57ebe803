//! The models behind line-level mirroring, per Odoo version: `product.product`, the sales
//! order lines, the invoice lines (`account.invoice.line` on 12, `account.move.line` from 13)
//! and `ir.model`. Names, types and selection keys follow Odoo's source of each version; the
//! report of the change that added them says which were read in the source and which inferred.

use crate::schema::{field, Access, App, Choices, FieldType, ModelDef, MOVE_STATES};
use crate::schema::{SALE_STATES, SALE_STATES_17};

/// `product.template.type` up to 17 without Inventory (the `product` module's own values).
const PRODUCT_TYPES: Choices = &[("consu", "Consumable"), ("service", "Service")];
/// Up to 17 with Inventory, which adds the storable type by `selection_add`.
const PRODUCT_TYPES_STOCK: Choices = &[
    ("consu", "Consumable"),
    ("service", "Service"),
    ("product", "Storable Product"),
];
/// From 18: goods, services and combos; storability moved to `is_storable` (Inventory).
const PRODUCT_TYPES_18: Choices = &[
    ("consu", "Goods"),
    ("service", "Service"),
    ("combo", "Combo"),
];

/// Sections and notes of sales order lines and of invoice lines before 16.
const LINE_DISPLAY: Choices = &[("line_section", "Section"), ("line_note", "Note")];
/// Sales order lines from 19 (subsections).
const SALE_LINE_DISPLAY_19: Choices = &[
    ("line_section", "Section"),
    ("line_subsection", "Subsection"),
    ("line_note", "Note"),
];
/// `account.move.line.display_type` on 16 (computed and required from then on).
const MOVE_LINE_DISPLAY_16: Choices = &[
    ("product", "Product"),
    ("cogs", "Cost of Goods Sold"),
    ("tax", "Tax"),
    ("rounding", "Rounding"),
    ("payment_term", "Payment Term"),
    ("line_section", "Section"),
    ("line_note", "Note"),
    ("epd", "Early Payment Discount"),
];
/// 17 and 18 add discount lines.
const MOVE_LINE_DISPLAY_17: Choices = &[
    ("product", "Product"),
    ("cogs", "Cost of Goods Sold"),
    ("tax", "Tax"),
    ("discount", "Discount"),
    ("rounding", "Rounding"),
    ("payment_term", "Payment Term"),
    ("line_section", "Section"),
    ("line_note", "Note"),
    ("epd", "Early Payment Discount"),
];
/// 19 adds subsections and non-deductible lines.
const MOVE_LINE_DISPLAY_19: Choices = &[
    ("product", "Product"),
    ("cogs", "Cost of Goods Sold"),
    ("tax", "Tax"),
    ("discount", "Discount"),
    ("rounding", "Rounding"),
    ("payment_term", "Payment Term"),
    ("line_section", "Section"),
    ("line_subsection", "Subsection"),
    ("line_note", "Note"),
    ("epd", "Early Payment Discount"),
    (
        "non_deductible_product_total",
        "Non Deductible Products Total",
    ),
    ("non_deductible_product", "Non Deductible Products"),
    ("non_deductible_tax", "Non Deductible Tax"),
];
/// `ir.model.state`.
const MODEL_STATES: Choices = &[("manual", "Custom Object"), ("base", "Base Object")];

/// The `display_type` values of `account.move.line` in `version` (13+).
pub fn move_line_display_types(version: u32) -> Choices {
    match version {
        ..=15 => LINE_DISPLAY,
        16 => MOVE_LINE_DISPLAY_16,
        17 | 18 => MOVE_LINE_DISPLAY_17,
        _ => MOVE_LINE_DISPLAY_19,
    }
}

/// The name of the sales order line's unit of measure: `product_uom` until 18,
/// `product_uom_id` from 19.
pub fn sale_line_uom_field(version: u32) -> &'static str {
    if version >= 19 {
        "product_uom_id"
    } else {
        "product_uom"
    }
}

/// `ir.model`: every internal user may read it.
pub fn ir_model(_version: u32) -> ModelDef {
    use FieldType::*;
    ModelDef::new(
        "ir.model",
        "ir.model",
        "Models",
        "model",
        Access::Everyone,
        vec![
            field("name", "Model Description", Char).required(),
            field("model", "Model", Char).required(),
            field("info", "Information", Text),
            field("state", "Type", Selection(MODEL_STATES)).readonly(),
            field("transient", "Transient Model", Boolean),
            field("modules", "In Apps", Char).readonly().computed(),
        ],
    )
    .in_modules(&["base"])
}

/// Adds the product, sales order line and invoice line models that `apps` bring.
pub fn business_models(version: u32, apps: &[App], models: &mut Vec<ModelDef>) {
    let has = |app: App| apps.contains(&app);
    // `product` is a dependency of sale, account and stock.
    if has(App::Sale) || has(App::Account) || has(App::Stock) {
        models.push(product(version, has(App::Stock)));
    }
    if has(App::Sale) {
        models.push(sale_order_line(version));
    }
    if has(App::Account) {
        models.push(if version >= 13 {
            move_line(version)
        } else {
            invoice_line_12()
        });
    }
}

fn product(version: u32, stock: bool) -> ModelDef {
    use FieldType::*;
    let mut fields = vec![
        // Delegated to product.template (`_inherits`): related fields, not stored here.
        field("name", "Name", Char).required().inherited(),
        field("default_code", "Internal Reference", Char),
        field("barcode", "Barcode", Char),
        field("list_price", "Sales Price", Float).inherited(),
        if version >= 18 {
            // Company-dependent fields are stored (jsonb) from 18.
            field("standard_price", "Cost", Float)
        } else {
            field("standard_price", "Cost", Float).property()
        },
        {
            let categ = field("categ_id", "Product Category", Many2one("product.category"));
            if version >= 18 {
                categ.inherited()
            } else {
                categ.required().inherited()
            }
        },
    ];
    match version {
        ..=14 => fields.push(
            field(
                "type",
                "Product Type",
                Selection(if stock {
                    PRODUCT_TYPES_STOCK
                } else {
                    PRODUCT_TYPES
                }),
            )
            .required()
            .inherited(),
        ),
        15..=17 => {
            let choices = if stock {
                PRODUCT_TYPES_STOCK
            } else {
                PRODUCT_TYPES
            };
            fields.push(
                field("detailed_type", "Product Type", Selection(choices))
                    .required()
                    .inherited(),
            );
            fields.push(field("type", "Type", Selection(choices)).inherited());
        }
        _ => {
            fields.push(
                field("type", "Product Type", Selection(PRODUCT_TYPES_18))
                    .required()
                    .inherited(),
            );
            if stock {
                fields.push(field("is_storable", "Track Inventory", Boolean).inherited());
            }
        }
    }
    let (uom_label, sale_label, purchase_label) = match version {
        ..=17 => ("Unit of Measure", "Can be Sold", "Can be Purchased"),
        18 => ("Unit of Measure", "Sales", "Purchase"),
        _ => ("Unit", "Sales", "Purchase"),
    };
    fields.extend([
        field("uom_id", uom_label, Many2one("uom.uom"))
            .required()
            .inherited(),
        field("sale_ok", sale_label, Boolean).inherited(),
        field("purchase_ok", purchase_label, Boolean).inherited(),
        field("company_id", "Company", Many2one("res.company")).inherited(),
        field("active", "Active", Boolean),
        field(
            "product_tmpl_id",
            "Product Template",
            Many2one("product.template"),
        )
        .required(),
    ]);
    // The variant's own image is a stored attachment; the image shown falls back to the
    // template's and is computed.
    if version >= 13 {
        fields.push(field("image_variant_1920", "Variant Image", Binary));
        fields.push(field("image_1920", "Image", Binary).computed());
    } else {
        fields.push(field("image_variant", "Variant Image", Binary));
        fields.push(field("image", "Big-sized image", Binary).computed());
    }
    ModelDef::new(
        "product.product",
        "product.product",
        if version >= 17 {
            "Product Variant"
        } else {
            "Product"
        },
        // Odoo puts favourites (priority, is_favorite) first from 15 to 18; the simulator has
        // no such flag, so the rest of `_order` stands.
        "default_code, name, id",
        Access::Everyone,
        fields,
    )
    .in_modules(&["product", "account", "sale", "stock"])
}

fn sale_order_line(version: u32) -> ModelDef {
    use FieldType::*;
    let states = if version >= 17 {
        SALE_STATES_17
    } else {
        SALE_STATES
    };
    let display = if version >= 19 {
        SALE_LINE_DISPLAY_19
    } else {
        LINE_DISPLAY
    };
    let uom_label = if version >= 19 {
        "Unit"
    } else {
        "Unit of Measure"
    };
    ModelDef::new(
        "sale.order.line",
        "sale.order.line",
        "Sales Order Line",
        "order_id, sequence, id",
        Access::Everyone,
        vec![
            field("order_id", "Order Reference", Many2one("sale.order")).required(),
            field("name", "Description", Text).required(),
            field("sequence", "Sequence", Integer),
            field("display_type", "Display Type", Selection(display)),
            field("product_id", "Product", Many2one("product.product")),
            field(
                "product_uom_qty",
                if version >= 13 {
                    "Quantity"
                } else {
                    "Ordered Quantity"
                },
                Float,
            )
            .required(),
            field(sale_line_uom_field(version), uom_label, Many2one("uom.uom")),
            field(
                "qty_delivered",
                if version >= 16 {
                    "Delivery Quantity"
                } else {
                    "Delivered Quantity"
                },
                Float,
            ),
            field("qty_invoiced", "Invoiced Quantity", Float).readonly(),
            field("price_unit", "Unit Price", Float).required(),
            field("discount", "Discount (%)", Float),
            field("price_subtotal", "Subtotal", Monetary).readonly(),
            field("price_tax", "Total Tax", Float).readonly(),
            field("price_total", "Total", Monetary).readonly(),
            field("currency_id", "Currency", Many2one("res.currency")).readonly(),
            field("company_id", "Company", Many2one("res.company")).readonly(),
            field("order_partner_id", "Customer", Many2one("res.partner")),
            field("salesman_id", "Salesperson", Many2one("res.users")).readonly(),
            field("state", "Order Status", Selection(states)).readonly(),
        ],
    )
    .in_modules(&["sale"])
}

fn move_line(version: u32) -> ModelDef {
    use FieldType::*;
    let mut display = field(
        "display_type",
        "Display Type",
        Selection(move_line_display_types(version)),
    );
    if version >= 16 {
        display = display.required();
    }
    let currency = field("currency_id", "Currency", Many2one("res.currency"));
    let mut fields = vec![
        field("move_id", "Journal Entry", Many2one("account.move")).required(),
        field("name", "Label", Char),
        field("product_id", "Product", Many2one("product.product")),
        field("quantity", "Quantity", Float),
        field("price_unit", "Unit Price", Float),
        field("discount", "Discount (%)", Float),
        field("price_subtotal", "Subtotal", Monetary).readonly(),
        field("price_total", "Total", Monetary).readonly(),
        field("account_id", "Account", Many2one("account.account")),
        field("partner_id", "Partner", Many2one("res.partner")),
        if version >= 16 {
            currency.required()
        } else {
            currency
        },
        field("company_id", "Company", Many2one("res.company")).readonly(),
        field("date", "Date", Date).readonly(),
        field("parent_state", "Status", Selection(MOVE_STATES)).readonly(),
        display,
    ];
    if version <= 15 {
        fields.push(field(
            "exclude_from_invoice_tab",
            "Exclude From Invoice Tab",
            Boolean,
        ));
    }
    ModelDef::new(
        "account.move.line",
        "account.move.line",
        "Journal Item",
        // Odoo orders by `date desc, move_name desc, id` (with `sequence` from 16); the
        // simulator keeps the date and id.
        "date desc, id",
        Access::Everyone,
        fields,
    )
    .in_modules(&["account", "sale"])
}

fn invoice_line_12() -> ModelDef {
    use FieldType::*;
    ModelDef::new(
        "account.invoice.line",
        "account.invoice.line",
        "Invoice Line",
        "invoice_id, sequence, id",
        Access::Everyone,
        vec![
            field(
                "invoice_id",
                "Invoice Reference",
                Many2one("account.invoice"),
            ),
            field("name", "Description", Text).required(),
            field("sequence", "Sequence", Integer),
            field("product_id", "Product", Many2one("product.product")),
            field("quantity", "Quantity", Float).required(),
            field("price_unit", "Unit Price", Float).required(),
            field("discount", "Discount (%)", Float),
            field("price_subtotal", "Amount (without Taxes)", Monetary).readonly(),
            field("price_total", "Amount (with Taxes)", Monetary).readonly(),
            field("account_id", "Account", Many2one("account.account")),
            field("partner_id", "Partner", Many2one("res.partner")).readonly(),
            field("currency_id", "Currency", Many2one("res.currency")),
            field("company_id", "Company", Many2one("res.company")).readonly(),
            field("uom_id", "Unit of Measure", Many2one("uom.uom")),
            field("display_type", "Display Type", Selection(LINE_DISPLAY)),
        ],
    )
    .in_modules(&["account", "sale"])
}
