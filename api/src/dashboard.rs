//! A tenant's dashboard figures, computed from the mirror in one paged pass per module
//! (memory stays flat whatever the tenant's size): sales by state and the last 12 months'
//! revenue, receivables and payables (open and overdue), companies and persons, employees
//! by department, the most recently changed records and when the mirror was last written.
//! Money is per currency and rounded to each currency's minor unit; what an invoice or a
//! sale means is [`shared::figures`]' business, this module only shapes the JSON.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;
use shared::figures::{
    date_field, is_confirmed_sale, sale_total, Balance, InvoiceMoney, Items, Tally,
};
use shared::modules::Module;
use shared::money::{rounded, PerCurrency};
use shared::store::{SharedStore, StoreError, StoredRecord, TenantId};
use utoipa::ToSchema;

use crate::status::rfc3339;

/// Records read per store call.
const PAGE: u32 = 1000;
/// Entries of `recentActivity`.
const RECENT: usize = 10;

/// Counts every module has.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Records not deleted in Odoo (archived ones included).
    pub records: u64,
    pub archived: u64,
    /// Records deleted in Odoo since they were mirrored.
    pub deleted: u64,
}

/// Revenue of one calendar month (UTC).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MonthRevenue {
    /// `YYYY-MM`.
    #[schema(example = "2024-03")]
    pub month: String,
    /// Confirmed orders (`sale`, `done`) dated in the month.
    pub orders: u64,
    /// Deprecated: their `amountTotal` with every currency added together (not an amount of
    /// money when there are several); read `byCurrency`.
    #[schema(deprecated)]
    pub amount: f64,
    /// Their `amountTotal` per ISO 4217 currency code, rounded to the currency's minor unit.
    #[schema(example = json!({"USD": 1250.5, "GBP": 300.0}))]
    pub by_currency: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SalesFigures {
    #[serde(flatten)]
    pub counts: Counts,
    /// Orders by `state` (`draft`, `sent`, `sale`, `done`, `cancel`).
    pub by_state: BTreeMap<String, u64>,
    /// Deprecated: `amountTotal` of every order not cancelled with every currency added
    /// together; read `totalByCurrency`.
    #[schema(deprecated)]
    pub total_amount: f64,
    /// `amountTotal` of every order not cancelled, per ISO 4217 currency code, rounded to
    /// the currency's minor unit.
    #[schema(example = json!({"USD": 1382227.64, "GBP": 5120.0}))]
    pub total_by_currency: BTreeMap<String, f64>,
    /// The last 12 months, oldest first, the current month last.
    pub revenue_by_month: Vec<MonthRevenue>,
}

/// A number of documents and their amount due (`amountResidual`), in one currency.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocumentTally {
    pub count: u64,
    pub amount: f64,
}

/// Open (or overdue) documents of one side in one currency.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OpenDocuments {
    /// What is owed: `invoices` + `receipts` − `refunds`.
    pub amount: f64,
    /// Customer invoices (`out_invoice`) or vendor bills (`in_invoice`).
    pub invoices: DocumentTally,
    /// Credit notes (`out_refund`) or vendor refunds (`in_refund`).
    pub refunds: DocumentTally,
    /// Sales (`out_receipt`) or purchase (`in_receipt`) receipts.
    pub receipts: DocumentTally,
}

/// Receivables or payables in one currency.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BalanceFigures {
    /// Posted, not paid, with an amount still due.
    pub open: OpenDocuments,
    /// The open ones due before today (UTC).
    pub overdue: OpenDocuments,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceFigures {
    #[serde(flatten)]
    pub counts: Counts,
    pub by_state: BTreeMap<String, u64>,
    /// Documents by `moveType` (`out_invoice`, `out_refund`, `in_invoice`, `in_refund`,
    /// `out_receipt`, `in_receipt`).
    pub by_move_type: BTreeMap<String, u64>,
    /// Open customer invoices (`out_invoice`, every currency).
    pub open_count: u64,
    /// Deprecated: their `amountResidual` with every currency added together; read
    /// `receivables`.
    #[schema(deprecated)]
    pub open_amount: f64,
    /// The open customer invoices whose due date has passed.
    pub overdue_count: u64,
    /// Deprecated: their `amountResidual` with every currency added together; read
    /// `receivables`.
    #[schema(deprecated)]
    pub overdue_amount: f64,
    /// What customers owe, per ISO 4217 currency code: customer invoices and sales receipts
    /// minus credit notes. Amounts are rounded to the currency's minor unit.
    pub receivables: BTreeMap<String, BalanceFigures>,
    /// What the company owes, per currency: vendor bills and purchase receipts minus vendor
    /// refunds.
    pub payables: BTreeMap<String, BalanceFigures>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactFigures {
    #[serde(flatten)]
    pub counts: Counts,
    pub companies: u64,
    pub persons: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmployeeFigures {
    #[serde(flatten)]
    pub counts: Counts,
    /// Employees by department name (`none` without one).
    pub by_department: BTreeMap<String, u64>,
}

/// The figures of every synced module (a module without records is absent).
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct ModuleFigures {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sales: Option<SalesFigures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoices: Option<InvoiceFigures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contacts: Option<ContactFigures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub employees: Option<EmployeeFigures>,
}

/// One recently changed record.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    /// `sales`, `invoices`, `contacts` or `employees`.
    pub module: String,
    pub odoo_id: i64,
    pub name: Option<String>,
    /// When it last changed in Odoo (RFC 3339).
    pub write_date: String,
}

/// The body of `GET /odoo/dashboard`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DashboardBody {
    pub modules: ModuleFigures,
    /// The most recently changed records across modules, newest first.
    pub recent_activity: Vec<Activity>,
    /// When the mirror last received a record (RFC 3339); null before any.
    pub last_sync_at: Option<String>,
    /// When these figures were computed (RFC 3339).
    pub generated_at: String,
}

