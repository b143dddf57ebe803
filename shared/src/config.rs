//! Typed settings, layered: built-in defaults, then an optional TOML file, then environment
//! variables (DESIGN.md 4.1). `Settings::load` either returns settings in which every value is
//! valid or an error naming the variable and what it accepts, so a bad value stops start-up.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use base64::Engine;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::modules::{DeclaredModule, Module, ModuleDeclarationError, Origin};
use crate::odoo::ClientSettings;

/// Every variable the service reads, in the environment's spelling.
pub const VARIABLES: &[&str] = &[
    "LIMIT_PER_CALL",
    "MAX_BATCH_ATTEMPTS",
    "INITIAL_SYNC_RANGE_DAYS",
    "MIN_WINDOW_MINUTES",
    "MAX_WINDOW_HOURS",
    "API_CALL_DELAY_MS",
    "CRON_SCHEDULE",
    "MONGO_URI",
    "REDIS_URL",
    "JWT_SECRET",
    "ENCRYPTION_KEY",
    "INCREMENTAL_INTERVAL_SECONDS",
    "INCREMENTAL_LOOKBACK_MINUTES",
    "RECONCILE_INTERVAL_HOURS",
    "VERIFY_INTERVAL_HOURS",
    "PAGE_SIZE",
    "BIND_ADDRESS",
    "DATA_DIR",
    "WORKER_CONCURRENCY",
    "ALLOWED_PRIVATE_HOSTS",
    "ODOO_CONNECT_TIMEOUT_SECONDS",
    "ODOO_REQUEST_TIMEOUT_SECONDS",
    "ADMIN_TOKEN",
    "PREVIOUS_ENCRYPTION_KEYS",
    "CORS_ALLOWED_ORIGINS",
    "LEASE_TTL_SECONDS",
    "WORKER_SHUTDOWN_GRACE_SECONDS",
    "WORKER_STEP_SECONDS",
    "WORKER_FETCHERS",
    "QUEUE_POLL_MS",
    "QUEUE_HEARTBEAT_SECONDS",
    "QUEUE_MISSED_HEARTBEATS",
    "QUEUE_CALL_TIMEOUT_SECONDS",
    "ENQUEUE_STALE_SECONDS",
    "SCHEDULER_MAX_PER_TICK",
    "SCHEDULER_MAX_BACKLOG",
    // The API's limits on clients (issue 10): `ApiLimits`.
    "HTTP_HEADER_TIMEOUT_SECONDS",
    "HTTP_BODY_TIMEOUT_SECONDS",
    "HTTP_MAX_CONNECTIONS",
    "STATUS_STREAMS_PER_TENANT",
    "STATUS_STREAMS_MAX",
    "SAVE_CONNECTION_PER_TENANT_PER_MINUTE",
    "SAVE_CONNECTION_PER_MINUTE",
    "PROBE_TIMEOUT_SECONDS",
    "JWT_AUDIENCE",
    "JWT_ISSUER",
    "JWT_MAX_LIFETIME",
    // Which modules a tenant syncs unless its connection names them (issue 11).
    "DEFAULT_MODULES",
];

/// A setting that is missing or out of range.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{variable}: {problem}")]
    Invalid {
        variable: &'static str,
        problem: String,
    },
    #[error("configuration: {0}")]
    Source(String),
    /// A `[modules.NAME]` table of the settings file.
    #[error(transparent)]
    Module(#[from] ModuleDeclarationError),
}

/// The largest `PAGE_SIZE`: Odoo answers bigger pages, but one answer then takes long enough
/// to meet worker time limits and proxies' timeouts.
const MAX_PAGE_SIZE: u32 = 10_000;

fn invalid(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        variable,
        problem: problem.into(),
    }
}

