//! What a tenant's records mean in money, the one place that knows it: a sale's total, an
//! invoice's side (receivable or payable) and kind (invoice, refund, receipt), which
//! invoices are open and overdue, all per currency (see [`crate::money`]); and the figures
//! the `sync` and `demo` commands print, read page by page so memory stays flat.
//!
//! Invoices (`moveType`, from `move_type` on 14+ and `type` on 13 and `account.invoice`):
//! receivables are customer invoices (`out_invoice`) and sales receipts (`out_receipt`)
//! minus credit notes (`out_refund`); payables are vendor bills (`in_invoice`) and purchase
//! receipts (`in_receipt`) minus vendor refunds (`in_refund`). Receipts count because an
//! unpaid receipt is money owed like an invoice (Odoo's aged balances include it); they are
//! shown apart. A document is open when it is posted (`posted`, `open` on 12), not settled
//! (`paymentState` not `paid`, `in_payment` or `reversed`) and its `amountResidual` is above
//! zero; overdue when also due (`invoiceDateDue`) before today. Odoo's amounts are unsigned.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::Value;

use crate::modules::Module;
use crate::money::{decimal, PerCurrency, NO_CURRENCY};
use crate::store::{SharedStore, StoreError, TenantId};

/// Sales order states that count as revenue.
const CONFIRMED: [&str; 2] = ["sale", "done"];

fn text<'a>(doc: &'a Value, field: &str) -> Option<&'a str> {
    doc.get(field).and_then(Value::as_str)
}

fn number(doc: &Value, field: &str) -> f64 {
    doc.get(field).and_then(Value::as_f64).unwrap_or(0.0)
}

/// A date field as stored: `YYYY-MM-DD` (SQLite) or an RFC 3339 midnight (MongoDB).
pub fn date_field(doc: &Value, field: &str) -> Option<NaiveDate> {
    let text = text(doc, field)?;
    NaiveDate::parse_from_str(text.get(..10)?, "%Y-%m-%d").ok()
}

/// The ISO 4217 code of a sale's or invoice's currency (`currencyName`: Odoo names its
/// currencies by code), [`NO_CURRENCY`] without one.
pub fn currency_of(doc: &Value) -> &str {
    text(doc, "currencyName")
        .filter(|c| !c.is_empty())
        .unwrap_or(NO_CURRENCY)
}

/// A sales order's `amountTotal` in its currency, unless it is cancelled.
pub fn sale_total(doc: &Value) -> Option<(&str, Decimal)> {
    (text(doc, "state") != Some("cancel"))
        .then(|| (currency_of(doc), decimal(number(doc, "amountTotal"))))
}

/// Whether a sales order is confirmed revenue (`sale`, `done`).
pub fn is_confirmed_sale(doc: &Value) -> bool {
    text(doc, "state").is_some_and(|s| CONFIRMED.contains(&s))
}

/// Whose money an invoice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Customers owe it.
    Receivable,
    /// The company owes it.
    Payable,
}

/// What an invoice does to its side's balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    /// Customer invoice or vendor bill: adds.
    Invoice,
    /// Credit note or vendor refund: subtracts.
    Refund,
    /// Sales or purchase receipt: adds.
    Receipt,
}

/// The `moveType`s the invoices module mirrors: every type but journal entries (`entry`).
pub const INVOICE_MOVE_TYPES: [&str; 6] = [
    "out_invoice",
    "out_refund",
    "out_receipt",
    "in_invoice",
    "in_refund",
    "in_receipt",
];

/// The side and kind of a `moveType`; `None` for journal entries and unknown types.
pub fn classify(move_type: &str) -> Option<(Side, DocumentKind)> {
    Some(match move_type {
        "out_invoice" => (Side::Receivable, DocumentKind::Invoice),
        "out_refund" => (Side::Receivable, DocumentKind::Refund),
        "out_receipt" => (Side::Receivable, DocumentKind::Receipt),
        "in_invoice" => (Side::Payable, DocumentKind::Invoice),
        "in_refund" => (Side::Payable, DocumentKind::Refund),
        "in_receipt" => (Side::Payable, DocumentKind::Receipt),
        _ => return None,
    })
}

/// A number of documents and their amount.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    pub count: u64,
    pub amount: Decimal,
}

impl Tally {
    fn add(&mut self, amount: Decimal) {
        self.count += 1;
        self.amount += amount;
    }
}

/// Documents of one side and currency, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Items {
    pub invoices: Tally,
    pub refunds: Tally,
    pub receipts: Tally,
}

impl Items {
    /// Invoices and receipts minus refunds.
    pub fn net(&self) -> Decimal {
        self.invoices.amount + self.receipts.amount - self.refunds.amount
    }

    fn add(&mut self, kind: DocumentKind, amount: Decimal) {
        match kind {
            DocumentKind::Invoice => self.invoices.add(amount),
            DocumentKind::Refund => self.refunds.add(amount),
            DocumentKind::Receipt => self.receipts.add(amount),
        }
    }
}

/// Open and overdue documents of one side and currency.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Balance {
    pub open: Items,
    /// The open ones due before today.
    pub overdue: Items,
}

/// Invoices folded into receivables and payables per currency.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InvoiceMoney {
    /// By ISO 4217 code.
    pub receivables: BTreeMap<String, Balance>,
    pub payables: BTreeMap<String, Balance>,
    /// Live documents by `moveType` (`none` without one).
    pub by_move_type: BTreeMap<String, u64>,
}

