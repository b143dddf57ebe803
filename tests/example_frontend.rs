//! The example frontend (`examples/frontend/`) as a web-app team would run it: the real
//! `odoo-sync sim` and `odoo-sync standalone` binaries, the page served from its own origin
//! (so CORS is in play), and headless chromium (testkit's WebDriver client) typing nothing
//! but the page's URL with a tenant token in its fragment. The page follows the first sync
//! over the status event stream — or, when the stream is refused, over ETag polling — and
//! then shows the dashboard; the tests compare what it shows with the API's own answers and
//! look at the screenshot's pixels to see the charts really drawn.
//!
//! Nothing waits a fixed time: every wait polls the page or a process until a generous
//! deadline, so a busy 2-core machine is slower, not red.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde_json::{json, Value};
use shared::store::TenantId;
use testkit::webdriver::{Browser, Driver};

const BIN: &str = env!("CARGO_BIN_EXE_odoo-sync");
const FRONTEND: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/frontend");
const KEY_B64: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
const JWT_SECRET: &str = "example-frontend-test-jwt-secret-0123456789";
const API_KEY: &str = "frontend-test-api-key";
const USER: &str = "webshop";
/// Start-up of a process, or a page's first answer, on a loaded machine.
const START_LIMIT: Duration = Duration::from_secs(120);
/// The whole first sync as the page sees it: a few seconds when the machine is idle (nextest
/// ends the test after 360 s, .config/nextest.toml).
const SYNC_LIMIT: Duration = Duration::from_secs(240);
/// How often process output is looked at again.
const POLL: Duration = Duration::from_millis(50);

/// The modules the dashboard figures, in the page's order, with the page's bar colours
/// (`MODULES` in app.js).
const MODULE_COLOURS: [(&str, [u8; 3]); 4] = [
    ("sales", [0x1f, 0x77, 0xb4]),
    ("invoices", [0xff, 0x7f, 0x0e]),
    ("contacts", [0x2c, 0xa0, 0x2c]),
    ("employees", [0xd6, 0x27, 0x28]),
];
/// The revenue chart's bars (`REVENUE_COLOUR` in app.js).
const REVENUE_COLOUR: [u8; 3] = [0x94, 0x67, 0xbd];

// ------------------------------------------------------------------ processes

/// A child process whose stdout and stderr lines are kept, killed on drop; a failing test
/// prints the tail of its output.
struct Running {
    name: &'static str,
    child: Child,
    output: Arc<Mutex<Vec<String>>>,
}

impl Running {
    async fn spawn(name: &'static str, mut command: Command) -> Running {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = testkit::spawn_tied_to_test(command)
            .await
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let output = Arc::new(Mutex::new(Vec::new()));
        let pipes: [Option<Box<dyn Read + Send>>; 2] = [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ];
        for pipe in pipes.into_iter().flatten() {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    output.lock().expect("output lock").push(line);
                }
            });
        }
        Running {
            name,
            child,
            output,
        }
    }

    /// What follows `marker` on the first output line holding it; waits for that line.
    async fn line_after(&mut self, marker: &str) -> String {
        let deadline = Instant::now() + START_LIMIT;
        loop {
            let found = self
                .output
                .lock()
                .expect("output lock")
                .iter()
                .find_map(|l| l.split_once(marker).map(|(_, rest)| rest.to_string()));
            if let Some(rest) = found {
                return rest;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited ({status}) before printing {marker:?}:\n{}",
                    self.name,
                    self.tail()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} printed no {marker:?} within {START_LIMIT:?}:\n{}",
                self.name,
                self.tail()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    fn tail(&self) -> String {
        let lines = self.output.lock().map(|l| l.clone()).unwrap_or_default();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- {} output (last lines) ---\n{}", self.name, self.tail());
        }
    }
}

// ------------------------------------------------------------------ the page's origin

