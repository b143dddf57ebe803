//! Version-aware model and field definitions: which models a database has (by Odoo version
//! and installed apps), their fields (stored, computed or delegated, as `fields_get` tells
//! them apart), default order and who may read them. Custom (Studio) fields are appended at
//! run time with [`ModelDef::with_custom_field`].

use crate::value::Cell;
use std::collections::HashMap;
use std::sync::Arc;

/// An Odoo app the simulator knows. `base` is always installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum App {
    Base,
    Contacts,
    Sale,
    Account,
    Hr,
    /// Inventory: adds the storable product type (`type = 'product'` up to 17, `is_storable`
    /// from 18) to `product.product`.
    Stock,
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
            App::Stock => "stock",
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
            "stock" => App::Stock,
            _ => return None,
        })
    }

    /// Every app the simulator can install.
    pub const ALL: [App; 6] = [
        App::Base,
        App::Contacts,
        App::Sale,
        App::Account,
        App::Hr,
        App::Stock,
    ];
}

/// A selection's `(value, label)` pairs.
pub type Choices = &'static [(&'static str, &'static str)];

/// The type of a field, as `fields_get` names it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldType {
    Integer,
    Char,
    /// Multi-line text (`fields.Text`): read and searched like `char`.
    Text,
    Boolean,
    Float,
    Monetary,
    Date,
    Datetime,
    /// Base64 content (images, attachments); the simulator never stores any: reads give False.
    Binary,
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
            FieldType::Text => "text",
            FieldType::Boolean => "boolean",
            FieldType::Float => "float",
            FieldType::Monetary => "monetary",
            FieldType::Date => "date",
            FieldType::Datetime => "datetime",
            FieldType::Binary => "binary",
            FieldType::Many2one(_) => "many2one",
            FieldType::Selection(_) => "selection",
        }
    }

    /// The value of an unset field: False, except numbers, which Odoo reads as 0.
    pub fn empty_cell(&self) -> Cell {
        match self {
            FieldType::Boolean => Cell::Bool(false),
            FieldType::Integer => Cell::Int(0),
            FieldType::Float | FieldType::Monetary => Cell::Float(0.0),
            _ => Cell::Empty,
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

/// Where a field's value lives, which decides `store`, `searchable` and `sortable` in
/// `fields_get` (the simulator keeps a cell for every field either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// A column of the model's table.
    Stored,
    /// Computed when read and never stored (`display_name`, `product.product.image_1920`).
    Computed,
    /// Delegated to the parent record through `_inherits` (the template fields of
    /// `product.product`): a related field, not stored here, searchable and sortable
    /// through the parent.
    Inherited,
    /// Company-dependent (kept in `ir.property` up to 17): not stored, searchable, not
    /// sortable.
    Property,
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
    pub storage: Storage,
    /// Added at run time (Odoo Studio, `ir.model.fields` with `state = 'manual'`).
    pub manual: bool,
}

impl FieldDef {
    /// The `store` attribute of `fields_get`.
    pub fn stored(&self) -> bool {
        self.storage == Storage::Stored
    }

    /// The `searchable` attribute: stored, delegated and company-dependent fields can be
    /// searched; computed ones only when they have a search method (`display_name` from 17).
    pub fn searchable(&self, version: u32) -> bool {
        match self.storage {
            Storage::Stored | Storage::Inherited | Storage::Property => true,
            Storage::Computed => self.name == DISPLAY_NAME && version >= 17,
        }
    }

    /// The `sortable` attribute: a stored column (binary content is kept as an attachment,
    /// not a column) or a field delegated to one.
    pub fn sortable(&self) -> bool {
        match self.storage {
            Storage::Stored => self.ty != FieldType::Binary,
            Storage::Inherited => true,
            Storage::Computed | Storage::Property => false,
        }
    }
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
    /// The model's description, used in access-error messages and by `ir.model`.
    pub description: &'static str,
    pub fields: Vec<FieldDef>,
    /// The model's `_order`.
    pub default_order: &'static str,
    pub access: Access,
    /// The Odoo version of the database (its error messages follow it).
    pub version: u32,
    /// The modules defining or extending the model, for `ir.model.modules` (shown filtered
    /// by what is installed).
    pub modules: &'static [&'static str],
    index: HashMap<&'static str, usize>,
    create_date: usize,
    write_date: usize,
}

/// Index of `id` in every model's fields.
pub const ID: usize = 0;

/// The computed field every model has: what many2one pairs pointing at a record show.
pub const DISPLAY_NAME: &str = "display_name";

