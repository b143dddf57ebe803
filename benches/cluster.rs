//! Measures the distributed roles (issue 4, part 6) with real processes: the time until every
//! tenant is done with 1 and with 2 `odoo-sync worker` processes (plus one scheduler), against
//! the lower bound (the slowest tenant's Odoo calls times the simulator's latency, tenants in
//! parallel); the peak memory (VmHWM) of each worker process; and the scheduler's tick time
//! (`odoo-sync scheduler --once`) with many tenants in MongoDB.
//!
//! Run: `cargo bench --bench cluster` (needs mongod and redis-server as for the tests:
//! `MONGOD_BIN=.tools/mongodb/bin/mongod`). Environment, with defaults: BENCH_TENANTS 200,
//! BENCH_RECORDS 2000, BENCH_LATENCY_MS 50, BENCH_WORKERS "1,2", BENCH_CONCURRENCY 64
//! (WORKER_CONCURRENCY of each worker), BENCH_TIMEOUT_SECONDS 600, BENCH_TICK_TENANTS 100000
//! (0 skips the tick measurement); TESTKIT_MONGOD_CACHE_GB 1 (mongod's WiredTiger cache);
//! BENCH_MAX_WINDOW_HOURS 24 (MAX_WINDOW_HOURS of the roles: fewer, larger batches when
//! raised); BENCH_STEP_SECONDS 10 (WORKER_STEP_SECONDS of the workers: 0 runs one fetch
//! group per job); BENCH_LOG_DIR keeps each role's log (level from RUST_LOG).

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;
use futures::StreamExt;
use shared::config::EncryptionKey;
use shared::crypto::{stored_connection, Keyring};
use shared::odoo::{ConnectionInfo, Credential};
use shared::store::mongo::MongoStore;
use shared::store::{SharedStore, SyncStatus, TenantId};
use sim::{DatabaseSpec, Db, FaultKind, FaultRule, SimServer, Simulator, Trigger};
use testkit::{MongoServer, RedisServer};

const KEY_B64: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
const BIN: &str = env!("CARGO_BIN_EXE_odoo-sync");

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// A spawned role, killed when dropped.
struct Role(Child);

impl Drop for Role {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// CPU time (user + system) a live process has used so far, in seconds (Linux `/proc`).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // USER_HZ is 100 on every Linux this runs on.
    Some(ticks / 100.0)
}

/// Peak resident memory of a live process, in MB (Linux `VmHWM`).
fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn spawn(role: &[&str], env: &[(&str, String)]) -> anyhow::Result<Role> {
    let mut cmd = Command::new(BIN);
    // BENCH_LOG_DIR keeps each role's log (RUST_LOG, default warn) for a run worth a look.
    let stderr = match std::env::var("BENCH_LOG_DIR") {
        Ok(dir) => {
            let path = format!("{dir}/{}-{}.log", role.join("-"), std::process::id());
            let name = (0..)
                .map(|i| format!("{path}.{i}"))
                .find(|p| !std::path::Path::new(p).exists())
                .unwrap_or(path);
            Stdio::from(std::fs::File::create(&name).context("creating a role log")?)
        }
        Err(_) => Stdio::null(),
    };
    cmd.args(role)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Ok(Role(cmd.spawn().context("spawning odoo-sync")?))
}

fn uri(mongo: &MongoServer, db: &str) -> String {
    mongo.uri().replacen("/?", &format!("/{db}?"), 1)
}

fn role_env(mongo_uri: String, redis_url: String) -> Vec<(&'static str, String)> {
    vec![
        ("MONGO_URI", mongo_uri),
        ("REDIS_URL", redis_url),
        ("ENCRYPTION_KEY", KEY_B64.into()),
        ("ALLOWED_PRIVATE_HOSTS", "127.0.0.1:*,localhost:*".into()),
        ("API_CALL_DELAY_MS", "0".into()),
        ("INITIAL_SYNC_RANGE_DAYS", "0".into()),
        ("CRON_SCHEDULE", "*/1 * * * * *".into()),
        // Tenants one worker runs at once; the lower bound assumes all of them in flight.
        (
            "WORKER_CONCURRENCY",
            env_number("BENCH_CONCURRENCY", 64).to_string(),
        ),
        ("QUEUE_POLL_MS", "100".into()),
        // Batches are windows of at most this many hours (DESIGN's default 24).
        (
            "MAX_WINDOW_HOURS",
            env_number("BENCH_MAX_WINDOW_HOURS", 24).to_string(),
        ),
        // How long a job keeps taking a tenant's groups (0: one group per job).
        (
            "WORKER_STEP_SECONDS",
            env_number("BENCH_STEP_SECONDS", 10).to_string(),
        ),
    ]
}

