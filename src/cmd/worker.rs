//! `odoo-sync worker`: a queue worker on Redis (jobs) and MongoDB (truth). Runs
//! `WORKER_CONCURRENCY` tenants at once; SIGTERM stops it gracefully (exit 0).

use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use shared::config::Settings;
use shared::crypto::Keyring;
use shared::store::mongo::MongoStore;
use shared::store::SharedStore;
use shared::sync::{EngineOptions, SyncEngine};
use worker::{
    JobRunner, QueueSettings, RedisQueue, RunnerOptions, Shutdown, StoredConnections, WorkerOptions,
};

#[derive(Args, Debug)]
pub struct WorkerArgs {
    /// A TOML file with settings (same keys as the environment variables, in lower case).
    #[arg(long)]
    config: Option<std::path::PathBuf>,
    /// Connect to MongoDB and Redis with these settings, then exit: 0 when both answer.
    /// The container health check (a worker serves no HTTP).
    #[arg(long)]
    check: bool,
}

/// The pieces every role that runs jobs builds the same way.
pub struct Roles {
    pub settings: Settings,
    pub engine: Arc<SyncEngine>,
    pub shutdown: Shutdown,
}

impl Roles {
    pub fn new(settings: Settings, store: SharedStore) -> anyhow::Result<Self> {
        let mut options = EngineOptions::from_settings(&settings);
        options.lease_ttl = settings.queue.lease_ttl;
        let engine = Arc::new(SyncEngine::new(store, options)?);
        let shutdown = Shutdown::new(settings.queue.shutdown_grace);
        Ok(Roles {
            settings,
            engine,
            shutdown,
        })
    }

    pub fn queue_settings(&self) -> QueueSettings {
        QueueSettings {
            poll_interval: self.settings.queue.poll_interval,
            heartbeat: self.settings.queue.heartbeat,
            missed_heartbeats: self.settings.queue.missed_heartbeats,
            call_timeout: self.settings.queue.call_timeout,
            ..QueueSettings::default()
        }
    }

    pub fn worker_options(&self) -> WorkerOptions {
        WorkerOptions {
            concurrency: self.settings.worker_concurrency as usize,
            fetchers: self.settings.queue.fetchers,
            queue: self.queue_settings(),
            ..WorkerOptions::default()
        }
    }

    pub fn runner(&self, queue: Arc<dyn worker::JobQueue>) -> anyhow::Result<Arc<JobRunner>> {
        let keyring = Keyring::from_settings(&self.settings)
            .context("ENCRYPTION_KEY is needed to open saved connections")?;
        let connections = Arc::new(StoredConnections::new(self.engine.store().clone(), keyring));
        Ok(Arc::new(JobRunner::new(
            self.engine.clone(),
            connections,
            queue,
            self.shutdown.clone(),
            RunnerOptions {
                enqueue_stale: self.settings.queue.enqueue_stale,
                ..RunnerOptions::default()
            },
        )))
    }
}

/// Connects MongoDB and Redis from the settings (both required in distributed mode).
pub async fn distributed(settings: Settings) -> anyhow::Result<(Roles, RedisQueue)> {
    let mongo_uri = settings
        .mongo_uri
        .clone()
        .context("MONGO_URI: must be set for this role (e.g. mongodb://mongo:27017/odoo_sync?replicaSet=rs0)")?;
    let redis_url = settings
        .redis_url
        .clone()
        .context("REDIS_URL: must be set for this role (e.g. redis://redis:6379)")?;
    let store: SharedStore = Arc::new(
        MongoStore::connect(&mongo_uri)
            .await
            .context("connecting to MongoDB")?,
    );
    let roles = Roles::new(settings, store)?;
    let conn = roles
        .queue_settings()
        .redis_connection(&redis_url)
        .await
        .context("connecting to Redis")?;
    let queue = RedisQueue::new(conn, &roles.queue_settings());
    Ok((roles, queue))
}

pub async fn run(args: WorkerArgs) -> anyhow::Result<()> {
    let settings = Settings::load(args.config.as_deref())?;
    let (roles, queue) = distributed(settings).await?;
    if args.check {
        // Connecting built the indexes (MongoDB answered) and opened the connection manager
        // (Redis answered); the saved connections' key is what a worker needs next.
        roles.runner(Arc::new(queue))?;
        println!("ok: MongoDB and Redis answer");
        return Ok(());
    }
    roles.shutdown.on_signals();
    let runner = roles.runner(Arc::new(queue.clone()))?;
    worker::run_redis(runner, queue, roles.worker_options()).await?;
    Ok(())
}
