//! The four synced modules (sales, invoices, contacts, employees) and, per Odoo version, the
//! model, fields and base domain each one reads (DESIGN.md 4.2).

use std::fmt;
use std::str::FromStr;

use serde_json::json;

use crate::odoo::{AppProbe, Domain, Op, ServerVersion};

/// A synced module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Module {
    Sales,
    Invoices,
    Contacts,
    Employees,
}

/// Fields every module reads besides its own: the sync keys on these.
const COMMON_FIELDS: [&str; 2] = ["write_date", "create_date"];

impl Module {
    pub const ALL: [Module; 4] = [
        Module::Sales,
        Module::Invoices,
        Module::Contacts,
        Module::Employees,
    ];

    /// The name used in routes, settings and batches.
    pub fn as_str(self) -> &'static str {
        match self {
            Module::Sales => "sales",
            Module::Invoices => "invoices",
            Module::Contacts => "contacts",
            Module::Employees => "employees",
        }
    }

    pub fn display_name(self) -> &'static str {
        match self {
            Module::Sales => "Sales Orders",
            Module::Invoices => "Invoices",
            Module::Contacts => "Contacts",
            Module::Employees => "Employees",
        }
    }

    /// The MongoDB collection of mirrored records.
    pub fn collection(self) -> &'static str {
        match self {
            Module::Sales => "odoosaleorders",
            Module::Invoices => "odooinvoices",
            Module::Contacts => "odoocontacts",
            Module::Employees => "odooemployees",
        }
    }

    /// The Odoo app that must be installed for the module to sync.
    pub fn app(self) -> &'static str {
        match self {
            Module::Sales => "sale",
            Module::Invoices => "account",
            Module::Contacts => "contacts",
            Module::Employees => "hr",
        }
    }

    /// How to tell the app is installed without reading `ir.module.module`. `res.partner`
    /// exists in every database, so for contacts the app's own menu model is probed.
    pub fn app_probe(self) -> AppProbe<'static> {
        let models: &'static [&'static str] = match self {
            Module::Sales => &["sale.order"],
            Module::Invoices => &["account.move", "account.invoice"],
            Module::Contacts => &["res.partner"],
            Module::Employees => &["hr.employee", "hr.employee.public"],
        };
        AppProbe {
            app: self.app(),
            models,
        }
    }

    /// The model, fields and domain to read this module from a server of `version`.
    /// `employee_access` says whether the user may read `hr.employee` (else the public view).
    pub fn mapping(self, version: &ServerVersion, employee_access: EmployeeAccess) -> ModelMapping {
        let major = version.major;
        let (model, fields, domain, has_active): (
            &'static str,
            &'static [&'static str],
            Domain,
            bool,
        ) = match self {
            Module::Sales => (
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
                ],
                Domain::all(),
                false,
            ),
            Module::Invoices if major <= 12 => (
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
                ],
                Domain::all(),
                false,
            ),
            Module::Invoices if major == 13 => (
                "account.move",
                &[
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
                ],
                Domain::all().and("type", Op::NotIn, json!(["entry"])),
                false,
            ),
            Module::Invoices => (
                "account.move",
                &[
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
                ],
                Domain::all().and("move_type", Op::NotIn, json!(["entry"])),
                false,
            ),
            Module::Contacts => (
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
            ),
            Module::Employees => (
                match employee_access {
                    EmployeeAccess::Full => "hr.employee",
                    EmployeeAccess::PublicOnly => "hr.employee.public",
                },
                &[
                    "name",
                    "work_email",
                    "department_id",
                    "job_title",
                    "parent_id",
                    "company_id",
                    "active",
                    "display_name",
                ],
                Domain::all(),
                true,
            ),
        };
        let fields = fields.iter().chain(COMMON_FIELDS.iter()).copied().collect();
        ModelMapping {
            module: self,
            model,
            fields,
            domain,
            has_active,
        }
    }
}

impl fmt::Display for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A module name that is not one of the four.
#[derive(Debug, thiserror::Error)]
#[error("unknown module {0:?}: expected one of sales, invoices, contacts, employees")]
pub struct UnknownModule(pub String);

impl FromStr for Module {
    type Err = UnknownModule;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Module::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| UnknownModule(s.to_string()))
    }
}

/// Whether the user may read `hr.employee` (HR rights from 13) or only `hr.employee.public`.
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
    pub fields: Vec<&'static str>,
    /// Always part of the module's domain (e.g. invoices exclude journal entries).
    pub domain: Domain,
    /// The model has an `active` field, so archived rows need `active_test: False`.
    pub has_active: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(major: u32) -> ServerVersion {
        ServerVersion::new(major, 0)
    }

    #[test]
    fn invoices_follow_the_version() {
        let m = Module::Invoices.mapping(&v(12), EmployeeAccess::Full);
        assert_eq!(m.model, "account.invoice");
        assert!(m.fields.contains(&"residual") && m.domain.is_empty());
        let m = Module::Invoices.mapping(&v(13), EmployeeAccess::Full);
        assert_eq!(m.model, "account.move");
        assert!(m.fields.contains(&"type") && !m.fields.contains(&"move_type"));
        assert_eq!(m.domain.to_value(), json!([["type", "not in", ["entry"]]]));
        let m = Module::Invoices.mapping(&v(17), EmployeeAccess::Full);
        assert!(m.fields.contains(&"move_type") && m.fields.contains(&"payment_state"));
        assert_eq!(
            m.domain.to_value(),
            json!([["move_type", "not in", ["entry"]]])
        );
    }

    #[test]
    fn employees_fall_back_to_the_public_model() {
        assert_eq!(
            Module::Employees
                .mapping(&v(17), EmployeeAccess::Full)
                .model,
            "hr.employee"
        );
        assert_eq!(
            Module::Employees
                .mapping(&v(17), EmployeeAccess::PublicOnly)
                .model,
            "hr.employee.public"
        );
    }

    #[test]
    fn every_mapping_reads_the_sync_keys() {
        for module in Module::ALL {
            for major in 12..=19 {
                let m = module.mapping(&v(major), EmployeeAccess::Full);
                assert!(m.fields.contains(&"write_date") && m.fields.contains(&"create_date"));
            }
        }
        assert_eq!("sales".parse::<Module>().expect("known"), Module::Sales);
        assert!("payroll".parse::<Module>().is_err());
    }
}
