//! Version-aware model and field definitions: which models a database has (by Odoo version
//! and installed apps), their fields, default order and who may read them.

use std::collections::HashMap;

/// An Odoo app the simulator knows. `base` is always installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum App {
    Base,
    Contacts,
    Sale,
    Account,
    Hr,
}

impl App {
    /// The technical module name, as `ir.module.module` lists it.
    pub fn module_name(self) -> &'static str {
        match self {
            App::Base => "base",
            App::Contacts => "contacts",
            App::Sale => "sale",
            App::Account => "account",
            App::Hr => "hr",
        }
    }

    /// Parses a technical module name.
    pub fn from_name(name: &str) -> Option<App> {
        Some(match name {
            "base" => App::Base,
            "contacts" => App::Contacts,
            "sale" => App::Sale,
            "account" => App::Account,
            "hr" => App::Hr,
            _ => return None,
        })
    }

    /// Every app the simulator can install.
    pub const ALL: [App; 5] = [App::Base, App::Contacts, App::Sale, App::Account, App::Hr];
}

/// A selection's `(value, label)` pairs.
pub type Choices = &'static [(&'static str, &'static str)];

/// The type of a field, as `fields_get` names it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldType {
    Integer,
    Char,
    Boolean,
    // Odoo's plain float type; every simulated number field is monetary or integer so far.
    #[allow(dead_code)]
    Float,
    Monetary,
    Date,
    Datetime,
    /// A many2one to the named model.
    Many2one(&'static str),
    Selection(Choices),
}

impl FieldType {
    /// The `type` attribute of `fields_get`.
    pub fn odoo_name(&self) -> &'static str {
        match self {
            FieldType::Integer => "integer",
            FieldType::Char => "char",
            FieldType::Boolean => "boolean",
            FieldType::Float => "float",
            FieldType::Monetary => "monetary",
            FieldType::Date => "date",
            FieldType::Datetime => "datetime",
            FieldType::Many2one(_) => "many2one",
            FieldType::Selection(_) => "selection",
        }
    }

    /// Whether `read_group` sums this field by default.
    pub fn is_numeric(&self) -> bool {
        matches!(
            self,
            FieldType::Integer | FieldType::Float | FieldType::Monetary
        )
    }
}

/// One field of a model.
#[derive(Debug, Clone)]
pub struct FieldDef {
    pub name: &'static str,
    pub label: &'static str,
    pub ty: FieldType,
    pub required: bool,
    /// Set by the ORM, never by users (`id`, `write_date`, `create_date`).
    pub readonly: bool,
}

/// Who may read a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Every internal user.
    Everyone,
    /// Users in the Settings group (administration).
    Settings,
    /// Users with HR rights (Employees / Officer).
    Hr,
}

/// A model as one database of one version has it.
#[derive(Debug, Clone)]
pub struct ModelDef {
    pub name: &'static str,
    /// The storage table: `hr.employee.public` is a view over `hr.employee`'s rows.
    pub table: &'static str,
    /// The model's description, used in access-error messages.
    pub description: &'static str,
    pub fields: Vec<FieldDef>,
    /// The model's `_order`.
    pub default_order: &'static str,
    pub access: Access,
    /// The Odoo version of the database (its error messages follow it).
    pub version: u32,
    index: HashMap<&'static str, usize>,
}

/// Index of `id` in every model's fields.
pub const ID: usize = 0;

/// The computed field every model has: what many2one pairs pointing at a record show.
pub const DISPLAY_NAME: &str = "display_name";

impl ModelDef {
    fn new(
        name: &'static str,
        table: &'static str,
        description: &'static str,
        default_order: &'static str,
        access: Access,
        own_fields: Vec<FieldDef>,
    ) -> ModelDef {
        // Every Odoo model has `id`, `display_name`, `create_date` and `write_date`; `id` comes
        // first so that records read back start with it, as Odoo's do. `display_name` is
        // computed when read (see `methods::render`): its cell stays empty.
        let mut fields = vec![
            field("id", "ID", FieldType::Integer).readonly(),
            field(DISPLAY_NAME, "Display Name", FieldType::Char).readonly(),
        ];
        fields.extend(own_fields);
        fields.push(field("create_date", "Created on", FieldType::Datetime).readonly());
        fields.push(field("write_date", "Last Updated on", FieldType::Datetime).readonly());
        let index = fields
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name, i))
            .collect();
        ModelDef {
            name,
            table,
            description,
            fields,
            default_order,
            access,
            version: 0,
            index,
        }
    }

    /// Position of a field in a row.
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// The field of the archive flag, when the model has one.
    pub fn active_index(&self) -> Option<usize> {
        self.field_index("active")
    }

    /// Position of `write_date`.
    pub fn write_date_index(&self) -> usize {
        self.fields.len() - 1
    }

    /// Position of `create_date`.
    pub fn create_date_index(&self) -> usize {
        self.fields.len() - 2
    }
}

