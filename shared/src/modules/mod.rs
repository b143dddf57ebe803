//! The synced modules. Each one is a [`ModuleSpec`] value (see `spec.rs`): the built-in ones
//! are written in `builtin.rs`, others are declared in the settings file (`declared.rs`). A
//! [`Module`] is a small copyable handle to a registered spec; the engine, the stores and the
//! API take it and ask the spec, never match on a name (DESIGN.md 4.2).
//!
//! The registry is process-wide and grows only at start-up: settings declare their modules
//! before any store or engine is built, and a name always stands for the same spec. Specs are
//! leaked on registration so handles are `&'static` and `Copy`: there are a handful per
//! process and they live as long as it does.

mod builtin;
mod declared;
mod spec;

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::{LazyLock, RwLock};

pub use declared::{DeclaredFields, DeclaredModule, ModuleDeclarationError};
pub use spec::{
    FieldPattern, InvalidFieldPattern, Kind, ModuleSpec, Origin, StructuredField, Variant,
};

use crate::odoo::{AppProbe, Domain, ServerVersion};

/// Fields every module reads besides its own: the sync keys on these.
pub const COMMON_FIELDS: [&str; 2] = ["write_date", "create_date"];

static REGISTRY: LazyLock<RwLock<Vec<&'static ModuleSpec>>> = LazyLock::new(|| {
    RwLock::new(
        builtin::all()
            .into_iter()
            .map(|spec| &*Box::leak(Box::new(spec)))
            .collect(),
    )
});

fn registered() -> Vec<&'static ModuleSpec> {
    match REGISTRY.read() {
        Ok(specs) => specs.clone(),
        // Registration never panics while holding the lock; a poisoned lock still holds a
        // consistent list.
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

/// A synced module: a handle to its registered [`ModuleSpec`]. Equal, hashed and ordered by
/// name (built-in ones first, in their order).
#[derive(Clone, Copy)]
pub struct Module(&'static ModuleSpec);

impl Module {
    /// Every registered module: the built-in ones, then the declared ones by name.
    pub fn all() -> Vec<Module> {
        let mut all: Vec<Module> = registered().into_iter().map(Module).collect();
        all.sort();
        all
    }

    /// The modules a tenant syncs when neither it nor the settings name any: the built-in
    /// non-optional ones and every declared one.
    pub fn defaults() -> Vec<Module> {
        Module::all()
            .into_iter()
            .filter(|m| m.0.origin != Origin::BuiltInOptional)
            .collect()
    }

    /// The registered module of that name.
    pub fn named(name: &str) -> Option<Module> {
        registered()
            .into_iter()
            .find(|spec| spec.name == name)
            .map(Module)
    }

    fn builtin(name: &'static str) -> Module {
        Module::named(name).unwrap_or_else(|| unreachable!("built-in module {name} is registered"))
    }

    pub fn sales() -> Module {
        Module::builtin("sales")
    }
    pub fn invoices() -> Module {
        Module::builtin("invoices")
    }
    pub fn contacts() -> Module {
        Module::builtin("contacts")
    }
    pub fn employees() -> Module {
        Module::builtin("employees")
    }
    pub fn sale_lines() -> Module {
        Module::builtin("sale_lines")
    }
    pub fn invoice_lines() -> Module {
        Module::builtin("invoice_lines")
    }
    pub fn products() -> Module {
        Module::builtin("products")
    }

    /// Registers a module declared in the settings. Declaring the same spec again returns
    /// the same handle; another spec under a registered name is refused.
    pub fn declare(spec: ModuleSpec) -> Result<Module, ModuleDeclarationError> {
        let mut specs = match REGISTRY.write() {
            Ok(specs) => specs,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(known) = specs.iter().find(|s| s.name == spec.name) {
            return if **known == spec {
                Ok(Module(known))
            } else {
                Err(ModuleDeclarationError::new(
                    spec.name,
                    "name",
                    "is already the name of another module",
                ))
            };
        }
        if let Some(known) = specs.iter().find(|s| s.collection == spec.collection) {
            return Err(ModuleDeclarationError::new(
                spec.name,
                "collection",
                format!(
                    "{} is already the collection of {}",
                    spec.collection, known.name
                ),
            ));
        }
        let spec: &'static ModuleSpec = Box::leak(Box::new(spec));
        specs.push(spec);
        Ok(Module(spec))
    }

    /// Adds field patterns (settings' `extra_fields`) to a registered module: its spec is
    /// replaced by one that also reads them. Handles taken before keep the old spec, so the
    /// settings do this at start-up, before any store or engine exists.
    pub fn add_field_patterns(self, patterns: &[FieldPattern]) -> Module {
        let mut specs = match REGISTRY.write() {
            Ok(specs) => specs,
            Err(poisoned) => poisoned.into_inner(),
        };
        let Some(slot) = specs.iter_mut().find(|s| s.name == self.0.name) else {
            return self;
        };
        let missing: Vec<FieldPattern> = patterns
            .iter()
            .filter(|p| !slot.field_patterns.contains(p))
            .cloned()
            .collect();
        if missing.is_empty() {
            return Module(slot);
        }
        let mut spec = (*slot).clone();
        spec.field_patterns.extend(missing);
        *slot = Box::leak(Box::new(spec));
        Module(slot)
    }

    pub fn spec(self) -> &'static ModuleSpec {
        self.0
    }

    /// The name used in routes, settings and batches.
    pub fn as_str(self) -> &'static str {
        self.0.name
    }

    pub fn display_name(self) -> &'static str {
        self.0.display_name
    }

    /// The MongoDB collection (and SQLite table) of mirrored records.
    pub fn collection(self) -> &'static str {
        self.0.collection
    }

    pub fn origin(self) -> Origin {
        self.0.origin
    }

    /// The Odoo app that must be installed for the module to sync (`None`: the model must
    /// exist and be readable).
    pub fn app(self) -> Option<&'static str> {
        self.0.app.map(|(app, _)| app)
    }

    /// How to tell the app is installed without reading `ir.module.module`.
    pub fn app_probe(self) -> Option<AppProbe<'static>> {
        self.0.app.map(|(app, models)| AppProbe { app, models })
    }

    /// The model this module reads first on a server of `version` (a user who may not read
    /// it reads [`Module::fallback_model`] instead).
    pub fn model(self, version: &ServerVersion) -> &'static str {
        self.0.variant(version.major).model
    }

    /// The model read when the user may not read [`Module::model`], if the module has one.
    pub fn fallback_model(self, version: &ServerVersion) -> Option<&'static str> {
        self.0.variant(version.major).fallback_model
    }

    /// The model, fields and domain to read this module from a server of `version`:
    /// `model` is the one the tenant's prepare chose (the main or the fallback model; any
    /// other name falls back to the main one), `extra_fields` the tenant's resolved
    /// [field patterns](ModuleSpec::field_patterns).
    pub fn mapping(
        self,
        version: &ServerVersion,
        model: &str,
        extra_fields: &[String],
    ) -> ModelMapping {
        let variant = self.0.variant(version.major);
        let model = match variant.fallback_model {
            Some(fallback) if fallback == model => fallback,
            _ => variant.model,
        };
        let mut fields: Vec<String> = variant
            .fields
            .iter()
            .chain(COMMON_FIELDS.iter())
            .map(|f| f.to_string())
            .collect();
        for extra in extra_fields {
            if !fields.contains(extra) {
                fields.push(extra.clone());
            }
        }
        ModelMapping {
            module: self,
            model,
            fields,
            domain: variant.domain.clone(),
            has_active: variant.has_active,
        }
    }

    fn rank(self) -> usize {
        match self.0.origin {
            Origin::Declared => usize::MAX,
            _ => builtin_rank(self.0.name),
        }
    }
}

