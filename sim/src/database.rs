//! One simulated database: its version, users, installed apps and rows; authentication with
//! login throttling and revocable credentials; transactions that stamp every row they write
//! with their start time and become visible only at commit; per-database faults and counters.

use crate::catalog::reference_name;
use crate::counters::{CallStats, Counters};
use crate::custom::CustomField;
use crate::error::SimError;
use crate::faults::{FaultRule, Faults};
use crate::generator::DataSpec;
use crate::odoo_error::OdooError;
use crate::schema::{App, FieldType, ModelDef, Schema, Storage, ID};
use crate::value::{micros_of, now_micros, parse_date, parse_datetime_seconds, Cell, Micros};
use chrono::{DateTime, Utc};
use parking_lot::{Mutex, RwLock};
use serde_json::{Map, Value as Json};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A user of a simulated database.
#[derive(Debug, Clone, PartialEq)]
pub struct UserSpec {
    pub uid: i64,
    pub login: String,
    /// Display name (also the `res.users` record's name).
    pub name: String,
    pub password: String,
    /// API keys; honoured from Odoo 14 on (older versions only know passwords).
    pub api_keys: Vec<String>,
    /// In the Settings group: may read `ir.module.module`.
    pub settings: bool,
    /// Has HR rights: may read `hr.employee` (from 13; before, every user may).
    pub hr: bool,
}

impl UserSpec {
    /// A user with a password, no API key, no Settings and no HR rights.
    pub fn new(uid: i64, login: &str, password: &str) -> UserSpec {
        UserSpec {
            uid,
            login: login.to_string(),
            name: login.to_string(),
            password: password.to_string(),
            api_keys: Vec::new(),
            settings: false,
            hr: false,
        }
    }

    /// Odoo's administrator: uid 2, `admin`/`admin`, "Mitchell Admin", all rights.
    pub fn admin() -> UserSpec {
        UserSpec {
            name: "Mitchell Admin".into(),
            settings: true,
            hr: true,
            ..UserSpec::new(2, "admin", "admin")
        }
    }

    /// Adds an API key.
    pub fn with_api_key(mut self, key: &str) -> UserSpec {
        self.api_keys.push(key.to_string());
        self
    }
}

/// How to build a database.
#[derive(Debug, Clone)]
pub struct DatabaseSpec {
    pub name: String,
    /// Odoo major version, 12 to 19.
    pub version: u32,
    pub users: Vec<UserSpec>,
    /// Installed apps besides `base` (always installed).
    pub apps: Vec<App>,
    /// Generated rows.
    pub data: DataSpec,
    /// Custom (Studio) fields the database has from the start; generated records leave them
    /// empty.
    pub custom_fields: Vec<CustomField>,
}

impl DatabaseSpec {
    /// A database with the admin user, every app and the default generated data.
    pub fn new(name: &str, version: u32) -> DatabaseSpec {
        DatabaseSpec {
            name: name.to_string(),
            version,
            users: vec![UserSpec::admin()],
            apps: vec![App::Contacts, App::Sale, App::Account, App::Hr, App::Stock],
            data: DataSpec::default(),
            custom_fields: Vec::new(),
        }
    }
}

/// Odoo's login cooldown: after `max_failures` failed logins from one address, logins from it
/// are refused for `cooldown` (Odoo's defaults: 5 and 60 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginThrottle {
    pub max_failures: u32,
    pub cooldown: Duration,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle {
            max_failures: 5,
            cooldown: Duration::from_secs(60),
        }
    }
}

/// The message Odoo raises while an address is on login cooldown.
pub const TOO_MANY_FAILURES: &str =
    "Too many login failures, please wait a bit before trying again.";

/// Login cooldown state: the setting and, per client address, failures and the last one.
#[derive(Debug, Default)]
struct LoginGuard {
    config: Option<LoginThrottle>,
    failures: HashMap<IpAddr, (u32, Instant)>,
}

#[derive(Debug)]
struct UserState {
    spec: UserSpec,
    /// Credentials revoked: neither password nor keys work.
    revoked: bool,
}

/// Rows of one table, by id.
#[derive(Debug, Default)]
pub(crate) struct Table {
    pub rows: BTreeMap<i64, Vec<Cell>>,
    next_id: i64,
}

