//! A worker process: apalis workers fetching tenant jobs from the queue and handing them to
//! the shared [`JobRunner`], under a small supervisor.
//!
//! The supervisor restarts an apalis worker that stops with an error (a Redis restart ends
//! its event stream with an error, and a worker that is not restarted stays dead), each time
//! under a new name (a name reused within the orphan window is refused), after a growing
//! pause. When restarts keep failing it gives up and the process exits non-zero, for the
//! orchestrator to restart it.
//!
//! Stopping goes through apalis' own stop ([`WorkerContext::stop`]): the worker fetches
//! nothing more at once, and the jobs it runs finish. That holds for both ways a worker
//! stops: on shutdown (jobs get the grace period, the process exits as soon as none is left,
//! and the leases of jobs still running after it are released) and when the queue fails
//! (the running steps finish and release their leases themselves instead of being dropped
//! mid-step, which left their leases to expire).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use apalis::layers::WorkerBuilderExt;
use apalis_core::backend::ext::BackendExt;
use apalis_core::error::WorkerError;
use apalis_core::task::data::Data;
use apalis_core::worker::builder::WorkerBuilder;
use apalis_core::worker::context::WorkerContext;
use apalis_core::worker::event::Event;
use futures::future::BoxFuture;
use futures::{FutureExt, Stream, StreamExt};

use crate::job::{Incoming, JobCodec};
use crate::queue::{QueueSettings, RedisQueue, SqliteQueue};
use crate::runner::JobRunner;
use crate::shutdown::Shutdown;

/// How a worker process runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Tenants worked on at once by this process (`WORKER_CONCURRENCY`).
    pub concurrency: usize,
    /// apalis workers in this process; the concurrency is split between them. More than one
    /// lets jobs run on several cores.
    pub fetchers: usize,
    pub queue: QueueSettings,
    /// Consecutive failed restarts (each within `healthy_after` of its start) before giving up.
    pub max_failed_restarts: u32,
    /// A worker that ran this long counts as healthy: its failure starts a fresh count.
    pub healthy_after: Duration,
    /// Prefix of the apalis worker names (host and pid are added).
    pub name: String,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            concurrency: 32,
            fetchers: 2,
            queue: QueueSettings::default(),
            max_failed_restarts: 30,
            healthy_after: Duration::from_secs(60),
            name: "worker".into(),
        }
    }
}

/// Why a worker process stopped other than by a requested shutdown.
#[derive(Debug, thiserror::Error)]
pub enum WorkerProcessError {
    #[error("queue worker {name} kept failing ({failures} restarts in a row), last error: {last}")]
    GaveUp {
        name: String,
        failures: u32,
        last: String,
    },
}

type RunOne =
    Arc<dyn Fn(String, usize) -> BoxFuture<'static, Result<(), WorkerError>> + Send + Sync>;

/// The `RunOne` of a queue: an apalis worker over the queue's storage, polled every
/// `poll`, handing jobs to `runner`. A macro rather than a generic function because apalis'
/// bounds for "any backend" would be longer than the few lines they would save.
macro_rules! run_one_over {
    ($queue:expr, $runner:expr, $poll:expr) => {{
        let queue = $queue;
        let runner = $runner;
        let poll = $poll;
        let run_one: RunOne = Arc::new(move |name: String, concurrency: usize| {
            let backend = queue
                .storage()
                .with_codec(JobCodec)
                .poll_with_interval(poll);
            // Kept to stop this very worker: the context's state is shared by its clones.
            let context = WorkerContext::new(&name);
            let worker = WorkerBuilder::new(context.clone())
                .backend(backend)
                .data(runner.clone())
                .concurrency(concurrency)
                .build(handle_job);
            drive(worker.stream(), context, runner.shutdown().clone()).boxed()
        });
        run_one
    }};
}

/// Runs workers on the Redis queue until shutdown (then `Ok`) or until they keep failing.
pub async fn run_redis(
    runner: Arc<JobRunner>,
    queue: RedisQueue,
    options: WorkerOptions,
) -> Result<(), WorkerProcessError> {
    let run_one = run_one_over!(queue, runner.clone(), options.queue.poll_interval);
    supervise(runner, run_one, options).await
}

/// Runs workers on the SQLite queue (standalone mode) until shutdown.
pub async fn run_sqlite(
    runner: Arc<JobRunner>,
    queue: SqliteQueue,
    options: WorkerOptions,
) -> Result<(), WorkerProcessError> {
    let run_one = run_one_over!(queue, runner.clone(), options.queue.poll_interval);
    supervise(runner, run_one, options).await
}