/// The settings as read, before validation. Field names are the variables in lower case.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    limit_per_call: u32,
    max_batch_attempts: u32,
    initial_sync_range_days: u32,
    min_window_minutes: u32,
    max_window_hours: u32,
    api_call_delay_ms: u64,
    cron_schedule: String,
    mongo_uri: Option<String>,
    redis_url: Option<String>,
    jwt_secret: Option<String>,
    encryption_key: Option<String>,
    incremental_interval_seconds: u64,
    incremental_lookback_minutes: u32,
    reconcile_interval_hours: u32,
    verify_interval_hours: u32,
    page_size: u32,
    bind_address: String,
    data_dir: String,
    worker_concurrency: u32,
    allowed_private_hosts: String,
    odoo_connect_timeout_seconds: u64,
    odoo_request_timeout_seconds: u64,
    admin_token: Option<String>,
    previous_encryption_keys: String,
    cors_allowed_origins: String,
    lease_ttl_seconds: u64,
    worker_shutdown_grace_seconds: u64,
    worker_step_seconds: u64,
    worker_fetchers: u64,
    queue_poll_ms: u64,
    queue_heartbeat_seconds: u64,
    queue_missed_heartbeats: u64,
    queue_call_timeout_seconds: u64,
    enqueue_stale_seconds: u64,
    scheduler_max_per_tick: u64,
    scheduler_max_backlog: u64,
    // The API's limits on clients: `ApiLimits`.
    http_header_timeout_seconds: u64,
    http_body_timeout_seconds: u64,
    http_max_connections: u64,
    status_streams_per_tenant: u64,
    status_streams_max: u64,
    save_connection_per_tenant_per_minute: u64,
    save_connection_per_minute: u64,
    probe_timeout_seconds: u64,
    jwt_audience: Option<String>,
    jwt_issuer: Option<String>,
    jwt_max_lifetime: u64,
    /// Comma-separated module names; empty means the built-in default ones plus every
    /// declared one.
    default_modules: String,
    /// `[modules.NAME]` tables of the settings file (declared modules, built-ins' extra fields).
    #[serde(default)]
    modules: std::collections::BTreeMap<String, DeclaredModule>,
}

impl Default for RawSettings {
    fn default() -> Self {
        RawSettings {
            limit_per_call: 200,
            max_batch_attempts: 4,
            initial_sync_range_days: 90,
            min_window_minutes: 30,
            max_window_hours: 24,
            api_call_delay_ms: 1000,
            cron_schedule: "*/10 * * * * *".into(),
            mongo_uri: None,
            redis_url: None,
            jwt_secret: None,
            encryption_key: None,
            incremental_interval_seconds: 300,
            incremental_lookback_minutes: 15,
            reconcile_interval_hours: 24,
            verify_interval_hours: 168,
            page_size: 1000,
            bind_address: "127.0.0.1:8080".into(),
            data_dir: "./data".into(),
            worker_concurrency: 32,
            allowed_private_hosts: String::new(),
            odoo_connect_timeout_seconds: 10,
            odoo_request_timeout_seconds: 120,
            admin_token: None,
            previous_encryption_keys: String::new(),
            cors_allowed_origins: String::new(),
            lease_ttl_seconds: 60,
            worker_shutdown_grace_seconds: 30,
            worker_step_seconds: 10,
            worker_fetchers: 2,
            queue_poll_ms: 200,
            queue_heartbeat_seconds: 2,
            queue_missed_heartbeats: 3,
            queue_call_timeout_seconds: 15,
            enqueue_stale_seconds: 120,
            scheduler_max_per_tick: 2000,
            scheduler_max_backlog: 5000,
            http_header_timeout_seconds: ApiLimits::DEFAULT.header_timeout.as_secs(),
            http_body_timeout_seconds: ApiLimits::DEFAULT.body_timeout.as_secs(),
            http_max_connections: ApiLimits::DEFAULT.max_connections as u64,
            status_streams_per_tenant: ApiLimits::DEFAULT.status_streams_per_tenant as u64,
            status_streams_max: ApiLimits::DEFAULT.status_streams_max as u64,
            save_connection_per_tenant_per_minute: u64::from(
                ApiLimits::DEFAULT.save_connection_per_tenant_per_minute,
            ),
            save_connection_per_minute: u64::from(ApiLimits::DEFAULT.save_connection_per_minute),
            probe_timeout_seconds: ApiLimits::DEFAULT.probe_timeout.as_secs(),
            jwt_audience: None,
            jwt_issuer: None,
            jwt_max_lifetime: 0,
            default_modules: String::new(),
            modules: Default::default(),
        }
    }
}

/// Registers the settings' `[modules.NAME]` tables (a declared module, or extra fields of a
/// built-in one) and returns the default modules: `DEFAULT_MODULES`, or the built-in default
/// ones plus every declared one.
fn register_modules(
    tables: &std::collections::BTreeMap<String, DeclaredModule>,
    default_modules: &str,
) -> Result<Vec<Module>, ConfigError> {
    for (name, table) in tables {
        match Module::named(name) {
            Some(module) if module.origin() != Origin::Declared => {
                module.add_field_patterns(&table.extra_patterns(name)?);
            }
            _ => {
                Module::declare(table.to_spec(name)?)?;
            }
        }
    }
    if default_modules.trim().is_empty() {
        return Ok(Module::defaults());
    }
    comma_list(default_modules)
        .map(|name| {
            name.parse::<Module>()
                .map_err(|e| invalid("DEFAULT_MODULES", e.to_string()))
        })
        .collect()
}