fn builtin_rank(name: &str) -> usize {
    const ORDER: [&str; 7] = [
        "sales",
        "invoices",
        "contacts",
        "employees",
        "sale_lines",
        "invoice_lines",
        "products",
    ];
    ORDER.iter().position(|n| *n == name).unwrap_or(usize::MAX)
}

impl PartialEq for Module {
    fn eq(&self, other: &Self) -> bool {
        self.0.name == other.0.name
    }
}

impl Eq for Module {}

impl Hash for Module {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.name.hash(state);
    }
}

impl PartialOrd for Module {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Module {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.rank(), self.0.name).cmp(&(other.rank(), other.0.name))
    }
}

impl fmt::Debug for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Module({})", self.0.name)
    }
}

impl fmt::Display for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A module name that is not registered.
#[derive(Debug, thiserror::Error)]
#[error("unknown module {0:?}: expected one of {known}", known = known_names())]
pub struct UnknownModule(pub String);

fn known_names() -> String {
    Module::all()
        .iter()
        .map(|m| m.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for Module {
    type Err = UnknownModule;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Module::named(s).ok_or_else(|| UnknownModule(s.chars().take(64).collect()))
    }
}

/// Whether the user may read `hr.employee` (HR rights from 13) or only `hr.employee.public`:
/// kept on the tenant for operators; the engine reads it from each module's chosen model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmployeeAccess {
    Full,
    PublicOnly,
}

impl EmployeeAccess {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            EmployeeAccess::Full => "full",
            EmployeeAccess::PublicOnly => "public_only",
        }
    }
}

