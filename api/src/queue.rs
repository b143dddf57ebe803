//! The job queue as operators see it: how many jobs wait and which come next, which jobs
//! died, the workers taking jobs now, and draining the waiting ones. Redis (`REDIS_URL`,
//! apalis-redis key layout of QUEUE-NOTES.md) or the standalone SQLite queue (apalis-sqlite's
//! `Jobs` and `Workers` tables). Read from here rather than from the worker crate's
//! `JobQueue`, which has no listing, dead-job or drain operations; the queue name, key names
//! and heartbeat still come from the worker crate so both always agree. Draining is safe
//! because a job is only a hint: the scheduler pushes tenants' jobs again from the store.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use redis::aio::ConnectionManager;
use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use utoipa::ToSchema;
use worker::job::Incoming;
use worker::queue::{QueueSettings, SqliteQueue, QUEUE_NAME};

/// Jobs (waiting or dead) listed at most (a queue can grow large; operators need a sample).
pub const MAX_JOBS_LISTED: usize = 100;
/// Dead jobs listed at most.
pub const MAX_DEAD_LISTED: usize = MAX_JOBS_LISTED;
/// Live workers listed at most.
pub const MAX_WORKERS_LISTED: usize = 100;
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

/// Dead jobs: how many, and at most the `limit` asked for (100).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeadJobs {
    pub total: u64,
    pub jobs: Vec<DeadJob>,
}

/// A job waiting for a worker.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WaitingJob {
    pub id: String,
    /// `prepare` or `process`; absent when the payload is not a job this version reads.
    pub kind: Option<String>,
    /// The tenant the job is for; absent when the payload is not readable.
    pub tenant: Option<String>,
    /// When the job is due (RFC 3339); absent for a job due now (Redis' active list).
    pub run_at: Option<String>,
}

/// Waiting jobs: how many, and the next ones.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WaitingJobs {
    /// Every waiting job, due or delayed.
    pub total: u64,
    /// The next ones, the next due first, at most the `limit` asked for.
    pub jobs: Vec<WaitingJob>,
}

/// A worker taking jobs from the queue now.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveWorker {
    /// The apalis worker's name: `worker-<host>-<pid>-<id>-<fetcher>-r<restart>`.
    pub name: String,
    /// Its last heartbeat (RFC 3339, whole seconds).
    pub last_seen: String,
    /// Jobs it is running now.
    pub running_jobs: u64,
}

/// The workers whose heartbeat is recent.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveWorkers {
    /// At most 100, by name.
    pub workers: Vec<LiveWorker>,
    /// A worker silent for longer is not listed (the queue's heartbeat times the missed
    /// heartbeats it tolerates, plus one heartbeat).
    pub live_within_seconds: u64,
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

/// How long since its last heartbeat a worker still counts as live: apalis presumes a worker
/// dead after `heartbeat * missed_heartbeats`; one heartbeat more absorbs a late beat.
pub fn live_within() -> Duration {
    let settings = QueueSettings::default();
    settings.heartbeat * (settings.missed_heartbeats as u32 + 1)
}

