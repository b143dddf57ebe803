//! Test support for the API: an [`TestApp`] served on `127.0.0.1:0` over a fresh store
//! (SQLite in a temp dir, or a real `mongod` from testkit), the Odoo simulator, tokens, a
//! log capture (to prove no secret is printed) and the engine driven directly to finish a
//! sync (the API never runs syncs itself).

#![allow(dead_code)]

pub mod echo_odoo;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use api::{ApiSettings, Application};
use base64::Engine;
use secrecy::SecretString;
use serde_json::Value;
use shared::config::{ApiLimits, EncryptionKey, Settings};
use shared::crypto::{connection_info, Keyring};
use shared::odoo::{ClientSettings, RetryPolicy};
use shared::store::mongo::MongoStore;
use shared::store::sqlite::SqliteStore;
use shared::store::{BatchStatus, SharedStore, TenantId};
use shared::sync::{EngineOptions, Step, SyncEngine};
use sim::{DatabaseSpec, SimServer, Simulator, UserSpec};

pub const JWT_SECRET: &str = "test-jwt-secret-that-is-long-enough-0123456789";
pub const ADMIN_TOKEN: &str = "test-admin-token-that-is-long-enough-0123456789";
/// The Odoo API key of the simulator's admin: it must never show up in storage or logs.
pub const ODOO_KEY: &str = "odoo-api-key-Zq8x3Vt9Lm2Kp7Wr";
pub const CORS_ORIGIN: &str = "https://app.example.com";

/// Everything the API's tracing prints in this test binary.
pub fn captured_logs() -> String {
    let buffer = log_buffer();
    let bytes = buffer.lock().map(|b| b.clone()).unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUFFER.get_or_init(|| Arc::new(Mutex::new(Vec::new())))
}

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(data);
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing subscriber once per test binary: everything at debug and above.
pub fn capture_logs() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let buffer = log_buffer().clone();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || Capture(buffer.clone()))
            .try_init();
    });
}

/// Which store the app runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Mongo,
}

/// Keeps the store's directory or server alive.
pub enum Backing {
    Dir(tempfile::TempDir),
    Mongo(testkit::MongoServer),
}

/// How to start the app.
pub struct Options {
    pub backend: Backend,
    pub allowed_private_hosts: Vec<String>,
    pub admin_token: Option<&'static str>,
    /// The job queue for the operators' queue routes.
    pub queue: Option<api::queue::QueueAdmin>,
    /// The limits put on clients; the defaults with save-connection rates high enough for
    /// tests that save many connections.
    pub limits: ApiLimits,
}

/// The defaults, with save-connection rates no test reaches by accident.
pub fn test_limits() -> ApiLimits {
    ApiLimits {
        save_connection_per_tenant_per_minute: 10_000,
        save_connection_per_minute: 10_000,
        ..ApiLimits::default()
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            backend: Backend::Sqlite,
            allowed_private_hosts: vec!["127.0.0.1:*".into()],
            admin_token: Some(ADMIN_TOKEN),
            queue: None,
            limits: test_limits(),
        }
    }
}

/// A running API and what tests need around it.
pub struct TestApp {
    pub url: String,
    pub http: reqwest::Client,
    pub store: SharedStore,
    pub keyring: Keyring,
    pub backing: Backing,
}

pub fn encryption_key() -> EncryptionKey {
    let bytes: Vec<u8> = (0u8..32)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect();
    EncryptionKey::parse(&base64::engine::general_purpose::STANDARD.encode(bytes))
        .expect("32 bytes")
}

pub async fn store_for(backend: Backend) -> (SharedStore, Backing) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = SqliteStore::open_in_dir(dir.path())
                .await
                .expect("sqlite store");
            (Arc::new(store), Backing::Dir(dir))
        }
        Backend::Mongo => {
            let server = testkit::MongoServer::start()
                .await
                .unwrap_or_else(|e| panic!("cannot start mongod (set MONGOD_BIN?): {e}"));
            let store = MongoStore::connect(&server.uri())
                .await
                .expect("mongo store");
            (Arc::new(store), Backing::Mongo(server))
        }
    }
}

/// The settings of a test app: the test secrets, the admin token, the simulator allowed on
/// every port of 127.0.0.1, quick Odoo calls, and `limits`.
pub fn test_settings(limits: ApiLimits) -> ApiSettings {
    ApiSettings {
        jwt_secret: SecretString::from(JWT_SECRET.to_string()),
        keyring: Keyring::new(&encryption_key()),
        admin_token: Some(SecretString::from(ADMIN_TOKEN.to_string())),
        allowed_private_hosts: vec!["127.0.0.1:*".into()],
        cors_allowed_origins: vec![CORS_ORIGIN.into()],
        odoo_client: ClientSettings {
            call_delay: Duration::ZERO,
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            retry: RetryPolicy::none(),
            ..ClientSettings::default()
        },
        body_limit: api::settings::DEFAULT_BODY_LIMIT,
        status_poll_interval: Duration::from_millis(100),
        limits,
        default_modules: shared::modules::Module::defaults(),
    }
}

