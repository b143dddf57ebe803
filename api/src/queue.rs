//! The job queue as operators see it: how many jobs wait, which jobs died, and draining
//! the waiting ones. Redis (`REDIS_URL`, apalis-redis key layout of QUEUE-NOTES.md) or the
//! standalone SQLite queue (apalis-sqlite's `Jobs` table). Read from here rather than from
//! the worker crate's `JobQueue`, which has no dead-job or drain operations; the queue name
//! and key names still come from the worker crate so both always agree. Draining is safe
//! because a job is only a hint: the scheduler pushes tenants' jobs again from the store.

use std::path::Path;
use std::time::Duration;

use redis::aio::ConnectionManager;
use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use utoipa::ToSchema;
use worker::queue::{QueueSettings, SqliteQueue, QUEUE_NAME};

/// Dead jobs listed at most (a dead set can grow large; operators need a sample).
pub const MAX_DEAD_LISTED: usize = 100;
/// Payload characters shown per dead job.
const PAYLOAD_SHOWN: usize = 500;

/// Why the queue could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum QueueAdminError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("sqlite queue: {0}")]
    Sqlite(#[from] sqlx::Error),
    #[error(transparent)]
    Queue(#[from] worker::queue::QueueError),
}

/// The queue's numbers.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueDepth {
    /// `redis` or `sqlite`.
    #[schema(example = "redis")]
    pub backend: String,
    /// Jobs waiting for a worker (due or delayed).
    pub waiting: u64,
    /// Jobs the backend gave up on.
    pub dead: u64,
}

/// A job the backend gave up on.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeadJob {
    pub id: String,
    /// The job's payload as stored (JSON text when it decodes), cut to 500 characters.
    pub payload: Option<String>,
    /// The last error the backend recorded (SQLite only).
    pub last_error: Option<String>,
}

/// Dead jobs, at most 100.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeadJobs {
    pub total: u64,
    pub jobs: Vec<DeadJob>,
}

/// What a drain removed.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DrainResult {
    pub drained: u64,
}

/// The queue of this deployment.
#[derive(Clone)]
pub enum QueueAdmin {
    Redis(ConnectionManager),
    Sqlite(SqlitePool),
}

impl std::fmt::Debug for QueueAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            QueueAdmin::Redis(_) => "QueueAdmin::Redis",
            QueueAdmin::Sqlite(_) => "QueueAdmin::Sqlite",
        })
    }
}

/// The SQLite queue's dead jobs: killed, or failed with no attempt left. A macro so the
/// queries are literals (sqlx refuses SQL built at run time).
macro_rules! dead_jobs {
    () => {
        "job_type = ? AND (status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts))"
    };
}

fn shown(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .take(PAYLOAD_SHOWN)
        .collect()
}

impl QueueAdmin {
    /// Connects the Redis queue with the worker crate's connection settings.
    pub async fn redis(url: &str) -> Result<QueueAdmin, QueueAdminError> {
        let conn = QueueSettings::default().redis_connection(url).await?;
        Ok(QueueAdmin::Redis(conn))
    }

    /// Opens the standalone SQLite queue (the file the standalone runner uses). A queue
    /// that was never created reads as empty: opening it through the worker crate first
    /// makes the `Jobs` table with apalis-sqlite's own migrations.
    pub async fn sqlite(path: &Path) -> Result<QueueAdmin, QueueAdminError> {
        drop(SqliteQueue::open(path, &QueueSettings::default()).await?);
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await?;
        Ok(QueueAdmin::Sqlite(pool))
    }

    pub async fn depth(&self) -> Result<QueueDepth, QueueAdminError> {
        match self {
            QueueAdmin::Redis(conn) => {
                let config = QueueSettings::default().redis_config();
                let mut conn = conn.clone();
                let (scheduled, active, dead): (u64, u64, u64) = redis::pipe()
                    .zcard(config.scheduled_jobs_set())
                    .llen(config.active_jobs_list())
                    .scard(config.dead_jobs_set())
                    .query_async(&mut conn)
                    .await?;
                Ok(QueueDepth {
                    backend: "redis".into(),
                    waiting: scheduled + active,
                    dead,
                })
            }
            QueueAdmin::Sqlite(pool) => {
                let (waiting, dead): (i64, i64) = sqlx::query_as(
                    "SELECT \
                       COALESCE(SUM(status IN ('Pending', 'Queued')), 0), \
                       COALESCE(SUM(status = 'Killed' \
                         OR (status = 'Failed' AND attempts >= max_attempts)), 0) \
                     FROM Jobs WHERE job_type = ?",
                )
                .bind(QUEUE_NAME)
                .fetch_one(pool)
                .await?;
                Ok(QueueDepth {
                    backend: "sqlite".into(),
                    waiting: u64::try_from(waiting).unwrap_or(0),
                    dead: u64::try_from(dead).unwrap_or(0),
                })
            }
        }
    }

