//! Integration tests of testkit against the real servers: each test starts its own mongod and/or
//! redis-server, talks to it through the real drivers, and checks what later tests rely on
//! (transactions, change streams, restarts keeping data, isolation, cleanup).

use std::error::Error;
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mongodb::bson::{doc, Document};
use mongodb::change_stream::event::OperationType;
use mongodb::Collection;
use testkit::{MongoServer, RedisServer};

type TestResult = Result<(), Box<dyn Error>>;

fn port_answers(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500)).is_ok()
}

fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

async fn names(coll: &Collection<Document>) -> Result<Vec<String>, Box<dyn Error>> {
    let mut cursor = coll.find(doc! {}).sort(doc! { "name": 1 }).await?;
    let mut out = Vec::new();
    while let Some(d) = cursor.next().await {
        out.push(d?.get_str("name")?.to_string());
    }
    Ok(out)
}

#[tokio::test]
async fn mongo_insert_and_read_back() -> TestResult {
    let started = Instant::now();
    let mongo = MongoServer::start().await?;
    eprintln!("mongod ready (primary) in {:?}", started.elapsed());
    let client = mongo.client().await?;
    let coll = client.database("t").collection::<Document>("partners");
    coll.insert_one(
        doc! { "_id": 7, "name": "Azure Interior", "write_date": "2025-01-02 03:04:05" },
    )
    .await?;
    let found = coll
        .find_one(doc! { "_id": 7 })
        .await?
        .ok_or("inserted document not found")?;
    assert_eq!(found.get_str("name")?, "Azure Interior");
    assert_eq!(found.get_str("write_date")?, "2025-01-02 03:04:05");
    assert_eq!(coll.count_documents(doc! {}).await?, 1);
    Ok(())
}

#[tokio::test]
async fn mongo_transactions_commit_and_abort() -> TestResult {
    let mongo = MongoServer::start().await?;
    let client = mongo.client().await?;
    let coll = client.database("t").collection::<Document>("orders");

    let mut session = client.start_session().await?;
    session.start_transaction().await?;
    coll.insert_one(doc! { "name": "a" })
        .session(&mut session)
        .await?;
    coll.insert_one(doc! { "name": "b" })
        .session(&mut session)
        .await?;
    // Not visible outside the transaction before the commit.
    assert_eq!(coll.count_documents(doc! {}).await?, 0);
    session.commit_transaction().await?;
    assert_eq!(names(&coll).await?, ["a", "b"]);

    let mut session = client.start_session().await?;
    session.start_transaction().await?;
    coll.insert_one(doc! { "name": "c" })
        .session(&mut session)
        .await?;
    coll.delete_one(doc! { "name": "a" })
        .session(&mut session)
        .await?;
    session.abort_transaction().await?;
    // Neither the insert nor the delete of the aborted transaction happened.
    assert_eq!(names(&coll).await?, ["a", "b"]);
    Ok(())
}

#[tokio::test]
async fn mongo_change_stream_sees_insert() -> TestResult {
    let mongo = MongoServer::start().await?;
    let client = mongo.client().await?;
    let coll = client.database("t").collection::<Document>("events");
    let mut stream = coll.watch().await?;
    coll.insert_one(doc! { "_id": 1, "name": "hello" }).await?;
    let event = tokio::time::timeout(Duration::from_secs(20), stream.next())
        .await
        .map_err(|_| "no change event within 20 s")?
        .ok_or("change stream ended")??;
    assert_eq!(event.operation_type, OperationType::Insert);
    let full = event
        .full_document
        .ok_or("insert event without fullDocument")?;
    assert_eq!(full.get_str("name")?, "hello");
    Ok(())
}

#[tokio::test]
async fn mongo_restart_keeps_data_and_port() -> TestResult {
    let mut mongo = MongoServer::start().await?;
    let port = mongo.port();
    let client = mongo.client().await?;
    let coll = client.database("t").collection::<Document>("kept");
    coll.insert_one(doc! { "name": "before-stop" }).await?;

    let first_pid = mongo.pid().ok_or("no pid")?;
    mongo.stop().await?;
    assert!(!mongo.is_running());
    assert!(!port_answers(port), "port still answers after stop");
    let started = Instant::now();
    mongo.restart().await?;
    eprintln!("mongod restart (primary again) in {:?}", started.elapsed());
    assert_eq!(mongo.port(), port);
    assert_ne!(mongo.pid(), Some(first_pid));

    // The client made before the restart reconnects to the same port by itself.
    coll.insert_one(doc! { "name": "after-restart" }).await?;
    assert_eq!(names(&coll).await?, ["after-restart", "before-stop"]);

    // A crash (SIGKILL) loses no acknowledged write: the default write concern on a replica set
    // is majority, which is journaled.
    mongo.kill();
    assert!(!mongo.is_running());
    mongo.restart().await?;
    coll.insert_one(doc! { "name": "after-crash" }).await?;
    assert_eq!(
        names(&coll).await?,
        ["after-crash", "after-restart", "before-stop"]
    );
    Ok(())
}

