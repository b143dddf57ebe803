//! Turns a record as Odoo returned it into a [`MirrorRecord`]: the module's structured
//! fields in camelCase (ids and names of many2one fields, amounts, states, real dates,
//! `active`) plus `raw`, every fetched field untouched.
//!
//! Each module's spec lists where each structured field comes from (`modules/builtin.rs`).
//! Where versions name a field differently (`move_type` on 14+, `type` on 13 and on
//! `account.invoice`), the spec lists each source and the first one present in the record
//! wins. Declared modules have no structured fields: `raw` and the sync keys.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;

use crate::modules::{Kind, Module};
use crate::odoo::Record;
use crate::store::{FieldValue, MirrorRecord};

/// A many2one field of a mirrored module that points at records of another (or the same)
/// mirrored module: Odoo computes the name inside `[id, "name"]` when it answers, so renaming
/// the target changes what every record pointing at it returns, without touching their
/// `write_date`. The stores follow such renames locally through these links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// The module whose records hold the field.
    pub module: Module,
    /// The structured name's stem: `<stem>Id` and `<stem>Name` (e.g. `partner`).
    pub stem: &'static str,
    /// The Odoo fields kept in `raw` (e.g. `partner_id`; versions may name it differently).
    pub odoo_fields: &'static [&'static str],
}

impl Link {
    /// The structured field holding the target's id.
    pub fn id_field(&self) -> String {
        format!("{}Id", self.stem)
    }

    /// The structured field holding the target's display name.
    pub fn name_field(&self) -> String {
        format!("{}Name", self.stem)
    }
}

/// The raw field holding a record's display name (what many2one pairs pointing at it show).
pub const DISPLAY_NAME: &str = "display_name";

/// A record that cannot be mirrored: without an id or a readable `write_date` it could be
/// neither keyed nor ordered.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    #[error("{model} record without an integer id")]
    MissingId { model: String },
    #[error("{model} record {id}: write_date {value} is not 'YYYY-MM-DD HH:MM:SS'")]
    BadWriteDate {
        model: String,
        id: i64,
        value: String,
    },
}

impl Module {
    /// The fields of mirrored modules that show the display name of a record of `self`.
    pub fn links_to(self) -> Vec<Link> {
        Module::all()
            .into_iter()
            .flat_map(|module| {
                module
                    .spec()
                    .structured
                    .iter()
                    .filter_map(move |field| match field.kind {
                        Kind::Many2one(Some(target)) if target == self.as_str() => Some(Link {
                            module,
                            stem: field.name,
                            odoo_fields: field.sources,
                        }),
                        _ => None,
                    })
            })
            .collect()
    }

    /// Maps one fetched record. `model` is only used in error messages.
    pub fn mirror(self, model: &str, raw: Record) -> Result<MirrorRecord, MappingError> {
        let odoo_id =
            raw.get("id")
                .and_then(Value::as_i64)
                .ok_or_else(|| MappingError::MissingId {
                    model: model.to_string(),
                })?;
        let write_date = match raw.get("write_date") {
            Some(Value::String(text)) => parse_datetime(text),
            _ => None,
        }
        .ok_or_else(|| MappingError::BadWriteDate {
            model: model.to_string(),
            id: odoo_id,
            value: raw
                .get("write_date")
                .map(Value::to_string)
                .unwrap_or_else(|| "missing".into()),
        })?;
        let create_date = raw
            .get("create_date")
            .and_then(Value::as_str)
            .and_then(parse_datetime);
        // Models without `active` (sale.order, account.move) are always active.
        let active = raw.get("active").and_then(Value::as_bool).unwrap_or(true);

        let structured = &self.spec().structured;
        let mut fields = Vec::with_capacity(structured.len() + 4);
        for field in structured {
            let value = field.sources.iter().find_map(|source| raw.get(*source));
            push_structured(&mut fields, field.name, field.kind, value);
        }
        Ok(MirrorRecord {
            odoo_id,
            write_date,
            create_date,
            active,
            fields,
            raw,
        })
    }
}

fn push_structured(
    fields: &mut Vec<(String, FieldValue)>,
    name: &str,
    kind: Kind,
    value: Option<&Value>,
) {
    let value = value.unwrap_or(&Value::Null);
    match kind {
        Kind::Many2one(_) => {
            let (id, label) = match value {
                Value::Array(pair) => (
                    pair.first().and_then(Value::as_i64),
                    pair.get(1).and_then(Value::as_str),
                ),
                // Some versions send a bare id when the name is unreadable.
                Value::Number(n) => (n.as_i64(), None),
                _ => (None, None),
            };
            fields.push((
                format!("{name}Id"),
                id.map_or(FieldValue::Null, FieldValue::Int),
            ));
            fields.push((
                format!("{name}Name"),
                label.map_or(FieldValue::Null, |l| FieldValue::Text(l.to_string())),
            ));
        }
        Kind::Bool => fields.push((
            name.to_string(),
            FieldValue::Bool(value.as_bool().unwrap_or(false)),
        )),
        // Odoo sends False for every empty value, so `false` is null for the other kinds.
        _ if matches!(value, Value::Bool(false) | Value::Null) => {
            fields.push((name.to_string(), FieldValue::Null))
        }
        Kind::Text => fields.push((
            name.to_string(),
            match value {
                Value::String(s) => FieldValue::Text(s.clone()),
                other => FieldValue::Text(other.to_string()),
            },
        )),
        Kind::Float => fields.push((
            name.to_string(),
            value.as_f64().map_or(FieldValue::Null, FieldValue::Float),
        )),
        Kind::Date => fields.push((
            name.to_string(),
            value
                .as_str()
                .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
                .map_or(FieldValue::Null, FieldValue::Date),
        )),
        Kind::DateTime => fields.push((
            name.to_string(),
            value
                .as_str()
                .and_then(parse_datetime)
                .map_or(FieldValue::Null, FieldValue::DateTime),
        )),
    }
}