/// Serves the files of examples/frontend (no subdirectories) as a static web server would.
async fn frontend_file(uri: Uri) -> Response {
    let name = match uri.path().trim_start_matches('/') {
        "" => "index.html",
        name => name,
    };
    if name.contains('/') || name.contains("..") {
        return StatusCode::NOT_FOUND.into_response();
    }
    let kind = match Path::new(name).extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        _ => "application/octet-stream",
    };
    match tokio::fs::read(Path::new(FRONTEND).join(name)).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, kind)], bytes).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Serves the page on a free port; its origin (`http://127.0.0.1:PORT`).
async fn serve_frontend() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the page's server");
    let origin = format!("http://{}", listener.local_addr().expect("address"));
    let app = axum::Router::new().fallback(frontend_file);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    origin
}

// ------------------------------------------------------------------ the stack

/// The simulator, the page's origin and `standalone`, for one tenant.
struct Stack {
    sim_url: String,
    /// Records the simulator generated over the modelled tables (its own count).
    sim_records: u64,
    origin: String,
    api: String,
    token: String,
    http: reqwest::Client,
    // Dropped last: the processes above are killed before their data goes.
    _standalone: Running,
    _sim: Running,
    _data: tempfile::TempDir,
}

async fn stack(extra_env: &[(&str, &str)]) -> Stack {
    // A few hundred records, and each page read a quarter of a second slower than Odoo would
    // answer it: the sync then takes several seconds however idle the machine, longer than
    // the status watcher's 2 s, so the page sees it in progress before it sees it done.
    let mut sim = Running::spawn("odoo-sync sim", {
        let mut command = Command::new(BIN);
        command
            .args(["sim", "--listen", "127.0.0.1:0"])
            .arg(format!(
                "--db=name=shop,version=19,login=admin,password=admin-pw,api-key={API_KEY},records=400,days=120,seed=7"
            ))
            .arg("--fault=kind=latency,ms=250,methods=search_read");
        command
    })
    .await;
    let sim_url = sim.line_after("listening url=").await.trim().to_string();
    let database = sim.line_after("database name=shop ").await;
    let sim_records: u64 = database
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("records="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no records= in {database:?}"));
    let sim_port = sim_url.rsplit(':').next().expect("port").trim_matches('/');

    let origin = serve_frontend().await;
    let data = tempfile::tempdir().expect("data dir");
    let mut standalone = Running::spawn("odoo-sync standalone", {
        let mut command = Command::new(BIN);
        command
            .arg("standalone")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATA_DIR", data.path())
            .env("JWT_SECRET", JWT_SECRET)
            .env("ENCRYPTION_KEY", KEY_B64)
            .env("BIND_ADDRESS", "127.0.0.1:0")
            .env("ALLOWED_PRIVATE_HOSTS", format!("127.0.0.1:{sim_port}"))
            .env("CORS_ALLOWED_ORIGINS", &origin)
            // The simulator needs no politeness delay; the scheduler looks every second.
            .env("API_CALL_DELAY_MS", "0")
            .env("CRON_SCHEDULE", "* * * * * *")
            // Small pages and batches: a few dozen batches for the progress bar to count.
            .env("LIMIT_PER_CALL", "25")
            .env("PAGE_SIZE", "25")
            .env("RUST_LOG", "info")
            .envs(extra_env.iter().copied());
        command
    })
    .await;
    let address = standalone.line_after("API listening on ").await;
    let api = address.trim().to_string();
    let http = reqwest::Client::new();
    let deadline = Instant::now() + START_LIMIT;
    while !http
        .get(format!("{api}/health"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "{api}/health never answered");
        tokio::time::sleep(POLL).await;
    }
    let token = api::auth::issue_token(
        &SecretString::from(JWT_SECRET.to_string()),
        &TenantId::parse(USER).expect("user id"),
        Duration::from_secs(3600),
    )
    .expect("token");
    Stack {
        sim_url,
        sim_records,
        origin,
        api,
        token,
        http,
        _standalone: standalone,
        _sim: sim,
        _data: data,
    }
}

impl Stack {
    /// The page's URL with the API and token in its fragment.
    fn page(&self, token: &str, extra: &str) -> String {
        format!(
            "{}/index.html#api={}&token={token}{extra}",
            self.origin, self.api
        )
    }

    /// Saves the simulator's database as the tenant's connection, as the web app's backend
    /// would; the scheduler then starts the sync.
    async fn save_connection(&self) {
        let response = self
            .http
            .post(format!("{}/odoo/save-connection", self.api))
            .bearer_auth(&self.token)
            .json(
                &json!({"url": self.sim_url, "db": "shop", "username": "admin", "apiKey": API_KEY}),
            )
            .send()
            .await
            .expect("save-connection");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or_default();
        assert!(status.is_success(), "save-connection: {status} {body}");
    }

    async fn dashboard(&self) -> Value {
        let response = self
            .http
            .get(format!("{}/odoo/dashboard", self.api))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("dashboard");
        assert_eq!(response.status(), 200, "the API's dashboard");
        response.json().await.expect("dashboard JSON")
    }
}

// ------------------------------------------------------------------ what the page shows

const PHASE: &str = "return document.body.dataset.phase || null;";
const ERROR_TEXT: &str = "const e = document.getElementById('error'); \
     return e.hidden ? null : e.textContent;";
const NOTE_TEXT: &str = "const n = document.getElementById('note'); \
     return n.hidden ? null : n.textContent;";

/// Waits until the page shows the dashboard, then checks what the sync looked like on the
/// way: seen in progress, never going back, ending done at 100 %.
async fn wait_for_dashboard(browser: &Browser) {
    browser
        .wait_until("the dashboard", PHASE, SYNC_LIMIT, |v| {
            assert_ne!(v.as_str(), Some("error"), "the page stopped on an error");
            v.as_str() == Some("dashboard")
        })
        .await;
    let seen = browser
        .eval("return document.body.dataset.seen;")
        .await
        .as_str()
        .unwrap_or_default()
        .to_string();
    eprintln!("the page saw (status:percentage): {seen}");
    let steps: Vec<(&str, u64)> = seen
        .split_whitespace()
        .map(|s| {
            let (status, pct) = s.split_once(':').expect("status:percentage");
            (status, pct.parse().expect("a percentage"))
        })
        .collect();
    assert!(
        steps.iter().any(|(s, p)| *s == "in_progress" && *p < 100),
        "the page never showed the sync in progress: {seen}"
    );
    assert_eq!(
        steps.last(),
        Some(&("done", 100)),
        "the bar ends done at 100: {seen}"
    );
    assert!(
        steps.windows(2).all(|w| w[0].1 <= w[1].1),
        "the bar only rises: {seen}"
    );
    let bar = browser
        .eval("return document.querySelector('[data-testid=\"progress\"]').value;")
        .await;
    assert_eq!(bar.as_f64(), Some(100.0), "the progress element's value");
}

/// The page's record count per module equals the API's dashboard, and they add up to no
/// more than the simulator generated (it also makes journal entries, which are not invoices).
async fn assert_counts(browser: &Browser, stack: &Stack, dashboard: &Value) {
    let mut total = 0;
    for (module, _) in MODULE_COLOURS {
        let expected = dashboard["modules"][module]["records"]
            .as_u64()
            .unwrap_or_else(|| panic!("the dashboard counts no {module}: {dashboard}"));
        assert!(expected > 0, "{module}: a few hundred records hold some");
        total += expected;
        let shown = browser
            .eval(&format!(
                "const c = document.querySelector('[data-testid=\"count-{module}\"]'); \
                 return c ? [c.dataset.count, c.querySelector('strong').textContent] : null;"
            ))
            .await;
        assert_eq!(
            shown[0].as_str(),
            Some(expected.to_string().as_str()),
            "{module}: {shown}"
        );
        let digits: String = shown[1]
            .as_str()
            .unwrap_or_default()
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        assert_eq!(digits, expected.to_string(), "{module} as shown: {shown}");
    }
    assert!(
        total <= stack.sim_records,
        "{total} mirrored of {} generated",
        stack.sim_records
    );
}

/// A decoded screenshot.
struct Picture {
    width: usize,
    height: usize,
    /// Bytes per pixel (RGB or RGBA after expansion).
    step: usize,
    pixels: Vec<u8>,
}

impl Picture {
    fn decode(png_bytes: &[u8]) -> Picture {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let mut reader = decoder.read_info().expect("a PNG");
        let mut pixels = vec![0; reader.output_buffer_size().expect("a frame size")];
        let info = reader.next_frame(&mut pixels).expect("the PNG's pixels");
        let step = info.color_type.samples();
        assert!(step >= 3, "a colour screenshot: {:?}", info.color_type);
        pixels.truncate(info.buffer_size());
        Picture {
            width: info.width as usize,
            height: info.height as usize,
            step,
            pixels,
        }
    }

    fn is(&self, x: usize, y: usize, colour: [u8; 3]) -> bool {
        let at = (y * self.width + x) * self.step;
        self.pixels[at..at + 3]
            .iter()
            .zip(colour)
            .all(|(a, b)| a.abs_diff(b) <= 4)
    }

    /// For `colour` inside `region` (x, y, width, height in pixels): the rows holding it and,
    /// along its lowest row, the separate runs of it (one per bar standing on the baseline).
    fn bars_of(&self, region: [usize; 4], colour: [u8; 3]) -> (usize, usize) {
        let [x0, y0, w, h] = region;
        let (x1, y1) = ((x0 + w).min(self.width), (y0 + h).min(self.height));
        let rows: Vec<usize> = (y0..y1)
            .filter(|&y| (x0..x1).filter(|&x| self.is(x, y, colour)).count() >= 2)
            .collect();
        let Some(&lowest) = rows.last() else {
            return (0, 0);
        };
        let mut runs = 0;
        let mut inside = false;
        for x in x0..x1 {
            let here = self.is(x, lowest, colour);
            if here && !inside {
                runs += 1;
            }
            inside = here;
        }
        (rows.len(), runs)
    }
}

/// The screenshot shows both charts drawn: a bar of each module's colour whose height is in
/// proportion to its record count, and the revenue chart's bars for the months with revenue
/// in the currency the page picked. Saved in the target dir for a person to look at.
async fn assert_charts(browser: &Browser, dashboard: &Value, name: &str) {
    let geometry = browser
        .eval(
            "document.getElementById('chart-records').scrollIntoView({block: 'center'}); \
             const box = (id) => { const r = document.getElementById(id).getBoundingClientRect(); \
                 return [r.left, r.top, r.width, r.height]; }; \
             return {ratio: window.devicePixelRatio, records: box('chart-records'), \
                 revenue: box('chart-revenue'), currency: document.getElementById('revenue-currency').value};",
        )
        .await;
    let png_bytes = browser.screenshot().await;
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.png"));
    std::fs::write(&path, &png_bytes).expect("save the screenshot");
    eprintln!("screenshot: {}", path.display());
    let picture = Picture::decode(&png_bytes);
    let ratio = geometry["ratio"].as_f64().unwrap_or(1.0);
    let region = |key: &str| -> [usize; 4] {
        let b: Vec<f64> = geometry[key]
            .as_array()
            .unwrap_or_else(|| panic!("no {key} box: {geometry}"))
            .iter()
            .map(|v| v.as_f64().unwrap_or_default() * ratio)
            .collect();
        [b[0], b[1], b[2], b[3]].map(|v| v.max(0.0).round() as usize)
    };
    let records = region("records");
    assert!(
        records[1] + records[3] <= picture.height && records[0] + records[2] <= picture.width,
        "the chart is inside the screenshot ({}x{}): {geometry}",
        picture.width,
        picture.height
    );

    let counts: Vec<(&str, u64, usize)> = MODULE_COLOURS
        .iter()
        .map(|(module, colour)| {
            let count = dashboard["modules"][module]["records"]
                .as_u64()
                .unwrap_or_default();
            let (height, bars) = picture.bars_of(records, *colour);
            assert_eq!(
                bars, 1,
                "{module}: one bar in its colour ({height} px high)"
            );
            (*module, count, height)
        })
        .collect();
    let (_, max_count, max_height) = counts
        .iter()
        .max_by_key(|(_, count, _)| *count)
        .copied()
        .expect("modules");
    assert!(
        max_height as f64 > 100.0 * ratio,
        "the tallest bar fills the plot: {counts:?}"
    );
    for (module, count, height) in &counts {
        let expected = *count as f64 / max_count as f64 * max_height as f64;
        assert!(
            (*height as f64 - expected).abs() <= 2.0 * ratio,
            "{module}: {height} px for {count} records, expected {expected:.1} ({counts:?})"
        );
    }

    // The revenue chart: one bar per month with revenue in the chosen currency (months too
    // small to reach a pixel left out), in the chart's own colour.
    let currency = geometry["currency"].as_str().unwrap_or_default();
    let months = dashboard["modules"]["sales"]["revenueByMonth"]
        .as_array()
        .expect("revenueByMonth");
    let amounts: Vec<f64> = months
        .iter()
        .map(|m| m["byCurrency"][currency].as_f64().unwrap_or_default())
        .collect();
    let top = amounts.iter().copied().fold(0.0, f64::max);
    assert!(
        top > 0.0,
        "the page picked {currency:?}, a currency with revenue: {months:?}"
    );
    let (height, bars) = picture.bars_of(region("revenue"), REVENUE_COLOUR);
    let expected_bars = amounts
        .iter()
        .filter(|a| (**a / top * height as f64).round() >= 1.0)
        .count();
    assert!(
        height as f64 > 100.0 * ratio,
        "the tallest revenue bar fills the plot"
    );
    assert_eq!(
        bars, expected_bars,
        "revenue bars in {currency}: {amounts:?}"
    );
}

/// The currency the page should chart first: revenue in the most months, then by code.
fn busiest_currency(dashboard: &Value) -> String {
    let mut months_with: std::collections::BTreeMap<String, usize> = dashboard["modules"]["sales"]
        ["totalByCurrency"]
        .as_object()
        .map(|o| o.keys().map(|k| (k.clone(), 0)).collect())
        .unwrap_or_default();
    for month in dashboard["modules"]["sales"]["revenueByMonth"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for code in month["byCurrency"]
            .as_object()
            .into_iter()
            .flat_map(|o| o.keys())
        {
            *months_with.entry(code.clone()).or_default() += 1;
        }
    }
    // max_by_key keeps the last of equals: walking the codes backwards, that is the first.
    months_with
        .into_iter()
        .rev()
        .max_by_key(|(_, n)| *n)
        .map(|(code, _)| code)
        .expect("a currency")
}

/// Money per currency on the page: one row per currency of the API's totals, never a sum.
async fn assert_money(browser: &Browser, dashboard: &Value) {
    let totals = dashboard["modules"]["sales"]["totalByCurrency"]
        .as_object()
        .expect("totalByCurrency");
    let rows = browser
        .eval("return [...document.querySelectorAll('#sales-totals tbody tr')].map(r => r.cells[0].textContent);")
        .await;
    let codes: Vec<&str> = rows
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        codes,
        totals.keys().map(String::as_str).collect::<Vec<_>>(),
        "a row per currency"
    );
    let chosen = browser
        .eval("return document.getElementById('revenue-currency').value;")
        .await;
    assert_eq!(
        chosen.as_str(),
        Some(busiest_currency(dashboard).as_str()),
        "the revenue chart's currency"
    );
}