    pub async fn dead(&self) -> Result<DeadJobs, QueueAdminError> {
        match self {
            QueueAdmin::Redis(conn) => {
                let config = QueueSettings::default().redis_config();
                let mut conn = conn.clone();
                let total: u64 = redis::cmd("SCARD")
                    .arg(config.dead_jobs_set())
                    .query_async(&mut conn)
                    .await?;
                // SSCAN's COUNT is a hint: cut to the limit after.
                let (_, mut ids): (u64, Vec<String>) = redis::cmd("SSCAN")
                    .arg(config.dead_jobs_set())
                    .arg(0)
                    .arg("COUNT")
                    .arg(MAX_DEAD_LISTED)
                    .query_async(&mut conn)
                    .await?;
                ids.truncate(MAX_DEAD_LISTED);
                let mut jobs = Vec::with_capacity(ids.len());
                for id in ids {
                    let payload: Option<Vec<u8>> = redis::cmd("HGET")
                        .arg(config.job_data_hash())
                        .arg(&id)
                        .query_async(&mut conn)
                        .await?;
                    jobs.push(DeadJob {
                        payload: payload.as_deref().map(shown),
                        id,
                        last_error: None,
                    });
                }
                Ok(DeadJobs { total, jobs })
            }
            QueueAdmin::Sqlite(pool) => {
                let total: i64 =
                    sqlx::query_scalar(concat!("SELECT COUNT(*) FROM Jobs WHERE ", dead_jobs!()))
                        .bind(QUEUE_NAME)
                        .fetch_one(pool)
                        .await?;
                let rows: Vec<(String, Vec<u8>, Option<String>)> = sqlx::query_as(concat!(
                    "SELECT id, CAST(job AS BLOB), last_result FROM Jobs WHERE ",
                    dead_jobs!(),
                    " ORDER BY run_at LIMIT ?"
                ))
                .bind(QUEUE_NAME)
                .bind(MAX_DEAD_LISTED as i64)
                .fetch_all(pool)
                .await?;
                Ok(DeadJobs {
                    total: u64::try_from(total).unwrap_or(0),
                    jobs: rows
                        .into_iter()
                        .map(|(id, job, error)| DeadJob {
                            id,
                            payload: Some(shown(&job)),
                            last_error: error,
                        })
                        .collect(),
                })
            }
        }
    }

    /// Removes every waiting job (not the running ones: their workers finish them).
    pub async fn drain(&self) -> Result<DrainResult, QueueAdminError> {
        match self {
            QueueAdmin::Redis(conn) => {
                let config = QueueSettings::default().redis_config();
                let mut conn = conn.clone();
                let (scheduled, active): (Vec<String>, Vec<String>) = redis::pipe()
                    .atomic()
                    .zrange(config.scheduled_jobs_set(), 0, -1)
                    .lrange(config.active_jobs_list(), 0, -1)
                    .del(config.scheduled_jobs_set())
                    .ignore()
                    .del(config.active_jobs_list())
                    .ignore()
                    .query_async(&mut conn)
                    .await?;
                let mut ids: Vec<String> = scheduled.into_iter().chain(active).collect();
                ids.sort();
                ids.dedup();
                for chunk in ids.chunks(500) {
                    let mut pipe = redis::pipe();
                    pipe.hdel(config.job_data_hash(), chunk).ignore();
                    for id in chunk {
                        pipe.del(format!("{}:{id}", config.job_meta_hash()))
                            .ignore();
                    }
                    let _: () = pipe.query_async(&mut conn).await?;
                }
                Ok(DrainResult {
                    drained: ids.len() as u64,
                })
            }
            QueueAdmin::Sqlite(pool) => {
                let done = sqlx::query(
                    "DELETE FROM Jobs WHERE job_type = ? AND status IN ('Pending', 'Queued')",
                )
                .bind(QUEUE_NAME)
                .execute(pool)
                .await?;
                Ok(DrainResult {
                    drained: done.rows_affected(),
                })
            }
        }
    }
}