/// Odoo's `'YYYY-MM-DD HH:MM:SS'` (UTC, no zone).
pub fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .ok()
        .map(|naive| naive.and_utc())
}

/// The inverse of [`parse_datetime`], for domains.
pub fn format_datetime(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(value: Value) -> Record {
        match value {
            Value::Object(map) => map,
            _ => unreachable!("test records are objects"),
        }
    }

    fn field<'a>(m: &'a MirrorRecord, name: &str) -> &'a FieldValue {
        &m.fields
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no field {name}"))
            .1
    }

    #[test]
    fn maps_a_sale_order() {
        let raw = record(json!({
            "id": 7, "name": "S00007", "partner_id": [3, "Azure Interior"],
            "date_order": "2026-11-20 09:15:00", "state": "sale", "amount_total": 1250.5,
            "amount_untaxed": 1087.39, "currency_id": [1, "USD"], "user_id": false,
            "company_id": [1, "YourCompany"], "invoice_status": "to invoice",
            "write_date": "2026-11-21 10:00:01", "create_date": "2026-11-20 09:15:00"
        }));
        let m = Module::sales()
            .mirror("sale.order", raw.clone())
            .expect("maps");
        assert_eq!(m.odoo_id, 7);
        assert_eq!(m.write_date.to_rfc3339(), "2026-11-21T10:00:01+00:00");
        assert!(m.active, "sale.order has no active field");
        assert_eq!(field(&m, "partnerId"), &FieldValue::Int(3));
        assert_eq!(
            field(&m, "partnerName"),
            &FieldValue::Text("Azure Interior".into())
        );
        assert_eq!(field(&m, "amountTotal"), &FieldValue::Float(1250.5));
        assert_eq!(field(&m, "salespersonId"), &FieldValue::Null);
        assert!(matches!(field(&m, "dateOrder"), FieldValue::DateTime(_)));
        assert_eq!(m.raw, raw, "raw keeps every field as returned");
    }

    #[test]
    fn maps_invoices_of_every_version() {
        let v12 = record(
            json!({"id": 1, "number": "INV/1", "type": "out_invoice", "state": "paid",
            "date_invoice": "2026-01-02", "date_due": false, "residual": 0.0,
            "write_date": "2026-01-02 00:00:00"}),
        );
        let m = Module::invoices()
            .mirror("account.invoice", v12)
            .expect("maps");
        assert_eq!(field(&m, "name"), &FieldValue::Text("INV/1".into()));
        assert_eq!(
            field(&m, "moveType"),
            &FieldValue::Text("out_invoice".into())
        );
        assert_eq!(
            field(&m, "invoiceDate"),
            &FieldValue::Date(NaiveDate::from_ymd_opt(2026, 1, 2).expect("date"))
        );
        assert_eq!(field(&m, "invoiceDateDue"), &FieldValue::Null);
        assert_eq!(field(&m, "amountResidual"), &FieldValue::Float(0.0));
        let v17 = record(json!({"id": 2, "name": "INV/2", "move_type": "out_refund",
            "payment_state": "not_paid", "write_date": "2026-01-02 00:00:00"}));
        let m = Module::invoices()
            .mirror("account.move", v17)
            .expect("maps");
        assert_eq!(
            field(&m, "moveType"),
            &FieldValue::Text("out_refund".into())
        );
        assert_eq!(
            field(&m, "paymentState"),
            &FieldValue::Text("not_paid".into())
        );
    }

    #[test]
    fn links_point_at_mirrored_modules() {
        let to_contacts = Module::contacts().links_to();
        let stems: Vec<(Module, &str, &str)> = to_contacts
            .iter()
            .map(|l| (l.module, l.stem, l.odoo_fields[0]))
            .collect();
        assert_eq!(
            stems,
            vec![
                (Module::sales(), "partner", "partner_id"),
                (Module::invoices(), "partner", "partner_id"),
                (Module::contacts(), "parent", "parent_id"),
                (Module::sale_lines(), "customer", "order_partner_id"),
                (Module::invoice_lines(), "partner", "partner_id"),
            ]
        );
        assert_eq!(to_contacts[0].name_field(), "partnerName");
        let to_employees = Module::employees().links_to();
        assert_eq!(to_employees.len(), 1);
        assert_eq!(to_employees[0].id_field(), "managerId");
        let to_sales = Module::sales().links_to();
        assert_eq!(to_sales.len(), 1);
        assert_eq!(to_sales[0].module, Module::sale_lines());
        assert!(Module::sale_lines().links_to().is_empty());
    }

    #[test]
    fn archived_contacts_and_bad_records() {
        let raw = record(
            json!({"id": 5, "name": "Old Co", "active": false, "is_company": true,
            "email": false, "write_date": "2026-01-02 00:00:00"}),
        );
        let m = Module::contacts().mirror("res.partner", raw).expect("maps");
        assert!(!m.active);
        assert_eq!(field(&m, "email"), &FieldValue::Null);
        assert_eq!(field(&m, "isCompany"), &FieldValue::Bool(true));
        let no_date = record(json!({"id": 5, "write_date": false}));
        assert!(Module::contacts().mirror("res.partner", no_date).is_err());
        let no_id = record(json!({"write_date": "2026-01-02 00:00:00"}));
        assert!(Module::contacts().mirror("res.partner", no_id).is_err());
    }
}
