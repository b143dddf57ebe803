//! A small WebDriver client over reqwest for tests that drive a real browser: Debian's
//! `chromium` in headless mode through `chromedriver` (both from apt, installed by
//! scripts/install-test-deps.sh). Binaries come from `CHROMIUM_BIN` / `CHROMEDRIVER_BIN`,
//! else `PATH`; a machine without them fails the test loudly, it never skips.
//!
//! Failures panic with what went wrong: a browser test has nothing better to do with them.
//!
//! ```no_run
//! # async fn demo() {
//! let driver = testkit::webdriver::Driver::start().await;
//! let browser = testkit::webdriver::Browser::open(&driver).await;
//! browser.goto("http://127.0.0.1:8080/admin").await;
//! let title = browser.eval("return document.title;").await;
//! # let _ = title;
//! browser.close().await;
//! # }
//! ```

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::process::{free_port, spawn_tied_to_process};

/// The W3C WebDriver element key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long chromedriver may take to answer `/status` on a loaded machine.
const DRIVER_START: Duration = Duration::from_secs(60);
/// How long one WebDriver command may take (a new session starts chromium): long enough for
/// a busy 2-core machine, short of hanging a test for ever.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// What [`Browser::wait_for`] gives a page.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(20);
/// How often the waits look at the page again.
const POLL: Duration = Duration::from_millis(200);

/// The executable named by `env`, else `default` on `PATH`; panics with the install hint.
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

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(COMMAND_TIMEOUT)
        .build()
        .expect("an HTTP client")
}

/// A chromedriver process, killed on drop (and by the kernel if the test process dies).
pub struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    /// Starts chromedriver on a free port and waits until it answers.
    pub async fn start() -> Driver {
        let bin = executable("CHROMEDRIVER_BIN", "chromedriver");
        // chromedriver takes a port, not a listener: borrow a free one from the OS, and try
        // another if someone took it in between (chromedriver then exits).
        let mut attempts = 0;
        'attempt: loop {
            attempts += 1;
            let port = free_port().expect("a free port");
            let mut command = Command::new(&bin);
            command
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit());
            let child = spawn_tied_to_process(command)
                .await
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            let mut driver = Driver { child, port };
            let client = http();
            let deadline = Instant::now() + DRIVER_START;
            loop {
                let ready = client
                    .get(format!("{}/status", driver.url()))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if ready {
                    return driver;
                }
                if let Ok(Some(status)) = driver.child.try_wait() {
                    assert!(attempts < 3, "chromedriver exited at start: {status}");
                    continue 'attempt;
                }
                assert!(
                    Instant::now() < deadline,
                    "chromedriver did not answer within {DRIVER_START:?}"
                );
                tokio::time::sleep(POLL).await;
            }
        }
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// One headless chromium session. Dropped without [`Browser::close`] (a failed assertion), it
/// still ends the session, so no chromium outlives the test.
pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT/session/ID`.
    session: String,
    driver_port: u16,
    session_path: String,
    closed: bool,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A new session on `driver`: headless chromium with a fresh profile.
    pub async fn open(driver: &Driver) -> Browser {
        let chromium = executable("CHROMIUM_BIN", "chromium");
        let profile = tempfile::tempdir().expect("profile dir");
        let http = http();
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
            .post(format!("{}/session", driver.url()))
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
            session: format!("{}/session/{session}", driver.url()),
            driver_port: driver.port,
            session_path: format!("/session/{session}"),
            closed: false,
            _profile: profile,
        }
    }

    /// One WebDriver command (`path` below the session); its `value`. Panics on an error.
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let request = self.http.request(method, format!("{}{path}", self.session));
        // GET commands carry no body; chromedriver refuses some GETs with one.
        let request = if body.is_null() {
            request
        } else {
            request.json(&body)
        };
        let response = request.send().await.expect("webdriver request");
        let status = response.status();
        let body: Value = response.json().await.expect("webdriver JSON");
        assert!(status.is_success(), "webdriver {path}: {status} {body}");
        body["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", json!({ "url": url }))
            .await;
    }

    /// The WebDriver id of the first element matching `css`.
    pub async fn find(&self, css: &str) -> String {
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

    pub async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            json!({}),
        )
        .await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    /// Runs `script` (a function body) in the page and returns its value.
    pub async fn eval(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
        .await
    }

    /// Polls `script` until `accept` takes its value, for [`DEFAULT_WAIT`].
    pub async fn wait_for(
        &self,
        what: &str,
        script: &str,
        accept: impl Fn(&Value) -> bool,
    ) -> Value {
        self.wait_until(what, script, DEFAULT_WAIT, accept).await
    }

    /// Polls `script` until `accept` takes its value; panics with the last value after `limit`.
    pub async fn wait_until(
        &self,
        what: &str,
        script: &str,
        limit: Duration,
        accept: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let value = self.eval(script).await;
            if accept(&value) {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "the page never showed {what} within {limit:?}; last: {value}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Sets the window's outer size in CSS pixels.
    pub async fn set_window_size(&self, width: u32, height: u32) {
        self.call(
            reqwest::Method::POST,
            "/window/rect",
            json!({"width": width, "height": height}),
        )
        .await;
    }

    /// A screenshot of the viewport: the PNG file's bytes.
    pub async fn screenshot(&self) -> Vec<u8> {
        let encoded = self
            .call(reqwest::Method::GET, "/screenshot", Value::Null)
            .await;
        let encoded = encoded.as_str().expect("a base64 screenshot");
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("base64 screenshot")
    }

    /// Ends the session (chromium exits).
    pub async fn close(mut self) {
        self.closed = true;
        let _ = self.http.delete(&self.session).send().await;
    }
}

impl Drop for Browser {
    /// A test that failed before [`Browser::close`] still ends the session, or its chromium
    /// (a child of chromedriver, not of the test) would outlive it. Drop cannot await, so
    /// this is one plain HTTP/1.1 request on a blocking socket, with timeouts.
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        let Ok(mut socket) = TcpStream::connect(("127.0.0.1", self.driver_port)) else {
            return;
        };
        let _ = socket.set_write_timeout(Some(Duration::from_secs(10)));
        let _ = socket.set_read_timeout(Some(Duration::from_secs(30)));
        let request = format!(
            "DELETE {} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.session_path, self.driver_port
        );
        if socket.write_all(request.as_bytes()).is_ok() {
            // Wait for the answer: chromedriver quits chromium before it replies.
            let mut answer = Vec::new();
            let _ = socket.read_to_end(&mut answer);
        }
    }
}