/// The 32-byte key that encrypts Odoo secrets at rest.
#[derive(Clone)]
pub struct EncryptionKey([u8; 32]);

impl EncryptionKey {
    /// Parses standard base64 of exactly 32 bytes.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| "must be base64 (standard alphabet)".to_string())?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| format!("must decode to 32 bytes, got {}", b.len()))?;
        Ok(EncryptionKey(key))
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncryptionKey([REDACTED])")
    }
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub limit_per_call: u32,
    pub max_batch_attempts: u32,
    /// 0 means all history.
    pub initial_sync_range_days: u32,
    pub min_window: Duration,
    pub max_window: Duration,
    pub api_call_delay: Duration,
    pub cron_schedule: cron::Schedule,
    pub mongo_uri: Option<String>,
    pub redis_url: Option<String>,
    pub jwt_secret: Option<SecretString>,
    pub encryption_key: Option<EncryptionKey>,
    pub incremental_interval: Duration,
    pub incremental_lookback: Duration,
    pub reconcile_interval: Duration,
    /// How often every mirrored record's content is re-read and compared (a verify).
    pub verify_interval: Duration,
    /// Records per `search_read` page of reconcile and verify reads (a batch still counts at
    /// most `limit_per_call` records).
    pub page_size: u32,
    pub bind_address: SocketAddr,
    pub data_dir: PathBuf,
    pub worker_concurrency: u32,
    /// Hosts that may resolve to private addresses (the simulator in tests and the demo).
    pub allowed_private_hosts: Vec<String>,
    pub odoo_connect_timeout: Duration,
    pub odoo_request_timeout: Duration,
    /// Bearer token of the operator routes (`/admin/...`); unset disables them.
    pub admin_token: Option<SecretString>,
    /// Keys that still decrypt secrets sealed before a rotation (comma-separated base64).
    pub previous_encryption_keys: Vec<EncryptionKey>,
    /// Origins browsers may call the API from (CORS), e.g. `https://app.example.com`;
    /// empty allows none, `*` allows any.
    pub cors_allowed_origins: Vec<String>,
    /// How the queue roles (worker, scheduler, standalone) run.
    pub queue: QueueTuning,
    /// What the HTTP API allows its clients.
    pub api_limits: ApiLimits,
    /// The modules a tenant syncs unless its connection names others (`DEFAULT_MODULES`).
    pub modules: Vec<Module>,
}

/// The limits the HTTP API puts on its clients (README, "Limits"): slow and idle
/// connections, connection count, status streams, save-connection rate and the connection
/// test's duration, and the optional claims a tenant token must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiLimits {
    /// A request's head must arrive within this; an idle keep-alive connection is closed
    /// after it too (`HTTP_HEADER_TIMEOUT_SECONDS`).
    pub header_timeout: Duration,
    /// A request's body must arrive within this (`HTTP_BODY_TIMEOUT_SECONDS`).
    pub body_timeout: Duration,
    /// Connections served at once; more are answered 503 and closed (`HTTP_MAX_CONNECTIONS`).
    pub max_connections: usize,
    /// Status event streams one tenant may hold open (`STATUS_STREAMS_PER_TENANT`).
    pub status_streams_per_tenant: usize,
    /// Status event streams of all tenants together (`STATUS_STREAMS_MAX`).
    pub status_streams_max: usize,
    /// save-connection calls per tenant per minute (`SAVE_CONNECTION_PER_TENANT_PER_MINUTE`).
    pub save_connection_per_tenant_per_minute: u32,
    /// save-connection calls of all tenants per minute (`SAVE_CONNECTION_PER_MINUTE`).
    pub save_connection_per_minute: u32,
    /// The longest a connection test may take, retries included (`PROBE_TIMEOUT_SECONDS`).
    pub probe_timeout: Duration,
    /// The `aud` a tenant token must name, when set (`JWT_AUDIENCE`).
    pub jwt_audience: Option<String>,
    /// The `iss` a tenant token must carry, when set (`JWT_ISSUER`).
    pub jwt_issuer: Option<String>,
    /// The longest `exp - iat` a tenant token may have, when set; such tokens need `iat`
    /// (`JWT_MAX_LIFETIME`, seconds, 0 = no limit).
    pub jwt_max_lifetime: Option<Duration>,
}