impl Table {
    /// Reserves an id, as a PostgreSQL sequence does at insert time (before commit).
    fn allocate(&mut self) -> i64 {
        self.next_id = self
            .next_id
            .max(self.rows.keys().next_back().copied().unwrap_or(0))
            + 1;
        self.next_id
    }
}

/// The state of one database (shared by the server and the test handles).
#[derive(Debug)]
pub(crate) struct Database {
    pub name: String,
    pub version: u32,
    pub apps: Vec<App>,
    /// Replaced as a whole when a custom field is added; readers keep the snapshot they took.
    schema: RwLock<Arc<Schema>>,
    pub tables: RwLock<HashMap<&'static str, Table>>,
    users: RwLock<Vec<UserState>>,
    throttle: Mutex<LoginGuard>,
    pub counters: Counters,
    pub faults: Faults,
}

impl Database {
    pub fn new(spec: &DatabaseSpec) -> Result<Database, SimError> {
        if !(12..=19).contains(&spec.version) {
            return Err(SimError::UnsupportedVersion(spec.version));
        }
        let mut schema = Schema::new(spec.version, &spec.apps);
        for custom in &spec.custom_fields {
            schema = crate::custom::add_to_schema(&schema, custom, spec.version)?;
        }
        let mut tables = HashMap::new();
        for m in schema.models() {
            tables.entry(m.table).or_insert_with(Table::default);
        }
        let db = Database {
            name: spec.name.clone(),
            version: spec.version,
            apps: spec.apps.clone(),
            schema: RwLock::new(Arc::new(schema)),
            tables: RwLock::new(tables),
            users: RwLock::new(
                spec.users
                    .iter()
                    .map(|u| UserState {
                        spec: u.clone(),
                        revoked: false,
                    })
                    .collect(),
            ),
            throttle: Mutex::new(LoginGuard {
                config: Some(LoginThrottle::default()),
                failures: HashMap::new(),
            }),
            counters: Counters::default(),
            faults: Faults::new(spec.data.seed),
        };
        crate::generator::populate(&db, &spec.users, &spec.data)?;
        Ok(db)
    }

    /// The models as they are now (a snapshot: a custom field added later is not in it).
    pub fn schema(&self) -> Arc<Schema> {
        self.schema.read().clone()
    }

    /// Installs a new schema (custom fields). Called with the tables' write lock held, after
    /// every row got its new cells, so that no reader sees a field without a cell.
    pub(crate) fn set_schema(&self, schema: Schema) {
        *self.schema.write() = Arc::new(schema);
    }

    pub(crate) fn model_for_api(&self, name: &str) -> Result<Arc<ModelDef>, SimError> {
        self.schema()
            .model(name)
            .cloned()
            .ok_or_else(|| SimError::UnknownModel {
                database: self.name.clone(),
                model: name.to_string(),
            })
    }

    /// Inserts a fully built row (generator use): no transaction, no visibility delay.
    pub fn insert_row(&self, model: &ModelDef, cells: Vec<Cell>) {
        let mut tables = self.tables.write();
        let table = tables.entry(model.table).or_default();
        if let Some(Cell::Int(id)) = cells.get(ID) {
            table.next_id = table.next_id.max(*id);
            table.rows.insert(*id, cells);
        }
    }

    /// Reserves an id in a model's table.
    pub fn allocate_id(&self, model: &ModelDef) -> i64 {
        self.tables
            .write()
            .entry(model.table)
            .or_default()
            .allocate()
    }

    /// The display name of the record a many2one points to.
    fn display_name(
        &self,
        tables: &HashMap<&'static str, Table>,
        relation: &str,
        id: i64,
    ) -> String {
        if let Some(name) = reference_name(relation, id, self.version) {
            return name;
        }
        let schema = self.schema();
        // Templates are not stored: each generated product is its own template (same id).
        let stored = match relation {
            "product.template" => "product.product",
            other => other,
        };
        if let Some(m) = schema.model(stored) {
            if let Some(row) = tables.get(m.table).and_then(|t| t.rows.get(&id)) {
                return crate::methods::display_name(m, row);
            }
        }
        format!("{relation},{id}")
    }

