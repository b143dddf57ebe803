//! Which databases a request may reach and which version it answers as: all databases at
//! the root, one under `/db/<name>` (like Odoo's `dbfilter`).

use crate::database::Database;
use crate::state::{AppState, SimInner};
use axum::extract::Path;
use std::collections::HashMap;
use std::sync::Arc;

/// The databases a request may reach.
#[derive(Clone)]
pub struct Scope {
    pub sim: Arc<SimInner>,
    pub pinned: Option<Arc<Database>>,
}

impl Scope {
    /// The named database, if this scope can reach it.
    pub fn database(&self, name: &str) -> Option<Arc<Database>> {
        match &self.pinned {
            Some(db) if db.name == name => Some(db.clone()),
            Some(_) => None,
            None => self.sim.database(name),
        }
    }

    /// The database of calls that name none: the pinned one, or the only one.
    pub fn default_database(&self) -> Option<Arc<Database>> {
        self.pinned.clone().or_else(|| self.sim.only_database())
    }

    /// The Odoo version this URL answers as.
    pub fn version(&self) -> u32 {
        self.pinned
            .as_ref()
            .map_or_else(|| self.sim.root_version(), |db| db.version)
    }
}

/// Builds the scope of a request from its `/db/<name>` prefix, if any; `None` for a prefix
/// naming no database (answered 404, like a URL no route matches).
pub fn scope_of(state: &AppState, params: &HashMap<String, String>) -> Option<Scope> {
    let pinned = match params.get("dbname") {
        None => None,
        Some(name) => Some(state.database(name)?),
    };
    Some(Scope {
        sim: state.clone(),
        pinned,
    })
}

/// Path parameters of a route that may have none (the root routes) or some (`/db/{dbname}`).
pub type Params = Option<Path<HashMap<String, String>>>;

/// The path parameters as a map (empty for the root routes).
pub fn params_of(p: Params) -> HashMap<String, String> {
    p.map(|Path(m)| m).unwrap_or_default()
}
