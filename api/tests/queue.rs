//! The operators' queue routes and the queue gauge over both queue backends: jobs pushed
//! with the worker crate's own queue show up as waiting in `GET /admin/queue`, listed with
//! their kind and tenant in `GET /admin/queue/waiting`, and in `/metrics`;
//! `GET /admin/queue/dead` answers, `POST /admin/queue/drain` empties the queue, and a real
//! worker (the worker crate's apalis workers, as `odoo-sync worker` runs them) shows up in
//! `GET /admin/queue/workers` while it runs and takes the jobs pushed. Redis runs as a real
//! `redis-server` (testkit); SQLite is the standalone queue file.

mod common;

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use api::queue::QueueAdmin;
use common::*;
use reqwest::Method;
use serde_json::Value;
use shared::sync::SyncEngine;
use worker::job::TenantJob;
use worker::queue::{JobQueue, QueueSettings, RedisQueue, SqliteQueue};
use worker::{JobRunner, RunnerOptions, Shutdown, StoredConnections, WorkerOptions};

/// The job runner a worker process would build over the app's store and `queue`.
fn runner(app: &TestApp, queue: Arc<dyn JobQueue>) -> (Arc<JobRunner>, Shutdown) {
    let engine = SyncEngine::new(app.store.clone(), engine_options()).expect("engine");
    let connections = Arc::new(StoredConnections::new(
        app.store.clone(),
        app.keyring.clone(),
    ));
    let shutdown = Shutdown::new(Duration::from_secs(10));
    let runner = JobRunner::new(
        Arc::new(engine),
        connections,
        queue,
        shutdown.clone(),
        RunnerOptions::default(),
    );
    (Arc::new(runner), shutdown)
}

fn worker_options() -> WorkerOptions {
    WorkerOptions {
        concurrency: 2,
        fetchers: 1,
        ..WorkerOptions::default()
    }
}