/// The tenant's dashboard at `now`.
pub async fn dashboard(
    store: &SharedStore,
    user_id: &TenantId,
    now: DateTime<Utc>,
) -> Result<DashboardBody, StoreError> {
    let mut builder = Builder::new(now);
    // The dashboard's figures are about the four modules it starts with; the rest of a
    // tenant's mirror is served by the records route.
    let figured = [
        Module::sales(),
        Module::invoices(),
        Module::contacts(),
        Module::employees(),
    ];
    for module in figured {
        let mut after = 0;
        loop {
            let page = store.records(user_id, module, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.odoo_id;
            for record in &page {
                builder.add(module, record);
            }
            if page.len() < PAGE as usize {
                break;
            }
        }
    }
    Ok(builder.finish())
}

fn text<'a>(doc: &'a Value, field: &str) -> Option<&'a str> {
    doc.get(field).and_then(Value::as_str)
}

fn tally(code: &str, tally: &Tally) -> DocumentTally {
    DocumentTally {
        count: tally.count,
        amount: rounded(code, tally.amount),
    }
}

fn documents(code: &str, items: &Items) -> OpenDocuments {
    OpenDocuments {
        amount: rounded(code, items.net()),
        invoices: tally(code, &items.invoices),
        refunds: tally(code, &items.refunds),
        receipts: tally(code, &items.receipts),
    }
}

fn balances(all: &BTreeMap<String, Balance>) -> BTreeMap<String, BalanceFigures> {
    all.iter()
        .map(|(code, b)| {
            let figures = BalanceFigures {
                open: documents(code, &b.open),
                overdue: documents(code, &b.overdue),
            };
            (code.clone(), figures)
        })
        .collect()
}

/// Folds records into figures.
struct Builder {
    now: DateTime<Utc>,
    today: NaiveDate,
    modules: ModuleFigures,
    /// `YYYY-MM` of the 12 months shown, oldest first.
    months: Vec<String>,
    /// Confirmed orders and their totals per `YYYY-MM`.
    revenue: BTreeMap<String, (u64, PerCurrency)>,
    sales_totals: PerCurrency,
    invoice_money: InvoiceMoney,
    recent: Vec<Activity>,
    recent_dates: Vec<DateTime<Utc>>,
    last_synced: Option<DateTime<Utc>>,
}

impl Builder {
    fn new(now: DateTime<Utc>) -> Builder {
        let today = now.date_naive();
        let mut months = Vec::with_capacity(12);
        let (mut year, mut month) = (today.year(), today.month());
        for _ in 0..12 {
            months.push(format!("{year:04}-{month:02}"));
            if month == 1 {
                year -= 1;
                month = 12;
            } else {
                month -= 1;
            }
        }
        months.reverse();
        Builder {
            now,
            today,
            modules: ModuleFigures::default(),
            months,
            revenue: BTreeMap::new(),
            sales_totals: PerCurrency::default(),
            invoice_money: InvoiceMoney::default(),
            recent: Vec::new(),
            recent_dates: Vec::new(),
            last_synced: None,
        }
    }

