//! Custom fields, as Odoo Studio (or Settings > Technical > Fields) adds them: names starting
//! with `x_`, stored columns with `manual` set in `fields_get`. Adding one is a schema change,
//! not a write: existing records read it as empty (0 for numbers) and keep their `write_date`,
//! as `ALTER TABLE ... ADD COLUMN` leaves rows untouched.

use crate::catalog::reference_table;
use crate::database::Db;
use crate::error::SimError;
use crate::schema::{FieldDef, FieldType, Schema, Storage};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::OnceLock;

/// The type of a custom field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomFieldKind {
    Char,
    Text,
    Integer,
    Float,
    Monetary,
    Boolean,
    Date,
    Datetime,
    /// `(value, label)` pairs.
    Selection(Vec<(String, String)>),
    /// A many2one to the named model.
    Many2one(String),
}

/// A custom field to add to a model (in [`crate::DatabaseSpec::custom_fields`], or at run time
/// with [`Db::add_custom`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomField {
    pub model: String,
    /// Technical name; Odoo requires the `x_` prefix (Studio uses `x_studio_`).
    pub name: String,
    /// The field's string; derived from the name when `None` (`x_studio_sales_region` →
    /// "Sales Region").
    pub label: Option<String>,
    pub kind: CustomFieldKind,
}

impl CustomField {
    pub fn new(model: &str, name: &str, kind: CustomFieldKind) -> CustomField {
        CustomField {
            model: model.to_string(),
            name: name.to_string(),
            label: None,
            kind,
        }
    }

    /// Sets the field's string.
    pub fn with_label(mut self, label: &str) -> CustomField {
        self.label = Some(label.to_string());
        self
    }