impl ApiLimits {
    pub const DEFAULT: ApiLimits = ApiLimits {
        header_timeout: Duration::from_secs(10),
        body_timeout: Duration::from_secs(30),
        max_connections: 512,
        status_streams_per_tenant: 5,
        status_streams_max: 1000,
        save_connection_per_tenant_per_minute: 6,
        save_connection_per_minute: 120,
        probe_timeout: Duration::from_secs(20),
        jwt_audience: None,
        jwt_issuer: None,
        jwt_max_lifetime: None,
    };

    fn from_raw(raw: &RawSettings) -> Result<ApiLimits, ConfigError> {
        let secs =
            |variable, value, min, max| within(variable, value, min, max).map(Duration::from_secs);
        let count = |variable, value, max| within(variable, value, 1, max);
        Ok(ApiLimits {
            header_timeout: secs(
                "HTTP_HEADER_TIMEOUT_SECONDS",
                raw.http_header_timeout_seconds,
                1,
                300,
            )?,
            body_timeout: secs(
                "HTTP_BODY_TIMEOUT_SECONDS",
                raw.http_body_timeout_seconds,
                1,
                600,
            )?,
            max_connections: count("HTTP_MAX_CONNECTIONS", raw.http_max_connections, 100_000)?
                as usize,
            status_streams_per_tenant: count(
                "STATUS_STREAMS_PER_TENANT",
                raw.status_streams_per_tenant,
                1_000,
            )? as usize,
            status_streams_max: count("STATUS_STREAMS_MAX", raw.status_streams_max, 100_000)?
                as usize,
            save_connection_per_tenant_per_minute: count(
                "SAVE_CONNECTION_PER_TENANT_PER_MINUTE",
                raw.save_connection_per_tenant_per_minute,
                10_000,
            )? as u32,
            save_connection_per_minute: count(
                "SAVE_CONNECTION_PER_MINUTE",
                raw.save_connection_per_minute,
                100_000,
            )? as u32,
            probe_timeout: secs("PROBE_TIMEOUT_SECONDS", raw.probe_timeout_seconds, 1, 120)?,
            jwt_audience: non_empty(raw.jwt_audience.clone()),
            jwt_issuer: non_empty(raw.jwt_issuer.clone()),
            jwt_max_lifetime: match within("JWT_MAX_LIFETIME", raw.jwt_max_lifetime, 0, 31_536_000)?
            {
                0 => None,
                seconds => Some(Duration::from_secs(seconds)),
            },
        })
    }
}

impl Default for ApiLimits {
    fn default() -> Self {
        ApiLimits::DEFAULT
    }
}

/// Settings of the queue roles: leases, shutdown, apalis polling and heartbeats, scheduler
/// bounds. The defaults are the ones QUEUE-NOTES.md argues for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueTuning {
    /// A tenant's lease lasts this long unless renewed (`LEASE_TTL_SECONDS`).
    pub lease_ttl: Duration,
    /// Time in-flight jobs get to finish after SIGTERM (`WORKER_SHUTDOWN_GRACE_SECONDS`).
    pub shutdown_grace: Duration,
    /// How long one job goes on taking a tenant's fetch groups under its lease
    /// (`WORKER_STEP_SECONDS`; 0: one group per job).
    pub step_budget: Duration,
    /// apalis workers per process; the concurrency is split between them (`WORKER_FETCHERS`).
    pub fetchers: usize,
    /// How often an idle worker looks for jobs (`QUEUE_POLL_MS`).
    pub poll_interval: Duration,
    /// Worker heartbeat; a worker silent for `heartbeat * missed_heartbeats` is presumed dead
    /// and its jobs go back to the queue (`QUEUE_HEARTBEAT_SECONDS`, `QUEUE_MISSED_HEARTBEATS`).
    pub heartbeat: Duration,
    pub missed_heartbeats: usize,
    /// The longest one push or backlog count may take (`QUEUE_CALL_TIMEOUT_SECONDS`).
    pub call_timeout: Duration,
    /// A queued-job mark older than this is presumed lost and the tenant is queued again
    /// (`ENQUEUE_STALE_SECONDS`).
    pub enqueue_stale: Duration,
    /// Jobs one scheduler tick pushes at most (`SCHEDULER_MAX_PER_TICK`).
    pub max_per_tick: usize,
    /// No pushing while this many jobs wait; above ~8,000 apalis-redis' fetch breaks
    /// (`SCHEDULER_MAX_BACKLOG`).
    pub max_backlog: u64,
}