/// Drives one apalis worker's event stream until the worker ends. On shutdown, or when the
/// queue fails, the worker is stopped the apalis way: it fetches no more jobs, the ones it
/// runs are driven to their end (they live inside this stream, so dropping it would cancel
/// them mid-step), and then it returns: the queue's error if there was one, else `Ok`.
async fn drive(
    events: impl Stream<Item = Result<Event, WorkerError>>,
    context: WorkerContext,
    shutdown: Shutdown,
) -> Result<(), WorkerError> {
    tokio::pin!(events);
    let mut failure = None;
    let mut stopping = false;
    loop {
        tokio::select! {
            event = events.next() => match event {
                None => break,
                Some(Err(e)) => {
                    if !stopping {
                        tracing::warn!(
                            worker = context.name(),
                            running = context.task_count(),
                            error = %e,
                            "queue failed; no more jobs from this worker, running ones finish"
                        );
                        stopping = true;
                        let _ = context.stop();
                    }
                    failure.get_or_insert(e);
                    if context.task_count() == 0 {
                        break;
                    }
                }
                Some(Ok(_)) => {
                    if stopping && context.task_count() == 0 {
                        break;
                    }
                }
            },
            () = shutdown.triggered(), if !stopping => {
                stopping = true;
                // `stop` refuses a worker that has not started: it has fetched nothing yet.
                if context.stop().is_err() || context.task_count() == 0 {
                    break;
                }
            }
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

async fn handle_job(
    incoming: Incoming,
    runner: Data<Arc<JobRunner>>,
) -> Result<String, Infallible> {
    Ok(runner.handle(incoming).await.as_str().to_string())
}

/// Runs `options.fetchers` supervised workers; on shutdown waits for them up to the grace
/// period, then releases the leases of jobs still running.
async fn supervise(
    runner: Arc<JobRunner>,
    run_one: RunOne,
    options: WorkerOptions,
) -> Result<(), WorkerProcessError> {
    let shutdown = runner.shutdown().clone();
    let fetchers = options.fetchers.clamp(1, options.concurrency.max(1));
    let per_fetcher = options.concurrency.div_ceil(fetchers).max(1);
    let base = format!(
        "{}-{}-{}-{}",
        options.name,
        std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into()),
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let mut loops = tokio::task::JoinSet::new();
    for index in 0..fetchers {
        loops.spawn(restart_loop(
            format!("{base}-{index}"),
            per_fetcher,
            run_one.clone(),
            shutdown.clone(),
            options.clone(),
        ));
    }
    tracing::info!(name = %base, concurrency = options.concurrency, fetchers, "worker started");

    let mut failure = None;
    tokio::select! {
        _ = shutdown.triggered() => {}
        Some(joined) = loops.join_next() => {
            // A fetcher gave up: stop the others the same way as on a signal.
            if let Ok(Err(e)) = joined {
                failure = Some(e);
            }
            shutdown.trigger();
        }
    }
    let grace = shutdown.grace();
    let drained = tokio::time::timeout(grace, async {
        let mut stopped = false;
        loop {
            tokio::select! {
                joined = loops.join_next() => match joined {
                    None => break,
                    Some(Ok(Err(e))) => {
                        failure.get_or_insert(e);
                    }
                    Some(_) => {}
                },
                // A backstop: each fetcher returns by itself once its jobs ended (`drive`);
                // should one still wait (a backend slow to close), nothing runs any more,
                // so stop it now rather than after the grace period.
                () = shutdown.idle(), if !stopped => {
                    loops.abort_all();
                    stopped = true;
                }
            }
        }
    })
    .await;
    if drained.is_err() {
        let running = shutdown.in_flight().len();
        tracing::warn!(
            running,
            "grace period over; abandoning the jobs still running"
        );
        loops.abort_all();
        while loops.join_next().await.is_some() {}
    }
    let engine = runner.engine();
    let released = shutdown
        .release_leases(engine.store(), engine.holder())
        .await;
    tracing::info!(released, "worker stopped");
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// One fetcher: runs an apalis worker until shutdown, restarting it when it fails.
async fn restart_loop(
    base: String,
    concurrency: usize,
    run_one: RunOne,
    shutdown: Shutdown,
    options: WorkerOptions,
) -> Result<(), WorkerProcessError> {
    let mut failures: u32 = 0;
    for restart in 0.. {
        let name = format!("{base}-r{restart}");
        let started = tokio::time::Instant::now();
        // Returns soon after a shutdown, once its running jobs ended (the caller bounds the
        // wait by the grace period).
        let result = run_one(name.clone(), concurrency).await;
        if shutdown.is_triggered() {
            return Ok(());
        }
        let error = match result {
            Ok(()) => "the worker stopped by itself".to_string(),
            Err(e) => e.to_string(),
        };
        failures = if started.elapsed() >= options.healthy_after {
            1
        } else {
            failures + 1
        };
        if failures > options.max_failed_restarts {
            tracing::error!(worker = %name, failures, %error, "queue worker keeps failing; giving up");
            return Err(WorkerProcessError::GaveUp {
                name,
                failures,
                last: error,
            });
        }
        let pause = Duration::from_millis(250 * u64::from(failures.min(20)));
        tracing::warn!(worker = %name, %error, "queue worker stopped; restarting in {pause:?}");
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.triggered() => return Ok(()),
        }
    }
    Ok(())
}