impl FromStr for EmployeeAccess {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "full" => Ok(EmployeeAccess::Full),
            "public_only" => Ok(EmployeeAccess::PublicOnly),
            other => Err(format!("unknown employee access {other:?}")),
        }
    }
}

/// What one module reads from one server.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelMapping {
    pub module: Module,
    pub model: &'static str,
    /// Fields to request, `write_date` and `create_date` included (`id` always comes back).
    pub fields: Vec<String>,
    /// Always part of the module's domain (e.g. invoices exclude journal entries).
    pub domain: Domain,
    /// The model has an `active` field, so archived rows need `active_test: False`.
    pub has_active: bool,
}

impl ModelMapping {
    /// The fields as the client takes them.
    pub fn field_names(&self) -> Vec<&str> {
        self.fields.iter().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn v(major: u32) -> ServerVersion {
        ServerVersion::new(major, 0)
    }

    fn has(m: &ModelMapping, field: &str) -> bool {
        m.fields.iter().any(|f| f == field)
    }

    #[test]
    fn invoices_follow_the_version() {
        let invoices = Module::invoices();
        let m = invoices.mapping(&v(12), "", &[]);
        assert_eq!(m.model, "account.invoice");
        assert!(has(&m, "residual") && m.domain.is_empty());
        let m = invoices.mapping(&v(13), "", &[]);
        assert_eq!(m.model, "account.move");
        assert!(has(&m, "type") && !has(&m, "move_type"));
        assert_eq!(m.domain.to_value(), json!([["type", "not in", ["entry"]]]));
        let m = invoices.mapping(&v(17), "", &[]);
        assert!(has(&m, "move_type") && has(&m, "payment_state"));
        assert_eq!(
            m.domain.to_value(),
            json!([["move_type", "not in", ["entry"]]])
        );
    }

    #[test]
    fn employees_fall_back_to_the_public_model() {
        let employees = Module::employees();
        assert_eq!(employees.model(&v(17)), "hr.employee");
        assert_eq!(employees.fallback_model(&v(17)), Some("hr.employee.public"));
        assert_eq!(employees.fallback_model(&v(12)), None);
        assert_eq!(
            employees.mapping(&v(17), "hr.employee.public", &[]).model,
            "hr.employee.public"
        );
        assert_eq!(
            employees.mapping(&v(17), "res.users", &[]).model,
            "hr.employee",
            "a model the module does not read falls back to the main one"
        );
    }

    #[test]
    fn optional_modules_follow_the_version() {
        let lines = Module::invoice_lines();
        assert_eq!(lines.model(&v(12)), "account.invoice.line");
        let m = lines.mapping(&v(13), "", &[]);
        assert!(m.domain.to_value().to_string().contains("move_id.type"));
        let m = lines.mapping(&v(15), "", &[]);
        assert!(m
            .domain
            .to_value()
            .to_string()
            .contains("move_id.move_type"));
        let m = lines.mapping(&v(19), "", &[]);
        assert_eq!(
            m.domain.to_value()[0],
            json!(["display_type", "=", "product"])
        );
        assert!(m
            .domain
            .to_value()
            .to_string()
            .contains("move_id.move_type"));
        assert!(!has(&m, "exclude_from_invoice_tab"));
        assert!(has(
            &Module::products().mapping(&v(18), "", &[]),
            "is_storable"
        ));
        assert!(!has(
            &Module::products().mapping(&v(17), "", &[]),
            "is_storable"
        ));
    }

    #[test]
    fn every_mapping_reads_the_sync_keys_and_extra_fields_once() {
        for module in Module::all() {
            for major in 12..=19 {
                let m = module.mapping(&v(major), "", &["x_studio_region".into(), "name".into()]);
                assert!(has(&m, "write_date") && has(&m, "create_date"));
                assert!(has(&m, "x_studio_region"));
                assert_eq!(m.fields.iter().filter(|f| *f == "name").count(), 1);
            }
        }
        assert_eq!("sales".parse::<Module>().expect("known"), Module::sales());
        let unknown = "payroll".parse::<Module>().expect_err("unknown");
        assert!(unknown.to_string().contains("sale_lines"), "{unknown}");
    }

    #[test]
    fn defaults_leave_optional_modules_out_and_order_is_stable() {
        let names: Vec<&str> = Module::defaults().iter().map(|m| m.as_str()).collect();
        assert_eq!(names, ["sales", "invoices", "contacts", "employees"]);
        let all: Vec<&str> = Module::all().iter().map(|m| m.as_str()).collect();
        assert_eq!(
            all,
            [
                "sales",
                "invoices",
                "contacts",
                "employees",
                "sale_lines",
                "invoice_lines",
                "products"
            ]
        );
        for module in Module::all() {
            assert!(module.app().is_some());
            assert!(module.collection().starts_with("odoo"));
        }
    }
}
