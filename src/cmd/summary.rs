//! The summary `sync` and `demo` print at the end: per module its records, archived and
//! deleted ones and groups, then the money per currency (sales totals; open and overdue
//! receivables and payables), then what the run did.

use std::fmt::Write as _;

use chrono::Utc;
use shared::figures::{tenant_figures, Balance, InvoiceMoney};
use shared::money::{rounded, PerCurrency};
use shared::store::TenantId;
use shared::sync::SyncEngine;

use anyhow::Context as _;

use super::session::SessionReport;

/// `USD 1234.50, GBP 12.00`: each amount rounded to its currency.
fn per_currency(sums: &PerCurrency) -> String {
    let parts: Vec<String> = sums
        .iter()
        .map(|(code, amount)| {
            let digits = shared::money::minor_digits(code) as usize;
            format!("{code} {:.digits$}", rounded(code, amount))
        })
        .collect();
    parts.join(", ")
}

/// One line per side and currency: `receivable USD: open 101373.00 (3 invoices, 1 credit
/// notes), overdue 5000.00`.
fn balance_lines(
    out: &mut String,
    side: &str,
    balances: &std::collections::BTreeMap<String, Balance>,
) {
    for (code, balance) in balances {
        let digits = shared::money::minor_digits(code) as usize;
        let open = rounded(code, balance.open.net());
        let overdue = rounded(code, balance.overdue.net());
        let _ = writeln!(
            out,
            "  {side} {code}: open {open:.digits$} ({} invoices, {} refunds, {} receipts), overdue {overdue:.digits$}",
            balance.open.invoices.count, balance.open.refunds.count, balance.open.receipts.count,
        );
    }
}

fn invoice_lines(money: &InvoiceMoney) -> String {
    let mut out = String::new();
    balance_lines(&mut out, "receivable", &money.receivables);
    balance_lines(&mut out, "payable", &money.payables);
    out
}

/// The tenant's figures and what this run did.
pub async fn print_summary(
    engine: &SyncEngine,
    tenant: &TenantId,
    report: &SessionReport,
) -> anyhow::Result<()> {
    let store = engine.store();
    let progress = engine.progress(tenant).await?;
    let figures = tenant_figures(store, tenant, Utc::now().date_naive())
        .await
        .context("reading the tenant's figures")?;
    println!();
    println!(
        "{:<14} {:>8} {:>9} {:>8}  by state / kind",
        "module", "records", "archived", "deleted"
    );
    for (module, f) in &figures {
        let groups: Vec<String> = f.by_group.iter().map(|(g, n)| format!("{g} {n}")).collect();
        println!(
            "{:<14} {:>8} {:>9} {:>8}  {}",
            module.display_name(),
            f.records,
            f.archived,
            f.deleted,
            groups.join(", ")
        );
        if !f.sales_totals.is_empty() {
            println!("  orders not cancelled: {}", per_currency(&f.sales_totals));
        }
        print!("{}", invoice_lines(&f.invoices));
    }
    println!(
        "\nThis run: {} batches done, {} failed for good, {} records written. Initial sync: {}/{} batches, {} failed ({}%).",
        report.batches_done,
        report.batches_failed_for_good,
        report.records_written,
        progress.completed_batches,
        progress.total_batches,
        progress.failed_batches,
        progress.progress_percentage
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::money::decimal;

    #[test]
    fn amounts_print_with_their_currency_decimals() {
        let mut sums = PerCurrency::default();
        sums.add("JPY", decimal(1234.4));
        sums.add("KWD", decimal(1.5));
        sums.add("USD", decimal(0.1));
        sums.add("USD", decimal(0.2));
        assert_eq!(per_currency(&sums), "JPY 1234, KWD 1.500, USD 0.30");
    }
}
