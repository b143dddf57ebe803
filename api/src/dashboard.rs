//! A tenant's dashboard figures, computed from the mirror in one paged pass per module
//! (memory stays flat whatever the tenant's size): sales by state and the last 12 months'
//! revenue, open and overdue customer invoices, companies and persons, employees by
//! department, the most recently changed records and when the mirror was last written.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;
use shared::modules::Module;
use shared::store::{SharedStore, StoreError, StoredRecord, TenantId};
use utoipa::ToSchema;

use crate::status::rfc3339;

/// Records read per store call.
const PAGE: u32 = 1000;
/// Entries of `recentActivity`.
const RECENT: usize = 10;
/// Sales order states that count as revenue.
const CONFIRMED: [&str; 2] = ["sale", "done"];

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
    /// Their `amountTotal`, summed (currencies are not converted).
    pub amount: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SalesFigures {
    #[serde(flatten)]
    pub counts: Counts,
    /// Orders by `state` (`draft`, `sent`, `sale`, `done`, `cancel`).
    pub by_state: BTreeMap<String, u64>,
    /// `amountTotal` of every order not cancelled.
    pub total_amount: f64,
    /// The last 12 months, oldest first, the current month last.
    pub revenue_by_month: Vec<MonthRevenue>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceFigures {
    #[serde(flatten)]
    pub counts: Counts,
    pub by_state: BTreeMap<String, u64>,
    /// Posted customer invoices with an amount still due.
    pub open_count: u64,
    /// Their `amountResidual`, summed.
    pub open_amount: f64,
    /// The open ones whose due date has passed.
    pub overdue_count: u64,
    pub overdue_amount: f64,
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
    for module in Module::ALL {
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

fn number(doc: &Value, field: &str) -> f64 {
    doc.get(field).and_then(Value::as_f64).unwrap_or(0.0)
}

/// A date field as stored: `YYYY-MM-DD` (SQLite) or an RFC 3339 midnight (MongoDB).
fn date(doc: &Value, field: &str) -> Option<NaiveDate> {
    let text = text(doc, field)?;
    NaiveDate::parse_from_str(text.get(..10)?, "%Y-%m-%d").ok()
}

/// Folds records into figures.
struct Builder {
    now: DateTime<Utc>,
    today: NaiveDate,
    modules: ModuleFigures,
    /// `YYYY-MM` of the 12 months shown, oldest first.
    months: Vec<String>,
    revenue: BTreeMap<String, (u64, f64)>,
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
            recent: Vec::new(),
            recent_dates: Vec::new(),
            last_synced: None,
        }
    }

    fn add(&mut self, module: Module, record: &StoredRecord) {
        self.last_synced = self.last_synced.max(Some(record.synced_at));
        let doc = &record.document;
        let counts = match module {
            Module::Sales => {
                &mut self
                    .modules
                    .sales
                    .get_or_insert_with(Default::default)
                    .counts
            }
            Module::Invoices => {
                &mut self
                    .modules
                    .invoices
                    .get_or_insert_with(Default::default)
                    .counts
            }
            Module::Contacts => {
                &mut self
                    .modules
                    .contacts
                    .get_or_insert_with(Default::default)
                    .counts
            }
            Module::Employees => {
                &mut self
                    .modules
                    .employees
                    .get_or_insert_with(Default::default)
                    .counts
            }
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
        match module {
            Module::Sales => self.add_sale(doc),
            Module::Invoices => self.add_invoice(doc),
            Module::Contacts => {
                let contacts = self.modules.contacts.get_or_insert_with(Default::default);
                if doc.get("isCompany").and_then(Value::as_bool) == Some(true) {
                    contacts.companies += 1;
                } else {
                    contacts.persons += 1;
                }
            }
            Module::Employees => {
                let department = text(doc, "departmentName").unwrap_or("none").to_string();
                let employees = self.modules.employees.get_or_insert_with(Default::default);
                *employees.by_department.entry(department).or_default() += 1;
            }
        }
    }

    fn add_sale(&mut self, doc: &Value) {
        let state = text(doc, "state").unwrap_or("none");
        let amount = number(doc, "amountTotal");
        let sales = self.modules.sales.get_or_insert_with(Default::default);
        *sales.by_state.entry(state.to_string()).or_default() += 1;
        if state != "cancel" {
            sales.total_amount += amount;
        }
        if CONFIRMED.contains(&state) {
            if let Some(day) = date(doc, "dateOrder") {
                let month = format!("{:04}-{:02}", day.year(), day.month());
                let slot = self.revenue.entry(month).or_default();
                slot.0 += 1;
                slot.1 += amount;
            }
        }
    }

    fn add_invoice(&mut self, doc: &Value) {
        let state = text(doc, "state").unwrap_or("none");
        let invoices = self.modules.invoices.get_or_insert_with(Default::default);
        *invoices.by_state.entry(state.to_string()).or_default() += 1;
        // Customer invoices (`out_invoice`; the field is absent on some old versions).
        let customer = text(doc, "moveType").is_none_or(|t| t == "out_invoice");
        let posted = matches!(state, "posted" | "open");
        let settled = matches!(
            text(doc, "paymentState"),
            Some("paid" | "in_payment" | "reversed")
        );
        let residual = number(doc, "amountResidual");
        if customer && posted && !settled && residual > 0.0 {
            invoices.open_count += 1;
            invoices.open_amount += residual;
            if date(doc, "invoiceDateDue").is_some_and(|due| due < self.today) {
                invoices.overdue_count += 1;
                invoices.overdue_amount += residual;
            }
        }
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
            sales.revenue_by_month = self
                .months
                .iter()
                .map(|month| {
                    let (orders, amount) = self.revenue.get(month).copied().unwrap_or_default();
                    MonthRevenue {
                        month: month.clone(),
                        orders,
                        amount,
                    }
                })
                .collect();
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
            Module::Sales,
            &record(
                1,
                at(2024, 6, 1),
                json!({"name": "S1", "state": "sale",
                "amountTotal": 100.0, "dateOrder": "2024-06-01T10:00:00Z"}),
            ),
        );
        b.add(
            Module::Sales,
            &record(
                2,
                at(2024, 5, 1),
                json!({"name": "S2", "state": "cancel",
                "amountTotal": 50.0, "dateOrder": "2024-05-01T10:00:00Z"}),
            ),
        );
        b.add(
            Module::Sales,
            &record(
                3,
                at(2023, 1, 1),
                json!({"state": "done", "amountTotal": 7.0,
                "dateOrder": "2023-01-01T00:00:00Z"}),
            ),
        );
        b.add(
            Module::Invoices,
            &record(
                4,
                at(2024, 6, 2),
                json!({"state": "posted", "moveType": "out_invoice",
                "paymentState": "not_paid", "amountResidual": 30.0,
                "invoiceDateDue": "2024-06-01"}),
            ),
        );
        b.add(
            Module::Invoices,
            &record(
                5,
                at(2024, 6, 3),
                json!({"state": "posted", "moveType": "out_invoice",
                "paymentState": "partial", "amountResidual": 20.0,
                "invoiceDateDue": "2024-07-01T00:00:00Z"}),
            ),
        );
        b.add(
            Module::Invoices,
            &record(
                6,
                at(2024, 6, 4),
                json!({"state": "posted", "moveType": "in_invoice",
                "amountResidual": 99.0}),
            ),
        );
        b.add(
            Module::Contacts,
            &record(7, at(2024, 1, 1), json!({"isCompany": true})),
        );
        b.add(
            Module::Contacts,
            &record(8, at(2024, 1, 1), json!({"isCompany": false})),
        );
        b.add(
            Module::Employees,
            &record(9, at(2024, 1, 1), json!({"departmentName": "R&D"})),
        );
        let body = b.finish();
        let sales = body.modules.sales.expect("sales");
        assert_eq!(sales.counts.records, 3);
        assert_eq!(sales.total_amount, 107.0);
        assert_eq!(sales.revenue_by_month.len(), 12);
        assert_eq!(sales.revenue_by_month[0].month, "2023-07");
        let june = sales.revenue_by_month.last().expect("june");
        assert_eq!(
            (june.month.as_str(), june.orders, june.amount),
            ("2024-06", 1, 100.0)
        );
        let invoices = body.modules.invoices.expect("invoices");
        assert_eq!((invoices.open_count, invoices.open_amount), (2, 50.0));
        assert_eq!((invoices.overdue_count, invoices.overdue_amount), (1, 30.0));
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
                Module::Contacts,
                &record(i, at(2024, 1, 1) + chrono::Duration::hours(i), json!({})),
            );
        }
        let body = b.finish();
        let ids: Vec<i64> = body.recent_activity.iter().map(|a| a.odoo_id).collect();
        assert_eq!(ids, (20..30).rev().collect::<Vec<_>>());
    }
}