// ------------------------------------------------------------------ the tests

/// The stream path, with the page's error display on the way: a bad token (401) and an API
/// that cannot be reached are said so; then the real token follows the sync from before the
/// connection is saved to the dashboard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_follows_the_stream_and_shows_the_dashboard() {
    let stack = stack(&[]).await;
    let driver = Driver::start().await;
    let browser = Browser::open(&driver).await;
    browser.set_window_size(1280, 1400).await;

    browser.goto(&stack.page("not-a-token", "")).await;
    let refused = browser
        .wait_until("the 401", ERROR_TEXT, START_LIMIT, |v| {
            v.as_str().is_some_and(|t| t.contains("401"))
        })
        .await;
    assert!(
        refused.as_str().is_some_and(|t| t.contains("JWT_SECRET")),
        "says what to check: {refused}"
    );
    assert_eq!(browser.eval(PHASE).await.as_str(), Some("error"));

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .port();
    browser.goto("about:blank").await;
    browser
        .goto(&format!(
            "{}/index.html#api=http://127.0.0.1:{closed}&token={}",
            stack.origin, stack.token
        ))
        .await;
    browser
        .wait_until("the unreachable API", ERROR_TEXT, START_LIMIT, |v| {
            v.as_str()
                .is_some_and(|t| t.contains("cannot reach") && t.contains("CORS_ALLOWED_ORIGINS"))
        })
        .await;

    // The real thing: the page is open before the connection is saved.
    browser.goto("about:blank").await;
    browser.goto(&stack.page(&stack.token, "")).await;
    browser
        .wait_until("the wait for a connection", NOTE_TEXT, START_LIMIT, |v| {
            v.as_str().is_some_and(|t| t.contains("No Odoo connection"))
        })
        .await;
    assert_eq!(
        browser
            .eval("return document.body.dataset.transport;")
            .await
            .as_str(),
        Some("stream")
    );
    stack.save_connection().await;
    wait_for_dashboard(&browser).await;
    assert_eq!(
        browser
            .eval("return document.body.dataset.transport;")
            .await
            .as_str(),
        Some("stream"),
        "the stream carried the sync to its end"
    );
    assert_eq!(
        browser.eval(ERROR_TEXT).await,
        Value::Null,
        "no error shown"
    );

    let dashboard = stack.dashboard().await;
    assert_counts(&browser, &stack, &dashboard).await;
    assert_money(&browser, &dashboard).await;
    assert_charts(&browser, &dashboard, "example-frontend-stream").await;
    browser.close().await;
}