async fn save_all(store: &SharedStore, server: &SimServer, dbs: &[String]) -> Vec<TenantId> {
    let keyring = Keyring::new(&EncryptionKey::parse(KEY_B64).expect("static key"));
    let tenants: Vec<TenantId> = (0..dbs.len())
        .map(|i| TenantId::parse(&format!("tenant-{i:06}")).expect("valid id"))
        .collect();
    futures::stream::iter(tenants.iter().zip(dbs))
        .for_each_concurrent(64, |(tenant, db)| {
            let keyring = &keyring;
            async move {
                let info = ConnectionInfo::parse(
                    &server.db_url(db),
                    db,
                    "admin",
                    Credential::password("admin").expect("password"),
                )
                .expect("connection");
                let stored = stored_connection(&info, keyring, Utc::now()).expect("sealed");
                store
                    .save_connection(tenant, &stored, Utc::now())
                    .await
                    .expect("saved");
            }
        })
        .await;
    tenants
}

/// Tenants done, read a page at a time (cheap enough to poll without loading the server).
async fn done_count(store: &SharedStore, tenants: &[TenantId]) -> usize {
    let wanted: std::collections::HashSet<&TenantId> = tenants.iter().collect();
    let mut done = 0;
    let mut after: Option<TenantId> = None;
    loop {
        let Ok(page) = store.list_tenants(after.as_ref(), 1000).await else {
            return done;
        };
        done += page
            .iter()
            .filter(|t| t.sync_status == SyncStatus::Done && wanted.contains(&t.user_id))
            .count();
        match page.last() {
            Some(last) if page.len() == 1000 => after = Some(last.user_id.clone()),
            _ => return done,
        }
    }
}

