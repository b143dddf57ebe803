//! The distributed roles as real processes (issue 4): `odoo-sync worker` and
//! `odoo-sync scheduler` (and `odoo-sync standalone`) spawned from the built binary, a real
//! mongod and redis-server from testkit, the simulator as every tenant's Odoo. Each scenario
//! ends with every tenant done, the mirror equal to the simulator's data, no duplicate, and no
//! two batches of one tenant overlapping in time. Scenarios are kept small (CI runs the whole
//! suite on 2 cores): kill -9, SIGSTOP past the lease, SIGTERM, Redis and mongod restarts,
//! standalone mode, and 20,000 tenants due at once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use serde_json::{json, Value};
use shared::config::EncryptionKey;
use shared::crypto::{stored_connection, Keyring};
use shared::modules::Module;
use shared::odoo::{ConnectionInfo, Credential, ServerVersion};
use shared::store::mongo::MongoStore;
use shared::store::sqlite::SqliteStore;
use shared::store::{BatchStatus, SharedStore, SyncStatus, TenantId};
use sim::{DatabaseSpec, Db, FaultKind, FaultRule, SimServer, Simulator, Trigger};
use testkit::{MongoServer, RedisServer};

const KEY_B64: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
const BIN: &str = env!("CARGO_BIN_EXE_odoo-sync");
/// The queue's Redis keys (worker::QUEUE_NAME, apalis-redis layout).
const QUEUE_SCHEDULED: &str = "odoo-sync:jobs:scheduled";
const QUEUE_ACTIVE: &str = "odoo-sync:jobs:active";

/// The simulator and the tenants whose connections point at it, saved in `store`.
struct Fleet {
    _sim: Simulator,
    _server: SimServer,
    store: SharedStore,
    tenants: Vec<(TenantId, Db)>,
}

impl Fleet {
    /// `tenants` sim databases of `records` records each, their connections saved.
    async fn create(
        store: SharedStore,
        tenants: usize,
        records: usize,
        latency: Duration,
    ) -> Fleet {
        let sim = Simulator::new();
        let mut dbs = Vec::new();
        for i in 0..tenants {
            let mut spec = DatabaseSpec::new(&format!("db{i:05}"), 17);
            spec.data.records = records;
            // The simulator stamps Odoo's base records at the start of its data range; with
            // the default 90 days they would sit just before the engine's 90-day initial range
            // (planned a moment later) and, correctly, not be mirrored.
            spec.data.days = 30;
            spec.data.seed = i as u64 + 1;
            dbs.push(sim.add_database(spec).expect("database"));
        }
        if !latency.is_zero() {
            sim.add_server_fault(FaultRule::new(FaultKind::Latency(latency), Trigger::Always));
        }
        let server = sim.serve("127.0.0.1:0").await.expect("serve");
        let mut list = Vec::new();
        for (i, db) in dbs.into_iter().enumerate() {
            let tenant = TenantId::parse(&format!("tenant-{i:05}")).expect("id");
            save_connection(&store, &tenant, &server, db.name()).await;
            list.push((tenant, db));
        }
        Fleet {
            _sim: sim,
            _server: server,
            store,
            tenants: list,
        }
    }

    /// Calls the simulator has served to every tenant so far.
    fn calls_served(&self) -> u64 {
        self.tenants.iter().map(|(_, db)| db.stats().total).sum()
    }

