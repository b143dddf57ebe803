//! Where the job queue lives, shared by the roles that open it (`standalone`, `api`,
//! `admin`): the standalone SQLite queue's file, and the queue operators inspect.

use anyhow::Context as _;
use api::queue::QueueAdmin;
use shared::config::Settings;

/// The standalone queue's database inside the data dir.
pub const QUEUE_FILE: &str = "queue.sqlite3";

/// The job queue operators inspect: Redis when `REDIS_URL` is set, else the standalone
/// SQLite queue in `DATA_DIR`.
pub async fn open_queue(settings: &Settings) -> anyhow::Result<QueueAdmin> {
    match &settings.redis_url {
        Some(url) => QueueAdmin::redis(url).await.context("connecting to Redis"),
        None => {
            // SQLite makes the file, not its directory (absent before a first standalone run).
            std::fs::create_dir_all(&settings.data_dir)
                .with_context(|| format!("creating {}", settings.data_dir.display()))?;
            let path = settings.data_dir.join(QUEUE_FILE);
            QueueAdmin::sqlite(&path)
                .await
                .with_context(|| format!("opening the queue {}", path.display()))
        }
    }
}