impl ModelDef {
    pub(crate) fn new(
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
            field(DISPLAY_NAME, "Display Name", FieldType::Char)
                .readonly()
                .computed(),
        ];
        fields.extend(own_fields);
        fields.push(field("create_date", "Created on", FieldType::Datetime).readonly());
        fields.push(field("write_date", "Last Updated on", FieldType::Datetime).readonly());
        let mut model = ModelDef {
            name,
            table,
            description,
            fields,
            default_order,
            access,
            version: 0,
            modules: &[],
            index: HashMap::new(),
            create_date: 0,
            write_date: 0,
        };
        model.reindex();
        model
    }

    fn reindex(&mut self) {
        self.index = self
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name, i))
            .collect();
        self.create_date = self.index.get("create_date").copied().unwrap_or(ID);
        self.write_date = self.index.get("write_date").copied().unwrap_or(ID);
    }

    /// Sets the modules listed by `ir.model` (the defining one first).
    pub(crate) fn in_modules(mut self, modules: &'static [&'static str]) -> ModelDef {
        self.modules = modules;
        self
    }

    /// This model with one more field, after every existing one: a custom field is a new
    /// column, so it comes after `write_date` and no existing position moves.
    pub fn with_custom_field(&self, field: FieldDef) -> ModelDef {
        let mut model = self.clone();
        model.fields.push(field);
        model.reindex();
        model
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
        self.write_date
    }

    /// Position of `create_date`.
    pub fn create_date_index(&self) -> usize {
        self.create_date
    }
}

pub(crate) fn field(name: &'static str, label: &'static str, ty: FieldType) -> FieldDef {
    FieldDef {
        name,
        label,
        ty,
        required: false,
        readonly: false,
        storage: Storage::Stored,
        manual: false,
    }
}

impl FieldDef {
    pub(crate) fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub(crate) fn readonly(mut self) -> Self {
        self.readonly = true;
        self
    }
    /// Computed on read, not stored.
    pub(crate) fn computed(mut self) -> Self {
        self.storage = Storage::Computed;
        self
    }
    /// Delegated to the `_inherits` parent.
    pub(crate) fn inherited(mut self) -> Self {
        self.storage = Storage::Inherited;
        self
    }
    /// Company-dependent.
    pub(crate) fn property(mut self) -> Self {
        self.storage = Storage::Property;
        self
    }
}

pub(crate) const SALE_STATES: Choices = &[
    ("draft", "Quotation"),
    ("sent", "Quotation Sent"),
    ("sale", "Sales Order"),
    ("done", "Locked"),
    ("cancel", "Cancelled"),
];
pub(crate) const SALE_STATES_17: Choices = &[
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
pub(crate) const MOVE_STATES: Choices = &[
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
    models: Vec<Arc<ModelDef>>,
}

impl Schema {
    /// Builds the schema of a database of `version` with `apps` installed.
    pub fn new(version: u32, apps: &[App]) -> Schema {
        use FieldType::*;
        let has = |app: App| app == App::Base || apps.contains(&app);
        let mut models = vec![
            ModelDef::new(
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
            )
            .in_modules(&["base", "mail", "product", "account", "sale", "hr", "stock"]),
            ModelDef::new(
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
            )
            .in_modules(&["base", "mail", "account", "sale", "hr", "stock"]),
            ModelDef::new(
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
            )
            .in_modules(&["base"]),
            crate::schema_ext::ir_model(version),
        ];

        if has(App::Sale) {
            let states = if version >= 17 {
                SALE_STATES_17
            } else {
                SALE_STATES
            };
            models.push(
                ModelDef::new(
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
                )
                .in_modules(&["sale"]),
            );
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
                models.push(
                    ModelDef::new(
                        "account.move",
                        "account.move",
                        "Journal Entry",
                        // Odoo orders by the accounting `date`, which follows the invoice date here.
                        "invoice_date desc, name desc, id desc",
                        Access::Everyone,
                        fields,
                    )
                    .in_modules(&["account", "sale"]),
                );
            } else {
                models.push(
                    ModelDef::new(
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
                    )
                    .in_modules(&["account", "sale"]),
                );
            }
        }
        crate::schema_ext::business_models(version, apps, &mut models);

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
            models.push(
                ModelDef::new(
                    "hr.employee",
                    "hr.employee",
                    "Employee",
                    "name",
                    access,
                    employee_fields(),
                )
                .in_modules(&["hr"]),
            );
            if version >= 13 {
                models.push(
                    ModelDef::new(
                        "hr.employee.public",
                        "hr.employee",
                        "Public Employee",
                        "name",
                        Access::Everyone,
                        employee_fields(),
                    )
                    .in_modules(&["hr"]),
                );
            }
        }

        Schema {
            models: models
                .into_iter()
                .map(|mut m| {
                    m.version = version;
                    Arc::new(m)
                })
                .collect(),
        }
    }

    /// The model of that name, if this database has it.
    pub fn model(&self, name: &str) -> Option<&Arc<ModelDef>> {
        self.models.iter().find(|m| m.name == name)
    }

    /// All models.
    pub fn models(&self) -> &[Arc<ModelDef>] {
        &self.models
    }

    /// This schema with `model` replaced by `with` (a custom field added).
    pub fn replacing(&self, with: ModelDef) -> Schema {
        Schema {
            models: self
                .models
                .iter()
                .map(|m| {
                    if m.name == with.name {
                        Arc::new(with.clone())
                    } else {
                        m.clone()
                    }
                })
                .collect(),
        }
    }
}
