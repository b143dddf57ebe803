//! The job queue as the rest of the service sees it: push tenant jobs, measure the backlog,
//! clean finished jobs. Two backends behind one trait: Redis (apalis-redis, distributed) and
//! SQLite (apalis-sqlite, standalone). [`QueueSettings`] holds the apalis settings chosen
//! against the failures listed in QUEUE-NOTES.md.

use std::path::Path;
use std::time::Duration;

use apalis_core::backend::Vacuum;
use apalis_core::task::builder::TaskBuilder;
use apalis_core::task::Task;
use apalis_redis::{Config as RedisConfig, ConnectionManager, RedisStorage};
use apalis_sqlite::{Config as SqliteConfig, SqlitePool, SqliteStorage};
use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use futures::{Sink, SinkExt};

use crate::job::{Incoming, TenantJob};

/// The queue name (Redis key prefix `odoo-sync:jobs:…`, SQLite `job_type`).
pub const QUEUE_NAME: &str = "odoo-sync:jobs";

/// Jobs pushed per Redis round trip.
const PUSH_CHUNK: usize = 500;

/// Why the queue could not be used.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis queue: {0}")]
    RedisBackend(#[from] apalis_redis::Error),
    #[error("sqlite queue: {0}")]
    Sqlite(#[from] apalis_sqlite::Error),
    #[error("sqlite queue: {0}")]
    Sql(#[from] sqlx::Error),
    /// The queue did not answer in time (a dead connection the OS has not reported yet, a
    /// server restarting); the caller carries on and the scheduler repairs what was missed.
    #[error("the queue did not answer within {0:?}")]
    TimedOut(Duration),
}

/// Pushes `jobs` into an apalis storage, one round trip per chunk.
async fn push_chunks<S>(mut storage: S, jobs: &[TenantJob]) -> Result<(), QueueError>
where
    S: Sink<Task<Vec<u8>>> + Unpin,
    QueueError: From<S::Error>,
{
    for chunk in jobs.chunks(PUSH_CHUNK) {
        let tasks: Vec<Result<Task<Vec<u8>>, S::Error>> = chunk
            .iter()
            .map(|job| Ok(TaskBuilder::new(job.encode()).build()))
            .collect();
        storage.send_all(&mut futures::stream::iter(tasks)).await?;
    }
    Ok(())
}

/// Runs one queue call, giving up after `limit`.
async fn bounded<T>(
    limit: Duration,
    call: impl std::future::Future<Output = Result<T, QueueError>>,
) -> Result<T, QueueError> {
    tokio::time::timeout(limit, call)
        .await
        .unwrap_or(Err(QueueError::TimedOut(limit)))
}

/// How workers use the queue. The defaults are the ones QUEUE-NOTES.md argues for.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// How often an idle worker looks for new jobs (without it: only at heartbeats).
    pub poll_interval: Duration,
    /// Worker heartbeat; a worker silent for `heartbeat * missed_heartbeats` is presumed
    /// dead and its in-flight jobs go back to the queue.
    pub heartbeat: Duration,
    pub missed_heartbeats: usize,
    /// Jobs fetched per poll.
    pub batch_size: usize,
    /// Redis reply timeout (redis-rs' 500 ms default turns a slow Redis into a fatal error).
    pub response_timeout: Duration,
    pub connection_timeout: Duration,
    /// The longest a push, backlog count or clean-up may take, reconnects included.
    pub call_timeout: Duration,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            poll_interval: Duration::from_millis(200),
            heartbeat: Duration::from_secs(2),
            missed_heartbeats: 3,
            batch_size: 8,
            response_timeout: Duration::from_secs(10),
            connection_timeout: Duration::from_secs(5),
            call_timeout: Duration::from_secs(15),
        }
    }
}

impl QueueSettings {
    /// The apalis-redis configuration: results persisted (no ack without them) and task
    /// locks off (they slow consumption down as the backlog grows; a job is only a hint and
    /// the store's lease is what keeps a tenant's work exclusive).
    pub fn redis_config(&self) -> RedisConfig {
        RedisConfig::default()
            .queue(QUEUE_NAME)
            .heartbeat_interval(self.heartbeat)
            .missed_heartbeats(self.missed_heartbeats)
            .batch_size(self.batch_size.max(1))
            .persist_results(true)
            .lock_tasks(false)
            .emit_events(false)
    }

    /// The apalis-sqlite configuration, with the same choices.
    pub fn sqlite_config(&self) -> SqliteConfig {
        SqliteConfig::default()
            .queue(QUEUE_NAME)
            .heartbeat_interval(self.heartbeat)
            .missed_heartbeats(self.missed_heartbeats)
            .batch_size(self.batch_size.max(1))
            .persist_results(true)
    }

    /// A Redis connection manager with this file's timeouts; it reconnects by itself.
    pub async fn redis_connection(&self, url: &str) -> Result<ConnectionManager, QueueError> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_response_timeout(Some(self.response_timeout))
            .set_connection_timeout(Some(self.connection_timeout))
            .set_number_of_retries(6)
            .set_max_delay(Duration::from_secs(2));
        Ok(client.get_connection_manager_with_config(config).await?)
    }
}

