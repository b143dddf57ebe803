//! The test-facing entry points: [`Simulator`] holds the databases and serves them;
//! [`SimServer`] is a running server (address, URLs, shutdown).

use crate::conn::{ConnHandle, SimListener};
use crate::counters::CallStats;
use crate::database::{Database, DatabaseSpec, Db};
use crate::error::SimError;
use crate::faults::FaultRule;
use crate::server;
use crate::state::SimInner;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// An Odoo simulator: many databases, served together. Cheap to clone; clones share state.
#[derive(Debug, Clone)]
pub struct Simulator {
    inner: Arc<SimInner>,
}

impl Default for Simulator {
    fn default() -> Self {
        Simulator::new()
    }
}

impl Simulator {
    /// A simulator without databases.
    pub fn new() -> Simulator {
        Simulator {
            inner: Arc::new(SimInner::new()),
        }
    }

    /// Creates a database and generates its data.
    pub fn add_database(&self, spec: DatabaseSpec) -> Result<Db, SimError> {
        if self.inner.database(&spec.name).is_some() {
            return Err(SimError::DuplicateDatabase(spec.name));
        }
        let db = Arc::new(Database::new(&spec)?);
        // Checked again under the write lock: another thread may have added it meanwhile.
        if !self.inner.add_database(db.clone()) {
            return Err(SimError::DuplicateDatabase(spec.name));
        }
        Ok(Db { inner: db })
    }

    /// A handle on a database.
    pub fn db(&self, name: &str) -> Result<Db, SimError> {
        self.inner
            .database(name)
            .map(|inner| Db { inner })
            .ok_or_else(|| SimError::UnknownDatabase(name.to_string()))
    }

    /// All databases, in the order they were added.
    pub fn databases(&self) -> Vec<Db> {
        self.inner
            .all_databases()
            .into_iter()
            .map(|inner| Db { inner })
            .collect()
    }

    /// Drops a database (later calls naming it get Odoo's unknown-database fault).
    pub fn remove_database(&self, name: &str) -> bool {
        self.inner.remove_database(name)
    }

    /// Adds a fault on calls that reach no database.
    pub fn add_server_fault(&self, rule: FaultRule) {
        self.inner.faults.add(rule)
    }

    /// Counters of calls that reached no database.
    pub fn server_stats(&self) -> CallStats {
        self.inner.counters.snapshot()
    }

    /// The axum application, to embed the simulator in another server.
    pub fn router(&self) -> axum::Router {
        server::router(self.inner.clone())
    }

    /// Listens on `addr` (`127.0.0.1:0` for a free port) and serves in the background.
    pub async fn serve(&self, addr: &str) -> Result<SimServer, SimError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| SimError::Bind {
                addr: addr.to_string(),
                source,
            })?;
        let local = listener.local_addr().map_err(|source| SimError::Bind {
            addr: addr.to_string(),
            source,
        })?;
        let app = self
            .router()
            .into_make_service_with_connect_info::<ConnHandle>();
        // A simulator's servers share one stop signal; a new server starts it afresh.
        self.inner.shutdown.send_replace(false);
        let mut rx = self.inner.shutdown.subscribe();
        let task = tokio::spawn(async move {
            axum::serve(SimListener { inner: listener }, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.wait_for(|stop| *stop).await;
                })
                .await
                .map_err(|source| SimError::Serve {
                    addr: local,
                    source,
                })
        });
        Ok(SimServer {
            addr: local,
            shutdown: self.inner.shutdown.clone(),
            task: Some(task),
        })
    }
}

/// A running simulator server. Dropping it stops it too.
#[derive(Debug)]
pub struct SimServer {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<Result<(), SimError>>>,
}

impl SimServer {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`: serves every database (like an Odoo without dbfilter).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://<addr>/db/<name>`: serves only that database, and answers `version` with its
    /// Odoo version (use it when databases of different versions share a server).
    pub fn db_url(&self, name: &str) -> String {
        format!("http://{}/db/{name}", self.addr)
    }

    /// Stops the server: hanging and delayed calls end, open connections close.
    pub async fn shutdown(mut self) -> Result<(), SimError> {
        let _ = self.shutdown.send(true);
        match self.task.take() {
            Some(task) => task.await.unwrap_or(Ok(())),
            None => Ok(()),
        }
    }

    /// Waits until the server stops (for the CLI, which stops on Ctrl-C).
    pub async fn wait(mut self) -> Result<(), SimError> {
        match self.task.take() {
            Some(task) => task.await.unwrap_or(Ok(())),
            None => Ok(()),
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        if self.task.is_some() {
            let _ = self.shutdown.send(true);
        }
    }
}