impl Settings {
    /// Defaults, then `file` (TOML with the same keys in lower case, e.g. `limit_per_call = 500`), then the
    /// environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(RawSettings::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Source(format!(
                    "configuration file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(Env::raw().only(VARIABLES));
        Self::from_figment(figment)
    }

    /// The defaults alone (tests, the demo).
    pub fn defaults() -> Self {
        Self::from_figment(Figment::from(Serialized::defaults(RawSettings::default())))
            .unwrap_or_else(|e| panic!("built-in defaults are invalid: {e}"))
    }

    /// Settings from explicit key/value pairs over the defaults (tests).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(RawSettings::default()));
        for (key, value) in pairs {
            let parsed: figment::value::Value = value
                .parse()
                .unwrap_or_else(|_| figment::value::Value::from(value.to_string()));
            figment = figment.merge((key.to_lowercase(), parsed));
        }
        Self::from_figment(figment)
    }

    fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let raw: RawSettings = figment.extract().map_err(|e| {
            let key = e.path.last().map(|k| k.to_uppercase());
            match key.and_then(|k| VARIABLES.iter().find(|v| **v == k)) {
                Some(variable) => invalid(variable, e.kind.to_string()),
                None => ConfigError::Source(e.to_string()),
            }
        })?;
        Self::validate(raw)
    }

    fn validate(raw: RawSettings) -> Result<Self, ConfigError> {
        let api_limits = ApiLimits::from_raw(&raw)?;
        let modules = register_modules(&raw.modules, &raw.default_modules)?;
        if !(1..=10_000).contains(&raw.limit_per_call) {
            return Err(invalid("LIMIT_PER_CALL", "must be between 1 and 10000"));
        }
        if !(1..=100).contains(&raw.max_batch_attempts) {
            return Err(invalid("MAX_BATCH_ATTEMPTS", "must be between 1 and 100"));
        }
        if raw.initial_sync_range_days > 36_500 {
            return Err(invalid(
                "INITIAL_SYNC_RANGE_DAYS",
                "must be at most 36500 (0 means all history)",
            ));
        }
        if raw.min_window_minutes == 0 {
            return Err(invalid("MIN_WINDOW_MINUTES", "must be at least 1"));
        }
        if raw.max_window_hours == 0 {
            return Err(invalid("MAX_WINDOW_HOURS", "must be at least 1"));
        }
        if u64::from(raw.min_window_minutes) > u64::from(raw.max_window_hours) * 60 {
            return Err(invalid(
                "MIN_WINDOW_MINUTES",
                "must not be larger than MAX_WINDOW_HOURS",
            ));
        }
        if raw.api_call_delay_ms > 600_000 {
            return Err(invalid(
                "API_CALL_DELAY_MS",
                "must be at most 600000 (ten minutes)",
            ));
        }
        let schedule_fields = raw.cron_schedule.split_whitespace().count();
        if schedule_fields != 6 {
            return Err(invalid(
                "CRON_SCHEDULE",
                format!(
                    "must have 6 fields, seconds first (e.g. \"*/10 * * * * *\"), got {schedule_fields}"
                ),
            ));
        }
        let cron_schedule = cron::Schedule::from_str(&raw.cron_schedule)
            .map_err(|e| invalid("CRON_SCHEDULE", format!("is not a valid schedule: {e}")))?;
        let mongo_uri = non_empty(raw.mongo_uri);
        if let Some(uri) = &mongo_uri {
            if !(uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://")) {
                return Err(invalid(
                    "MONGO_URI",
                    "must start with mongodb:// or mongodb+srv://",
                ));
            }
        }
        let redis_url = non_empty(raw.redis_url);
        if let Some(url) = &redis_url {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(invalid(
                    "REDIS_URL",
                    "must start with redis:// or rediss://",
                ));
            }
        }
        let jwt_secret = match non_empty(raw.jwt_secret) {
            Some(secret) if secret.len() < 32 => {
                return Err(invalid("JWT_SECRET", "must be at least 32 characters"))
            }
            other => other.map(SecretString::from),
        };
        let encryption_key = non_empty(raw.encryption_key)
            .map(|k| EncryptionKey::parse(&k).map_err(|p| invalid("ENCRYPTION_KEY", p)))
            .transpose()?;
        if raw.incremental_interval_seconds == 0 {
            return Err(invalid(
                "INCREMENTAL_INTERVAL_SECONDS",
                "must be at least 1",
            ));
        }
        if raw.reconcile_interval_hours == 0 {
            return Err(invalid("RECONCILE_INTERVAL_HOURS", "must be at least 1"));
        }
        if raw.verify_interval_hours == 0 {
            return Err(invalid("VERIFY_INTERVAL_HOURS", "must be at least 1"));
        }
        if !(1..=MAX_PAGE_SIZE).contains(&raw.page_size) {
            return Err(invalid(
                "PAGE_SIZE",
                format!("must be between 1 and {MAX_PAGE_SIZE}"),
            ));
        }
        let bind_address = bind_address(&raw.bind_address).ok_or_else(|| {
            invalid(
                "BIND_ADDRESS",
                "must be an IP address and port, e.g. 127.0.0.1:8080 or 0.0.0.0:8080 \
                 (localhost:PORT means 127.0.0.1:PORT)",
            )
        })?;
        if raw.data_dir.trim().is_empty() {
            return Err(invalid("DATA_DIR", "must not be empty"));
        }
        if !(1..=10_000).contains(&raw.worker_concurrency) {
            return Err(invalid("WORKER_CONCURRENCY", "must be between 1 and 10000"));
        }
        if raw.odoo_connect_timeout_seconds == 0 || raw.odoo_request_timeout_seconds == 0 {
            return Err(invalid(
                "ODOO_REQUEST_TIMEOUT_SECONDS",
                "timeouts must be at least 1 second",
            ));
        }
        let admin_token = match non_empty(raw.admin_token) {
            Some(token) if token.trim().len() < 32 => {
                return Err(invalid("ADMIN_TOKEN", "must be at least 32 characters"))
            }
            other => other.map(|t| SecretString::from(t.trim().to_string())),
        };
        let previous_encryption_keys = comma_list(&raw.previous_encryption_keys)
            .map(|k| {
                EncryptionKey::parse(k)
                    .map_err(|p| invalid("PREVIOUS_ENCRYPTION_KEYS", format!("each key {p}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let queue = QueueTuning {
            lease_ttl: Duration::from_secs(within(
                "LEASE_TTL_SECONDS",
                raw.lease_ttl_seconds,
                3,
                3600,
            )?),
            shutdown_grace: Duration::from_secs(within(
                "WORKER_SHUTDOWN_GRACE_SECONDS",
                raw.worker_shutdown_grace_seconds,
                0,
                3600,
            )?),
            step_budget: Duration::from_secs(within(
                "WORKER_STEP_SECONDS",
                raw.worker_step_seconds,
                0,
                300,
            )?),
            fetchers: within("WORKER_FETCHERS", raw.worker_fetchers, 1, 64)? as usize,
            poll_interval: Duration::from_millis(within(
                "QUEUE_POLL_MS",
                raw.queue_poll_ms,
                10,
                60_000,
            )?),
            heartbeat: Duration::from_secs(within(
                "QUEUE_HEARTBEAT_SECONDS",
                raw.queue_heartbeat_seconds,
                1,
                300,
            )?),
            missed_heartbeats: within(
                "QUEUE_MISSED_HEARTBEATS",
                raw.queue_missed_heartbeats,
                1,
                100,
            )? as usize,
            call_timeout: Duration::from_secs(within(
                "QUEUE_CALL_TIMEOUT_SECONDS",
                raw.queue_call_timeout_seconds,
                1,
                600,
            )?),
            enqueue_stale: Duration::from_secs(within(
                "ENQUEUE_STALE_SECONDS",
                raw.enqueue_stale_seconds,
                5,
                86_400,
            )?),
            max_per_tick: within(
                "SCHEDULER_MAX_PER_TICK",
                raw.scheduler_max_per_tick,
                1,
                100_000,
            )? as usize,
            max_backlog: within("SCHEDULER_MAX_BACKLOG", raw.scheduler_max_backlog, 1, 7_000)?,
        };
        let cors_allowed_origins: Vec<String> = comma_list(&raw.cors_allowed_origins)
            .map(|o| o.trim_end_matches('/').to_string())
            .collect();
        for origin in &cors_allowed_origins {
            let valid = origin == "*"
                || url::Url::parse(origin).is_ok_and(|u| {
                    matches!(u.scheme(), "http" | "https")
                        && u.host_str().is_some()
                        && u.path() == "/"
                        && u.query().is_none()
                });
            if !valid {
                return Err(invalid(
                    "CORS_ALLOWED_ORIGINS",
                    format!(
                        "{origin:?} is not an origin: use scheme://host[:port], comma-separated, or *"
                    ),
                ));
            }
        }
        Ok(Settings {
            limit_per_call: raw.limit_per_call,
            max_batch_attempts: raw.max_batch_attempts,
            initial_sync_range_days: raw.initial_sync_range_days,
            min_window: Duration::from_secs(u64::from(raw.min_window_minutes) * 60),
            max_window: Duration::from_secs(u64::from(raw.max_window_hours) * 3600),
            api_call_delay: Duration::from_millis(raw.api_call_delay_ms),
            cron_schedule,
            mongo_uri,
            redis_url,
            jwt_secret,
            encryption_key,
            incremental_interval: Duration::from_secs(raw.incremental_interval_seconds),
            incremental_lookback: Duration::from_secs(
                u64::from(raw.incremental_lookback_minutes) * 60,
            ),
            reconcile_interval: Duration::from_secs(u64::from(raw.reconcile_interval_hours) * 3600),
            verify_interval: Duration::from_secs(u64::from(raw.verify_interval_hours) * 3600),
            page_size: raw.page_size,
            bind_address,
            data_dir: PathBuf::from(raw.data_dir),
            worker_concurrency: raw.worker_concurrency,
            allowed_private_hosts: raw
                .allowed_private_hosts
                .split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(str::to_lowercase)
                .collect(),
            odoo_connect_timeout: Duration::from_secs(raw.odoo_connect_timeout_seconds),
            odoo_request_timeout: Duration::from_secs(raw.odoo_request_timeout_seconds),
            admin_token,
            previous_encryption_keys,
            cors_allowed_origins,
            queue,
            api_limits,
            modules,
        })
    }

    /// The Odoo client's settings derived from these.
    pub fn client_settings(&self) -> ClientSettings {
        ClientSettings {
            call_delay: self.api_call_delay,
            connect_timeout: self.odoo_connect_timeout,
            request_timeout: self.odoo_request_timeout,
            page_size: self.page_size,
            ..ClientSettings::default()
        }
    }
}

/// The non-empty, trimmed items of a comma-separated list.
/// `value` when it lies in `min..=max`, else an error naming the variable and the range.
fn within(variable: &'static str, value: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(invalid(
            variable,
            format!("must be between {min} and {max}, got {value}"),
        ))
    }
}