/// Polls `GET path` until `done` holds for its JSON body (a busy machine gets a minute).
async fn poll(app: &TestApp, what: &str, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body = json(app.admin(Method::GET, path).await, 200).await;
        if done(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{what}: still {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// With a worker running: it is listed as live, and the job pushed for a tenant that does
/// not exist is taken from the queue. The worker is stopped at the end.
async fn a_live_worker_is_listed(
    app: &TestApp,
    pusher: &dyn JobQueue,
    shutdown: Shutdown,
    working: impl Future<Output = Result<(), worker::WorkerProcessError>> + Send + 'static,
) {
    let handle = tokio::spawn(working);
    let workers = poll(app, "a live worker", "/admin/queue/workers", |w| {
        w["workers"].as_array().is_some_and(|l| !l.is_empty())
    })
    .await;
    let listed = &workers["workers"][0];
    assert!(
        listed["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("worker-")),
        "{workers}"
    );
    assert!(listed["lastSeen"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    assert!(listed["runningJobs"].is_u64(), "{workers}");
    assert!(workers["liveWithinSeconds"]
        .as_u64()
        .is_some_and(|s| s >= 6));
    pusher
        .push(&[TenantJob::Process(tenant("ghost"))])
        .await
        .expect("push");
    poll(app, "the job taken", "/admin/queue/waiting", |w| {
        w["total"] == 0
    })
    .await;
    shutdown.trigger();
    tokio::time::timeout(Duration::from_secs(60), handle)
        .await
        .expect("the worker stops")
        .expect("join")
        .expect("a clean stop");
}

async fn exercise(queue: QueueAdmin, pusher: &dyn JobQueue, backend: &str) -> TestApp {
    let app = spawn_with(Options {
        queue: Some(queue),
        ..Options::default()
    })
    .await;
    let jobs: Vec<TenantJob> = ["alice", "bob", "carol"]
        .iter()
        .map(|u| TenantJob::Process(tenant(u)))
        .collect();
    pusher.push(&jobs).await.expect("push");

    let depth = json(app.admin(Method::GET, "/admin/queue").await, 200).await;
    assert_eq!(depth["backend"], backend);
    assert_eq!(depth["waiting"], 3, "{depth}");
    assert_eq!(depth["dead"], 0);
    // The jobs themselves: kind and tenant, at most `limit`, with the total.
    let waiting = json(app.admin(Method::GET, "/admin/queue/waiting").await, 200).await;
    assert_eq!(waiting["total"], 3, "{waiting}");
    let listed: BTreeSet<(String, String)> = waiting["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| {
            (
                j["kind"].as_str().unwrap_or_default().to_string(),
                j["tenant"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String)> = ["alice", "bob", "carol"]
        .iter()
        .map(|u| ("process".to_string(), u.to_string()))
        .collect();
    assert_eq!(listed, expected, "{waiting}");
    let two = json(
        app.admin(Method::GET, "/admin/queue/waiting?limit=2").await,
        200,
    )
    .await;
    assert_eq!(two["total"], 3);
    assert_eq!(two["jobs"].as_array().map(Vec::len), Some(2), "{two}");
    let workers = json(app.admin(Method::GET, "/admin/queue/workers").await, 200).await;
    assert_eq!(
        workers["workers"],
        serde_json::json!([]),
        "no worker runs yet"
    );
    let metrics = app
        .http
        .get(app.at("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("odoo_sync_queue_jobs{state=\"waiting\"} 3"),
        "{metrics}"
    );
    let dead = json(app.admin(Method::GET, "/admin/queue/dead").await, 200).await;
    assert_eq!(dead["total"], 0);
    assert_eq!(dead["jobs"], serde_json::json!([]));
    let dead = json(
        app.admin(Method::GET, "/admin/queue/dead?limit=1").await,
        200,
    )
    .await;
    assert_eq!(dead["total"], 0);

    let drained = json(app.admin(Method::POST, "/admin/queue/drain").await, 200).await;
    assert_eq!(drained["drained"], 3);
    let depth = json(app.admin(Method::GET, "/admin/queue").await, 200).await;
    assert_eq!(depth["waiting"], 0, "{depth}");
    assert_eq!(pusher.backlog().await.expect("backlog"), 0);

    // Without the admin token, nothing.
    let anonymous = app
        .http
        .get(app.at("/admin/queue"))
        .send()
        .await
        .expect("request");
    assert_eq!(anonymous.status(), 401);
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_routes_on_the_sqlite_queue() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("queue.sqlite3");
    let pusher = SqliteQueue::open(&path, &QueueSettings::default())
        .await
        .expect("queue");
    let admin = QueueAdmin::sqlite(&path).await.expect("admin");
    let app = exercise(admin, &pusher, "sqlite").await;
    let (runner, shutdown) = runner(&app, Arc::new(pusher.clone()));
    let working = worker::run_sqlite(runner, pusher.clone(), worker_options());
    a_live_worker_is_listed(&app, &pusher, shutdown, working).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_routes_on_redis() {
    let server = testkit::RedisServer::start()
        .await
        .unwrap_or_else(|e| panic!("cannot start redis-server (set REDIS_SERVER_BIN?): {e}"));
    let settings = QueueSettings::default();
    let conn = settings
        .redis_connection(&server.url())
        .await
        .expect("redis");
    let pusher = RedisQueue::new(conn, &settings);
    let admin = QueueAdmin::redis(&server.url()).await.expect("admin");
    let app = exercise(admin, &pusher, "redis").await;
    let (runner, shutdown) = runner(&app, Arc::new(pusher.clone()));
    let working = worker::run_redis(runner, pusher.clone(), worker_options());
    a_live_worker_is_listed(&app, &pusher, shutdown, working).await;
}

#[tokio::test]
async fn queue_routes_without_a_queue_say_so() {
    let app = spawn(Backend::Sqlite).await;
    assert_eq!(
        error_code(app.admin(Method::GET, "/admin/queue").await, 409).await,
        "no_queue"
    );
}
