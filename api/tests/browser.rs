//! The operator page (`GET /admin`) in a real headless browser: Debian's chromium driven
//! through chromedriver (both from apt, installed by scripts/install-test-deps.sh) with a
//! small WebDriver client over reqwest. The page loads, takes the admin token, shows a
//! tenant's progress bar, shows it move while the engine runs more batches, and its retry
//! button gives a tenant's permanently failed batches new attempts. A machine without
//! chromium or chromedriver fails this test loudly rather than skipping it.

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use shared::crypto::connection_info;
use shared::store::BatchKind;
use shared::sync::{Step, SyncEngine};

/// The W3C WebDriver element key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn executable(env: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    let found = if path.is_absolute() {
        path.is_file().then_some(path.clone())
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(&path))
                .find(|p| p.is_file())
        })
    };
    found.unwrap_or_else(|| {
        panic!(
            "{} not found (set {env}): run scripts/install-test-deps.sh, which installs \
             Debian's chromium and chromium-driver",
            path.display()
        )
    })
}

/// A chromedriver process, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_driver() -> Driver {
    let bin = executable("CHROMEDRIVER_BIN", "chromedriver");
    // chromedriver takes a port, not a listener: borrow a free one from the OS.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(&bin)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = http
            .get(format!("{}/status", driver.url))
            .send()
            .await
            .ok()
            .map(|r| r.status().is_success())
            .unwrap_or(false);
        if ready {
            return driver;
        }
        assert!(Instant::now() < deadline, "chromedriver did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One browser session.
struct Browser {
    http: reqwest::Client,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn open(driver: &Driver) -> Browser {
        let chromium = executable("CHROMIUM_BIN", "chromium");
        let profile = tempfile::tempdir().expect("profile dir");
        let http = reqwest::Client::new();
        let args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let response = http
            .post(format!("{}/session", driver.url))
            .json(&json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": chromium, "args": args},
            }}}))
            .send()
            .await
            .expect("new session");
        let body: Value = response.json().await.expect("session JSON");
        let session = body["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {body}"))
            .to_string();
        Browser {
            http,
            session: format!("{}/session/{session}", driver.url),
            _profile: profile,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let response = self
            .http
            .request(method, format!("{}{path}", self.session))
            .json(&body)
            .send()
            .await
            .expect("webdriver request");
        let status = response.status();
        let body: Value = response.json().await.expect("webdriver JSON");
        assert!(status.is_success(), "webdriver {path}: {status} {body}");
        body["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", json!({ "url": url }))
            .await;
    }

    async fn find(&self, css: &str) -> String {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_string()
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            json!({}),
        )
        .await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    /// Runs `script` (a function body) in the page and returns its value.
    async fn eval(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
        .await
    }

    /// Polls `script` until `accept` takes its value (the page refreshes every 2 s).
    async fn wait_for(&self, what: &str, script: &str, accept: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let value = self.eval(script).await;
            if accept(&value) {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "the page never showed {what}; last: {value}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn close(self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}

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

    let driver = start_driver().await;
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
