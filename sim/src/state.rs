//! The state a simulator shares with its servers: the databases, the counters and faults of
//! calls that reach no database, and the stop signal.

use crate::counters::Counters;
use crate::database::Database;
use crate::faults::Faults;
use parking_lot::RwLock;
use std::sync::Arc;
use tokio::sync::watch;

/// Shared state of a simulator and its servers.
#[derive(Debug)]
pub struct SimInner {
    /// Databases in the order they were added.
    databases: RwLock<Vec<Arc<Database>>>,
    /// Counters of calls that reach no database (`version` on a multi-database root).
    pub counters: Counters,
    /// Faults on calls that reach no database.
    pub faults: Faults,
    /// Flips to true when the servers shut down, ending hangs and latencies early.
    pub shutdown: watch::Sender<bool>,
}

/// Shared state of all handlers.
pub type AppState = Arc<SimInner>;

impl SimInner {
    pub fn new() -> SimInner {
        SimInner {
            databases: RwLock::new(Vec::new()),
            counters: Counters::default(),
            faults: Faults::new(0),
            shutdown: watch::channel(false).0,
        }
    }

    pub fn database(&self, name: &str) -> Option<Arc<Database>> {
        self.databases
            .read()
            .iter()
            .find(|d| d.name == name)
            .cloned()
    }

    /// Adds a database; false when one of that name exists (checked under the write lock).
    pub fn add_database(&self, db: Arc<Database>) -> bool {
        let mut dbs = self.databases.write();
        if dbs.iter().any(|d| d.name == db.name) {
            return false;
        }
        dbs.push(db);
        true
    }

    /// Drops the named database; false when there was none.
    pub fn remove_database(&self, name: &str) -> bool {
        let mut dbs = self.databases.write();
        let before = dbs.len();
        dbs.retain(|d| d.name != name);
        dbs.len() != before
    }

    /// The database when there is exactly one.
    pub fn only_database(&self) -> Option<Arc<Database>> {
        let dbs = self.databases.read();
        (dbs.len() == 1).then(|| dbs[0].clone())
    }

    pub fn all_databases(&self) -> Vec<Arc<Database>> {
        self.databases.read().clone()
    }

    /// The version the root URL answers as: the first database's (19 when there is none).
    pub fn root_version(&self) -> u32 {
        self.databases.read().first().map_or(19, |d| d.version)
    }
}

impl Default for SimInner {
    fn default() -> Self {
        SimInner::new()
    }
}
