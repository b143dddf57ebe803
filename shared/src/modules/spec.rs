//! What one module is, as data: [`ModuleSpec`] (name, collection, app, the model and fields
//! it reads per Odoo version, its structured fields) and the pieces it is made of. The
//! built-in modules and the ones declared in the settings file are values of these types;
//! nothing downstream matches on a module's name.

use crate::odoo::Domain;

/// How an Odoo value becomes a structured (camelCase) field of a mirrored record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Bool,
    Float,
    Date,
    DateTime,
    /// `[id, "name"]` becomes `<stem>Id` and `<stem>Name`. The named module, when the target
    /// model is itself mirrored: a rename the mirror learns is then shown in this field
    /// without asking Odoo (see [`super::Module::links_to`]).
    Many2one(Option<&'static str>),
}

/// One structured field: its camelCase name (the stem for many2one), its kind, and the Odoo
/// fields it comes from in order of preference (versions name some fields differently; the
/// first one present in a record wins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructuredField {
    pub name: &'static str,
    pub kind: Kind,
    pub sources: &'static [&'static str],
}

/// A pattern of Odoo field names a module reads besides its fixed list, resolved per tenant
/// with `fields_get` (custom fields differ per database): `*` (every stored, non-binary
/// field the user may read), a name, or a prefix ending in `*` (`x_studio_*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPattern(String);

/// A field pattern that is not `*`, a field name or a prefix followed by `*`.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a field name or pattern: use lower-case letters, digits and _, optionally ending in * (\"x_studio_*\"), or * alone")]
pub struct InvalidFieldPattern(pub String);

impl FieldPattern {
    pub fn parse(text: &str) -> Result<Self, InvalidFieldPattern> {
        let stem = text.strip_suffix('*').unwrap_or(text);
        let ok = text.len() <= 64
            && stem
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && (stem.is_empty() && text == "*"
                || stem.starts_with(|c: char| c.is_ascii_lowercase()));
        if ok {
            Ok(FieldPattern(text.to_string()))
        } else {
            Err(InvalidFieldPattern(text.chars().take(80).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the pattern names `field`.
    pub fn matches(&self, field: &str) -> bool {
        match self.0.strip_suffix('*') {
            Some(prefix) => field.starts_with(prefix),
            None => self.0 == field,
        }
    }

    /// Whether the pattern names every field (`*`).
    pub fn is_all(&self) -> bool {
        self.0 == "*"
    }
}

/// The model, fields and domain a module reads from servers of one range of versions.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// The first major version this variant applies to; it applies up to the next variant's.
    pub since: u32,
    pub model: &'static str,
    /// A model read instead when the user may not read `model` (`hr.employee.public`).
    pub fallback_model: Option<&'static str>,
    /// Fields read besides `write_date` and `create_date` (`id` always comes back).
    pub fields: Vec<&'static str>,
    /// Always part of the module's domain (e.g. invoices exclude journal entries).
    pub domain: Domain,
    /// The model has an `active` field, so archived rows need `active_test: False`.
    pub has_active: bool,
}

/// Where a module comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Written in this program; synced unless a tenant or the settings say otherwise.
    BuiltIn,
    /// Written in this program; synced only when a tenant or the settings ask for it.
    BuiltInOptional,
    /// Declared in the settings file.
    Declared,
}

/// A module: everything the engine, the stores and the API need to know about it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleSpec {
    /// The name used in routes, settings and batches (`sales`, `sale_lines`, ...).
    pub name: &'static str,
    pub display_name: &'static str,
    /// The MongoDB collection (and SQLite table) of its mirrored records.
    pub collection: &'static str,
    pub origin: Origin,
    /// The Odoo app that must be installed for the module to sync, with the models that tell
    /// it is installed where the user may not read `ir.module.module`; `None` for declared
    /// modules, which sync when their model exists and is readable.
    pub app: Option<(&'static str, &'static [&'static str])>,
    /// Oldest first; the last one whose `since` is at most the server's major version applies.
    pub variants: Vec<Variant>,
    /// Structured fields of its records, beside `raw` (declared modules have none: their
    /// records are `raw` plus the sync keys).
    pub structured: Vec<StructuredField>,
    /// More fields to read, found per tenant with `fields_get`.
    pub field_patterns: Vec<FieldPattern>,
}

impl ModuleSpec {
    /// The variant for servers of `major` version (the oldest one for older servers).
    pub fn variant(&self, major: u32) -> &Variant {
        self.variants
            .iter()
            .rev()
            .find(|v| v.since <= major)
            .or_else(|| self.variants.first())
            .unwrap_or_else(|| unreachable!("a module spec has at least one variant"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_patterns_parse_and_match() {
        let studio = FieldPattern::parse("x_studio_*").expect("valid");
        assert!(studio.matches("x_studio_region") && !studio.matches("name"));
        let exact = FieldPattern::parse("x_region").expect("valid");
        assert!(exact.matches("x_region") && !exact.matches("x_region2"));
        assert!(FieldPattern::parse("*").expect("valid").is_all());
        for bad in ["", "X_Studio", "a*b", "**", "x-y", "1abc"] {
            assert!(FieldPattern::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