fn field(name: &'static str, label: &'static str, ty: FieldType) -> FieldDef {
    FieldDef {
        name,
        label,
        ty,
        required: false,
        readonly: false,
    }
}

impl FieldDef {
    fn required(mut self) -> Self {
        self.required = true;
        self
    }
    fn readonly(mut self) -> Self {
        self.readonly = true;
        self
    }
}

const SALE_STATES: Choices = &[
    ("draft", "Quotation"),
    ("sent", "Quotation Sent"),
    ("sale", "Sales Order"),
    ("done", "Locked"),
    ("cancel", "Cancelled"),
];
const SALE_STATES_17: Choices = &[
    ("draft", "Quotation"),
    ("sent", "Quotation Sent"),
    ("sale", "Sales Order"),
    ("cancel", "Cancelled"),
];
const INVOICE_STATUS: Choices = &[
    ("upselling", "Upselling Opportunity"),
    ("invoiced", "Fully Invoiced"),
    ("to invoice", "To Invoice"),
    ("no", "Nothing to Invoice"),
];
/// `account.move.move_type` (14+) and `type` (13).
pub const MOVE_TYPES: Choices = &[
    ("entry", "Journal Entry"),
    ("out_invoice", "Customer Invoice"),
    ("out_refund", "Customer Credit Note"),
    ("in_invoice", "Vendor Bill"),
    ("in_refund", "Vendor Credit Note"),
    ("out_receipt", "Sales Receipt"),
    ("in_receipt", "Purchase Receipt"),
];
const INVOICE_TYPES: Choices = &[
    ("out_invoice", "Customer Invoice"),
    ("in_invoice", "Vendor Bill"),
    ("out_refund", "Customer Credit Note"),
    ("in_refund", "Vendor Credit Note"),
];
const MOVE_STATES: Choices = &[
    ("draft", "Draft"),
    ("posted", "Posted"),
    ("cancel", "Cancelled"),
];
const INVOICE_STATES: Choices = &[
    ("draft", "Draft"),
    ("open", "Open"),
    ("in_payment", "In Payment"),
    ("paid", "Paid"),
    ("cancel", "Cancelled"),
];
const PAYMENT_STATES_13: Choices = &[
    ("not_paid", "Not Paid"),
    ("in_payment", "In Payment"),
    ("paid", "Paid"),
];
const PAYMENT_STATES: Choices = &[
    ("not_paid", "Not Paid"),
    ("in_payment", "In Payment"),
    ("paid", "Paid"),
    ("partial", "Partially Paid"),
    ("reversed", "Reversed"),
];
const MODULE_STATES: Choices = &[
    ("uninstallable", "Uninstallable"),
    ("uninstalled", "Not Installed"),
    ("installed", "Installed"),
    ("to upgrade", "To be upgraded"),
    ("to remove", "To be removed"),
    ("to install", "To be installed"),
];

/// The models of one database: what its version and installed apps make exist.
#[derive(Debug, Clone)]
pub struct Schema {
    models: Vec<ModelDef>,
}