pub async fn spawn_with(options: Options) -> TestApp {
    capture_logs();
    let (store, backing) = store_for(options.backend).await;
    let keyring = Keyring::new(&encryption_key());
    let settings = ApiSettings {
        admin_token: options
            .admin_token
            .map(|t| SecretString::from(t.to_string())),
        allowed_private_hosts: options.allowed_private_hosts,
        ..test_settings(options.limits)
    };
    let app = Application::build_with_queue(
        settings,
        store.clone(),
        options.queue,
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("the app starts");
    let url = format!("http://{}", app.address());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        url,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        store,
        keyring,
        backing,
    }
}

pub async fn spawn(backend: Backend) -> TestApp {
    spawn_with(Options {
        backend,
        ..Options::default()
    })
    .await
}

pub fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).expect("valid tenant id")
}

pub fn token(user: &str) -> String {
    api::auth::issue_token(
        &SecretString::from(JWT_SECRET.to_string()),
        &tenant(user),
        Duration::from_secs(600),
    )
    .expect("signs")
}

impl TestApp {
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    pub async fn get(&self, path: &str, user: &str) -> reqwest::Response {
        self.http
            .get(self.at(path))
            .bearer_auth(token(user))
            .send()
            .await
            .expect("request")
    }

    pub async fn save_connection(&self, user: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.at("/odoo/save-connection"))
            .bearer_auth(token(user))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::Response {
        self.http
            .request(method, self.at(path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("request")
    }

    /// Runs the tenant's sync to the end with the engine, as a worker would: prepare, then
    /// batches until nothing is runnable.
    pub async fn run_sync(&self, user: &str) {
        let id = tenant(user);
        let stored = self
            .store
            .connection(&id)
            .await
            .expect("store")
            .expect("a saved connection");
        let info = connection_info(&stored, &self.keyring).expect("the secret opens");
        let engine = SyncEngine::new(self.store.clone(), engine_options()).expect("engine");
        let step = engine.prepare(&id, &info, None).await.expect("prepare");
        assert!(matches!(step, Step::Prepared { .. }), "{step:?}");
        self.run_until_idle(user).await;
    }

    /// Runs the tenant's steps as a worker would until nothing is runnable (no prepare).
    pub async fn run_until_idle(&self, user: &str) {
        let id = tenant(user);
        let stored = self
            .store
            .connection(&id)
            .await
            .expect("store")
            .expect("a saved connection");
        let info = connection_info(&stored, &self.keyring).expect("the secret opens");
        let engine = SyncEngine::new(self.store.clone(), engine_options()).expect("engine");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            assert!(Instant::now() < deadline, "the sync did not finish");
            match engine.process_next_batch(&id, &info).await.expect("step") {
                Step::Idle => {
                    let waiting = self
                        .store
                        .batches(&id)
                        .await
                        .expect("batches")
                        .iter()
                        .any(|b| matches!(b.status, BatchStatus::Failed | BatchStatus::Pending));
                    if !waiting {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Step::Blocked(e) => panic!("blocked: {e:?}"),
                _ => {}
            }
        }
    }
}

pub fn engine_options() -> EngineOptions {
    let mut options = EngineOptions::from_settings(&Settings::defaults());
    options.limit_per_call = 50;
    options.retry_base = Duration::from_millis(20);
    options.retry_max = Duration::from_millis(200);
    options.lease_ttl = Duration::from_secs(10);
    options.client = ClientSettings {
        call_delay: Duration::ZERO,
        request_timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_retries: 2,
            min_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
        },
        ..ClientSettings::default()
    };
    options
}

/// A simulated Odoo 17 with the admin's API key and a few hundred records.
pub struct Odoo {
    pub sim: Simulator,
    pub server: SimServer,
    pub db: sim::Db,
}

pub async fn odoo() -> Odoo {
    odoo_with(17, |_| {}).await
}

/// A simulated Odoo of `version` like [`odoo`]'s, its spec changed by `customize` first.
pub async fn odoo_with(version: u32, customize: impl FnOnce(&mut DatabaseSpec)) -> Odoo {
    let sim = Simulator::new();
    let mut spec = DatabaseSpec::new("acme", version);
    spec.users = vec![UserSpec::admin().with_api_key(ODOO_KEY)];
    spec.data.records = 300;
    spec.data.days = 30;
    customize(&mut spec);
    let db = sim.add_database(spec).expect("database");
    let server = sim.serve("127.0.0.1:0").await.expect("serve");
    Odoo { sim, server, db }
}

impl Odoo {
    pub fn connection(&self) -> Value {
        serde_json::json!({
            "url": self.server.url(),
            "db": "acme",
            "username": "admin",
            "apiKey": ODOO_KEY,
        })
    }
}

/// The JSON body of a response, asserting its status.
pub async fn json(response: reqwest::Response, status: u16) -> Value {
    let got = response.status().as_u16();
    let text = response.text().await.expect("body");
    assert_eq!(got, status, "body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The `error` code of an error response with `status`.
pub async fn error_code(response: reqwest::Response, status: u16) -> String {
    let body = json(response, status).await;
    assert!(
        body["message"].is_string(),
        "errors carry a message: {body}"
    );
    body["error"].as_str().expect("error code").to_string()
}

/// A saved connection whose secret is not a real ciphertext: enough for routes that only read
/// the tenant's state.
pub fn fake_connection() -> shared::store::StoredConnection {
    shared::store::StoredConnection {
        url: "https://acme.example.com".into(),
        db: "acme".into(),
        username: "admin".into(),
        secret_kind: "api_key".into(),
        secret: shared::store::EncryptedSecret {
            key_id: "00000000".into(),
            nonce: "AAAAAAAAAAAAAAAA".into(),
            ciphertext: "AAAA".into(),
        },
        saved_at: chrono::Utc::now(),
        modules: None,
        protocol: None,
    }
}

/// Gives `user` a connection and two planned batches, as a worker would have left them after
/// giving one up: the first permanently failed with the error "Odoo server error (boom)".
pub async fn tenant_with_a_failed_batch(store: &SharedStore, user: &str) {
    tenant_with_failed_batches(store, user, 1).await;
}

/// A tenant planned with `failed + 1` batches of which the first `failed` were given up on.
pub async fn tenant_with_failed_batches(store: &SharedStore, user: &str, failed: usize) {
    let now = chrono::Utc::now();
    let hours = failed as i64 + 1;
    let plan: Vec<shared::store::NewBatch> = (0..hours)
        .map(|i| {
            shared::store::NewBatch::window(
                shared::modules::Module::sales(),
                shared::store::BatchKind::Initial,
                now - chrono::Duration::hours(hours - i),
                now - chrono::Duration::hours(hours - 1 - i),
                Some(1),
            )
        })
        .collect();
    tenant_with_plan_failed(store, user, plan, failed).await;
}

/// A tenant whose initial sync is one fetch group of `windows` one-hour windows, given up on
/// (one batch that progress counts as `windows`), and one window still pending.
pub async fn tenant_with_a_failed_group(store: &SharedStore, user: &str, windows: usize) {
    let now = chrono::Utc::now();
    let hours = windows as i64 + 1;
    let group: Vec<shared::store::BatchWindow> = (0..windows as i64)
        .map(|i| shared::store::BatchWindow {
            start: now - chrono::Duration::hours(hours - i),
            end: now - chrono::Duration::hours(hours - 1 - i),
            count: 1,
        })
        .collect();
    let plan = vec![
        shared::store::NewBatch::group(
            shared::modules::Module::sales(),
            shared::store::BatchKind::Initial,
            &group,
        )
        .expect("a group"),
        shared::store::NewBatch::window(
            shared::modules::Module::sales(),
            shared::store::BatchKind::Initial,
            now - chrono::Duration::hours(1),
            now,
            Some(1),
        ),
    ];
    tenant_with_plan_failed(store, user, plan, 1).await;
}

/// A prepared tenant with `plan`, its first `failed` batches given up on.
async fn tenant_with_plan_failed(
    store: &SharedStore,
    user: &str,
    plan: Vec<shared::store::NewBatch>,
    failed: usize,
) {
    let id = tenant(user);
    let now = chrono::Utc::now();
    store
        .save_connection(&id, &fake_connection(), now)
        .await
        .expect("save");
    let lease = store
        .acquire_lease(&id, "worker-1", Duration::from_secs(60))
        .await
        .expect("lease")
        .expect("free");
    let prepared = shared::store::Prepared {
        odoo_version: "17.0".into(),
        protocol: "xmlrpc".into(),
        modules: vec![shared::store::PlannedModule {
            module: shared::modules::Module::sales(),
            model: "sale.order".into(),
            extra_fields: Vec::new(),
        }],
        employee_access: shared::modules::EmployeeAccess::Full,
    };
    let batches = store
        .record_prepare(&lease, &prepared, &plan, now)
        .await
        .expect("prepare");
    for batch in &batches[..failed] {
        store
            .fail_batch(&lease, &batch.id, "Odoo server error (boom)", None, now)
            .await
            .expect("fail");
    }
    store.release_lease(&lease).await.expect("release");
}
