//! The operators' queue routes and the queue gauge over both queue backends: jobs pushed
//! with the worker crate's own queue show up as waiting in `GET /admin/queue` and in
//! `/metrics`, `GET /admin/queue/dead` answers, and `POST /admin/queue/drain` empties the
//! queue. Redis runs as a real `redis-server` (testkit); SQLite is the standalone queue file.

mod common;

use api::queue::QueueAdmin;
use common::*;
use reqwest::Method;
use worker::job::TenantJob;
use worker::queue::{JobQueue, QueueSettings, RedisQueue, SqliteQueue};

async fn exercise(queue: QueueAdmin, pusher: &dyn JobQueue, backend: &str) {
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
}

#[tokio::test]
async fn queue_routes_on_the_sqlite_queue() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("queue.sqlite3");
    let pusher = SqliteQueue::open(&path, &QueueSettings::default())
        .await
        .expect("queue");
    let admin = QueueAdmin::sqlite(&path).await.expect("admin");
    exercise(admin, &pusher, "sqlite").await;
}

#[tokio::test]
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
    exercise(admin, &pusher, "redis").await;
}

#[tokio::test]
async fn queue_routes_without_a_queue_say_so() {
    let app = spawn(Backend::Sqlite).await;
    assert_eq!(
        error_code(app.admin(Method::GET, "/admin/queue").await, 409).await,
        "no_queue"
    );
}
