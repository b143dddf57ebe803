//! The operator page (`GET /admin`) in a real headless browser: Debian's chromium driven
//! through chromedriver (both from apt, installed by scripts/install-test-deps.sh) with
//! testkit's small WebDriver client over reqwest. The page loads, takes the admin token, shows a
//! tenant's progress bar, shows it move while the engine runs more batches, and its retry
//! button gives a tenant's permanently failed batches new attempts. With many tenants it
//! shows one page at a time: the search narrows the list, the status filter keeps only
//! matching tenants, paging moves through them, a tenant's given-up windows are drawn apart
//! from its synced ones, and the queue panel lists what is queued and the live workers.
//! A machine without chromium or chromedriver fails these tests loudly rather than skipping.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use api::queue::QueueAdmin;
use common::*;
use serde_json::Value;
use shared::crypto::connection_info;
use shared::store::BatchKind;
use shared::sync::{Step, SyncEngine};
use testkit::webdriver::{Browser, Driver};
use worker::job::TenantJob;
use worker::queue::{JobQueue, QueueSettings, SqliteQueue};
use worker::{JobRunner, RunnerOptions, Shutdown, StoredConnections, WorkerOptions};

/// What the page gets on a busy 2-core machine to show a change (it refreshes every 2 s).
const PAGE_WAIT: Duration = Duration::from_secs(60);