    /// Converts a JSON value given by a test into a stored cell of `field`.
    fn to_cell(
        &self,
        tables: &HashMap<&'static str, Table>,
        model: &ModelDef,
        field: &str,
        v: &Json,
    ) -> Result<(usize, Cell), SimError> {
        let idx = model
            .field_index(field)
            .ok_or_else(|| SimError::UnknownField {
                model: model.name.to_string(),
                field: field.to_string(),
            })?;
        let def = &model.fields[idx];
        let bad = |reason: &str| SimError::InvalidValue {
            model: model.name.to_string(),
            field: field.to_string(),
            reason: reason.to_string(),
        };
        // The ORM's own columns and computed fields cannot be written; every other field can,
        // readonly ones included (they are readonly in forms, not in the database).
        if idx == ID
            || idx == model.create_date_index()
            || idx == model.write_date_index()
            || def.storage == Storage::Computed
        {
            return Err(bad("is set by the ORM, not by writes"));
        }
        if matches!(v, Json::Null | Json::Bool(false)) && def.ty != FieldType::Boolean {
            // Odoo reads an unset number as 0, everything else as False.
            return Ok((idx, def.ty.empty_cell()));
        }
        let cell = match def.ty {
            FieldType::Char | FieldType::Text => {
                Cell::text(v.as_str().ok_or_else(|| bad("expects a string"))?)
            }
            FieldType::Binary => Cell::text(v.as_str().ok_or_else(|| bad("expects base64 text"))?),
            FieldType::Selection(choices) => {
                let s = v.as_str().ok_or_else(|| bad("expects a string"))?;
                if !choices.iter().any(|(k, _)| *k == s) {
                    return Err(bad(&format!("{s:?} is not one of its choices")));
                }
                Cell::text(s)
            }
            FieldType::Boolean => Cell::Bool(v.as_bool().ok_or_else(|| bad("expects a bool"))?),
            FieldType::Integer => Cell::Int(v.as_i64().ok_or_else(|| bad("expects an integer"))?),
            FieldType::Float | FieldType::Monetary => {
                Cell::Float(v.as_f64().ok_or_else(|| bad("expects a number"))?)
            }
            FieldType::Date => Cell::Date(
                v.as_str()
                    .and_then(parse_date)
                    .ok_or_else(|| bad("expects 'YYYY-MM-DD'"))?,
            ),
            FieldType::Datetime => Cell::DateTime(
                v.as_str()
                    .and_then(parse_datetime_seconds)
                    .ok_or_else(|| bad("expects 'YYYY-MM-DD HH:MM:SS'"))?
                    * 1_000_000,
            ),
            FieldType::Many2one(relation) => match v {
                Json::Number(n) => {
                    let id = n.as_i64().ok_or_else(|| bad("expects an id"))?;
                    Cell::Link(id, self.display_name(tables, relation, id).into())
                }
                Json::Array(pair) => match (pair.first().and_then(Json::as_i64), pair.get(1)) {
                    (Some(id), Some(Json::String(name))) => Cell::Link(id, name.as_str().into()),
                    _ => return Err(bad("expects an id or [id, name]")),
                },
                _ => return Err(bad("expects an id or [id, name]")),
            },
        };
        Ok((idx, cell))
    }

    /// A new row with Odoo's defaults (booleans False, numbers 0, `active` True).
    pub fn default_row(model: &ModelDef, id: i64, stamp: Micros) -> Vec<Cell> {
        let mut row: Vec<Cell> = model
            .fields
            .iter()
            .map(|f| match f.ty {
                FieldType::Boolean => Cell::Bool(f.name == "active"),
                ty => ty.empty_cell(),
            })
            .collect();
        row[ID] = Cell::Int(id);
        row[model.create_date_index()] = Cell::DateTime(stamp);
        row[model.write_date_index()] = Cell::DateTime(stamp);
        row
    }

    // ---- authentication ----

    fn secret_matches(&self, user: &UserState, secret: &str) -> bool {
        if user.revoked {
            return false;
        }
        user.spec.password == secret
            || (self.version >= 14 && user.spec.api_keys.iter().any(|k| k == secret))
    }

    /// `common.authenticate` / `login`: the uid, or None (Odoo answers False). Failed logins
    /// count towards the address's cooldown; during it every login fails, as in Odoo, whose
    /// external `authenticate` turns the "Too many login failures" AccessDenied into False.
    pub fn authenticate(&self, login: &str, secret: &str, ip: IpAddr) -> Option<i64> {
        self.login_with_cooldown(login, secret, ip).ok()
    }