/// One run: a fresh MongoDB database and Redis, `workers` worker processes and a scheduler.
async fn run_sync(
    mongo: &MongoServer,
    server: &SimServer,
    dbs: &[Db],
    workers: usize,
) -> anyhow::Result<()> {
    let redis = RedisServer::start().await?;
    let mongo_uri = uri(mongo, &format!("bench_cluster_w{workers}"));
    let store: SharedStore = Arc::new(MongoStore::connect(&mongo_uri).await?);
    let names: Vec<String> = dbs.iter().map(|d| d.name().to_string()).collect();
    let tenants = save_all(&store, server, &names).await;
    for db in dbs {
        db.reset_stats();
    }
    let env = role_env(mongo_uri, redis.url());
    let mongod_cpu = mongo.pid().and_then(cpu_seconds).unwrap_or(0.0);
    let own_cpu = cpu_seconds(std::process::id()).unwrap_or(0.0);
    let started = Instant::now();
    let scheduler = spawn(&["scheduler"], &env)?;
    let roles: Vec<Role> = (0..workers)
        .map(|_| spawn(&["worker"], &env))
        .collect::<anyhow::Result<_>>()?;
    let mut peaks = vec![0f64; workers];
    let mut worker_cpu = vec![0f64; workers];
    loop {
        for ((peak, cpu), role) in peaks.iter_mut().zip(&mut worker_cpu).zip(&roles) {
            if let Some(mb) = peak_rss_mb(role.0.id()) {
                *peak = peak.max(mb);
            }
            if let Some(seconds) = cpu_seconds(role.0.id()) {
                *cpu = seconds;
            }
        }
        if done_count(&store, &tenants).await == tenants.len() {
            break;
        }
        let limit = Duration::from_secs(env_number("BENCH_TIMEOUT_SECONDS", 600));
        if started.elapsed() > limit {
            let done = done_count(&store, &tenants).await;
            anyhow::bail!(
                "workers {workers}: only {done} of {} tenants done after {limit:?}",
                tenants.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let elapsed = started.elapsed();
    let cpu = CpuUse {
        workers: worker_cpu.iter().sum(),
        scheduler: cpu_seconds(scheduler.0.id()).unwrap_or(0.0),
        mongod: mongo.pid().and_then(cpu_seconds).unwrap_or(0.0) - mongod_cpu,
        // The bench process is the simulator (and this loop's polling).
        simulator: cpu_seconds(std::process::id()).unwrap_or(0.0) - own_cpu,
    };
    let latency = Duration::from_millis(env_number("BENCH_LATENCY_MS", 50));
    let calls: Vec<u64> = dbs.iter().map(|d| d.stats().total).collect();
    let max_calls = calls.iter().copied().max().unwrap_or(0);
    let mean_calls = calls.iter().sum::<u64>() as f64 / calls.len().max(1) as f64;
    let bound = latency * max_calls as u32;
    println!(
        "workers {workers}: {} tenants done in {:.1} s; lower bound {:.1} s (slowest tenant {max_calls} calls x {latency:?}; mean {mean_calls:.1} calls) = {:.2} x bound; worker peak RSS {}",
        tenants.len(),
        elapsed.as_secs_f64(),
        bound.as_secs_f64(),
        elapsed.as_secs_f64() / bound.as_secs_f64().max(1e-9),
        peaks
            .iter()
            .map(|p| format!("{p:.0} MB"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  CPU seconds: workers {:.1}, mongod {:.1}, simulator {:.1}, scheduler {:.1}; total {:.1} on {} cores = at least {:.1} s of wall time",
        cpu.workers,
        cpu.mongod,
        cpu.simulator,
        cpu.scheduler,
        cpu.total(),
        cores(),
        cpu.total() / cores() as f64
    );
    Ok(())
}

/// CPU seconds each part used during a run: on a small machine the run is bound by the sum
/// of them as much as by Odoo's latency.
struct CpuUse {
    workers: f64,
    scheduler: f64,
    mongod: f64,
    simulator: f64,
}

impl CpuUse {
    fn total(&self) -> f64 {
        self.workers + self.scheduler + self.mongod + self.simulator
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `count` tenants in a fresh database (none synced yet: every one due), then two
/// `odoo-sync scheduler --once` ticks, their own reported times printed.
async fn tick_time(mongo: &MongoServer, server: &SimServer, count: usize) -> anyhow::Result<()> {
    let redis = RedisServer::start().await?;
    let mongo_uri = uri(mongo, "bench_cluster_tick");
    let store: SharedStore = Arc::new(MongoStore::connect(&mongo_uri).await?);
    let saving = Instant::now();
    let names = vec!["db000".to_string(); count];
    save_all(&store, server, &names).await;
    println!(
        "tick: saved {count} tenants in {:.1} s",
        saving.elapsed().as_secs_f64()
    );
    let env = role_env(mongo_uri, redis.url());
    for round in 1..=2 {
        let started = Instant::now();
        let out = Command::new(BIN)
            .args(["scheduler", "--once"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .context("scheduler --once")?;
        anyhow::ensure!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        println!(
            "tick {round} with {count} tenants: process {:.2} s, report {}",
            started.elapsed().as_secs_f64(),
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let tenants = env_number("BENCH_TENANTS", 200) as usize;
    let records = env_number("BENCH_RECORDS", 2000) as usize;
    let latency = Duration::from_millis(env_number("BENCH_LATENCY_MS", 50));
    let tick_tenants = env_number("BENCH_TICK_TENANTS", 100_000) as usize;
    let workers: Vec<usize> = std::env::var("BENCH_WORKERS")
        .unwrap_or_else(|_| "1,2".into())
        .split(',')
        .filter_map(|w| w.trim().parse().ok())
        .collect();

    // Tests keep each mongod's cache at 0.25 GB; a benchmark measures a server sized like a
    // real one.
    if std::env::var_os("TESTKIT_MONGOD_CACHE_GB").is_none() {
        std::env::set_var("TESTKIT_MONGOD_CACHE_GB", "1");
    }
    let mongo = MongoServer::start().await?;
    let sim = Simulator::new();
    let mut dbs = Vec::new();
    for i in 0..tenants.max(1) {
        let mut spec = DatabaseSpec::new(&format!("db{i:03}"), 17);
        spec.data.records = records;
        spec.data.days = 90;
        spec.data.seed = i as u64 + 1;
        dbs.push(sim.add_database(spec)?);
    }
    if !latency.is_zero() {
        sim.add_server_fault(FaultRule::new(FaultKind::Latency(latency), Trigger::Always));
    }
    let server = sim.serve("127.0.0.1:0").await?;
    println!(
        "cluster bench: {tenants} tenants x {records} records, latency {latency:?}, politeness 0"
    );
    for &n in &workers {
        run_sync(&mongo, &server, &dbs[..tenants], n).await?;
    }
    if tick_tenants > 0 {
        tick_time(&mongo, &server, tick_tenants).await?;
    }
    Ok(())
}