/// The fallback: the tenant already holds the one status stream the API allows it
/// (`STATUS_STREAMS_PER_TENANT=1`), so the page's stream gets 429; it says so, polls
/// `GET /odoo/status` with `If-None-Match` (304 while nothing changes) and still reaches the
/// dashboard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_falls_back_to_etag_polling() {
    let stack = stack(&[("STATUS_STREAMS_PER_TENANT", "1")]).await;
    let mut held = stack
        .http
        .get(format!("{}/odoo/status/events", stack.api))
        .bearer_auth(&stack.token)
        .send()
        .await
        .expect("the test's own stream");
    assert_eq!(held.status(), 200);
    let first = tokio::time::timeout(START_LIMIT, held.chunk())
        .await
        .expect("a first event")
        .expect("read");
    assert!(first.is_some(), "the held stream is open");

    let driver = Driver::start().await;
    let browser = Browser::open(&driver).await;
    browser.set_window_size(1280, 1400).await;
    browser.goto(&stack.page(&stack.token, "&poll=1")).await;
    browser
        .wait_until("the fallback to polling", NOTE_TEXT, START_LIMIT, |v| {
            v.as_str()
                .is_some_and(|t| t.contains("429") && t.contains("too_many_streams"))
        })
        .await;
    assert_eq!(
        browser
            .eval("return document.body.dataset.transport;")
            .await
            .as_str(),
        Some("polling")
    );
    // Nothing changes before the connection is saved: the polls are answered 304.
    browser
        .wait_until(
            "a 304",
            "return Number(document.body.dataset.notModified);",
            START_LIMIT,
            |v| v.as_u64().is_some_and(|n| n >= 1),
        )
        .await;
    stack.save_connection().await;
    wait_for_dashboard(&browser).await;
    assert_eq!(
        browser
            .eval("return document.body.dataset.transport;")
            .await
            .as_str(),
        Some("polling")
    );
    let dashboard = stack.dashboard().await;
    assert_counts(&browser, &stack, &dashboard).await;
    assert_charts(&browser, &dashboard, "example-frontend-polling").await;
    browser.close().await;
    drop(held);
}