    /// Like `authenticate` but with the AccessDenied Odoo raises (the web login shows it).
    pub fn login_with_cooldown(
        &self,
        login: &str,
        secret: &str,
        ip: IpAddr,
    ) -> Result<i64, OdooError> {
        let mut guard = self.throttle.lock();
        let LoginGuard { config, failures } = &mut *guard;
        if let (Some(cfg), Some((count, last))) = (config.as_ref(), failures.get(&ip)) {
            if cfg.max_failures > 0 && *count >= cfg.max_failures && last.elapsed() < cfg.cooldown {
                return Err(OdooError::AccessDenied(TOO_MANY_FAILURES.into()));
            }
        }
        let uid = {
            let users = self.users.read();
            users
                .iter()
                .find(|u| u.spec.login == login && self.secret_matches(u, secret))
                .map(|u| u.spec.uid)
        };
        match uid {
            Some(uid) => {
                failures.remove(&ip);
                Ok(uid)
            }
            None => {
                let entry = failures.entry(ip).or_insert((0, Instant::now()));
                *entry = (entry.0 + 1, Instant::now());
                Err(OdooError::AccessDenied("Access Denied".into()))
            }
        }
    }

    /// The uid/secret check of `execute_kw` (no cooldown there, as in Odoo).
    pub fn check(&self, uid: i64, secret: &str) -> Result<UserSpec, OdooError> {
        self.users
            .read()
            .iter()
            .find(|u| u.spec.uid == uid && self.secret_matches(u, secret))
            .map(|u| u.spec.clone())
            .ok_or_else(|| OdooError::AccessDenied("Access Denied".into()))
    }

    /// The user owning an API key (JSON-2 accepts keys only, never passwords).
    pub fn check_api_key(&self, key: &str) -> Option<UserSpec> {
        if self.version < 14 {
            return None;
        }
        self.users
            .read()
            .iter()
            .find(|u| !u.revoked && u.spec.api_keys.iter().any(|k| k == key))
            .map(|u| u.spec.clone())
    }

    fn with_user<T>(
        &self,
        login: &str,
        f: impl FnOnce(&mut UserState) -> T,
    ) -> Result<T, SimError> {
        let mut users = self.users.write();
        users
            .iter_mut()
            .find(|u| u.spec.login == login)
            .map(f)
            .ok_or_else(|| SimError::UnknownUser(login.to_string()))
    }
}

/// A handle on one simulated database, for tests: mutations, snapshots, faults, counters and
/// credentials. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Db {
    pub(crate) inner: Arc<Database>,
}

impl Db {
    /// The database's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Its Odoo version.
    pub fn version(&self) -> u32 {
        self.inner.version
    }

    /// Whether the model exists here (its app is installed and the version has it).
    pub fn has_model(&self, model: &str) -> bool {
        self.inner.schema().model(model).is_some()
    }

    /// Starts a transaction stamped now. Its rows carry this time as `write_date` but become
    /// visible only at [`Transaction::commit`] — hold it open to simulate a late commit.
    pub fn begin(&self) -> Transaction {
        self.begin_at_micros(now_micros())
    }

    /// Starts a transaction stamped at `at` (exact to the microsecond).
    pub fn begin_at(&self, at: DateTime<Utc>) -> Transaction {
        self.begin_at_micros(micros_of(at))
    }

    fn begin_at_micros(&self, stamp: Micros) -> Transaction {
        Transaction {
            db: self.inner.clone(),
            stamp,
            ops: Vec::new(),
            created: Vec::new(),
        }
    }

    /// Creates a record in its own transaction; returns its id.
    pub fn create(&self, model: &str, values: Json) -> Result<i64, SimError> {
        let mut tx = self.begin();
        let id = tx.create(model, values)?;
        tx.commit();
        Ok(id)
    }

    /// Writes values on a record in its own transaction.
    pub fn update(&self, model: &str, id: i64, values: Json) -> Result<(), SimError> {
        let mut tx = self.begin();
        tx.update(model, id, values)?;
        tx.commit();
        Ok(())
    }

    /// Bumps `write_date` of records without changing anything else (Odoo does this for
    /// computed fields, followers, presence...).
    pub fn touch(&self, model: &str, ids: &[i64]) -> Result<(), SimError> {
        let mut tx = self.begin();
        for id in ids {
            tx.update(model, *id, Json::Object(Map::new()))?;
        }
        tx.commit();
        Ok(())
    }