impl Schema {
    /// Builds the schema of a database of `version` with `apps` installed.
    pub fn new(version: u32, apps: &[App]) -> Schema {
        use FieldType::*;
        let has = |app: App| app == App::Base || apps.contains(&app);
        let mut models = Vec::new();

        models.push(ModelDef::new(
            "res.partner",
            "res.partner",
            "Contact",
            // Odoo orders by complete_name (the name with its parent's); the simulator has no
            // parent-qualified name, so `name` stands in.
            "name ASC, id DESC",
            Access::Everyone,
            vec![
                field("name", "Name", Char),
                field("email", "Email", Char),
                field("phone", "Phone", Char),
                field("is_company", "Is a Company", Boolean),
                field("parent_id", "Related Company", Many2one("res.partner")),
                field("country_id", "Country", Many2one("res.country")),
                field("city", "City", Char),
                field("active", "Active", Boolean),
                field("company_id", "Company", Many2one("res.company")),
            ],
        ));
        models.push(ModelDef::new(
            "res.users",
            "res.users",
            "User",
            "name, login",
            Access::Everyone,
            vec![
                field("name", "Name", Char).required(),
                field("login", "Login", Char).required(),
                field("active", "Active", Boolean),
                field("company_id", "Company", Many2one("res.company")),
            ],
        ));
        models.push(ModelDef::new(
            "ir.module.module",
            "ir.module.module",
            "Module",
            "application desc, sequence, name",
            Access::Settings,
            vec![
                field("name", "Technical Name", Char).required(),
                field("shortdesc", "Module Name", Char),
                field("state", "Status", Selection(MODULE_STATES)),
                field("application", "Application", Boolean),
                field("sequence", "Sequence", Integer),
            ],
        ));

        if has(App::Sale) {
            let states = if version >= 17 {
                SALE_STATES_17
            } else {
                SALE_STATES
            };
            models.push(ModelDef::new(
                "sale.order",
                "sale.order",
                "Sales Order",
                "date_order desc, id desc",
                Access::Everyone,
                vec![
                    field("name", "Order Reference", Char).required(),
                    field("partner_id", "Customer", Many2one("res.partner")).required(),
                    field("date_order", "Order Date", Datetime).required(),
                    field("state", "Status", Selection(states)),
                    field("amount_total", "Total", Monetary),
                    field("amount_untaxed", "Untaxed Amount", Monetary),
                    field("currency_id", "Currency", Many2one("res.currency")),
                    field("user_id", "Salesperson", Many2one("res.users")),
                    field("company_id", "Company", Many2one("res.company")).required(),
                    field(
                        "invoice_status",
                        "Invoice Status",
                        Selection(INVOICE_STATUS),
                    ),
                ],
            ));
        }

        if has(App::Account) {
            if version >= 13 {
                let mut fields = vec![
                    field("name", "Number", Char),
                    field("partner_id", "Partner", Many2one("res.partner")),
                    field("invoice_date", "Invoice/Bill Date", Date),
                    field("invoice_date_due", "Due Date", Date),
                    field("state", "Status", Selection(MOVE_STATES)).required(),
                    field("amount_total", "Total", Monetary),
                    field("amount_residual", "Amount Due", Monetary),
                    field("currency_id", "Currency", Many2one("res.currency")),
                    field("company_id", "Company", Many2one("res.company")),
                ];
                if version >= 14 {
                    fields.push(field("move_type", "Type", Selection(MOVE_TYPES)).required());
                    fields.push(field(
                        "payment_state",
                        "Payment Status",
                        Selection(PAYMENT_STATES),
                    ));
                } else {
                    fields.push(field("type", "Type", Selection(MOVE_TYPES)).required());
                    fields.push(field(
                        "invoice_payment_state",
                        "Payment",
                        Selection(PAYMENT_STATES_13),
                    ));
                }
                models.push(ModelDef::new(
                    "account.move",
                    "account.move",
                    "Journal Entry",
                    // Odoo orders by the accounting `date`, which follows the invoice date here.
                    "invoice_date desc, name desc, id desc",
                    Access::Everyone,
                    fields,
                ));
            } else {
                models.push(ModelDef::new(
                    "account.invoice",
                    "account.invoice",
                    "Invoice",
                    "date_invoice desc, number desc, id desc",
                    Access::Everyone,
                    vec![
                        field("number", "Number", Char),
                        field("type", "Type", Selection(INVOICE_TYPES)),
                        field("partner_id", "Partner", Many2one("res.partner")).required(),
                        field("date_invoice", "Invoice Date", Date),
                        field("date_due", "Due Date", Date),
                        field("state", "Status", Selection(INVOICE_STATES)),
                        field("amount_total", "Total", Monetary),
                        field("residual", "Amount Due", Monetary),
                        field("currency_id", "Currency", Many2one("res.currency")).required(),
                        field("company_id", "Company", Many2one("res.company")).required(),
                    ],
                ));
            }
        }

        if has(App::Hr) {
            let employee_fields = || {
                vec![
                    field("name", "Employee Name", Char),
                    field("work_email", "Work Email", Char),
                    field("department_id", "Department", Many2one("hr.department")),
                    field("job_title", "Job Title", Char),
                    field("parent_id", "Manager", Many2one("hr.employee")),
                    field("company_id", "Company", Many2one("res.company")).required(),
                    field("active", "Active", Boolean),
                ]
            };
            // Before 13 every internal user could read hr.employee; 13 restricted it to HR
            // officers and added the public view for everyone else.
            let access = if version >= 13 {
                Access::Hr
            } else {
                Access::Everyone
            };
            models.push(ModelDef::new(
                "hr.employee",
                "hr.employee",
                "Employee",
                "name",
                access,
                employee_fields(),
            ));
            if version >= 13 {
                models.push(ModelDef::new(
                    "hr.employee.public",
                    "hr.employee",
                    "Public Employee",
                    "name",
                    Access::Everyone,
                    employee_fields(),
                ));
            }
        }

        for model in &mut models {
            model.version = version;
        }
        Schema { models }
    }

    /// The model of that name, if this database has it.
    pub fn model(&self, name: &str) -> Option<&ModelDef> {
        self.models.iter().find(|m| m.name == name)
    }

    /// All models.
    pub fn models(&self) -> &[ModelDef] {
        &self.models
    }
}
