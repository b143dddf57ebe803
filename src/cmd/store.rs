//! The store a role works on: MongoDB when `MONGO_URI` is set, else the SQLite file in
//! `DATA_DIR` (shared by `api` and `admin`).

use std::sync::Arc;

use anyhow::Context as _;
use shared::config::Settings;
use shared::store::mongo::MongoStore;
use shared::store::sqlite::SqliteStore;
use shared::store::SharedStore;

pub async fn open_store(settings: &Settings) -> anyhow::Result<SharedStore> {
    Ok(match &settings.mongo_uri {
        Some(uri) => Arc::new(
            MongoStore::connect(uri)
                .await
                .context("connecting to MongoDB (MONGO_URI)")?,
        ),
        None => Arc::new(
            SqliteStore::open_in_dir(&settings.data_dir)
                .await
                .with_context(|| format!("opening the store in {}", settings.data_dir.display()))?,
        ),
    })
}
