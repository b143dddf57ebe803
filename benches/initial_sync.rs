//! Measures the initial sync of a realistic tenant: API calls (ours, split into planning
//! and fetching, beside the lower bound sum of ceil(N_module / PAGE_SIZE) and the reference
//! design's plan computed on the same data), records per second into SQLite and into
//! MongoDB, the wall time with the politeness delay of `API_CALL_DELAY_MS` 0 and 1,000, and
//! the sync process's peak memory. The simulator runs as its own `odoo-sync sim` process
//! without latency, so the figures are the engine's and the stores'.
//!
//! Run: `cargo bench --bench initial_sync` (needs a mongod: `scripts/install-test-deps.sh`
//! puts one in `.tools/`). Environment: BENCH_RECORDS (default 50000), BENCH_ODOO_VERSION
//! (default 17, XML-RPC; 19 uses JSON-2), BENCH_PAGE_SIZE (default PAGE_SIZE's 1000),
//! BENCH_POLITE (default 1: also a run at API_CALL_DELAY_MS 1000 into SQLite; 0 skips it).
//!
//! Beside each store's rate, its ceiling from the same run: the documents the engine stored,
//! written again into the same server plainly, `LIMIT_PER_CALL` per transaction
//! (`support/ceiling.rs`), and the engine's share of it.
//!
//! Last, the same `sale.order` records are synced twice into fresh SQLite stores: as the
//! built-in `sales` module and as a module declared in settings with the same fields, to show
//! that a declared module costs the same calls per record and runs at the same records/s.

#[path = "support/ceiling.rs"]
mod ceiling;

// The binary's allocator, so the figures are the shipped program's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use chrono::{TimeDelta, Utc};
use shared::config::Settings;
use shared::mirror::format_datetime;
use shared::modules::{DeclaredFields, DeclaredModule, Module};
use shared::odoo::{
    ClientSettings, ConnectionInfo, Context, Credential, Domain, OdooClient, Op, RetryPolicy,
};
use shared::store::mongo::MongoStore;
use shared::store::sqlite::SqliteStore;
use shared::store::{SharedStore, TenantId};
use shared::sync::{EngineOptions, Step, SyncEngine};

const KEY: &str = "bench-api-key-0123456789";

