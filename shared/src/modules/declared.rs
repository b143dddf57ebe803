//! Modules declared in the settings file (`[modules.NAME]` tables): parsed and checked once at
//! start-up into [`ModuleSpec`] values, with errors that name the bad key
//! (`modules.projects.model: ...`). A table named after a built-in module may only add
//! `extra_fields` to it.
//!
//! ```toml
//! [modules.projects]
//! model = "project.project"
//! fields = "*"                        # or a list: ["name", "partner_id", "x_studio_*"]
//! domain = [["active", "=", true]]    # optional, joined to the sync's own terms
//! collection = "odooprojects"         # optional, default "odoo" + the name without _
//! archived = true                     # the model has `active`: archived rows are mirrored too
//!
//! [modules.sales]
//! extra_fields = ["x_studio_*"]
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::spec::{FieldPattern, ModuleSpec, Origin, Variant};
use crate::odoo::Domain;

/// A `[modules.NAME]` table as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredModule {
    /// The Odoo model, e.g. `project.project`.
    pub model: Option<String>,
    /// `"*"` or a list of field names and patterns.
    pub fields: Option<DeclaredFields>,
    /// Extra domain terms in Odoo's form.
    pub domain: Option<Vec<Value>>,
    pub collection: Option<String>,
    /// Whether the model has `active` (archived records exist and are mirrored).
    pub archived: Option<bool>,
    pub display_name: Option<String>,
    /// Fields a built-in module reads besides its own (names or patterns such as `x_studio_*`).
    pub extra_fields: Option<Vec<String>>,
}

/// The `fields` of a declared module: every stored, non-binary readable field, or a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DeclaredFields {
    All(String),
    List(Vec<String>),
}

/// A declared module the settings cannot use: which key and why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("modules.{module}.{key}: {problem}")]
pub struct ModuleDeclarationError {
    pub module: String,
    pub key: &'static str,
    pub problem: String,
}

impl ModuleDeclarationError {
    pub(super) fn new(module: &str, key: &'static str, problem: impl Into<String>) -> Self {
        ModuleDeclarationError {
            module: module.chars().take(64).collect(),
            key,
            problem: problem.into(),
        }
    }
}

/// Domain operators Odoo accepts in a term (the rest are refused at start-up rather than by
/// every tenant's server later).
const OPERATORS: &[&str] = &[
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "in",
    "not in",
    "like",
    "ilike",
    "not like",
    "not ilike",
    "=like",
    "=ilike",
    "child_of",
    "parent_of",
];

/// Collections the stores keep for themselves.
const RESERVED_COLLECTIONS: &[&str] = &["odoosyncbatches", "odoosyncstatuses"];

