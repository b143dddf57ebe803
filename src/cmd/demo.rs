//! `odoo-sync demo`: the main job on the embedded default, against the simulator. Starts a
//! simulated Odoo with a generated dataset, registers a demo tenant, syncs it into a fresh
//! SQLite store with a progress bar per module, shows an incremental pass picking up live
//! changes, and prints the tenant's figures and the calls it took.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Args;
use serde_json::json;
use shared::config::Settings;
use shared::odoo::{ConnectionInfo, Credential};
use shared::store::sqlite::SqliteStore;
use shared::store::{BatchKind, SharedStore, TenantId};
use shared::sync::{EngineOptions, FollowUp, Step, SyncEngine};
use sim::{DatabaseSpec, Simulator, UserSpec};

use super::session::run_until_idle;
use super::summary::print_summary;

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
    /// Keep the SQLite store in this directory instead of a temporary one.
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
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
        "Simulated Odoo {}.0 at {} (database demo, login admin, {} generated records over {} days)",
        args.odoo_version,
        server.url(),
        args.records,
        args.days
    );

    let temp = tempfile::tempdir().context("creating a temporary directory")?;
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let store: SharedStore = Arc::new(SqliteStore::open_in_dir(&dir).await?);
    println!(
        "Embedded store: {}",
        dir.join("odoo-sync.sqlite3").display()
    );
    let mut options = EngineOptions::from_settings(&settings);
    options.client.call_delay = Duration::from_millis(args.delay_ms);
    let engine = SyncEngine::new(store.clone(), options)?;

    let credential = if args.odoo_version >= 14 {
        Credential::api_key(DEMO_API_KEY)?
    } else {
        Credential::password("admin")?
    };
    let info = ConnectionInfo::parse(&server.url(), "demo", "admin", credential)?;
    let tenant = TenantId::parse("demo-tenant")?;

    let started = Instant::now();
    match engine.prepare(&tenant, &info, None).await? {
        Step::Prepared { batches } => println!("Planned the initial sync: {batches} batches"),
        other => bail!("planning did not succeed: {other:?}"),
    }
    let state = store
        .tenant(&tenant)
        .await?
        .context("the tenant vanished")?;
    println!(
        "Odoo {} over {}; modules: {}",
        state.odoo_version.as_deref().unwrap_or("?"),
        state.protocol.as_deref().unwrap_or("?"),
        state
            .modules
            .iter()
            .map(|m| format!("{} ({})", m.module.display_name(), m.model))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let initial = run_until_idle(&engine, &tenant, &info, &[BatchKind::Initial], true).await?;
    let elapsed = started.elapsed();
    let calls = db.stats();
    println!(
        "Initial sync done in {:.2} s: {} records written in {} batches ({:.0} records/s), {} calls to Odoo.",
        elapsed.as_secs_f64(),
        initial.records_written,
        initial.batches_done,
        initial.records_written as f64 / elapsed.as_secs_f64().max(1e-9),
        calls.total
    );

    // Live changes in Odoo, then the incremental pass that brings them over.
    let partner = db.ids("res.partner")?.first().copied();
    if let Some(id) = partner {
        db.update("res.partner", id, json!({"city": "Lisbon"}))?;
    }
    for n in 0..3 {
        db.create(
            "sale.order",
            json!({"name": format!("S-DEMO-{n}"), "state": "sale", "amount_total": 100.0 * f64::from(n + 1),
                "currency_id": [1, "USD"]}),
        )?;
    }
    engine
        .schedule_follow_up(
            &tenant,
            FollowUp {
                force_incremental: true,
                force_reconcile: true,
                force_verify: false,
            },
        )
        .await?;
    let pass = run_until_idle(
        &engine,
        &tenant,
        &info,
        &[BatchKind::Incremental, BatchKind::Reconcile],
        false,
    )
    .await?;
    println!(
        "Incremental pass after live changes in Odoo: {} records written in {} batches.",
        pass.records_written, pass.batches_done
    );

    print_summary(&engine, &tenant, &initial).await?;
    let by_method: Vec<String> = db
        .stats()
        .methods
        .iter()
        .map(|(method, n)| format!("{method} {n}"))
        .collect();
    println!("Calls to Odoo by method: {}", by_method.join(", "));
    server.shutdown().await.context("stopping the simulator")?;
    if initial.batches_failed_for_good > 0 {
        bail!(
            "{} batches failed permanently",
            initial.batches_failed_for_good
        );
    }
    Ok(())
}