    fn add(&mut self, module: Module, record: &StoredRecord) {
        self.last_synced = self.last_synced.max(Some(record.synced_at));
        let doc = &record.document;
        let counts = match module.as_str() {
            "sales" => {
                &mut self
                    .modules
                    .sales
                    .get_or_insert_with(Default::default)
                    .counts
            }
            "invoices" => {
                &mut self
                    .modules
                    .invoices
                    .get_or_insert_with(Default::default)
                    .counts
            }
            "contacts" => {
                &mut self
                    .modules
                    .contacts
                    .get_or_insert_with(Default::default)
                    .counts
            }
            "employees" => {
                &mut self
                    .modules
                    .employees
                    .get_or_insert_with(Default::default)
                    .counts
            }
            _ => return,
        };
        if record.deleted_at.is_some() {
            counts.deleted += 1;
            return;
        }
        counts.records += 1;
        if !record.active {
            counts.archived += 1;
        }
        self.note_recent(module, record);
        match module.as_str() {
            "sales" => self.add_sale(doc),
            "invoices" => self.add_invoice(doc),
            "contacts" => {
                let contacts = self.modules.contacts.get_or_insert_with(Default::default);
                if doc.get("isCompany").and_then(Value::as_bool) == Some(true) {
                    contacts.companies += 1;
                } else {
                    contacts.persons += 1;
                }
            }
            "employees" => {
                let department = text(doc, "departmentName").unwrap_or("none").to_string();
                let employees = self.modules.employees.get_or_insert_with(Default::default);
                *employees.by_department.entry(department).or_default() += 1;
            }
            _ => {}
        }
    }

    fn add_sale(&mut self, doc: &Value) {
        let state = text(doc, "state").unwrap_or("none");
        let sales = self.modules.sales.get_or_insert_with(Default::default);
        *sales.by_state.entry(state.to_string()).or_default() += 1;
        let Some((currency, amount)) = sale_total(doc) else {
            return;
        };
        self.sales_totals.add(currency, amount);
        if is_confirmed_sale(doc) {
            if let Some(day) = date_field(doc, "dateOrder") {
                let month = format!("{:04}-{:02}", day.year(), day.month());
                let slot = self.revenue.entry(month).or_default();
                slot.0 += 1;
                slot.1.add(currency, amount);
            }
        }
    }

    fn add_invoice(&mut self, doc: &Value) {
        let state = text(doc, "state").unwrap_or("none");
        let invoices = self.modules.invoices.get_or_insert_with(Default::default);
        *invoices.by_state.entry(state.to_string()).or_default() += 1;
        self.invoice_money.add(doc, self.today);
    }

    /// Keeps the [`RECENT`] newest records seen so far.
    fn note_recent(&mut self, module: Module, record: &StoredRecord) {
        let at = record.write_date;
        if self.recent.len() == RECENT && self.recent_dates.iter().all(|d| *d >= at) {
            return;
        }
        self.recent.push(Activity {
            module: module.as_str().to_string(),
            odoo_id: record.odoo_id,
            name: text(&record.document, "name").map(str::to_string),
            write_date: rfc3339(at),
        });
        self.recent_dates.push(at);
        if self.recent.len() > RECENT {
            let oldest = self
                .recent_dates
                .iter()
                .enumerate()
                .min_by_key(|(_, d)| **d)
                .map_or(0, |(i, _)| i);
            self.recent.swap_remove(oldest);
            self.recent_dates.swap_remove(oldest);
        }
    }