fn is_identifier(text: &str, max: usize) -> bool {
    !text.is_empty()
        && text.len() <= max
        && text.starts_with(|c: char| c.is_ascii_lowercase())
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_model_name(text: &str) -> bool {
    text.len() <= 128 && text.split('.').all(|part| is_identifier(part, 64))
}

impl DeclaredModule {
    /// Checks a declaration of a new module and turns it into its spec. Every name that is
    /// later written into a collection name, a domain or a call is checked here.
    pub fn to_spec(&self, name: &str) -> Result<ModuleSpec, ModuleDeclarationError> {
        let err = |key, problem: String| ModuleDeclarationError::new(name, key, problem);
        if !is_identifier(name, 40) {
            return Err(err(
                "name",
                "a module name is 1 to 40 lower-case letters, digits or _, starting with a letter"
                    .into(),
            ));
        }
        if self.extra_fields.is_some() {
            return Err(err(
                "extra_fields",
                "only built-in modules take extra_fields; list the fields in `fields`".into(),
            ));
        }
        let model = self.model.as_deref().ok_or_else(|| {
            err(
                "model",
                "is required (the Odoo model, e.g. \"project.project\")".into(),
            )
        })?;
        if !is_model_name(model) {
            return Err(err(
                "model",
                format!("{model:?} is not an Odoo model name such as \"project.project\""),
            ));
        }
        let patterns = match &self.fields {
            None => {
                return Err(err(
                    "fields",
                    "is required: \"*\" for every stored field, or a list of names".into(),
                ))
            }
            Some(DeclaredFields::All(all)) if all == "*" => {
                vec![FieldPattern::parse("*").map_err(|e| err("fields", e.to_string()))?]
            }
            Some(DeclaredFields::All(other)) => {
                return Err(err(
                    "fields",
                    format!("{other:?}: use \"*\" or a list of names"),
                ))
            }
            Some(DeclaredFields::List(list)) if list.is_empty() => {
                return Err(err("fields", "must name at least one field".into()))
            }
            Some(DeclaredFields::List(list)) => list
                .iter()
                .map(|f| FieldPattern::parse(f).map_err(|e| err("fields", e.to_string())))
                .collect::<Result<_, _>>()?,
        };
        let has_active = self.archived.unwrap_or(false);
        let domain = match &self.domain {
            None => Domain::all(),
            Some(terms) => Domain::from_raw(check_domain(terms).map_err(|p| err("domain", p))?),
        };
        let collection = match &self.collection {
            Some(c) => c.clone(),
            None => format!("odoo{}", name.replace('_', "")),
        };
        if !is_identifier(&collection, 64)
            || RESERVED_COLLECTIONS.contains(&collection.as_str())
            || collection.starts_with("sqlite_")
        {
            return Err(err(
                "collection",
                format!(
                    "{collection:?} is not usable: 1 to 64 lower-case letters, digits or _, \
                     not odoosyncbatches or odoosyncstatuses"
                ),
            ));
        }
        let display_name = match &self.display_name {
            Some(d) if !d.trim().is_empty() && d.len() <= 80 => d.trim().to_string(),
            Some(_) => return Err(err("display_name", "must be 1 to 80 characters".into())),
            None => title_case(name),
        };
        // Named fields are read as they are; patterns are resolved per tenant.
        let named: Vec<&'static str> = patterns
            .iter()
            .filter(|p| !p.as_str().ends_with('*'))
            .map(|p| leak(p.as_str()))
            .chain(has_active.then_some("active"))
            .collect();
        let patterns: Vec<FieldPattern> = patterns
            .into_iter()
            .filter(|p| p.as_str().ends_with('*'))
            .collect();
        Ok(ModuleSpec {
            name: leak(name),
            display_name: leak(&display_name),
            collection: leak(&collection),
            origin: Origin::Declared,
            app: None,
            variants: vec![Variant {
                since: 0,
                model: leak(model),
                fallback_model: None,
                fields: named,
                domain,
                has_active,
            }],
            structured: Vec::new(),
            field_patterns: patterns,
        })
    }

    /// The extra field patterns of a `[modules.<built-in>]` table; any other key is refused.
    pub fn extra_patterns(&self, name: &str) -> Result<Vec<FieldPattern>, ModuleDeclarationError> {
        let err = |key, problem: &str| ModuleDeclarationError::new(name, key, problem);
        let fixed = "is fixed for a built-in module; declare a module under another name to read another model";
        if self.model.is_some() {
            return Err(err("model", fixed));
        }
        if self.fields.is_some() {
            return Err(err(
                "fields",
                "a built-in module's fields are fixed; add more with extra_fields",
            ));
        }
        if self.domain.is_some() {
            return Err(err("domain", fixed));
        }
        if self.collection.is_some() {
            return Err(err("collection", fixed));
        }
        if self.archived.is_some() {
            return Err(err("archived", fixed));
        }
        if self.display_name.is_some() {
            return Err(err("display_name", fixed));
        }
        self.extra_fields
            .iter()
            .flatten()
            .map(|f| {
                FieldPattern::parse(f)
                    .map_err(|e| ModuleDeclarationError::new(name, "extra_fields", e.to_string()))
            })
            .collect()
    }
}

/// A settings string kept for the life of the process (see the registry's note in `mod.rs`).
fn leak(text: &str) -> &'static str {
    Box::leak(text.to_string().into_boxed_str())
}