    /// Waits until the sync is under way (the simulator served `calls` calls), so a restart
    /// lands mid-run however fast the machine is.
    async fn wait_for_calls(&self, calls: u64) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.calls_served() < calls {
            assert!(
                Instant::now() < deadline,
                "the sync did not start within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn done_count(&self) -> usize {
        let mut done = 0;
        for (tenant, _) in &self.tenants {
            if let Ok(Some(state)) = self.store.tenant(tenant).await {
                if state.sync_status == SyncStatus::Done {
                    done += 1;
                }
            }
        }
        done
    }

    async fn wait_all_done(&self, limit: Duration, logs: &Path) {
        let started = Instant::now();
        loop {
            let done = self.done_count().await;
            if done == self.tenants.len() {
                return;
            }
            if started.elapsed() > limit {
                dump_logs(logs);
                panic!(
                    "only {done} of {} tenants done after {limit:?}",
                    self.tenants.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// How long after `since` (a server back up) every tenant not done had a batch started
    /// (or was done), polled every 100 ms; past `limit`, the tenants still waiting.
    async fn measure_recovery(
        &self,
        since: chrono::DateTime<Utc>,
        limit: Duration,
    ) -> Result<Duration, String> {
        let started = Instant::now();
        let mut waiting: Vec<&TenantId> = self.tenants.iter().map(|(t, _)| t).collect();
        while !waiting.is_empty() {
            let mut still = Vec::new();
            for tenant in waiting {
                let done = matches!(
                    self.store.tenant(tenant).await,
                    Ok(Some(state)) if state.sync_status == SyncStatus::Done
                );
                let moved = self
                    .store
                    .batches(tenant)
                    .await
                    .unwrap_or_default()
                    .iter()
                    .any(|b| b.started_at.is_some_and(|at| at > since));
                if !done && !moved {
                    still.push(tenant);
                }
            }
            waiting = still;
            if started.elapsed() > limit {
                return Err(format!(
                    "{} tenants had no batch started {limit:?} after the restart: {waiting:?}",
                    waiting.len()
                ));
            }
            if !waiting.is_empty() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(started.elapsed())
    }

    /// Every tenant done with an exact mirror, no duplicate, no overlapping batches.
    async fn assert_exact(&self) {
        for (tenant, db) in &self.tenants {
            let state = self
                .store
                .tenant(tenant)
                .await
                .expect("state")
                .expect("tenant");
            assert_eq!(state.sync_status, SyncStatus::Done, "{tenant}");
            assert_mirror_matches(&self.store, tenant, db).await;
            assert_batches_never_overlap(&self.store, tenant).await;
        }
    }
}

/// Saves `tenant`'s connection to database `db` of the simulator, sealed with the test key.
async fn save_connection(store: &SharedStore, tenant: &TenantId, server: &SimServer, db: &str) {
    let keyring = Keyring::new(&EncryptionKey::parse(KEY_B64).expect("key"));
    let info = ConnectionInfo::parse(
        &server.db_url(db),
        db,
        "admin",
        Credential::password("admin").expect("password"),
    )
    .expect("connection");
    let stored = stored_connection(&info, &keyring, Utc::now()).expect("sealed");
    store
        .save_connection(tenant, &stored, Utc::now())
        .await
        .expect("saved");
}

/// The settings every spawned role gets (small batches, fast ticks, short leases).
fn base_env() -> Vec<(&'static str, String)> {
    vec![
        ("ENCRYPTION_KEY", KEY_B64.into()),
        ("ALLOWED_PRIVATE_HOSTS", "127.0.0.1:*,localhost:*".into()),
        ("API_CALL_DELAY_MS", "0".into()),
        ("INITIAL_SYNC_RANGE_DAYS", "0".into()),
        ("LIMIT_PER_CALL", "10".into()),
        ("MAX_WINDOW_HOURS", "2400".into()),
        ("MIN_WINDOW_MINUTES", "60".into()),
        ("CRON_SCHEDULE", "*/1 * * * * *".into()),
        ("WORKER_CONCURRENCY", "16".into()),
        ("LEASE_TTL_SECONDS", "4".into()),
        ("WORKER_SHUTDOWN_GRACE_SECONDS", "10".into()),
        ("QUEUE_HEARTBEAT_SECONDS", "1".into()),
        ("QUEUE_MISSED_HEARTBEATS", "3".into()),
        ("QUEUE_POLL_MS", "100".into()),
        ("ENQUEUE_STALE_SECONDS", "8".into()),
        ("ODOO_REQUEST_TIMEOUT_SECONDS", "10".into()),
        (
            "RUST_LOG",
            "warn,worker=info,scheduler=info,odoo_sync=info".into(),
        ),
    ]
}

/// Spawns `odoo-sync ROLE` with exactly `env` (later entries win), stderr to `logs/log`.
fn spawn_role(role: &str, env: &[(&str, String)], logs: &Path, log: &str) -> Child {
    let file = std::fs::File::create(logs.join(log)).expect("log file");
    let mut cmd = Command::new(BIN);
    cmd.arg(role)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(file);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn odoo-sync")
}

/// Sends `signal` (a `kill -NAME`) to process `pid`.
fn signal_pid(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Waits for `child` to exit, at most `limit`.
async fn wait_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

fn dump_logs(logs: &Path) {
    if let Ok(entries) = std::fs::read_dir(logs) {
        for entry in entries.flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(30).collect();
            eprintln!("==== {:?} (last lines)", entry.file_name());
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// A child process killed (SIGKILL) when dropped, so a failing test leaves nothing behind.
struct Guard(Option<Child>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

struct Cluster {
    mongo: MongoServer,
    redis: RedisServer,
    fleet: Fleet,
    workers: Vec<Option<Child>>,
    scheduler: Option<Child>,
    logs: tempfile::TempDir,
    /// Settings that replace [`base_env`]'s for this scenario.
    overrides: Vec<(&'static str, String)>,
}

impl Cluster {
    /// mongod, redis-server and `tenants` sim databases of `records` records each.
    async fn start(tenants: usize, records: usize, latency: Duration) -> Cluster {
        let (mongo, redis, store) = Cluster::servers().await;
        let fleet = Fleet::create(store, tenants, records, latency).await;
        Cluster::with(mongo, redis, fleet)
    }

    async fn servers() -> (MongoServer, RedisServer, SharedStore) {
        let mongo = MongoServer::start().await.expect("mongod");
        let redis = RedisServer::start().await.expect("redis-server");
        let store: SharedStore = Arc::new(
            MongoStore::connect(&mongo_uri(&mongo))
                .await
                .expect("store"),
        );
        (mongo, redis, store)
    }

    fn with(mongo: MongoServer, redis: RedisServer, fleet: Fleet) -> Cluster {
        Cluster {
            mongo,
            redis,
            fleet,
            workers: Vec::new(),
            scheduler: None,
            logs: tempfile::tempdir().expect("logs"),
            overrides: Vec::new(),
        }
    }

    fn set(&mut self, name: &'static str, value: &str) {
        self.overrides.push((name, value.to_string()));
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("MONGO_URI", mongo_uri(&self.mongo)),
            ("REDIS_URL", self.redis.url()),
        ];
        env.extend(base_env());
        env.extend(self.overrides.iter().cloned());
        env
    }

    fn spawn(&self, role: &str, log: &str) -> Child {
        spawn_role(role, &self.env(), self.logs.path(), log)
    }

    fn spawn_worker(&mut self) -> usize {
        let index = self.workers.len();
        let child = self.spawn("worker", &format!("worker-{index}.log"));
        self.workers.push(Some(child));
        index
    }

    fn respawn_worker(&mut self, index: usize) {
        let child = self.spawn(
            "worker",
            &format!("worker-{index}-again-{}.log", Utc::now().timestamp_millis()),
        );
        self.workers[index] = Some(child);
    }

    fn spawn_scheduler(&mut self) {
        self.scheduler = Some(self.spawn("scheduler", "scheduler.log"));
    }

    fn worker_pid(&self, index: usize) -> u32 {
        self.workers[index].as_ref().expect("running").id()
    }

    fn signal(&self, index: usize, signal: &str) {
        signal_pid(self.worker_pid(index), signal);
    }

    fn kill9(&mut self, index: usize) {
        if let Some(mut child) = self.workers[index].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every spawned process still running (none died on its own).
    fn assert_all_running(&mut self) {
        let logs = self.logs.path().to_path_buf();
        let mut children: Vec<(String, &mut Child)> = Vec::new();
        for (i, w) in self.workers.iter_mut().enumerate() {
            if let Some(child) = w.as_mut() {
                children.push((format!("worker {i}"), child));
            }
        }
        if let Some(child) = self.scheduler.as_mut() {
            children.push(("scheduler".into(), child));
        }
        for (name, child) in children {
            if let Ok(Some(status)) = child.try_wait() {
                dump_logs(&logs);
                panic!("{name} exited on its own: {status}");
            }
        }
    }

    async fn wait_all_done(&self, limit: Duration) {
        self.fleet.wait_all_done(limit, self.logs.path()).await;
    }

    async fn done_count(&self) -> usize {
        self.fleet.done_count().await
    }

    async fn assert_exact(&self) {
        self.fleet.assert_exact().await;
    }

    fn stop_all(&mut self) {
        for index in 0..self.workers.len() {
            self.kill9(index);
        }
        if let Some(mut child) = self.scheduler.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop_all();
    }
}

fn mongo_uri(mongo: &MongoServer) -> String {
    mongo.uri().replacen("/?", "/odoo_sync_cluster?", 1)
}

async fn assert_mirror_matches(store: &SharedStore, tenant: &TenantId, db: &Db) {
    for module in Module::defaults() {
        let mapping = module.mapping(&ServerVersion::new(db.version(), 0), "", &[]);
        let expected: BTreeMap<i64, Value> = db
            .snapshot(mapping.model)
            .expect("snapshot")
            .into_iter()
            .filter(|row| {
                let kind = row.get("move_type").or_else(|| row.get("type"));
                !(mapping.model == "account.move" && kind == Some(&json!("entry")))
            })
            .map(|row| (row["id"].as_i64().expect("id"), row))
            .collect();
        let mut stored = Vec::new();
        let mut after = 0;
        loop {
            let page = store
                .records(tenant, module, after, 1000)
                .await
                .expect("records");
            let Some(last) = page.last() else { break };
            after = last.odoo_id;
            stored.extend(page);
        }
        let ids: Vec<i64> = stored.iter().map(|r| r.odoo_id).collect();
        let unique: BTreeSet<i64> = ids.iter().copied().collect();
        assert_eq!(
            ids.len(),
            unique.len(),
            "{tenant} {module}: duplicated records"
        );
        let want: BTreeSet<i64> = expected.keys().copied().collect();
        assert_eq!(unique, want, "{tenant} {module}: ids differ from Odoo's");
        for record in &stored {
            let row = &expected[&record.odoo_id];
            for field in &mapping.fields {
                assert_eq!(
                    &record.document["raw"][field.as_str()],
                    &row[field.as_str()],
                    "{tenant} {module} {} {field}",
                    record.odoo_id
                );
            }
        }
    }
}

/// From the batches' start and finish times: one tenant's batches ran one after another.
async fn assert_batches_never_overlap(store: &SharedStore, tenant: &TenantId) {
    let mut spans: Vec<_> = store
        .batches(tenant)
        .await
        .expect("batches")
        .into_iter()
        .filter(|b| b.status == BatchStatus::Done)
        .filter_map(|b| Some((b.started_at?, b.finished_at?)))
        .collect();
    spans.sort();
    for pair in spans.windows(2) {
        assert!(
            pair[0].1 <= pair[1].0,
            "{tenant}: batches overlap: {:?} and {:?}",
            pair[0],
            pair[1]
        );
    }
}

/// 3 workers, 50 tenants; a random worker is killed with SIGKILL mid-run several times and
/// started again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_fifty_tenants_survive_kill_9() {
    let mut cluster = Cluster::start(50, 120, Duration::from_millis(15)).await;
    for _ in 0..3 {
        cluster.spawn_worker();
    }
    cluster.spawn_scheduler();
    let started = Instant::now();
    for round in 0..4u64 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        if cluster.done_count().await == cluster.fleet.tenants.len() {
            break;
        }
        let victim = (round as usize * 7 + started.elapsed().subsec_millis() as usize) % 3;
        cluster.kill9(victim);
        tokio::time::sleep(Duration::from_millis(300)).await;
        cluster.respawn_worker(victim);
    }
    cluster.wait_all_done(Duration::from_secs(180)).await;
    cluster.assert_exact().await;
}

/// Tenants whose lease `pid`'s worker holds now (its holder name carries the pid).
async fn leases_held_by(fleet: &Fleet, pid: u32) -> Vec<(TenantId, i64)> {
    let marker = format!("-{pid}-");
    let now = Utc::now();
    let mut held = Vec::new();
    for (tenant, _) in &fleet.tenants {
        if let Ok(Some(state)) = fleet.store.tenant(tenant).await {
            if let Some(lease) = state.lease {
                if lease.holder.contains(&marker) && lease.expires_at > now {
                    held.push((tenant.clone(), lease.token));
                }
            }
        }
    }
    held
}

/// A worker paused (SIGSTOP) mid-batch past its lease: the other worker takes its tenants
/// over; resumed (SIGCONT), its late writes are refused by the fence. The mirror stays exact,
/// no batches overlap, and no batch finished after the resume under the paused worker's lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstopped_worker_is_fenced_out_after_its_lease() {
    // Slow calls so a batch spans several of them and the pause lands mid-batch.
    let mut cluster = Cluster::start(6, 60, Duration::from_millis(150)).await;
    cluster.set("LEASE_TTL_SECONDS", "3");
    cluster.spawn_worker();
    cluster.spawn_scheduler();
    let pid = cluster.worker_pid(0);
    let started = Instant::now();
    let mut held = Vec::new();
    while held.is_empty() && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        held = leases_held_by(&cluster.fleet, pid).await;
    }
    assert!(!held.is_empty(), "worker 0 never held a lease");
    // The worker that takes over, started only now: a step holds a tenant for many groups,
    // so a second worker started with the first could have taken every tenant.
    cluster.spawn_worker();
    cluster.signal(0, "STOP");
    // Past the lease (3 s) and the queue's orphan timeout (3 heartbeats of 1 s); then until
    // the other worker has taken at least one of the paused worker's tenants over (its lease
    // raised the fencing counter), however slow a loaded machine is.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let paused = Instant::now();
    let mut taken_over = 0;
    // A worker stopped mid-transaction holds the tenant until mongod aborts that transaction
    // (transactionLifetimeLimitSeconds, 10 s in tests and compose); a loaded machine adds more.
    while taken_over == 0 && paused.elapsed() < Duration::from_secs(90) {
        taken_over = 0;
        for (tenant, token) in &held {
            let state = cluster
                .fleet
                .store
                .tenant(tenant)
                .await
                .expect("state")
                .expect("tenant");
            if state.fence > *token {
                taken_over += 1;
            }
        }
        if taken_over == 0 {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    cluster.signal(0, "CONT");
    let resumed = Utc::now();
    assert!(
        taken_over > 0,
        "no tenant of the paused worker was taken over"
    );
    cluster.wait_all_done(Duration::from_secs(90)).await;
    cluster.assert_all_running();
    cluster.assert_exact().await;
    for (tenant, token) in &held {
        for batch in cluster.fleet.store.batches(tenant).await.expect("batches") {
            let late = batch.finished_at.is_some_and(|f| f > resumed);
            assert!(
                !(late && batch.status == BatchStatus::Done && batch.lease_token == Some(*token)),
                "{tenant}: batch {:?} finished after the resume under the stale lease {token}",
                batch.id
            );
        }
    }
}

/// Which server a restart test restarts, and how.
enum Restarted {
    /// A clean restart: the AOF brings the queue back.
    Redis,
    /// A crash that loses every key: jobs queued or running are gone.
    RedisLost,
    Mongod,
}

fn label_of(which: &Restarted) -> &'static str {
    match which {
        Restarted::Redis => "Redis restart",
        Restarted::RedisLost => "Redis lost with its data",
        Restarted::Mongod => "mongod restart",
    }
}

/// Two workers and a scheduler on 10 tenants; the server is restarted once the sync is under
/// way. Measures the recovery: from the server answering again until every tenant not yet
/// done has had a batch started after it (or is done). Every tenant still ends done with an
/// exact mirror and every process is still up.
async fn survives_restart_mid_run(which: Restarted) {
    // 200 records a tenant at LIMIT_PER_CALL 10: hundreds of calls in all, so restarting
    // after the first 30 lands early in the run.
    let mut cluster = Cluster::start(10, 200, Duration::from_millis(60)).await;
    if !matches!(which, Restarted::Mongod) {
        // The default: recovery must not wait for a queued mark to go stale.
        cluster.set("ENQUEUE_STALE_SECONDS", "120");
    }
    cluster.spawn_worker();
    cluster.spawn_worker();
    cluster.spawn_scheduler();
    cluster.fleet.wait_for_calls(30).await;
    assert!(
        cluster.done_count().await < cluster.fleet.tenants.len(),
        "too late to restart"
    );
    match which {
        Restarted::Redis => cluster.redis.restart().await.expect("redis restart"),
        Restarted::RedisLost => cluster.redis.restart_empty().await.expect("redis restart"),
        Restarted::Mongod => cluster.mongo.restart().await.expect("mongod restart"),
    }
    let label = label_of(&which);
    let recovery = match cluster
        .fleet
        .measure_recovery(Utc::now(), Duration::from_secs(60))
        .await
    {
        Ok(took) => took,
        Err(e) => {
            dump_logs(cluster.logs.path());
            panic!("after the {}: {e}", label_of(&which));
        }
    };
    eprintln!("recovery after {label}: {:.1} s", recovery.as_secs_f64());
    cluster.wait_all_done(Duration::from_secs(120)).await;
    cluster.assert_all_running();
    cluster.assert_exact().await;
}

/// Redis restarted mid-run (jobs in flight are replayed): workers reconnect and finish the
/// steps they run; the scheduler queues again what the restart may have lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_mid_run() {
    survives_restart_mid_run(Restarted::Redis).await;
}

/// Redis crashed and came back empty mid-run: every queued job is gone, yet tenants move
/// again within seconds (the scheduler sees the server's new start), not after the two
/// minutes of ENQUEUE_STALE_SECONDS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_lost_mid_run() {
    survives_restart_mid_run(Restarted::RedisLost).await;
}

/// mongod restarted mid-run (the store unreachable for a moment): steps retry, leases and
/// fences hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongod_restart_mid_run() {
    survives_restart_mid_run(Restarted::Mongod).await;
}

/// Lines of `log` after the first containing `mark` that contain any of `needles`.
/// Panics when no line contains `mark`: an empty answer must mean "nothing after it".
fn lines_after(log: &Path, mark: &str, needles: &[&str]) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    assert!(
        text.lines().any(|line| line.contains(mark)),
        "no {mark:?} line in {}:\n{text}",
        log.display()
    );
    text.lines()
        .skip_while(|line| !line.contains(mark))
        .skip(1)
        .filter(|line| needles.iter().any(|n| line.contains(n)))
        .map(str::to_string)
        .collect()
}

/// Sends SIGTERM to worker `index` and waits for it to exit (at most `limit`); returns how
/// long it took. It must exit 0.
async fn terminate_worker(cluster: &mut Cluster, index: usize, limit: Duration) -> Duration {
    cluster.signal(index, "TERM");
    let signalled = Instant::now();
    let mut child = cluster.workers[index].take().expect("worker");
    let Some(status) = wait_exit(&mut child, limit).await else {
        let _ = child.kill();
        dump_logs(cluster.logs.path());
        panic!("worker still running {limit:?} after SIGTERM");
    };
    let took = signalled.elapsed();
    assert!(status.success(), "exit status after SIGTERM: {status}");
    took
}

/// SIGTERM mid-run: the worker stops taking jobs at once (apalis' own stop), finishes the
/// steps it runs, releases its leases and exits 0 long before its grace period; a worker
/// with nothing to do exits at once. A new worker then finishes the work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_zero_and_releases_leases() {
    let mut cluster = Cluster::start(8, 60, Duration::from_millis(100)).await;
    // A lease left behind would still be live long after the exit, and a worker that kept
    // fetching or waited for the grace period would take a minute.
    cluster.set("LEASE_TTL_SECONDS", "60");
    cluster.set("WORKER_SHUTDOWN_GRACE_SECONDS", "60");
    // At most two steps (one per fetcher) run when the signal comes.
    cluster.set("WORKER_CONCURRENCY", "2");
    cluster.spawn_worker();
    cluster.spawn_scheduler();
    let pid = cluster.worker_pid(0);
    let started = Instant::now();
    while leases_held_by(&cluster.fleet, pid).await.is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "worker never held a lease"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let busy = terminate_worker(&mut cluster, 0, Duration::from_secs(90)).await;
    eprintln!(
        "worker with work in flight exited {:.2} s after SIGTERM",
        busy.as_secs_f64()
    );
    assert!(
        busy < Duration::from_secs(30),
        "{busy:?}: the worker waited for its grace period (60 s) instead of its running steps"
    );
    let left = leases_held_by(&cluster.fleet, pid).await;
    assert!(left.is_empty(), "leases still held after exit: {left:?}");
    let after_stop = lines_after(
        &cluster.logs.path().join("worker-0.log"),
        "stop requested",
        &["batch done", "batch failed", "initial sync planned"],
    );
    assert!(
        after_stop.len() <= 2,
        "steps ended after the stop beyond the 2 that were running: the worker kept fetching:\n{}",
        after_stop.join("\n")
    );

    cluster.respawn_worker(0);
    cluster.wait_all_done(Duration::from_secs(90)).await;
    cluster.assert_exact().await;
    // Now idle: nothing runs, so nothing to wait for.
    let idle = terminate_worker(&mut cluster, 0, Duration::from_secs(90)).await;
    eprintln!(
        "idle worker exited {:.2} s after SIGTERM",
        idle.as_secs_f64()
    );
    assert!(
        idle < Duration::from_secs(15),
        "{idle:?}: an idle worker waited for its grace period (60 s)"
    );
}

/// `odoo-sync standalone` (scheduler and workers in one process on SQLite and the apalis
/// SQLite queue, in a temporary DATA_DIR) brings 50 tenants to done with exact mirrors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_fifty_tenants() {
    let data = tempfile::tempdir().expect("data dir");
    let logs = tempfile::tempdir().expect("logs");
    let store: SharedStore = Arc::new(SqliteStore::open_in_dir(data.path()).await.expect("store"));
    let fleet = Fleet::create(store, 50, 60, Duration::from_millis(10)).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let jwt_secret = "standalone-test-jwt-secret-0123456789abcdef";
    let mut env = base_env();
    env.push(("DATA_DIR", data.path().display().to_string()));
    env.push(("JWT_SECRET", jwt_secret.into()));
    env.push(("BIND_ADDRESS", format!("127.0.0.1:{port}")));
    let mut child = Guard(Some(spawn_role(
        "standalone",
        &env,
        logs.path(),
        "standalone.log",
    )));
    fleet
        .wait_all_done(Duration::from_secs(90), logs.path())
        .await;
    fleet.assert_exact().await;
    // The same process serves the API: a tenant's status reads done through it.
    let (tenant, _) = &fleet.tenants[0];
    let token = Command::new(BIN)
        .args(["admin", "token", tenant.as_str(), "--hours", "1"])
        .env("JWT_SECRET", jwt_secret)
        .env("DATA_DIR", data.path())
        .output()
        .expect("odoo-sync admin token");
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    let token = String::from_utf8_lossy(&token.stdout).trim().to_string();
    let status: serde_json::Value = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/odoo/status"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("the standalone API answers")
        .json()
        .await
        .expect("status JSON");
    assert_eq!(status["syncStatus"], "done", "{status}");
    assert_eq!(status["progress"]["progressPercentage"], 100, "{status}");
    let mut process = child.0.take().expect("standalone");
    signal_pid(process.id(), "TERM");
    let status = wait_exit(&mut process, Duration::from_secs(15)).await;
    if status.is_none() {
        let _ = process.kill();
    }
    assert!(
        status.is_some_and(|s| s.success()),
        "standalone after SIGTERM: {status:?}"
    );
}

/// 20,000 tenants due at once (all on one small simulator database): the scheduler pushes in
/// bounded chunks, the queue never holds more than the backlog ceiling plus one tick, and no
/// scheduler or worker process dies while the workers chew through the start of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_tenants_due_at_once() {
    const TENANTS: usize = 20_000;
    const MAX_BACKLOG: u64 = 5_000;
    const MAX_PER_TICK: u64 = 2_000;
    let (mongo, redis, store) = Cluster::servers().await;
    let sim = Simulator::new();
    let mut spec = DatabaseSpec::new("shared", 17);
    spec.data.records = 8;
    spec.data.days = 30;
    let db = sim.add_database(spec).expect("database");
    let server = sim.serve("127.0.0.1:0").await.expect("serve");
    let saving = Instant::now();
    futures::stream::iter(0..TENANTS)
        .for_each_concurrent(96, |i| {
            let store = store.clone();
            let server = &server;
            let name = db.name().to_string();
            async move {
                let tenant = TenantId::parse(&format!("tenant-{i:05}")).expect("id");
                save_connection(&store, &tenant, server, &name).await;
            }
        })
        .await;
    eprintln!("saved {TENANTS} connections in {:?}", saving.elapsed());
    let fleet = Fleet {
        _sim: sim,
        _server: server,
        store,
        tenants: Vec::new(),
    };
    let mut cluster = Cluster::with(mongo, redis, fleet);
    cluster.set("SCHEDULER_MAX_BACKLOG", &MAX_BACKLOG.to_string());
    cluster.set("SCHEDULER_MAX_PER_TICK", &MAX_PER_TICK.to_string());
    cluster.spawn_scheduler();
    cluster.spawn_worker();
    cluster.spawn_worker();
    // A load-tolerant connection: the default 500 ms answer timeout failed this test with
    // "queue size: timed out" while the machine was busy.
    let mut conn = cluster.redis.connection().await.expect("redis connection");
    let mut peak = 0u64;
    let watching = Instant::now();
    while watching.elapsed() < Duration::from_secs(15) {
        let (scheduled, active): (u64, u64) = redis::pipe()
            .zcard(QUEUE_SCHEDULED)
            .llen(QUEUE_ACTIVE)
            .query_async(&mut conn)
            .await
            .expect("queue size");
        peak = peak.max(scheduled + active);
        cluster.assert_all_running();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("queue peak {peak}");
    assert!(peak > 0, "nothing was queued");
    assert!(
        peak < MAX_BACKLOG + MAX_PER_TICK,
        "queue held {peak} jobs (ceiling {MAX_BACKLOG} + one tick of {MAX_PER_TICK})"
    );
    // The workers made progress on the due tenants despite the backlog.
    let client = cluster.mongo.client().await.expect("mongo client");
    let started = client
        .database("odoo_sync_cluster")
        .collection::<mongodb::bson::Document>("odoosyncstatuses")
        .count_documents(mongodb::bson::doc! { "syncStatus": { "$ne": "not_started" } })
        .await
        .expect("count");
    eprintln!("tenants past not_started after 15 s: {started}");
    assert!(started > 0, "no tenant was started");
    cluster.assert_all_running();
}