    /// Archives a record (`active = False`) in its own transaction.
    pub fn archive(&self, model: &str, id: i64) -> Result<(), SimError> {
        let mut tx = self.begin();
        tx.archive(model, id)?;
        tx.commit();
        Ok(())
    }

    /// Unarchives a record in its own transaction.
    pub fn unarchive(&self, model: &str, id: i64) -> Result<(), SimError> {
        let mut tx = self.begin();
        tx.unarchive(model, id)?;
        tx.commit();
        Ok(())
    }

    /// Deletes a record in its own transaction.
    pub fn delete(&self, model: &str, id: i64) -> Result<(), SimError> {
        let mut tx = self.begin();
        tx.delete(model, id)?;
        tx.commit();
        Ok(())
    }

    /// Creates `count` generated records of `model` in one transaction, all stamped with the
    /// same `write_date` (a burst, as an import or a mass update makes). Returns their ids.
    pub fn burst(&self, model: &str, count: usize, seed: u64) -> Result<Vec<i64>, SimError> {
        let tx = self.begin();
        let stamp = tx.stamp;
        drop(tx);
        crate::generator::burst(&self.inner, model, count, seed, stamp)
    }

    /// Every committed row of `model`, archived ones included, by id, with every field as
    /// Odoo's `read` returns it.
    pub fn snapshot(&self, model: &str) -> Result<Vec<Json>, SimError> {
        let m = self.inner.model_for_api(model)?;
        let all: Vec<usize> = (0..m.fields.len()).collect();
        let tables = self.inner.tables.read();
        Ok(tables
            .get(m.table)
            .map(|t| {
                t.rows
                    .values()
                    .map(|r| crate::methods::render(&m, r, &all))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Number of committed rows of `model`, archived included.
    pub fn count(&self, model: &str) -> Result<usize, SimError> {
        let m = self.inner.model_for_api(model)?;
        Ok(self
            .inner
            .tables
            .read()
            .get(m.table)
            .map_or(0, |t| t.rows.len()))
    }

    /// Ids of all committed rows of `model`, archived included, ascending.
    pub fn ids(&self, model: &str) -> Result<Vec<i64>, SimError> {
        let m = self.inner.model_for_api(model)?;
        Ok(self
            .inner
            .tables
            .read()
            .get(m.table)
            .map(|t| t.rows.keys().copied().collect())
            .unwrap_or_default())
    }

    /// The exact stored `write_date` of a record, with microseconds.
    pub fn write_date(&self, model: &str, id: i64) -> Result<DateTime<Utc>, SimError> {
        let m = self.inner.model_for_api(model)?;
        let tables = self.inner.tables.read();
        match tables
            .get(m.table)
            .and_then(|t| t.rows.get(&id))
            .map(|r| &r[m.write_date_index()])
        {
            Some(Cell::DateTime(us)) => {
                Ok(DateTime::from_timestamp_micros(*us).unwrap_or_default())
            }
            _ => Err(SimError::MissingRecord {
                model: model.to_string(),
                id,
            }),
        }
    }

    /// Call counters of this database.
    pub fn stats(&self) -> CallStats {
        self.inner.counters.snapshot()
    }

    /// Sets the call counters back to zero.
    pub fn reset_stats(&self) {
        self.inner.counters.reset()
    }

    /// Adds a fault rule (see [`FaultRule`]).
    pub fn add_fault(&self, rule: FaultRule) {
        self.inner.faults.add(rule)
    }

    /// The fault rules in force (`Next` triggers show what is left).
    pub fn faults(&self) -> Vec<FaultRule> {
        self.inner.faults.rules()
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.inner.faults.clear()
    }

    /// Makes a user's password and API keys stop working (expired key, changed password).
    pub fn revoke_credentials(&self, login: &str) -> Result<(), SimError> {
        self.inner.with_user(login, |u| u.revoked = true)
    }

    /// Undoes [`Db::revoke_credentials`].
    pub fn restore_credentials(&self, login: &str) -> Result<(), SimError> {
        self.inner.with_user(login, |u| u.revoked = false)
    }

    /// Changes a user's password.
    pub fn set_password(&self, login: &str, password: &str) -> Result<(), SimError> {
        self.inner
            .with_user(login, |u| u.spec.password = password.to_string())
    }

    /// Adds an API key to a user.
    pub fn add_api_key(&self, login: &str, key: &str) -> Result<(), SimError> {
        self.inner
            .with_user(login, |u| u.spec.api_keys.push(key.to_string()))
    }

    /// Removes an API key from whichever user has it (an expired or deleted key).
    pub fn revoke_api_key(&self, key: &str) {
        for u in self.inner.users.write().iter_mut() {
            u.spec.api_keys.retain(|k| k != key);
        }
    }

    /// The users and their current credentials.
    pub fn users(&self) -> Vec<UserSpec> {
        self.inner
            .users
            .read()
            .iter()
            .map(|u| u.spec.clone())
            .collect()
    }

    /// Sets the login cooldown (`None` disables it). Also forgets past failures.
    pub fn set_login_throttle(&self, throttle: Option<LoginThrottle>) {
        let mut guard = self.inner.throttle.lock();
        guard.config = throttle;
        guard.failures.clear();
    }
}

#[derive(Debug)]
enum TxOp {
    Create {
        table: &'static str,
        row: Vec<Cell>,
    },
    Update {
        table: &'static str,
        id: i64,
        values: Vec<(usize, Cell)>,
        /// The `write_date` column to stamp, or `None` for a direct SQL write.
        write_date: Option<usize>,
    },
    Delete {
        table: &'static str,
        id: i64,
    },
}

/// The display name of a stored row of `table` (as the first model stored there shows it).
fn row_display_name(schema: &Schema, table: &str, row: &[Cell]) -> Option<String> {
    schema
        .models()
        .iter()
        .find(|m| m.table == table)
        .map(|m| crate::methods::display_name(m, row))
}

/// Pads a row built before a custom field was added with the new fields' empty values.
fn pad_row(schema: &Schema, table: &str, row: &mut Vec<Cell>) {
    if let Some(m) = schema.models().iter().find(|m| m.table == table) {
        for f in m.fields.iter().skip(row.len()) {
            row.push(f.ty.empty_cell());
        }
    }
}

/// A simulated database transaction: every row it writes gets its start time as `write_date`
/// (as PostgreSQL's `now()` does), and nothing is visible to searches until [`commit`]. Ids of
/// created rows are reserved at once, like a sequence. Dropping it without commit rolls back.
///
/// [`commit`]: Transaction::commit
#[derive(Debug)]
pub struct Transaction {
    db: Arc<Database>,
    stamp: Micros,
    ops: Vec<TxOp>,
    created: Vec<(&'static str, i64)>,
}

impl Transaction {
    /// The transaction's timestamp (the `write_date` of all its rows).
    pub fn stamp(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.stamp).unwrap_or_default()
    }

    fn values(&self, model: &ModelDef, values: &Json) -> Result<Vec<(usize, Cell)>, SimError> {
        let map = match values {
            Json::Object(map) => map,
            _ => {
                return Err(SimError::InvalidValue {
                    model: model.name.to_string(),
                    field: String::new(),
                    reason: "values must be a JSON object".into(),
                })
            }
        };
        let tables = self.db.tables.read();
        let mut cells: Vec<(usize, Cell)> = map
            .iter()
            .map(|(k, v)| self.db.to_cell(&tables, model, k, v))
            .collect::<Result<_, _>>()?;
        // A link to a row this transaction created (not visible yet) takes its pending name.
        for (i, cell) in cells.iter_mut() {
            if let (Cell::Link(id, name), FieldType::Many2one(rel)) = (&*cell, model.fields[*i].ty)
            {
                if let Some(pending) = self.pending_name(rel, *id) {
                    if pending != **name {
                        *cell = Cell::Link(*id, pending.into());
                    }
                }
            }
        }
        Ok(cells)
    }

    fn pending_name(&self, relation: &str, id: i64) -> Option<String> {
        let schema = self.db.schema();
        let m = schema.model(relation)?;
        self.ops.iter().find_map(|op| match op {
            TxOp::Create { table, row }
                if *table == m.table && row.get(ID) == Some(&Cell::Int(id)) =>
            {
                Some(crate::methods::display_name(m, row))
            }
            _ => None,
        })
    }

    fn exists(&self, model: &ModelDef, id: i64) -> Result<(), SimError> {
        let committed = self
            .db
            .tables
            .read()
            .get(model.table)
            .is_some_and(|t| t.rows.contains_key(&id));
        if committed || self.created.contains(&(model.table, id)) {
            Ok(())
        } else {
            Err(SimError::MissingRecord {
                model: model.name.to_string(),
                id,
            })
        }
    }

    /// Creates a record (visible at commit); returns its id, reserved now.
    pub fn create(&mut self, model: &str, values: Json) -> Result<i64, SimError> {
        let db = self.db.clone();
        let m = db.model_for_api(model)?;
        let vals = self.values(&m, &values)?;
        let id = db.allocate_id(&m);
        let mut row = Database::default_row(&m, id, self.stamp);
        for (i, c) in vals {
            row[i] = c;
        }
        self.created.push((m.table, id));
        self.ops.push(TxOp::Create {
            table: m.table,
            row,
        });
        Ok(id)
    }

    /// Writes values on a record (an empty object only bumps `write_date`).
    pub fn update(&mut self, model: &str, id: i64, values: Json) -> Result<(), SimError> {
        self.push_update(model, id, values, true)
    }

    /// Writes values on a record as a direct SQL `UPDATE` would: `write_date` stays.
    pub fn update_without_stamp(
        &mut self,
        model: &str,
        id: i64,
        values: Json,
    ) -> Result<(), SimError> {
        self.push_update(model, id, values, false)
    }

    fn push_update(
        &mut self,
        model: &str,
        id: i64,
        values: Json,
        stamp: bool,
    ) -> Result<(), SimError> {
        let db = self.db.clone();
        let m = db.model_for_api(model)?;
        self.exists(&m, id)?;
        let values = self.values(&m, &values)?;
        self.ops.push(TxOp::Update {
            table: m.table,
            id,
            values,
            write_date: stamp.then(|| m.write_date_index()),
        });
        Ok(())
    }

    fn set_active(&mut self, model: &str, id: i64, active: bool) -> Result<(), SimError> {
        let db = self.db.clone();
        let m = db.model_for_api(model)?;
        if m.active_index().is_none() {
            return Err(SimError::NotArchivable {
                model: model.to_string(),
            });
        }
        self.update(model, id, serde_json::json!({ "active": active }))
    }

    /// Archives a record.
    pub fn archive(&mut self, model: &str, id: i64) -> Result<(), SimError> {
        self.set_active(model, id, false)
    }

    /// Unarchives a record.
    pub fn unarchive(&mut self, model: &str, id: i64) -> Result<(), SimError> {
        self.set_active(model, id, true)
    }

    /// Deletes a record.
    pub fn delete(&mut self, model: &str, id: i64) -> Result<(), SimError> {
        let db = self.db.clone();
        let m = db.model_for_api(model)?;
        self.exists(&m, id)?;
        self.ops.push(TxOp::Delete { table: m.table, id });
        Ok(())
    }

    /// Makes every change visible at once, each row stamped with the start time.
    pub fn commit(self) {
        let mut tables = self.db.tables.write();
        // Read under the tables' lock: a custom field is added under it too, so this schema
        // and the rows agree on the columns.
        let schema = self.db.schema();
        for op in self.ops {
            match op {
                TxOp::Create { table, mut row } => {
                    pad_row(&schema, table, &mut row);
                    if let Some(Cell::Int(id)) = row.get(ID) {
                        let id = *id;
                        tables.entry(table).or_default().rows.insert(id, row);
                    }
                }
                TxOp::Update {
                    table,
                    id,
                    values,
                    write_date,
                } => {
                    // A row deleted meanwhile is simply gone (the UPDATE touches nothing).
                    let mut renamed = false;
                    if let Some(row) = tables.get_mut(table).and_then(|t| t.rows.get_mut(&id)) {
                        let before = row_display_name(&schema, table, row);
                        for (i, c) in values {
                            if let Some(cell) = row.get_mut(i) {
                                *cell = c;
                            }
                        }
                        renamed = row_display_name(&schema, table, row) != before;
                        if let Some(write_date) = write_date {
                            row[write_date] = Cell::DateTime(self.stamp);
                        }
                    }
                    // Odoo computes many2one names on read: every record pointing at this
                    // one shows the new name from now on, with its own write_date unchanged.
                    if renamed {
                        crate::out_of_band::follow_rename(&self.db, &mut tables, table, id);
                    }
                }
                TxOp::Delete { table, id } => {
                    if let Some(t) = tables.get_mut(table) {
                        t.rows.remove(&id);
                    }
                }
            }
        }
    }
}