fn title_case(name: &str) -> String {
    name.split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Odoo's domain form: terms `[field, operator, value]` and the prefix operators `&`, `|`, `!`.
fn check_domain(terms: &[Value]) -> Result<Vec<Value>, String> {
    for (index, term) in terms.iter().enumerate() {
        match term {
            Value::String(op) if matches!(op.as_str(), "&" | "|" | "!") => {}
            Value::Array(parts) if parts.len() == 3 => {
                let field = parts[0].as_str().unwrap_or_default();
                if !field.split('.').all(|p| is_identifier(p, 64)) {
                    return Err(format!("term {index}: {} is not a field name", parts[0]));
                }
                let op = parts[1].as_str().unwrap_or_default();
                if !OPERATORS.contains(&op) {
                    return Err(format!(
                        "term {index}: {} is not an operator ({})",
                        parts[1],
                        OPERATORS.join(", ")
                    ));
                }
            }
            other => {
                return Err(format!(
                    "term {index}: {other} is neither [field, operator, value] nor &, |, !"
                ))
            }
        }
    }
    Ok(terms.to_vec())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn declared(value: Value) -> DeclaredModule {
        serde_json::from_value(value).expect("a declaration")
    }

    #[test]
    fn a_declaration_becomes_a_spec() {
        let spec = declared(json!({
            "model": "project.project", "fields": ["name", "partner_id", "x_studio_*"],
            "domain": [["privacy_visibility", "!=", "followers"]], "archived": true
        }))
        .to_spec("projects")
        .expect("valid");
        assert_eq!(spec.collection, "odooprojects");
        assert_eq!(spec.display_name, "Projects");
        let variant = spec.variant(17);
        assert_eq!(variant.model, "project.project");
        assert_eq!(variant.fields, ["name", "partner_id", "active"]);
        assert!(variant.has_active);
        assert_eq!(spec.field_patterns.len(), 1);
        assert!(spec.field_patterns[0].matches("x_studio_stage"));
        let all = declared(json!({"model": "crm.lead", "fields": "*"}))
            .to_spec("crm_leads")
            .expect("valid");
        assert!(all.field_patterns[0].is_all() && all.variant(19).fields.is_empty());
        assert_eq!(all.collection, "odoocrmleads");
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            (json!({"fields": "*"}), "modules.m.model"),
            (
                json!({"model": "Bad Model", "fields": "*"}),
                "modules.m.model",
            ),
            (json!({"model": "a.b"}), "modules.m.fields"),
            (json!({"model": "a.b", "fields": []}), "modules.m.fields"),
            (json!({"model": "a.b", "fields": "all"}), "modules.m.fields"),
            (
                json!({"model": "a.b", "fields": ["Name"]}),
                "modules.m.fields",
            ),
            (
                json!({"model": "a.b", "fields": "*", "domain": [["x", "~", 1]]}),
                "modules.m.domain",
            ),
            (
                json!({"model": "a.b", "fields": "*", "domain": ["x"]}),
                "modules.m.domain",
            ),
            (
                json!({"model": "a.b", "fields": "*", "collection": "odoosyncbatches"}),
                "modules.m.collection",
            ),
            (
                json!({"model": "a.b", "fields": "*", "collection": "x; drop"}),
                "modules.m.collection",
            ),
            (
                json!({"model": "a.b", "fields": "*", "extra_fields": ["x"]}),
                "modules.m.extra_fields",
            ),
        ];
        for (value, key) in cases {
            let error = declared(value.clone()).to_spec("m").expect_err("refused");
            assert!(error.to_string().starts_with(key), "{value}: {error}");
        }
        assert!(declared(json!({"model": "a.b", "fields": "*"}))
            .to_spec("Bad-Name")
            .is_err());
        assert!(serde_json::from_value::<DeclaredModule>(json!({"modle": "a.b"})).is_err());
    }

    #[test]
    fn built_in_tables_only_add_fields() {
        let patterns = declared(json!({"extra_fields": ["x_studio_*", "x_region"]}))
            .extra_patterns("sales")
            .expect("valid");
        assert_eq!(patterns.len(), 2);
        let error = declared(json!({"model": "sale.order"}))
            .extra_patterns("sales")
            .expect_err("refused");
        assert!(
            error.to_string().starts_with("modules.sales.model"),
            "{error}"
        );
    }
}