struct SimProcess {
    child: Child,
    url: String,
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_sim(records: usize, version: u32) -> anyhow::Result<SimProcess> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_odoo-sync"))
        .args([
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--db",
            &format!(
                "name=bench,version={version},login=admin,password=admin,api-key={KEY},records={records},days=90,seed=7,burst=2500"
            ),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting odoo-sync sim")?;
    let stdout = child.stdout.take().context("sim stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut url = None;
    for line in lines.by_ref() {
        let line = line?;
        if let Some(rest) = line.strip_prefix("listening url=") {
            url = Some(rest.split_whitespace().next().unwrap_or(rest).to_string());
            break;
        }
    }
    // Keep draining stdout so the simulator never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let url = url.context("the simulator did not print its address")?;
    Ok(SimProcess { child, url })
}

fn stats_total(url: &str) -> anyhow::Result<(u64, serde_json::Value)> {
    let body: serde_json::Value =
        reqwest::blocking::get(format!("{url}/__sim/stats/bench"))?.json()?;
    Ok((body["total"].as_u64().unwrap_or(0), body["methods"].clone()))
}

fn reset_stats(url: &str) -> anyhow::Result<()> {
    reqwest::blocking::Client::new()
        .delete(format!("{url}/__sim/stats/bench"))
        .send()?;
    Ok(())
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn options(settings: &Settings, call_delay: Duration) -> EngineOptions {
    let mut options = EngineOptions::from_settings(settings);
    options.modules = settings.modules.clone();
    options.client = ClientSettings {
        call_delay,
        retry: RetryPolicy::default(),
        page_size: settings.page_size,
        ..ClientSettings::default()
    };
    options
}

struct RunFigures {
    seconds: f64,
    /// Of `seconds`, the time prepare took (connect, detect, plan).
    planning_seconds: f64,
    records: u64,
    calls: u64,
    /// Calls made by prepare (version, login, apps, grouped counts, counts of full hours).
    planning_calls: u64,
    failed_attempts: u64,
    methods: serde_json::Value,
    per_module: Vec<(Module, u64)>,
}

async fn sync_into(
    store: SharedStore,
    sim: &SimProcess,
    info: &ConnectionInfo,
    settings: &Settings,
    call_delay: Duration,
) -> anyhow::Result<RunFigures> {
    let url = sim.url.clone();
    tokio::task::spawn_blocking(move || reset_stats(&url)).await??;
    let engine = SyncEngine::new(store.clone(), options(settings, call_delay))?;
    let tenant = TenantId::parse("bench")?;
    let started = Instant::now();
    match engine.prepare(&tenant, info, None).await? {
        Step::Prepared { .. } => {}
        other => bail!("prepare: {other:?}"),
    }
    let planning_seconds = started.elapsed().as_secs_f64();
    let url = sim.url.clone();
    let (planning_calls, _) = tokio::task::spawn_blocking(move || stats_total(&url)).await??;
    let mut records = 0;
    let mut failed_attempts = 0;
    loop {
        match engine.process_batches(&tenant, info, &|| true).await? {
            Step::BatchDone { written, .. } => records += written,
            Step::Idle => break,
            Step::BatchFailed { error, .. } => {
                failed_attempts += 1;
                eprintln!("batch failed (retried): {error}")
            }
            other => bail!("unexpected step {other:?}"),
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let url = sim.url.clone();
    let (calls, methods) = tokio::task::spawn_blocking(move || stats_total(&url)).await??;
    let mut per_module = Vec::new();
    for module in Module::defaults() {
        per_module.push((module, store.record_count(&tenant, module, false).await?));
    }
    Ok(RunFigures {
        seconds,
        planning_seconds,
        records,
        calls,
        planning_calls,
        failed_attempts,
        methods,
        per_module,
    })
}

/// The reference design's plan on the same data: 24-hour windows from the start of the
/// range, each halved by search_count until it holds at most LIMIT_PER_CALL (never below
/// MIN_WINDOW_MINUTES), then one count and one fetch per window — every count made while
/// halving, plus a count and a fetch (pages for an over-full minimum window) per final
/// window, empty ones included.
async fn reference_calls(client: &OdooClient, settings: &Settings) -> anyhow::Result<(u64, u64)> {
    let limit = u64::from(settings.limit_per_call);
    let end = Utc::now();
    let start = end - TimeDelta::days(i64::from(settings.initial_sync_range_days));
    let min = TimeDelta::from_std(settings.min_window)?;
    let mut counts = 0u64;
    let mut fetches = 0u64;
    for module in Module::defaults() {
        let mapping = module.mapping(client.version(), "", &[]);
        let context = if mapping.has_active {
            Context::with_archived()
        } else {
            Context::default()
        };
        let mut at = start;
        while at < end {
            let next = (at + TimeDelta::days(1)).min(end);
            let mut stack = vec![(at, next)];
            while let Some((s, e)) = stack.pop() {
                let domain: Domain = mapping
                    .domain
                    .clone()
                    .and("write_date", Op::Ge, format_datetime(s))
                    .and("write_date", Op::Lt, format_datetime(e));
                let count = client.search_count(mapping.model, &domain, context).await?;
                counts += 1;
                let half = TimeDelta::seconds((e - s).num_seconds() / 2);
                if count > limit && half >= min {
                    stack.push((s + half, e));
                    stack.push((s, s + half));
                } else {
                    // The final window: its own count (the one just made) and its fetch.
                    fetches += count.div_ceil(limit).max(1);
                }
            }
            at = next;
        }
    }
    Ok((counts, fetches))
}

fn main() -> anyhow::Result<()> {
    let records: usize = std::env::var("BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let version: u32 = std::env::var("BENCH_ODOO_VERSION")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(17);
    let mut settings = Settings::defaults();
    if let Some(page) = std::env::var("BENCH_PAGE_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        settings.page_size = page;
    }
    let polite = std::env::var("BENCH_POLITE").map_or(true, |v| v != "0");
    let runtime = tokio::runtime::Runtime::new()?;
    let sim = start_sim(records, version)?;
    println!("simulated Odoo {version}.0 at {} with {records} generated records over 90 days (+2,500 in one transaction)", sim.url);
    let credential = if version >= 19 {
        Credential::api_key(KEY)?
    } else {
        Credential::password("admin")?
    };
    let info = ConnectionInfo::parse(&sim.url, "bench", "admin", credential)?;

    runtime.block_on(async {
        let dir = tempfile::tempdir()?;
        let sqlite: SharedStore = Arc::new(SqliteStore::open(&dir.path().join("bench.sqlite3")).await?);
        let lite = sync_into(sqlite, &sim, &info, &settings, Duration::ZERO).await?;
        let rss_after_sqlite = peak_rss_mb();
        let per_txn = settings.limit_per_call as usize;
        let lite_ceiling = ceiling::sqlite(
            &dir.path().join("bench.sqlite3"),
            &dir.path().join("ceiling.sqlite3"),
            &Module::defaults(),
            per_txn,
        )
        .await?;

        let page = u64::from(settings.page_size.max(settings.limit_per_call));
        let lower_bound: u64 = lite.per_module.iter().map(|(_, n)| n.div_ceil(page)).sum();
        let total: u64 = lite.per_module.iter().map(|(_, n)| n).sum();
        let client = OdooClient::connect(info.clone(), &options(&settings, Duration::ZERO).client, None).await?;
        let (ref_counts, ref_fetches) = reference_calls(&client, &settings).await?;
        let reference = ref_counts + ref_fetches;

        let mongod = testkit::MongoServer::start().await?;
        let engine_db = "bench_engine";
        let mongo: SharedStore = Arc::new(
            MongoStore::connect(&mongod.uri().replacen("/?", &format!("/{engine_db}?"), 1)).await?,
        );
        let mongo_run = sync_into(mongo, &sim, &info, &settings, Duration::ZERO).await?;
        let rss_after_mongo = peak_rss_mb();
        let mongo_client = mongodb::Client::with_uri_str(mongod.uri()).await?;
        let mongo_ceiling = ceiling::mongo(
            &mongo_client,
            engine_db,
            "bench_ceiling",
            "bench",
            &Module::defaults(),
            per_txn,
        )
        .await?;
        let polite_run = if polite {
            let dir = tempfile::tempdir()?;
            let store: SharedStore = Arc::new(SqliteStore::open(&dir.path().join("polite.sqlite3")).await?);
            Some(sync_into(store, &sim, &info, &settings, Duration::from_millis(1000)).await?)
        } else {
            None
        };

        let fetch_calls = lite.calls - lite.planning_calls;
        println!();
        println!("records in the initial range: {total} ({})", lite.per_module.iter().map(|(m, n)| format!("{m} {n}")).collect::<Vec<_>>().join(", "));
        println!("PAGE_SIZE {}, LIMIT_PER_CALL {}", settings.page_size, settings.limit_per_call);
        println!("API calls, initial sync (ours):        {} = {} planning + {fetch_calls} fetching  {}", lite.calls, lite.planning_calls, lite.methods);
        println!("lower bound, sum of ceil(N_module / {page}): {lower_bound}");
        println!("goal 1.2 x lower bound + planning:      {:.0} (fetching calls / lower bound = {:.2})",
            1.2 * lower_bound as f64 + lite.planning_calls as f64, fetch_calls as f64 / lower_bound.max(1) as f64);
        println!("failed batch attempts: {} (SQLite run), {} (MongoDB run)", lite.failed_attempts, mongo_run.failed_attempts);
        println!("reference design's plan:               {reference} ({ref_counts} counts + {ref_fetches} fetches); half of it: {}", reference / 2);
        println!("into SQLite:  {} records in {:.2} s ({:.2} s planning) = {:.0} records/s (API_CALL_DELAY_MS 0); peak RSS of this process so far {:.0} MB",
            lite.records, lite.seconds, lite.planning_seconds, lite.records as f64 / lite.seconds, rss_after_sqlite);
        println!("  ceiling, the same {} rows inserted plainly ({per_txn} per transaction, the store's ON CONFLICT statement): {:.0} records/s; engine / ceiling = {:.2}",
            lite_ceiling.records, lite_ceiling.rate(), (lite.records as f64 / lite.seconds) / lite_ceiling.rate());
        println!("into MongoDB: {} records in {:.2} s ({:.2} s planning) = {:.0} records/s; {} calls; peak RSS of this process so far {:.0} MB",
            mongo_run.records, mongo_run.seconds, mongo_run.planning_seconds, mongo_run.records as f64 / mongo_run.seconds, mongo_run.calls, rss_after_mongo);
        println!("  ceiling, the same {} documents inserted plainly ({per_txn} per majority transaction): {:.0} records/s; engine / ceiling = {:.2}",
            mongo_ceiling.records, mongo_ceiling.rate(), (mongo_run.records as f64 / mongo_run.seconds) / mongo_ceiling.rate());
        // A declared module against the built-in one over the same records and fields.
        let fields: Vec<String> = Module::sales()
            .mapping(client.version(), "", &[])
            .fields
            .into_iter()
            .filter(|f| f != "write_date" && f != "create_date")
            .collect();
        let declared = Module::declare(
            DeclaredModule {
                model: Some("sale.order".into()),
                fields: Some(DeclaredFields::List(fields)),
                ..DeclaredModule::default()
            }
            .to_spec("orders_declared")?,
        )?;
        let one_module = |module: Module| {
            let mut settings = settings.clone();
            settings.modules = vec![module];
            settings
        };
        let dir = tempfile::tempdir()?;
        let store: SharedStore = Arc::new(SqliteStore::open(&dir.path().join("builtin.sqlite3")).await?);
        let builtin = sync_into(store, &sim, &info, &one_module(Module::sales()), Duration::ZERO).await?;
        let store: SharedStore = Arc::new(SqliteStore::open(&dir.path().join("declared.sqlite3")).await?);
        let declared_run = sync_into(store, &sim, &info, &one_module(declared), Duration::ZERO).await?;
        for (name, run) in [("built-in sales", &builtin), ("declared orders", &declared_run)] {
            println!("{name:16} into SQLite: {} records, {} calls ({:.4} calls/record), {:.2} s = {:.0} records/s",
                run.records, run.calls, run.calls as f64 / run.records.max(1) as f64, run.seconds, run.records as f64 / run.seconds);
        }
        if let Some(run) = polite_run {
            println!("into SQLite at API_CALL_DELAY_MS 1000: {} records in {:.1} s, {} calls (the delay's floor: {} s)",
                run.records, run.seconds, run.calls, run.calls.saturating_sub(1));
        }
        anyhow::Ok(())
    })
}
