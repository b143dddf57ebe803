//! A tenant's figures computed from the mirror: counts and totals per module, the numbers
//! the demo prints and the dashboard shows. Reads records page by page, so memory stays
//! flat whatever the tenant's size.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::modules::Module;
use crate::store::{SharedStore, StoreError, TenantId};

/// Figures of one module.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModuleFigures {
    /// Live records (not deleted in Odoo), archived ones included.
    pub records: u64,
    pub archived: u64,
    pub deleted: u64,
    /// Records by state, or by kind where the module has no state (company / person,
    /// department).
    pub by_group: BTreeMap<String, u64>,
    /// Sales: total of `amountTotal`; invoices: total of `amountResidual` still open.
    pub amount: f64,
}

/// Figures of every module the tenant has records for.
pub async fn tenant_figures(
    store: &SharedStore,
    user_id: &TenantId,
) -> Result<BTreeMap<Module, ModuleFigures>, StoreError> {
    let mut all = BTreeMap::new();
    for module in Module::ALL {
        let mut figures = ModuleFigures::default();
        let mut after = 0;
        loop {
            let page = store.records(user_id, module, after, 1000).await?;
            let Some(last) = page.last() else { break };
            after = last.odoo_id;
            for record in &page {
                if record.deleted_at.is_some() {
                    figures.deleted += 1;
                    continue;
                }
                figures.records += 1;
                if !record.active {
                    figures.archived += 1;
                }
                let doc = &record.document;
                let group = group_of(module, doc);
                *figures.by_group.entry(group).or_default() += 1;
                figures.amount += amount_of(module, doc);
            }
        }
        if figures.records + figures.deleted > 0 {
            all.insert(module, figures);
        }
    }
    Ok(all)
}

fn text(doc: &Value, field: &str) -> Option<String> {
    doc.get(field).and_then(Value::as_str).map(str::to_string)
}

fn group_of(module: Module, doc: &Value) -> String {
    let group = match module {
        Module::Sales | Module::Invoices => text(doc, "state"),
        Module::Contacts => Some(
            if doc.get("isCompany").and_then(Value::as_bool) == Some(true) {
                "company".to_string()
            } else {
                "person".to_string()
            },
        ),
        Module::Employees => text(doc, "departmentName"),
    };
    group.unwrap_or_else(|| "none".to_string())
}

fn amount_of(module: Module, doc: &Value) -> f64 {
    let number = |field: &str| doc.get(field).and_then(Value::as_f64).unwrap_or(0.0);
    match module {
        Module::Sales if text(doc, "state").as_deref() != Some("cancel") => number("amountTotal"),
        Module::Invoices => {
            let settled = matches!(
                text(doc, "paymentState").as_deref(),
                Some("paid" | "in_payment" | "reversed")
            ) || text(doc, "state").as_deref() == Some("cancel");
            if settled {
                0.0
            } else {
                number("amountResidual")
            }
        }
        _ => 0.0,
    }
}