impl InvoiceMoney {
    /// Adds one live (not deleted) invoice as of `today`.
    pub fn add(&mut self, doc: &Value, today: NaiveDate) {
        let move_type = text(doc, "moveType");
        *self
            .by_move_type
            .entry(move_type.unwrap_or("none").to_string())
            .or_default() += 1;
        let Some((side, kind)) = move_type.and_then(classify) else {
            return;
        };
        let posted = matches!(text(doc, "state"), Some("posted" | "open"));
        let settled = matches!(
            text(doc, "paymentState"),
            Some("paid" | "in_payment" | "reversed")
        );
        let residual = decimal(number(doc, "amountResidual"));
        if !posted || settled || residual <= Decimal::ZERO {
            return;
        }
        let balances = match side {
            Side::Receivable => &mut self.receivables,
            Side::Payable => &mut self.payables,
        };
        let balance = balances.entry(currency_of(doc).to_string()).or_default();
        balance.open.add(kind, residual);
        if date_field(doc, "invoiceDateDue").is_some_and(|due| due < today) {
            balance.overdue.add(kind, residual);
        }
    }
}

/// Figures of one module, as the `sync` and `demo` commands print them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModuleFigures {
    /// Live records (not deleted in Odoo), archived ones included.
    pub records: u64,
    pub archived: u64,
    pub deleted: u64,
    /// Records by state, or by kind where the module has no state (company / person,
    /// department).
    pub by_group: BTreeMap<String, u64>,
    /// Sales: `amountTotal` of the orders not cancelled, per currency.
    pub sales_totals: PerCurrency,
    /// Invoices: receivables and payables.
    pub invoices: InvoiceMoney,
}

/// Figures of every module the tenant has records for, as of `today`.
pub async fn tenant_figures(
    store: &SharedStore,
    user_id: &TenantId,
    today: NaiveDate,
) -> Result<BTreeMap<Module, ModuleFigures>, StoreError> {
    let mut all = BTreeMap::new();
    for module in Module::all() {
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
                *figures.by_group.entry(group_of(module, doc)).or_default() += 1;
                // The one place that knows what a sale or an invoice means in money.
                match module.as_str() {
                    "sales" => {
                        if let Some((currency, amount)) = sale_total(doc) {
                            figures.sales_totals.add(currency, amount);
                        }
                    }
                    "invoices" => figures.invoices.add(doc, today),
                    _ => {}
                }
            }
        }
        if figures.records + figures.deleted > 0 {
            all.insert(module, figures);
        }
    }
    Ok(all)
}

fn group_of(module: Module, doc: &Value) -> String {
    let group = match module.as_str() {
        "contacts" => Some(
            if doc.get("isCompany").and_then(Value::as_bool) == Some(true) {
                "company"
            } else {
                "person"
            },
        ),
        "employees" => text(doc, "departmentName"),
        _ => text(doc, "state"),
    };
    group.unwrap_or("none").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::rounded;
    use serde_json::json;

    fn invoice(move_type: &str, currency: &str, residual: f64, due: &str) -> Value {
        json!({"moveType": move_type, "currencyName": currency, "state": "posted",
            "paymentState": "not_paid", "amountResidual": residual, "invoiceDateDue": due})
    }

    #[test]
    fn receivables_and_payables_per_currency() {
        let today = NaiveDate::from_ymd_opt(2024, 6, 15).expect("date");
        let mut money = InvoiceMoney::default();
        for doc in [
            invoice("out_invoice", "USD", 268429.25, "2024-06-01"),
            invoice("out_refund", "USD", 167056.25, "2024-07-01"),
            invoice("out_receipt", "USD", 10.0, "2024-06-14T00:00:00Z"),
            invoice("in_invoice", "USD", 500.0, "2024-06-01"),
            invoice("in_refund", "USD", 20.5, "2024-06-01"),
            invoice("out_invoice", "EUR", 7.0, "2024-07-01"),
            invoice("entry", "USD", 999.0, "2024-06-01"),
            json!({"moveType": "out_invoice", "currencyName": "USD", "state": "posted",
                "paymentState": "paid", "amountResidual": 0.0}),
            json!({"moveType": "out_invoice", "currencyName": "USD", "state": "draft",
                "amountResidual": 40.0}),
        ] {
            money.add(&doc, today);
        }
        let usd = money.receivables["USD"];
        assert_eq!(rounded("USD", usd.open.net()), 101383.0);
        assert_eq!(usd.open.invoices.count, 1);
        assert_eq!(usd.open.refunds.count, 1);
        assert_eq!(usd.open.receipts.count, 1);
        assert_eq!(rounded("USD", usd.overdue.net()), 268439.25);
        assert_eq!(rounded("EUR", money.receivables["EUR"].open.net()), 7.0);
        assert_eq!(money.receivables["EUR"].overdue, Items::default());
        let bills = money.payables["USD"];
        assert_eq!(rounded("USD", bills.open.net()), 479.5);
        assert_eq!(rounded("USD", bills.overdue.net()), 479.5);
        assert!(!money.payables.contains_key("EUR"));
        assert_eq!(money.by_move_type["out_invoice"], 4);
        assert_eq!(money.by_move_type["entry"], 1);
    }

    #[test]
    fn cancelled_orders_have_no_total_and_missing_currency_is_xxx() {
        let doc = json!({"state": "cancel", "amountTotal": 5.0, "currencyName": "USD"});
        assert_eq!(sale_total(&doc), None);
        let doc = json!({"state": "sale", "amountTotal": 5.0, "currencyName": null});
        assert_eq!(sale_total(&doc), Some((NO_CURRENCY, Decimal::from(5))));
        assert!(is_confirmed_sale(&doc));
    }
}
