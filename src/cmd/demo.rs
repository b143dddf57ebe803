//! `odoo-sync demo`: starts the Odoo simulator with a generated dataset and reads it the way
//! the engine does (protocol detection, authentication, installed apps, version-aware
//! models, id-keyset pages checked against Odoo's own counts), with a progress bar per module.
//! Once the engine lands (issue 3) the same command will run a full sync into the embedded
//! store.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use shared::config::Settings;
use shared::modules::{EmployeeAccess, Module};
use shared::odoo::{
    ConnectionInfo, Context, Credential, Granularity, OdooClient, Op, SearchOptions,
};
use sim::{DatabaseSpec, Simulator, UserSpec};

const DEMO_API_KEY: &str = "demo-api-key-0123456789";

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Records to generate across the four models.
    #[arg(long, default_value_t = 20_000)]
    records: usize,
    /// Odoo version the simulator plays (12 to 19; JSON-2 from 19).
    #[arg(long = "odoo-version", default_value_t = 19, value_parser = clap::value_parser!(u32).range(12..=19))]
    odoo_version: u32,
    /// Days of history the generated write dates spread over.
    #[arg(long, default_value_t = 90)]
    days: u32,
    /// Seed of the generated dataset.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Pause between two calls to the simulated Odoo, in ms (a real Odoo wants about 1000).
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
}

/// What reading one module found.
struct ModuleReport {
    module: Module,
    model: &'static str,
    records: usize,
    busy_days: usize,
    elapsed: Duration,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let settings = Settings::load(None)?;
    let simulator = Simulator::new();
    let mut spec = DatabaseSpec::new("demo", args.odoo_version);
    spec.users = vec![UserSpec::admin().with_api_key(DEMO_API_KEY)];
    spec.data.records = args.records;
    spec.data.days = args.days;
    spec.data.seed = args.seed;
    let db = simulator
        .add_database(spec)
        .context("building the simulated database")?;
    let server = simulator
        .serve("127.0.0.1:0")
        .await
        .context("starting the simulator")?;
    println!(
        "Simulated Odoo {}.0 at {} (database demo, login admin, {} records over {} days)",
        args.odoo_version,
        server.url(),
        args.records,
        args.days
    );

    let credential = if args.odoo_version >= 14 {
        Credential::api_key(DEMO_API_KEY)?
    } else {
        Credential::password("admin")?
    };
    let info = ConnectionInfo::parse(&server.url(), "demo", "admin", credential)?;
    let mut client_settings = settings.client_settings();
    client_settings.call_delay = Duration::from_millis(args.delay_ms);
    let client = OdooClient::connect(info, &client_settings, None).await?;
    println!(
        "Connected: Odoo {} over {}, uid {}",
        client.version(),
        client.protocol(),
        client.uid()
    );

    let apps = client
        .installed_apps(&Module::ALL.map(Module::app_probe))
        .await?;
    let employee_access = if client.can_read("hr.employee").await.unwrap_or(false) {
        EmployeeAccess::Full
    } else {
        EmployeeAccess::PublicOnly
    };
    let modules: Vec<Module> = Module::ALL
        .into_iter()
        .filter(|m| apps.contains(m.app()))
        .collect();
    println!(
        "Installed apps: {}",
        apps.iter().cloned().collect::<Vec<_>>().join(", ")
    );

    let since = (Utc::now() - chrono::Duration::days(i64::from(args.days) + 1))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let bars = MultiProgress::new();
    let style = ProgressStyle::with_template(
        "{prefix:>14} [{bar:40.cyan/blue}] {pos:>6}/{len:6} {per_sec:>12} {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    let started = Instant::now();
    let mut reports = Vec::new();
    for module in modules {
        let mapping = module.mapping(client.version(), employee_access);
        let context = if mapping.has_active {
            Context::with_archived()
        } else {
            Context::default()
        };
        let domain = mapping
            .domain
            .clone()
            .and("write_date", Op::Ge, since.as_str());
        let module_started = Instant::now();
        // One call tells how the records spread over days: what the planner sizes windows on.
        let days = client
            .count_by_period(
                mapping.model,
                &domain,
                "write_date",
                Granularity::Day,
                context,
            )
            .await?;
        let expected: u64 = days.iter().map(|d| d.count).sum();
        let bar = bars.add(ProgressBar::new(expected));
        bar.set_style(style.clone());
        bar.set_prefix(module.display_name());
        let mut ids = BTreeSet::new();
        let mut last_id = 0i64;
        loop {
            let page = client
                .search_read(
                    mapping.model,
                    &domain.clone().and("id", Op::Gt, last_id),
                    &SearchOptions {
                        fields: &mapping.fields,
                        order: Some("id asc"),
                        limit: Some(settings.limit_per_call),
                        context,
                    },
                )
                .await?;
            for record in &page {
                if let Some(id) = record.get("id").and_then(serde_json::Value::as_i64) {
                    ids.insert(id);
                    last_id = last_id.max(id);
                }
            }
            bar.inc(page.len() as u64);
            if page.len() < settings.limit_per_call as usize {
                break;
            }
        }
        let counted = client.search_count(mapping.model, &domain, context).await?;
        if ids.len() as u64 != counted {
            bar.abandon_with_message("MISMATCH");
            anyhow::bail!(
                "{}: read {} distinct records but Odoo counts {counted}",
                module.display_name(),
                ids.len()
            );
        }
        bar.finish_with_message(format!("{} via {}", mapping.model, client.protocol()));
        reports.push(ModuleReport {
            module,
            model: mapping.model,
            records: ids.len(),
            busy_days: days.len(),
            elapsed: module_started.elapsed(),
        });
    }
    let elapsed = started.elapsed();
    drop(bars);

    println!();
    println!(
        "{:<14} {:<20} {:>8} {:>10} {:>9}",
        "module", "model", "records", "busy days", "seconds"
    );
    let mut total = 0;
    for r in &reports {
        total += r.records;
        println!(
            "{:<14} {:<20} {:>8} {:>10} {:>9.2}",
            r.module.display_name(),
            r.model,
            r.records,
            r.busy_days,
            r.elapsed.as_secs_f64()
        );
    }
    let stats = db.stats();
    println!(
        "\nRead {total} records in {:.2} s ({:.0} records/s) with {} calls to Odoo; every module's \
         distinct ids matched Odoo's search_count.",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64().max(1e-9),
        stats.total
    );
    let by_method: Vec<String> = stats
        .methods
        .iter()
        .map(|(method, n)| format!("{method} {n}"))
        .collect();
    println!("Calls by method: {}", by_method.join(", "));
    println!("(The sync engine that stores these into the embedded store is issue 3.)");
    server.shutdown().await.context("stopping the simulator")?;
    Ok(())
}