    /// The string `fields_get` shows: the label, or the name without its `x_studio_`/`x_`
    /// prefix in Odoo's default title case.
    pub fn label(&self) -> String {
        if let Some(label) = &self.label {
            return label.clone();
        }
        let bare = self
            .name
            .strip_prefix("x_studio_")
            .or_else(|| self.name.strip_prefix("x_"))
            .unwrap_or(&self.name);
        bare.split('_')
            .filter(|w| !w.is_empty())
            .map(|w| {
                let mut chars = w.chars();
                match chars.next() {
                    Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                    None => String::new(),
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl FromStr for CustomField {
    type Err = SimError;

    /// Parses `MODEL:NAME:KIND`, KIND being `char`, `text`, `integer`, `float`, `monetary`,
    /// `boolean`, `date`, `datetime`, `selection=a+b+c` (values, each `value` or
    /// `value/Label`) or `many2one=MODEL`.
    fn from_str(input: &str) -> Result<CustomField, SimError> {
        let bad = |reason: &str| SimError::InvalidSpec {
            what: "custom field",
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let mut parts = input.splitn(3, ':');
        let (Some(model), Some(name), Some(kind)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("expected MODEL:NAME:KIND"));
        };
        let (kind, arg) = match kind.split_once('=') {
            Some((k, a)) => (k, Some(a)),
            None => (kind, None),
        };
        let kind = match (kind, arg) {
            ("char", None) => CustomFieldKind::Char,
            ("text", None) => CustomFieldKind::Text,
            ("integer", None) => CustomFieldKind::Integer,
            ("float", None) => CustomFieldKind::Float,
            ("monetary", None) => CustomFieldKind::Monetary,
            ("boolean", None) => CustomFieldKind::Boolean,
            ("date", None) => CustomFieldKind::Date,
            ("datetime", None) => CustomFieldKind::Datetime,
            ("selection", Some(values)) => CustomFieldKind::Selection(
                values
                    .split('+')
                    .filter(|v| !v.is_empty())
                    .map(|v| match v.split_once('/') {
                        Some((value, label)) => (value.to_string(), label.to_string()),
                        None => (v.to_string(), v.to_string()),
                    })
                    .collect(),
            ),
            ("many2one", Some(relation)) if !relation.is_empty() => {
                CustomFieldKind::Many2one(relation.to_string())
            }
            ("selection", None) => return Err(bad("selection needs values: selection=a+b")),
            ("many2one", _) => return Err(bad("many2one needs a model: many2one=res.partner")),
            (other, _) => return Err(bad(&format!("unknown kind {other:?}"))),
        };
        if model.is_empty() || name.is_empty() {
            return Err(bad("expected MODEL:NAME:KIND"));
        }
        Ok(CustomField::new(model, name, kind))
    }
}

/// A process-wide copy of a string that lives as long as the process, as field names live in
/// Odoo's registry. Each distinct name is kept once, so the memory is bounded by the number
/// of distinct custom fields ever added, not by how often they are added.
fn intern(s: &str) -> &'static str {
    static POOL: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut pool = POOL.get_or_init(Default::default).lock();
    if let Some(&kept) = pool.get(s) {
        return kept;
    }
    let kept: &'static str = Box::leak(s.to_string().into_boxed_str());
    pool.insert(kept);
    kept
}

/// Selection choices with the same lifetime as interned names, kept once per distinct list.
fn intern_choices(choices: &[(String, String)]) -> crate::schema::Choices {
    type Pool = HashMap<Vec<(String, String)>, crate::schema::Choices>;
    static POOL: OnceLock<Mutex<Pool>> = OnceLock::new();
    let mut pool = POOL.get_or_init(Default::default).lock();
    if let Some(kept) = pool.get(choices) {
        return kept;
    }
    let list: Vec<(&'static str, &'static str)> = choices
        .iter()
        .map(|(v, l)| (intern(v), intern(l)))
        .collect();
    let kept: crate::schema::Choices = Box::leak(list.into_boxed_slice());
    pool.insert(choices.to_vec(), kept);
    kept
}

/// `schema` with the custom field added, after Odoo's checks on custom fields.
pub(crate) fn add_to_schema(
    schema: &Schema,
    custom: &CustomField,
    version: u32,
) -> Result<Schema, SimError> {
    let bad = |reason: String| SimError::InvalidCustomField {
        model: custom.model.clone(),
        field: custom.name.clone(),
        reason,
    };
    let model = schema
        .model(&custom.model)
        .ok_or_else(|| bad("no such model in this database".into()))?;
    if model.table != model.name {
        return Err(bad(format!(
            "{} is a view over {}'s rows; add the field to {}",
            model.name, model.table, model.table
        )));
    }
    if !custom.name.starts_with("x_") {
        return Err(bad(
            "custom fields must have a name that starts with 'x_'".into()
        ));
    }
    let valid = custom.name.len() > 2
        && custom
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        return Err(bad(
            "a field name may only hold lowercase letters, digits and underscores".into(),
        ));
    }
    if model.field_index(&custom.name).is_some() {
        return Err(bad("the model already has a field of that name".into()));
    }
    let ty = match &custom.kind {
        CustomFieldKind::Char => FieldType::Char,
        CustomFieldKind::Text => FieldType::Text,
        CustomFieldKind::Integer => FieldType::Integer,
        CustomFieldKind::Float => FieldType::Float,
        CustomFieldKind::Monetary => FieldType::Monetary,
        CustomFieldKind::Boolean => FieldType::Boolean,
        CustomFieldKind::Date => FieldType::Date,
        CustomFieldKind::Datetime => FieldType::Datetime,
        CustomFieldKind::Selection(choices) => {
            if choices.is_empty() {
                return Err(bad("a selection needs at least one value".into()));
            }
            FieldType::Selection(intern_choices(choices))
        }
        CustomFieldKind::Many2one(relation) => {
            let known = schema.model(relation).is_some()
                || reference_table(relation, version).is_some()
                || relation == "product.template" && schema.model("product.product").is_some();
            if !known {
                return Err(bad(format!("unknown relation model {relation:?}")));
            }
            FieldType::Many2one(intern(relation))
        }
    };
    let def = FieldDef {
        name: intern(&custom.name),
        label: intern(&custom.label()),
        ty,
        required: false,
        readonly: false,
        storage: Storage::Stored,
        manual: true,
    };
    Ok(schema.replacing(model.with_custom_field(def)))
}

impl Db {
    /// Adds a custom field (Odoo Studio's `x_studio_...`) to `model`: `fields_get` lists it
    /// from now on, reads return it (False, or 0 for numbers, on existing records, whose
    /// `write_date` does not move), and [`Db::update`] sets it like any field.
    pub fn add_custom_field(
        &self,
        model: &str,
        name: &str,
        kind: CustomFieldKind,
    ) -> Result<(), SimError> {
        self.add_custom(&CustomField::new(model, name, kind))
    }

    /// Adds a custom field described in full (with its label).
    pub fn add_custom(&self, field: &CustomField) -> Result<(), SimError> {
        let db = &self.inner;
        // Under the tables' write lock: no read sees the new field without its cells, and
        // transactions committing later pad the rows they built before.
        let mut tables = db.tables.write();
        let schema = add_to_schema(&db.schema(), field, db.version)?;
        if let Some(model) = schema.model(&field.model) {
            if let Some(table) = tables.get_mut(model.table) {
                for row in table.rows.values_mut() {
                    for f in model.fields.iter().skip(row.len()) {
                        row.push(f.ty.empty_cell());
                    }
                }
            }
        }
        db.set_schema(schema);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        let f: CustomField = "sale.order:x_studio_region:char".parse().unwrap();
        assert_eq!(
            (f.model.as_str(), f.name.as_str(), &f.kind),
            ("sale.order", "x_studio_region", &CustomFieldKind::Char)
        );
        assert_eq!(f.label(), "Region");
        let f: CustomField = "res.partner:x_tier:selection=gold/Gold Tier+silver"
            .parse()
            .unwrap();
        assert_eq!(
            f.kind,
            CustomFieldKind::Selection(vec![
                ("gold".into(), "Gold Tier".into()),
                ("silver".into(), "silver".into())
            ])
        );
        let f: CustomField = "sale.order:x_studio_sales_rep:many2one=res.users"
            .parse()
            .unwrap();
        assert_eq!(f.kind, CustomFieldKind::Many2one("res.users".into()));
        assert_eq!(f.label(), "Sales Rep");
        for bad in [
            "sale.order:x_a",
            "sale.order:x_a:blob",
            "sale.order:x_a:selection",
            "sale.order:x_a:many2one=",
            ":x_a:char",
        ] {
            assert!(bad.parse::<CustomField>().is_err(), "{bad}");
        }
    }

    #[test]
    fn schema_checks() {
        use crate::schema::App;
        let schema = Schema::new(17, &[App::Sale, App::Hr]);
        let ok = CustomField::new("sale.order", "x_studio_region", CustomFieldKind::Char);
        let added = add_to_schema(&schema, &ok, 17).unwrap();
        let m = added.model("sale.order").unwrap();
        let i = m.field_index("x_studio_region").unwrap();
        assert_eq!(i, m.fields.len() - 1);
        assert!(m.fields[i].manual && m.write_date_index() < i);
        for (model, name, kind) in [
            ("sale.order", "region", CustomFieldKind::Char),
            ("sale.order", "x_Region", CustomFieldKind::Char),
            ("sale.order", "name", CustomFieldKind::Char),
            ("no.model", "x_a", CustomFieldKind::Char),
            ("hr.employee.public", "x_a", CustomFieldKind::Char),
            (
                "sale.order",
                "x_a",
                CustomFieldKind::Many2one("no.model".into()),
            ),
            ("sale.order", "x_a", CustomFieldKind::Selection(vec![])),
        ] {
            let f = CustomField::new(model, name, kind);
            assert!(add_to_schema(&schema, &f, 17).is_err(), "{f:?}");
        }
        let twice = CustomField::new("sale.order", "x_studio_region", CustomFieldKind::Integer);
        assert!(add_to_schema(&added, &twice, 17).is_err());
    }
}