fn percentage_of(user: &str) -> String {
    format!(
        "const bar = document.querySelector('[data-testid=\"progress-{user}\"]'); \
         return bar ? Number(bar.getAttribute('data-percentage')) : null;"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_page_shows_progress_and_retries_in_a_real_browser() {
    let app = spawn(Backend::Sqlite).await;
    let odoo = odoo().await;
    let saved = app.save_connection("alice", &odoo.connection()).await;
    assert!(saved.status().is_success(), "save-connection");
    tenant_with_a_failed_batch(&app.store, "bob").await;
    tenant_with_failed_batches(&app.store, "carol", 7).await;
    tenant_with_a_failed_group(&app.store, "dave", 3).await;

    // Alice's sync, started as a worker would and left part-way.
    let alice = tenant("alice");
    let stored = app
        .store
        .connection(&alice)
        .await
        .expect("store")
        .expect("saved");
    let info = connection_info(&stored, &app.keyring).expect("the secret opens");
    let engine = SyncEngine::new(app.store.clone(), engine_options()).expect("engine");
    let step = engine.prepare(&alice, &info, None).await.expect("prepare");
    assert!(matches!(step, Step::Prepared { .. }), "{step:?}");
    for _ in 0..2 {
        engine
            .process_next_batch(&alice, &info)
            .await
            .expect("batch");
    }

    let driver = Driver::start().await;
    let browser = Browser::open(&driver).await;
    browser.goto(&app.at("/admin")).await;
    browser.type_into("#token", ADMIN_TOKEN).await;
    browser.click("#connect").await;

    let first = browser
        .wait_for("alice's progress bar", &percentage_of("alice"), |v| {
            v.as_f64().is_some_and(|p| p > 0.0 && p < 100.0)
        })
        .await
        .as_f64()
        .unwrap_or_default();

    // The rest of the sync runs; the page's next refreshes show the bar move to the end.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !matches!(
        engine
            .process_next_batch(&alice, &info)
            .await
            .expect("batch"),
        Step::Idle
    ) {
        assert!(Instant::now() < deadline, "the sync did not finish");
    }
    browser
        .wait_for(
            "alice's progress moving to 100%",
            &percentage_of("alice"),
            |v| v.as_f64().is_some_and(|p| p > first && p >= 100.0),
        )
        .await;

    // Bob's failure is shown with its error; retry gives it a new attempt.
    browser
        .wait_for(
            "bob's failure",
            "const td = document.querySelector('[data-testid=\"failures-bob\"]'); \
             return td ? td.textContent : null;",
            |v| v.as_str().is_some_and(|t| t.contains("boom")),
        )
        .await;
    // In words: a batch given up on, never "(permanently_failed, 0 attempts)".
    let text = browser
        .eval("return document.querySelector('[data-testid=\"failures-bob\"]').textContent;")
        .await;
    let text = text.as_str().unwrap_or_default();
    assert!(
        text.contains("1 window given up, 0 retrying")
            && text.contains("in 1 batch:")
            && text.contains("(gave up)"),
        "{text}"
    );
    assert!(
        !text.contains("attempts)") && !text.contains("permanently_failed"),
        "{text}"
    );
    // Seven failures: five listed, the rest counted.
    let carol = browser
        .wait_for(
            "carol's failures",
            "const td = document.querySelector('[data-testid=\"failures-carol\"]'); \
             return td ? td.textContent : null;",
            |v| v.as_str().is_some_and(|t| t.contains("more")),
        )
        .await;
    let carol = carol.as_str().unwrap_or_default();
    assert!(
        carol.contains("7 windows given up")
            && carol.contains("in 7 batches:")
            && carol.contains("and 2 more"),
        "{carol}"
    );
    assert_eq!(carol.matches("boom").count(), 5, "{carol}");
    // One batch of three windows given up: the count says windows, the list one batch.
    let dave = browser
        .wait_for(
            "dave's failure",
            "const td = document.querySelector('[data-testid=\"failures-dave\"]'); \
             return td ? td.textContent : null;",
            |v| v.as_str().is_some_and(|t| t.contains("boom")),
        )
        .await;
    let dave = dave.as_str().unwrap_or_default();
    assert!(
        dave.contains("3 windows given up, 0 retrying") && dave.contains("in 1 batch:"),
        "{dave}"
    );
    assert_eq!(dave.matches("boom").count(), 1, "{dave}");
    browser.click("[data-testid=\"retry-bob\"]").await;
    browser
        .wait_for(
            "the retry's result",
            "return document.getElementById('message').textContent;",
            |v| {
                v.as_str()
                    .is_some_and(|t| t.contains("1 batch(es) retried"))
            },
        )
        .await;
    let counts = app
        .store
        .batch_counts(&tenant("bob"), BatchKind::Initial)
        .await
        .expect("counts");
    assert_eq!((counts.permanently_failed, counts.failed), (0, 1));
    browser.close().await;
}

/// The page's tenant rows, in order.
const ROWS: &str = "return Array.from(document.querySelectorAll('#rows > tr')) \
    .map(tr => tr.getAttribute('data-testid').replace(/^tenant-/, ''));";

/// The pager's `[first, last, total]`.
const PAGE_INFO: &str = "const info = document.getElementById('page-info'); \
    return ['data-first', 'data-last', 'data-total'] \
      .map(a => Number(info.getAttribute(a)));";

fn rows_are(expected: impl Fn(&[String]) -> bool) -> impl Fn(&Value) -> bool {
    move |v: &Value| {
        let rows: Vec<String> = v
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        expected(&rows)
    }
}

fn page_is(first: u64, last: u64, total: u64) -> impl Fn(&Value) -> bool {
    move |v: &Value| *v == serde_json::json!([first, last, total])
}

/// The WebDriver key code of Backspace.
const BACKSPACE: &str = "\u{E003}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_page_searches_filters_pages_and_shows_the_queue() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue_path = dir.path().join("queue.sqlite3");
    let pusher = SqliteQueue::open(&queue_path, &QueueSettings::default())
        .await
        .expect("queue");
    let app = spawn_with(Options {
        queue: Some(QueueAdmin::sqlite(&queue_path).await.expect("queue admin")),
        ..Options::default()
    })
    .await;
    // 60 tenants that never started, and one whose sync gave up 3 of its 4 windows.
    for i in 1..=60 {
        app.store
            .ensure_tenant(&tenant(&format!("shop-{i:03}")))
            .await
            .expect("tenant");
    }
    tenant_with_failed_batches(&app.store, "failing", 3).await;
    let queued = ["shop-007", "shop-042"];
    let jobs: Vec<TenantJob> = queued
        .iter()
        .map(|u| TenantJob::Process(tenant(u)))
        .chain([TenantJob::Prepare(tenant("shop-060"))])
        .collect();
    pusher.push(&jobs).await.expect("push");

    let driver = Driver::start().await;
    let browser = Browser::open(&driver).await;
    browser.set_window_size(1400, 1000).await;
    browser.goto(&app.at("/admin")).await;
    browser.type_into("#token", ADMIN_TOKEN).await;
    browser.click("#connect").await;

    // One page of 50, never all 61.
    browser
        .wait_until("the first page", PAGE_INFO, PAGE_WAIT, page_is(1, 50, 61))
        .await;
    let rows = browser
        .wait_until("50 rows", ROWS, PAGE_WAIT, rows_are(|r| r.len() == 50))
        .await;
    assert_eq!(rows[0], "failing");
    assert_eq!(rows[49], "shop-049");

    // The queue panel: how many wait, and which.
    let summary = browser
        .wait_until(
            "the queue's numbers",
            "const s = document.getElementById('queue-summary'); \
             return [s.getAttribute('data-waiting'), s.getAttribute('data-dead'), s.textContent];",
            PAGE_WAIT,
            |v| v[0] == "3",
        )
        .await;
    assert_eq!(summary[1], "0", "{summary}");
    let waiting = browser
        .eval(
            "return Array.from(document.querySelectorAll('[data-testid=\"waiting-job\"]')) \
             .map(li => li.textContent);",
        )
        .await;
    let waiting: Vec<&str> = waiting
        .as_array()
        .expect("jobs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(waiting.len(), 3, "{waiting:?}");
    for job in ["process shop-007", "process shop-042", "prepare shop-060"] {
        assert!(
            waiting.iter().any(|w| w.contains(job)),
            "{job}: {waiting:?}"
        );
    }

    // Paging: the next page holds the other 11, and back.
    browser.click("#next").await;
    browser
        .wait_until("the second page", PAGE_INFO, PAGE_WAIT, page_is(51, 61, 61))
        .await;
    browser
        .wait_until(
            "11 rows from shop-050",
            ROWS,
            PAGE_WAIT,
            rows_are(|r| r.len() == 11 && r[0] == "shop-050" && r[10] == "shop-060"),
        )
        .await;
    let next_disabled = browser
        .eval("return document.getElementById('next').disabled;")
        .await;
    assert_eq!(next_disabled, true, "the last page has no next");
    browser.click("#prev").await;
    browser
        .wait_until(
            "the first page again",
            PAGE_INFO,
            PAGE_WAIT,
            page_is(1, 50, 61),
        )
        .await;

    // The search narrows the list to the ids that start with it.
    browser.type_into("#search", "shop-05").await;
    browser
        .wait_until(
            "the search's matches",
            PAGE_INFO,
            PAGE_WAIT,
            page_is(1, 10, 10),
        )
        .await;
    browser
        .wait_until(
            "shop-050 to shop-059",
            ROWS,
            PAGE_WAIT,
            rows_are(|r| r.len() == 10 && r.iter().all(|id| id.starts_with("shop-05"))),
        )
        .await;
    browser.type_into("#search", &BACKSPACE.repeat(7)).await;
    browser
        .wait_until(
            "every tenant again",
            PAGE_INFO,
            PAGE_WAIT,
            page_is(1, 50, 61),
        )
        .await;

    // The status filter keeps only the tenants with batches given up on.
    browser
        .click("#status-filter option[value=\"failed\"]")
        .await;
    browser
        .wait_until("the failed filter", PAGE_INFO, PAGE_WAIT, page_is(1, 1, 1))
        .await;
    browser
        .wait_until(
            "only the failing tenant",
            ROWS,
            PAGE_WAIT,
            rows_are(|r| r == ["failing"]),
        )
        .await;
    // Its bar: nothing synced, three of four windows given up, drawn as the failed part.
    let bar = browser
        .eval(
            "const bar = document.querySelector('[data-testid=\"progress-failing\"]'); \
             const part = (id) => document.querySelector('[data-testid=\"' + id + '\"]') \
               .getBoundingClientRect().width; \
             return { synced: Number(bar.getAttribute('data-percentage')), \
               failed: Number(bar.getAttribute('data-failed-percentage')), \
               bar: bar.getBoundingClientRect().width, \
               doneWidth: part('progress-done-failing'), \
               failedWidth: part('progress-failed-failing'), \
               label: bar.parentElement.textContent };",
        )
        .await;
    assert_eq!(bar["synced"], 0, "{bar}");
    assert_eq!(bar["failed"], 75, "{bar}");
    assert_eq!(bar["doneWidth"], 0.0, "{bar}");
    let (failed_width, bar_width) = (
        bar["failedWidth"].as_f64().unwrap_or_default(),
        bar["bar"].as_f64().unwrap_or_default(),
    );
    assert!(
        (failed_width / bar_width - 0.75).abs() < 0.05,
        "the failed part is three quarters of the bar: {bar}"
    );
    let label = bar["label"].as_str().unwrap_or_default();
    assert!(
        label.contains("0% synced (0/4 windows)") && label.contains("3 windows given up"),
        "{label}"
    );
    assert!(
        !label.contains("75%"),
        "the percentage counts synced windows only: {label}"
    );
    browser
        .click("#status-filter option[value=\"not_started\"]")
        .await;
    browser
        .wait_until(
            "the not-started filter",
            PAGE_INFO,
            PAGE_WAIT,
            page_is(1, 50, 60),
        )
        .await;

    // A worker starts: the panel lists it, and it takes the queued jobs.
    let engine = SyncEngine::new(app.store.clone(), engine_options()).expect("engine");
    let shutdown = Shutdown::new(Duration::from_secs(10));
    let runner = Arc::new(JobRunner::new(
        Arc::new(engine),
        Arc::new(StoredConnections::new(
            app.store.clone(),
            app.keyring.clone(),
        )),
        Arc::new(pusher.clone()),
        shutdown.clone(),
        RunnerOptions::default(),
    ));
    let options = WorkerOptions {
        concurrency: 2,
        fetchers: 1,
        ..WorkerOptions::default()
    };
    let working = tokio::spawn(worker::run_sqlite(runner, pusher.clone(), options));
    let workers = browser
        .wait_until(
            "a live worker, and no job left waiting",
            "const s = document.getElementById('queue-summary'); \
             return [s.getAttribute('data-workers'), s.getAttribute('data-waiting'), \
               Array.from(document.querySelectorAll('[data-testid=\"worker\"]')) \
                 .map(li => li.textContent)];",
            PAGE_WAIT,
            |v| v[0] == "1" && v[1] == "0",
        )
        .await;
    assert!(
        workers[2][0]
            .as_str()
            .is_some_and(|w| w.starts_with("worker-") && w.contains("running")),
        "{workers}"
    );
    shutdown.trigger();
    tokio::time::timeout(Duration::from_secs(60), working)
        .await
        .expect("the worker stops")
        .expect("join")
        .expect("a clean stop");
    browser.close().await;
}