    fn finish(mut self) -> DashboardBody {
        if let Some(sales) = &mut self.modules.sales {
            sales.total_amount = self.sales_totals.mixed_total();
            sales.total_by_currency = self.sales_totals.rounded();
            sales.revenue_by_month = self
                .months
                .iter()
                .map(|month| {
                    let (orders, amounts) = self.revenue.remove(month).unwrap_or_default();
                    MonthRevenue {
                        month: month.clone(),
                        orders,
                        amount: amounts.mixed_total(),
                        by_currency: amounts.rounded(),
                    }
                })
                .collect();
        }
        if let Some(invoices) = &mut self.modules.invoices {
            let money = &self.invoice_money;
            // The fields from before amounts were kept per currency: customer invoices only.
            let (mut open, mut overdue) = (PerCurrency::default(), PerCurrency::default());
            for (code, balance) in &money.receivables {
                open.add(code, balance.open.invoices.amount);
                overdue.add(code, balance.overdue.invoices.amount);
                invoices.open_count += balance.open.invoices.count;
                invoices.overdue_count += balance.overdue.invoices.count;
            }
            invoices.open_amount = open.mixed_total();
            invoices.overdue_amount = overdue.mixed_total();
            invoices.by_move_type = money.by_move_type.clone();
            invoices.receivables = balances(&money.receivables);
            invoices.payables = balances(&money.payables);
        }
        let mut recent: Vec<(DateTime<Utc>, Activity)> =
            self.recent_dates.into_iter().zip(self.recent).collect();
        recent.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.odoo_id.cmp(&b.1.odoo_id)));
        DashboardBody {
            modules: self.modules,
            recent_activity: recent.into_iter().map(|(_, a)| a).collect(),
            last_sync_at: self.last_synced.map(rfc3339),
            generated_at: rfc3339(self.now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 12, 0, 0)
            .single()
            .expect("valid date")
    }

    fn record(id: i64, written: DateTime<Utc>, document: Value) -> StoredRecord {
        StoredRecord {
            odoo_id: id,
            write_date: written,
            active: true,
            deleted_at: None,
            synced_at: written,
            document,
        }
    }

    #[test]
    fn figures_per_module() {
        let now = at(2024, 6, 15);
        let mut b = Builder::new(now);
        b.add(
            Module::sales(),
            &record(
                1,
                at(2024, 6, 1),
                json!({"name": "S1", "state": "sale", "currencyName": "USD",
                "amountTotal": 100.0, "dateOrder": "2024-06-01T10:00:00Z"}),
            ),
        );
        b.add(
            Module::sales(),
            &record(
                2,
                at(2024, 5, 1),
                json!({"name": "S2", "state": "cancel",
                "amountTotal": 50.0, "dateOrder": "2024-05-01T10:00:00Z"}),
            ),
        );
        b.add(
            Module::sales(),
            &record(
                3,
                at(2023, 1, 1),
                json!({"state": "done", "amountTotal": 7.0, "currencyName": "GBP",
                "dateOrder": "2023-01-01T00:00:00Z"}),
            ),
        );
        b.add(
            Module::invoices(),
            &record(
                4,
                at(2024, 6, 2),
                json!({"state": "posted", "moveType": "out_invoice", "currencyName": "USD",
                "paymentState": "not_paid", "amountResidual": 30.0,
                "invoiceDateDue": "2024-06-01"}),
            ),
        );
        b.add(
            Module::invoices(),
            &record(
                5,
                at(2024, 6, 3),
                json!({"state": "posted", "moveType": "out_invoice", "currencyName": "USD",
                "paymentState": "partial", "amountResidual": 20.0,
                "invoiceDateDue": "2024-07-01T00:00:00Z"}),
            ),
        );
        b.add(
            Module::invoices(),
            &record(
                6,
                at(2024, 6, 4),
                json!({"state": "posted", "moveType": "in_invoice", "currencyName": "EUR",
                "amountResidual": 99.0}),
            ),
        );
        b.add(
            Module::contacts(),
            &record(7, at(2024, 1, 1), json!({"isCompany": true})),
        );
        b.add(
            Module::contacts(),
            &record(8, at(2024, 1, 1), json!({"isCompany": false})),
        );
        b.add(
            Module::employees(),
            &record(9, at(2024, 1, 1), json!({"departmentName": "R&D"})),
        );
        let body = b.finish();
        let sales = body.modules.sales.expect("sales");
        assert_eq!(sales.counts.records, 3);
        assert_eq!(sales.total_amount, 107.0);
        assert_eq!(
            sales.total_by_currency,
            BTreeMap::from([("GBP".to_string(), 7.0), ("USD".to_string(), 100.0)])
        );
        assert_eq!(sales.revenue_by_month.len(), 12);
        assert_eq!(sales.revenue_by_month[0].month, "2023-07");
        let june = sales.revenue_by_month.last().expect("june");
        assert_eq!(
            (june.month.as_str(), june.orders, june.amount),
            ("2024-06", 1, 100.0)
        );
        assert_eq!(june.by_currency["USD"], 100.0);
        let invoices = body.modules.invoices.expect("invoices");
        assert_eq!((invoices.open_count, invoices.open_amount), (2, 50.0));
        assert_eq!((invoices.overdue_count, invoices.overdue_amount), (1, 30.0));
        let usd = &invoices.receivables["USD"];
        assert_eq!((usd.open.amount, usd.overdue.amount), (50.0, 30.0));
        assert_eq!(invoices.payables["EUR"].open.invoices.amount, 99.0);
        assert_eq!(invoices.by_move_type["out_invoice"], 2);
        let contacts = body.modules.contacts.expect("contacts");
        assert_eq!((contacts.companies, contacts.persons), (1, 1));
        assert_eq!(
            body.modules.employees.expect("employees").by_department["R&D"],
            1
        );
        assert_eq!(body.recent_activity.len(), RECENT.min(9));
        assert_eq!(body.recent_activity[0].odoo_id, 6, "newest first");
        assert_eq!(body.last_sync_at.as_deref(), Some("2024-06-04T12:00:00Z"));
    }

    #[test]
    fn recent_activity_keeps_the_newest() {
        let mut b = Builder::new(at(2024, 6, 15));
        for i in 0..30 {
            b.add(
                Module::contacts(),
                &record(i, at(2024, 1, 1) + chrono::Duration::hours(i), json!({})),
            );
        }
        let body = b.finish();
        let ids: Vec<i64> = body.recent_activity.iter().map(|a| a.odoo_id).collect();
        assert_eq!(ids, (20..30).rev().collect::<Vec<_>>());
    }
}
