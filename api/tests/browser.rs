//! The operator page (`GET /admin`) in a real headless browser: Debian's chromium driven
//! through chromedriver (both from apt, installed by scripts/install-test-deps.sh) with
//! testkit's small WebDriver client over reqwest. The page loads, takes the admin token, shows a
//! tenant's progress bar, shows it move while the engine runs more batches, and its retry
//! button gives a tenant's permanently failed batches new attempts. A machine without
//! chromium or chromedriver fails this test loudly rather than skipping it.

mod common;

use std::time::{Duration, Instant};

use common::*;
use shared::crypto::connection_info;
use shared::store::BatchKind;
use shared::sync::{Step, SyncEngine};
use testkit::webdriver::{Browser, Driver};

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
        text.contains("1 gave up, 0 retrying") && text.contains("(gave up)"),
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
        carol.contains("7 gave up") && carol.contains("and 2 more"),
        "{carol}"
    );
    assert_eq!(carol.matches("boom").count(), 5, "{carol}");
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