fn comma_list(text: &str) -> impl Iterator<Item = &str> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// `BIND_ADDRESS` as a socket address: an IP and a port, or `localhost:PORT` for the IPv4
/// loopback (no name lookup at start-up: a listener on a name would depend on resolution).
fn bind_address(value: &str) -> Option<SocketAddr> {
    let value = value.trim();
    if let Ok(address) = value.parse() {
        return Some(address);
    }
    let port = value.strip_prefix("localhost:")?.parse::<u16>().ok()?;
    Some(SocketAddr::from(([127, 0, 0, 1], port)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_design() {
        let s = Settings::defaults();
        assert_eq!(s.limit_per_call, 200);
        assert_eq!(s.max_batch_attempts, 4);
        assert_eq!(s.initial_sync_range_days, 90);
        assert_eq!(s.min_window, Duration::from_secs(30 * 60));
        assert_eq!(s.max_window, Duration::from_secs(24 * 3600));
        assert_eq!(s.api_call_delay, Duration::from_millis(1000));
        assert_eq!(s.verify_interval, Duration::from_secs(7 * 24 * 3600));
        assert_eq!(s.page_size, 1000);
        assert!(s.mongo_uri.is_none() && s.redis_url.is_none());
        assert_eq!(s.queue.lease_ttl, Duration::from_secs(60));
        assert_eq!(s.queue.heartbeat, Duration::from_secs(2));
        assert_eq!(s.queue.missed_heartbeats, 3);
        assert_eq!(s.queue.max_backlog, 5000);
    }

    #[test]
    fn bind_address_takes_an_ip_and_port_or_localhost() {
        assert_eq!(
            bind_address("localhost:8080"),
            Some(SocketAddr::from(([127, 0, 0, 1], 8080)))
        );
        assert_eq!(
            bind_address(" 0.0.0.0:80 "),
            Some(SocketAddr::from(([0, 0, 0, 0], 80)))
        );
        assert!(bind_address("[::1]:8080").is_some());
        for bad in ["localhost", "localhost:http", "example.com:8080", "8080"] {
            assert_eq!(bind_address(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn bad_values_name_the_variable() {
        let cases: &[(&str, &str, &str)] = &[
            ("LIMIT_PER_CALL", "0", "LIMIT_PER_CALL"),
            ("LIMIT_PER_CALL", "lots", "LIMIT_PER_CALL"),
            ("CRON_SCHEDULE", "*/10 * * * *", "CRON_SCHEDULE"),
            ("ENCRYPTION_KEY", "c2hvcnQ=", "ENCRYPTION_KEY"),
            ("MIN_WINDOW_MINUTES", "5000", "MIN_WINDOW_MINUTES"),
            ("VERIFY_INTERVAL_HOURS", "0", "VERIFY_INTERVAL_HOURS"),
            ("PAGE_SIZE", "0", "PAGE_SIZE"),
            ("PAGE_SIZE", "20000", "PAGE_SIZE"),
            ("BIND_ADDRESS", "localhost", "BIND_ADDRESS"),
            ("MONGO_URI", "postgres://x", "MONGO_URI"),
            ("ADMIN_TOKEN", "short", "ADMIN_TOKEN"),
            (
                "PREVIOUS_ENCRYPTION_KEYS",
                "c2hvcnQ=",
                "PREVIOUS_ENCRYPTION_KEYS",
            ),
            ("CORS_ALLOWED_ORIGINS", "ftp://x", "CORS_ALLOWED_ORIGINS"),
            ("SCHEDULER_MAX_BACKLOG", "9000", "SCHEDULER_MAX_BACKLOG"),
            ("QUEUE_POLL_MS", "soon", "QUEUE_POLL_MS"),
            ("LEASE_TTL_SECONDS", "1", "LEASE_TTL_SECONDS"),
            (
                "CORS_ALLOWED_ORIGINS",
                "https://a.com/path",
                "CORS_ALLOWED_ORIGINS",
            ),
        ];
        for (key, value, named) in cases {
            let err = Settings::from_pairs(&[(key, value)]).expect_err(key);
            assert!(err.to_string().starts_with(named), "{key}={value}: {err}");
        }
    }

    #[test]
    fn good_values_are_taken() {
        let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let s = Settings::from_pairs(&[
            ("LIMIT_PER_CALL", "500"),
            ("ENCRYPTION_KEY", &key),
            ("ALLOWED_PRIVATE_HOSTS", "127.0.0.1, Localhost"),
        ])
        .expect("valid");
        assert_eq!(s.limit_per_call, 500);
        assert_eq!(s.encryption_key.expect("set").bytes(), &[7u8; 32]);
        assert_eq!(s.allowed_private_hosts, vec!["127.0.0.1", "localhost"]);
        assert!(!format!("{:?}", Settings::from_pairs(&[("ENCRYPTION_KEY", &key)])).contains(&key));
    }

    #[test]
    // figment's `Jail` closures must return figment's own (large) error type.
    #[allow(clippy::result_large_err)]
    fn queue_settings_come_from_a_toml_file_and_the_environment_wins() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("odoo-sync.toml");
        std::fs::write(&path, "lease_ttl_seconds = 30\nworker_fetchers = 4\n").expect("written");
        figment::Jail::expect_with(|jail| {
            jail.set_env("WORKER_FETCHERS", "3");
            let s = Settings::load(Some(&path)).expect("valid");
            assert_eq!(s.queue.lease_ttl, Duration::from_secs(30));
            assert_eq!(s.queue.fetchers, 3);
            Ok(())
        });
    }

    #[test]
    fn api_limits_are_read_and_checked() {
        let s = Settings::from_pairs(&[
            ("HTTP_MAX_CONNECTIONS", "64"),
            ("JWT_AUDIENCE", "odoo-sync"),
            ("JWT_MAX_LIFETIME", "3600"),
            ("PROBE_TIMEOUT_SECONDS", "5"),
        ])
        .expect("valid");
        assert_eq!(s.api_limits.max_connections, 64);
        assert_eq!(s.api_limits.jwt_audience.as_deref(), Some("odoo-sync"));
        assert_eq!(s.api_limits.jwt_issuer, None);
        assert_eq!(
            s.api_limits.jwt_max_lifetime,
            Some(Duration::from_secs(3600))
        );
        assert_eq!(s.api_limits.probe_timeout, Duration::from_secs(5));
        assert_eq!(Settings::defaults().api_limits, ApiLimits::DEFAULT);
        for (variable, value) in [
            ("HTTP_MAX_CONNECTIONS", "0"),
            ("HTTP_HEADER_TIMEOUT_SECONDS", "0"),
            ("PROBE_TIMEOUT_SECONDS", "600"),
            ("STATUS_STREAMS_PER_TENANT", "0"),
        ] {
            match Settings::from_pairs(&[(variable, value)]) {
                Err(ConfigError::Invalid { variable: v, .. }) => assert_eq!(v, variable),
                other => panic!("{variable}={value} must be refused, got {other:?}"),
            }
        }
    }
}