/// Unix seconds as RFC 3339.
fn from_unix(seconds: i64) -> Option<String> {
    DateTime::<Utc>::from_timestamp(seconds, 0)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// A waiting job from its stored payload.
fn waiting_job(id: String, payload: Option<&[u8]>, run_at: Option<i64>) -> WaitingJob {
    let job = match payload.map(Incoming::decode) {
        Some(Incoming::Job(job)) => Some(job),
        _ => None,
    };
    WaitingJob {
        id,
        kind: job.as_ref().map(|j| j.kind().to_string()),
        tenant: job.as_ref().map(|j| j.tenant().to_string()),
        run_at: run_at.and_then(from_unix),
    }
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

    /// Waiting jobs: their number and the next `limit` (at most [`MAX_JOBS_LISTED`]), the
    /// ones due now first (Redis' active list, in the order workers take them), then the
    /// delayed ones by due time.
    pub async fn waiting(&self, limit: usize) -> Result<WaitingJobs, QueueAdminError> {
        let limit = limit.clamp(1, MAX_JOBS_LISTED);
        match self {
            QueueAdmin::Redis(conn) => {
                let config = QueueSettings::default().redis_config();
                let mut conn = conn.clone();
                let (scheduled, active, due, delayed): (u64, u64, Vec<String>, Vec<(String, f64)>) =
                    redis::pipe()
                        .zcard(config.scheduled_jobs_set())
                        .llen(config.active_jobs_list())
                        .lrange(config.active_jobs_list(), 0, limit as isize - 1)
                        .zrange_withscores(config.scheduled_jobs_set(), 0, limit as isize - 1)
                        .query_async(&mut conn)
                        .await?;
                let listed: Vec<(String, Option<i64>)> = due
                    .into_iter()
                    .map(|id| (id, None))
                    .chain(delayed.into_iter().map(|(id, at)| (id, Some(at as i64))))
                    .take(limit)
                    .collect();
                let mut jobs = Vec::with_capacity(listed.len());
                if !listed.is_empty() {
                    let ids: Vec<&str> = listed.iter().map(|(id, _)| id.as_str()).collect();
                    let payloads: Vec<Option<Vec<u8>>> = redis::cmd("HMGET")
                        .arg(config.job_data_hash())
                        .arg(&ids)
                        .query_async(&mut conn)
                        .await?;
                    for ((id, at), payload) in listed.into_iter().zip(payloads) {
                        jobs.push(waiting_job(id, payload.as_deref(), at));
                    }
                }
                Ok(WaitingJobs {
                    total: scheduled + active,
                    jobs,
                })
            }
            QueueAdmin::Sqlite(pool) => {
                let total: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM Jobs WHERE job_type = ? AND status IN ('Pending', 'Queued')",
                )
                .bind(QUEUE_NAME)
                .fetch_one(pool)
                .await?;
                let rows: Vec<(String, Vec<u8>, i64)> = sqlx::query_as(
                    "SELECT id, CAST(job AS BLOB), run_at FROM Jobs \
                     WHERE job_type = ? AND status IN ('Pending', 'Queued') \
                     ORDER BY run_at, rowid LIMIT ?",
                )
                .bind(QUEUE_NAME)
                .bind(limit as i64)
                .fetch_all(pool)
                .await?;
                Ok(WaitingJobs {
                    total: u64::try_from(total).unwrap_or(0),
                    jobs: rows
                        .into_iter()
                        .map(|(id, job, run_at)| waiting_job(id, Some(&job), Some(run_at)))
                        .collect(),
                })
            }
        }
    }

    /// The workers whose last heartbeat is within [`live_within`], by name (at most
    /// [`MAX_WORKERS_LISTED`]), each with the jobs it runs now.
    pub async fn workers(&self) -> Result<LiveWorkers, QueueAdminError> {
        let within = live_within();
        let since = Utc::now().timestamp() - within.as_secs() as i64;
        let workers = match self {
            QueueAdmin::Redis(conn) => {
                let config = QueueSettings::default().redis_config();
                let mut conn = conn.clone();
                // The workers set scores each worker with its last heartbeat (Unix seconds).
                let mut seen: Vec<(String, f64)> = redis::cmd("ZRANGEBYSCORE")
                    .arg(config.workers_set())
                    .arg(since)
                    .arg("+inf")
                    .arg("WITHSCORES")
                    .query_async(&mut conn)
                    .await?;
                seen.sort_by(|a, b| a.0.cmp(&b.0));
                seen.truncate(MAX_WORKERS_LISTED);
                let mut pipe = redis::pipe();
                for (name, _) in &seen {
                    // apalis-redis keeps a worker's running jobs in `<inflight>:<name>`.
                    pipe.scard(format!("{}:{name}", config.inflight_jobs_set()));
                }
                let running: Vec<u64> = if seen.is_empty() {
                    Vec::new()
                } else {
                    pipe.query_async(&mut conn).await?
                };
                seen.into_iter()
                    .zip(running)
                    .map(|((name, at), running_jobs)| LiveWorker {
                        name,
                        last_seen: from_unix(at as i64).unwrap_or_default(),
                        running_jobs,
                    })
                    .collect()
            }
            QueueAdmin::Sqlite(pool) => {
                let rows: Vec<(String, i64, i64)> = sqlx::query_as(
                    "SELECT w.id, w.last_seen, \
                       (SELECT COUNT(*) FROM Jobs j WHERE j.lock_by = w.id AND j.status = 'Running') \
                     FROM Workers w WHERE w.worker_type = ? AND w.last_seen >= ? \
                     ORDER BY w.id LIMIT ?",
                )
                .bind(QUEUE_NAME)
                .bind(since)
                .bind(MAX_WORKERS_LISTED as i64)
                .fetch_all(pool)
                .await?;
                rows.into_iter()
                    .map(|(name, at, running)| LiveWorker {
                        name,
                        last_seen: from_unix(at).unwrap_or_default(),
                        running_jobs: u64::try_from(running).unwrap_or(0),
                    })
                    .collect()
            }
        };
        Ok(LiveWorkers {
            workers,
            live_within_seconds: within.as_secs(),
        })
    }

    /// Dead jobs: their number and at most `limit` of them (at most [`MAX_JOBS_LISTED`]).
    pub async fn dead(&self, limit: usize) -> Result<DeadJobs, QueueAdminError> {
        let limit = limit.clamp(1, MAX_JOBS_LISTED);
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
                    .arg(limit)
                    .query_async(&mut conn)
                    .await?;
                ids.truncate(limit);
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
                .bind(limit as i64)
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