#[tokio::test]
async fn mongo_two_servers_side_by_side() -> TestResult {
    let (a, b) = tokio::join!(MongoServer::start(), MongoServer::start());
    let (a, b) = (a?, b?);
    assert_ne!(a.port(), b.port());
    let ca = a.client().await?;
    let cb = b.client().await?;
    let coll_a = ca.database("t").collection::<Document>("c");
    let coll_b = cb.database("t").collection::<Document>("c");
    coll_a.insert_one(doc! { "name": "only-in-a" }).await?;
    coll_b.insert_one(doc! { "name": "only-in-b" }).await?;
    assert_eq!(names(&coll_a).await?, ["only-in-a"]);
    assert_eq!(names(&coll_b).await?, ["only-in-b"]);
    Ok(())
}

#[tokio::test]
async fn mongo_drop_kills_process_and_removes_data() -> TestResult {
    let mongo = MongoServer::start().await?;
    let (port, pid, dbpath) = (mongo.port(), mongo.pid().ok_or("no pid")?, mongo.dbpath());
    assert!(port_answers(port));
    assert!(dbpath.is_dir());
    drop(mongo);
    assert!(!port_answers(port), "port still answers after drop");
    assert!(!process_exists(pid), "mongod {pid} still exists after drop");
    assert!(
        !dbpath.exists(),
        "{} still exists after drop",
        dbpath.display()
    );
    Ok(())
}

#[tokio::test]
async fn redis_set_get() -> TestResult {
    let started = Instant::now();
    let redis = RedisServer::start().await?;
    eprintln!("redis-server ready in {:?}", started.elapsed());
    let mut conn = redis.connection().await?;
    let _: () = redis::cmd("SET")
        .arg("tenant:1")
        .arg("queued")
        .query_async(&mut conn)
        .await?;
    let value: Option<String> = redis::cmd("GET")
        .arg("tenant:1")
        .query_async(&mut conn)
        .await?;
    assert_eq!(value.as_deref(), Some("queued"));
    let missing: Option<String> = redis::cmd("GET")
        .arg("tenant:2")
        .query_async(&mut conn)
        .await?;
    assert_eq!(missing, None);
    Ok(())
}

/// A test's Redis connection waits out a server that stalls longer than redis-rs' default
/// 500 ms answer timeout (a busy machine does): `CLIENT PAUSE` holds every other client's
/// commands for 1.5 s, and the call still answers.
#[tokio::test]
async fn redis_connection_tolerates_a_stalled_server() -> TestResult {
    let redis = RedisServer::start().await?;
    let mut pauser = redis.connection().await?;
    let mut conn = redis.connection().await?;
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(1500)
        .arg("ALL")
        .query_async(&mut pauser)
        .await?;
    let answer: String = redis::cmd("PING").query_async(&mut conn).await?;
    assert_eq!(answer, "PONG");
    Ok(())
}

#[tokio::test]
async fn redis_restart_keeps_keys() -> TestResult {
    let mut redis = RedisServer::start().await?;
    let port = redis.port();
    {
        let mut conn = redis.connection().await?;
        let _: () = redis::cmd("SET")
            .arg("k")
            .arg("v1")
            .query_async(&mut conn)
            .await?;
        let _: i64 = redis::cmd("RPUSH")
            .arg("jobs")
            .arg("a")
            .arg("b")
            .query_async(&mut conn)
            .await?;
    }
    redis.stop().await?;
    assert!(!port_answers(port), "port still answers after stop");
    redis.restart().await?;
    assert_eq!(redis.port(), port);

    let mut conn = redis.connection().await?;
    let value: Option<String> = redis::cmd("GET").arg("k").query_async(&mut conn).await?;
    assert_eq!(value.as_deref(), Some("v1"));
    let jobs: Vec<String> = redis::cmd("LRANGE")
        .arg("jobs")
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await?;
    assert_eq!(jobs, ["a", "b"]);
    Ok(())
}

#[tokio::test]
async fn redis_drop_frees_process_and_port() -> TestResult {
    let redis = RedisServer::start().await?;
    let (port, pid) = (redis.port(), redis.pid().ok_or("no pid")?);
    assert!(port_answers(port));
    drop(redis);
    assert!(!port_answers(port), "port still answers after drop");
    assert!(
        !process_exists(pid),
        "redis-server {pid} still exists after drop"
    );
    Ok(())
}