/// Where jobs go.
#[async_trait]
pub trait JobQueue: Send + Sync + 'static {
    /// Pushes `jobs` (in chunks; a failure may leave a prefix pushed, which is harmless:
    /// jobs are hints).
    async fn push(&self, jobs: &[TenantJob]) -> Result<(), QueueError>;

    /// Jobs waiting for a worker (due or delayed). The scheduler stops pushing while this is
    /// high: a few thousand waiting jobs are enough to keep every worker busy, and more than
    /// about 8,000 due at once break apalis-redis' fetch (QUEUE-NOTES.md).
    async fn backlog(&self) -> Result<u64, QueueError>;

    /// Deletes finished jobs; returns how many.
    async fn clean_finished(&self) -> Result<u64, QueueError>;

    /// When the server holding the queue last started, if it can lose jobs by restarting.
    /// A tenant marked as queued before that moment may have lost its job with the server:
    /// the scheduler queues it again at once instead of after `ENQUEUE_STALE_SECONDS`.
    async fn started_at(&self) -> Result<Option<DateTime<Utc>>, QueueError>;
}

/// The Redis queue (apalis-redis key layout, see QUEUE-NOTES.md).
#[derive(Clone)]
pub struct RedisQueue {
    storage: RedisStorage<Incoming>,
    conn: ConnectionManager,
    call_timeout: Duration,
}

impl RedisQueue {
    pub fn new(conn: ConnectionManager, settings: &QueueSettings) -> Self {
        RedisQueue {
            storage: RedisStorage::new(conn.clone()).with_config(settings.redis_config()),
            conn,
            call_timeout: settings.call_timeout,
        }
    }

    /// A storage handle for one worker (cheap: shares the connection).
    pub fn storage(&self) -> RedisStorage<Incoming> {
        self.storage.clone()
    }
}

#[async_trait]
impl JobQueue for RedisQueue {
    async fn push(&self, jobs: &[TenantJob]) -> Result<(), QueueError> {
        bounded(self.call_timeout, push_chunks(self.storage.clone(), jobs)).await
    }

    async fn backlog(&self) -> Result<u64, QueueError> {
        bounded(self.call_timeout, async {
            let config = self.storage.get_config();
            let mut conn = self.conn.clone();
            let (scheduled, active): (u64, u64) = redis::pipe()
                .zcard(config.scheduled_jobs_set())
                .llen(config.active_jobs_list())
                .query_async(&mut conn)
                .await?;
            Ok(scheduled + active)
        })
        .await
    }

    async fn clean_finished(&self) -> Result<u64, QueueError> {
        bounded(self.call_timeout, async {
            let mut storage = self.storage.clone();
            let removed = storage.vacuum().await?;
            // The done set only feeds statistics and grows by one id per job forever.
            let mut conn = self.conn.clone();
            let _: () = redis::cmd("UNLINK")
                .arg(self.storage.get_config().done_jobs_set())
                .query_async(&mut conn)
                .await?;
            Ok(removed as u64)
        })
        .await
    }

    async fn started_at(&self) -> Result<Option<DateTime<Utc>>, QueueError> {
        bounded(self.call_timeout, async {
            let mut conn = self.conn.clone();
            let info: String = redis::cmd("INFO")
                .arg("server")
                .query_async(&mut conn)
                .await?;
            Ok(redis_uptime(&info).map(|uptime| Utc::now() - uptime))
        })
        .await
    }
}

/// `uptime_in_seconds` of a Redis `INFO server` reply; one second more than it says, so
/// that the start it gives is never later than the real one (a mark set in the server's
/// first second then counts as lost: one job too many, which is harmless).
fn redis_uptime(info: &str) -> Option<TimeDelta> {
    info.lines()
        .find_map(|line| line.strip_prefix("uptime_in_seconds:"))
        .and_then(|value| value.trim().parse::<i64>().ok())
        .map(|seconds| TimeDelta::seconds(seconds + 1))
}

/// The SQLite queue of standalone mode: its own file beside the store's.
#[derive(Clone)]
pub struct SqliteQueue {
    storage: SqliteStorage<Incoming>,
    pool: SqlitePool,
    call_timeout: Duration,
}

impl SqliteQueue {
    /// Opens (creating) the queue database at `path`.
    pub async fn open(path: &Path, settings: &QueueSettings) -> Result<Self, QueueError> {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        SqliteStorage::setup(&pool).await?;
        Ok(SqliteQueue {
            storage: SqliteStorage::new(&pool).with_config(settings.sqlite_config()),
            pool,
            call_timeout: settings.call_timeout,
        })
    }

    pub fn storage(&self) -> SqliteStorage<Incoming> {
        self.storage.clone()
    }
}

#[async_trait]
impl JobQueue for SqliteQueue {
    async fn push(&self, jobs: &[TenantJob]) -> Result<(), QueueError> {
        bounded(self.call_timeout, push_chunks(self.storage.clone(), jobs)).await
    }

    async fn backlog(&self) -> Result<u64, QueueError> {
        bounded(self.call_timeout, async {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM Jobs WHERE job_type = ? AND status = 'Pending'",
            )
            .bind(QUEUE_NAME)
            .fetch_one(&self.pool)
            .await?;
            Ok(u64::try_from(waiting).unwrap_or(0))
        })
        .await
    }

    async fn clean_finished(&self) -> Result<u64, QueueError> {
        bounded(self.call_timeout, async {
            let mut storage = self.storage.clone();
            Ok(storage.vacuum().await? as u64)
        })
        .await
    }

    /// The SQLite queue lives in a file beside the store: it loses nothing by restarting.
    async fn started_at(&self) -> Result<Option<DateTime<Utc>>, QueueError> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_is_read_from_the_server_section() {
        let info =
            "# Server\r\nredis_version:7.0.15\r\nuptime_in_seconds:42\r\nuptime_in_days:0\r\n";
        assert_eq!(redis_uptime(info), Some(TimeDelta::seconds(43)));
        assert_eq!(redis_uptime("# Server\r\nredis_version:7.0.15\r\n"), None);
        assert_eq!(redis_uptime("uptime_in_seconds:soon\r\n"), None);
    }
}
