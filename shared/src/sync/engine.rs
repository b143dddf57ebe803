//! `SyncEngine`: the steps a caller (the `sync` command, a worker, standalone mode) runs for
//! a tenant. Each step takes the tenant's lease, does one unit of work, and releases it, so
//! steps of one tenant never overlap anywhere while different tenants run in parallel.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use tokio::sync::Mutex;

use super::lease::TenantLease;
use super::progress::SyncProgress;
use super::runner::{BatchRunner, FetchError};
use super::window::{fetch_groups, WindowLimits, WindowSizer};
use crate::config::Settings;
use crate::modules::{EmployeeAccess, ModelMapping, Module};
use crate::odoo::{
    ClientSettings, ConnectionInfo, Context, ErrorClass, OdooClient, OdooError, Protocol,
};
use crate::store::{
    Batch, BatchKind, NewBatch, PlannedModule, Prepared, SharedStore, StoreError, SyncStatus,
    TenantError, TenantId, TenantState,
};

/// What the engine needs from the settings.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub limit_per_call: u32,
    pub max_batch_attempts: u32,
    /// 0 means all history.
    pub initial_sync_range_days: u32,
    pub min_window: Duration,
    pub max_window: Duration,
    pub incremental_interval: Duration,
    pub incremental_lookback: Duration,
    pub reconcile_interval: Duration,
    pub verify_interval: Duration,
    /// Records per fetch group (one run of `search_read` pages) and per page of the reads by
    /// id (reconcile, verify): `PAGE_SIZE`. The client's page sizer may shrink the pages.
    pub page_size: u32,
    pub lease_ttl: Duration,
    /// Delay before the second attempt of a failed batch; doubles per attempt.
    pub retry_base: Duration,
    pub retry_max: Duration,
    pub client: ClientSettings,
    /// The modules a tenant syncs unless its connection names others (`DEFAULT_MODULES`).
    pub modules: Vec<Module>,
    /// How long a worker's step goes on taking fetch groups under one lease before it lets
    /// the tenant's next job (and other tenants) have a turn (`WORKER_STEP_SECONDS`): long
    /// enough that a job's fixed costs are shared by many groups, short enough that a
    /// stopping worker is done within its grace period.
    pub step_budget: Duration,
}

impl EngineOptions {
    pub fn from_settings(settings: &Settings) -> Self {
        EngineOptions {
            limit_per_call: settings.limit_per_call,
            max_batch_attempts: settings.max_batch_attempts,
            initial_sync_range_days: settings.initial_sync_range_days,
            min_window: settings.min_window,
            max_window: settings.max_window,
            incremental_interval: settings.incremental_interval,
            incremental_lookback: settings.incremental_lookback,
            reconcile_interval: settings.reconcile_interval,
            verify_interval: settings.verify_interval,
            page_size: settings.page_size,
            lease_ttl: Duration::from_secs(60),
            retry_base: Duration::from_secs(5),
            retry_max: Duration::from_secs(300),
            client: settings.client_settings(),
            modules: settings.modules.clone(),
            step_budget: settings.queue.step_budget,
        }
    }
}

/// What a step did.
#[derive(Debug)]
pub enum Step {
    /// The initial plan was made: this many batches, counted in windows as progress counts
    /// them (a fetch group's windows are stored in one batch).
    Prepared { batches: usize },
    /// A batch finished, with more in the same step; `batches` counts the windows done (as
    /// progress does) and `written` the records stored.
    BatchDone {
        batch: Batch,
        batches: usize,
        written: u64,
        calls: u32,
    },
    /// A batch attempt failed; it is retried later unless `permanent`.
    BatchFailed {
        batch: Batch,
        error: String,
        permanent: bool,
    },
    /// The tenant cannot go on until a person acts (see the error).
    Blocked(TenantError),
    /// The tenant has not been prepared yet.
    NotPrepared,
    /// Another worker holds the tenant (or took it over while this step ran).
    Busy,
    /// Nothing runnable right now.
    Idle,
}

/// Which follow-up batches to add now.
#[derive(Debug, Clone, Copy, Default)]
pub struct FollowUp {
    /// Add incremental batches even if the interval has not passed.
    pub force_incremental: bool,
    /// Add reconcile batches even if the interval has not passed.
    pub force_reconcile: bool,
    /// Add verify batches even if the interval has not passed.
    pub force_verify: bool,
}

/// Errors a step could not turn into a [`Step`]: the store failing, or Odoo failing in a way
/// worth retrying the whole step later.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Odoo(#[from] OdooError),
}

/// One tenant's connected client (with the fingerprint of the connection it was made for),
/// behind its own lock: only steps of that tenant wait while it connects.
type ClientCell = Arc<Mutex<Option<(u64, Arc<OdooClient>)>>>;

/// Connects to Odoo servers made at once, at most: a restarted worker reaching hundreds of
/// tenants opens a bounded number of logins, not one per tenant at the same instant.
const MAX_CONCURRENT_CONNECTS: usize = 16;

/// Runs sync steps for any number of tenants.
pub struct SyncEngine {
    store: SharedStore,
    options: EngineOptions,
    http: reqwest::Client,
    holder: String,
    /// Connected clients per tenant: reconnecting (version + authenticate) for every batch
    /// would cost two calls per batch. The map's lock is held only to find a tenant's cell,
    /// never while connecting, so a hanging Odoo holds up its own tenant only.
    clients: std::sync::Mutex<HashMap<TenantId, ClientCell>>,
    connects: tokio::sync::Semaphore,
}

impl SyncEngine {
    pub fn new(store: SharedStore, options: EngineOptions) -> Result<Self, SyncError> {
        let http = crate::odoo::http_client(&options.client)?;
        let holder = format!(
            "{}-{}-{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into()),
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        Ok(SyncEngine {
            store,
            options,
            http,
            holder,
            clients: std::sync::Mutex::new(HashMap::new()),
            connects: tokio::sync::Semaphore::new(MAX_CONCURRENT_CONNECTS),
        })
    }

    pub fn store(&self) -> &SharedStore {
        &self.store
    }

    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// The lease holder name of this engine (unique per process and start).
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The tenant's progress over its initial batches.
    pub async fn progress(&self, user_id: &TenantId) -> Result<SyncProgress, SyncError> {
        let Some(state) = self.store.tenant(user_id).await? else {
            return Ok(SyncProgress::not_started());
        };
        if state.sync_status == SyncStatus::NotStarted {
            return Ok(SyncProgress::not_started());
        }
        let counts = self.store.batch_counts(user_id, BatchKind::Initial).await?;
        Ok(SyncProgress::from_counts(&counts))
    }

    pub(super) async fn client_for(
        &self,
        user_id: &TenantId,
        info: &ConnectionInfo,
        remembered: Option<Protocol>,
    ) -> Result<Arc<OdooClient>, OdooError> {
        let fingerprint = info.fingerprint();
        let cell = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(user_id.clone())
            .or_default()
            .clone();
        let mut slot = cell.lock().await;
        if let Some((known, client)) = slot.as_ref() {
            if *known == fingerprint {
                return Ok(client.clone());
            }
        }
        // The semaphore is never closed; a closed one would only lift the bound.
        let _permit = self.connects.acquire().await.ok();
        let client = Arc::new(
            OdooClient::connect_with(
                self.http.clone(),
                info.clone(),
                &self.options.client,
                remembered,
            )
            .await?,
        );
        *slot = Some((fingerprint, client.clone()));
        Ok(client)
    }

    async fn forget_client(&self, user_id: &TenantId) {
        self.clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(user_id);
    }

    pub(super) async fn lease(
        &self,
        user_id: &TenantId,
    ) -> Result<Option<TenantLease>, StoreError> {
        TenantLease::acquire(
            self.store.clone(),
            user_id,
            &self.holder,
            self.options.lease_ttl,
        )
        .await
    }

    /// Connects, detects version, protocol and installed apps, plans the initial windows of
    /// every installed module (limited to `only` when given) and stores the plan, setting
    /// the tenant `in_progress`. Replaces any earlier plan.
    pub async fn prepare(
        &self,
        user_id: &TenantId,
        info: &ConnectionInfo,
        only: Option<&[Module]>,
    ) -> Result<Step, SyncError> {
        self.store.ensure_tenant(user_id).await?;
        let Some(lease) = self.lease(user_id).await? else {
            return Ok(Step::Busy);
        };
        self.forget_client(user_id).await;
        let result = self.prepare_under(&lease, user_id, info, only).await;
        let step = self.settle(&lease, user_id, result).await;
        release(lease).await;
        step
    }

    async fn prepare_under(
        &self,
        lease: &TenantLease,
        user_id: &TenantId,
        info: &ConnectionInfo,
        only: Option<&[Module]>,
    ) -> Result<Step, SyncError> {
        // A protocol the tenant asked for travels in `info` (`ConnectionInfo::with_protocol`).
        let saved = self.store.connection(user_id).await?;
        let client = self.client_for(user_id, info, None).await?;
        let wanted: Vec<Module> = match only {
            Some(only) => only.to_vec(),
            None => self.wanted_modules(user_id, saved.and_then(|c| c.modules).as_deref()),
        };
        let available = self.available_modules(&client, &wanted).await?;
        let employee_access = if available
            .iter()
            .any(|(module, model)| module.fallback_model(client.version()) == Some(*model))
        {
            EmployeeAccess::PublicOnly
        } else {
            EmployeeAccess::Full
        };
        let (planned_modules, batches) = self.plan_modules(&client, available).await?;
        let prepared = Prepared {
            odoo_version: client.version().to_string(),
            protocol: client.protocol().to_string(),
            modules: planned_modules,
            employee_access,
        };
        let stored = self
            .store
            .record_prepare(lease.lease(), &prepared, &batches, Utc::now())
            .await?;
        let windows = windows_of(&stored);
        tracing::info!(tenant = %user_id, batches = stored.len(), windows, version = %prepared.odoo_version,
            protocol = %prepared.protocol, "initial sync planned");
        Ok(Step::Prepared { batches: windows })
    }

    /// The modules a tenant asks for: the names its saved connection lists, else the
    /// settings' default ones.
    fn wanted_modules(&self, user_id: &TenantId, names: Option<&[String]>) -> Vec<Module> {
        let Some(names) = names else {
            return self.options.modules.clone();
        };
        names
            .iter()
            .filter_map(|name| match name.parse::<Module>() {
                Ok(module) => Some(module),
                Err(e) => {
                    // A module the settings no longer declare: the rest still syncs.
                    tracing::warn!(tenant = %user_id, "{e}; left out");
                    None
                }
            })
            .collect()
    }

    /// With nothing left to run: plans the modules the tenant's saved connection asks for but
    /// it does not sync yet (enabled after its first sync) and adds their initial batches; the
    /// tenant's status stays as it is. Modules the server cannot sync
    /// are looked at again only at the next idle step.
    pub(super) async fn plan_added_modules(
        &self,
        lease: &TenantLease,
        state: &TenantState,
        info: &ConnectionInfo,
    ) -> Result<Step, SyncError> {
        let user_id = &state.user_id;
        // Only a list the tenant saved: a tenant on the defaults (or prepared for some modules
        // by `sync --modules`) keeps what its prepare planned.
        let Some(names) = self
            .store
            .connection(user_id)
            .await?
            .and_then(|c| c.modules)
        else {
            return Ok(Step::Idle);
        };
        let missing: Vec<Module> = self
            .wanted_modules(user_id, Some(&names))
            .into_iter()
            .filter(|m| state.module(*m).is_none())
            .collect();
        if missing.is_empty() {
            return Ok(Step::Idle);
        }
        let remembered = remembered_protocol(state, info);
        let client = self.client_for(user_id, info, remembered).await?;
        let available = self.available_modules(&client, &missing).await?;
        if available.is_empty() {
            return Ok(Step::Idle);
        }
        let (planned, batches) = self.plan_modules(&client, available).await?;
        let stored = self
            .store
            .add_modules(lease.lease(), &planned, &batches, Utc::now())
            .await?;
        tracing::info!(tenant = %user_id, modules = ?planned.iter().map(|p| p.module.as_str()).collect::<Vec<_>>(),
            batches = stored.len(), "modules added");
        Ok(Step::Prepared {
            batches: windows_of(&stored),
        })
    }

    /// Plans the initial windows of each available module (with the model it reads): the
    /// modules as prepare records them, and their batches.
    async fn plan_modules(
        &self,
        client: &OdooClient,
        available: Vec<(Module, &'static str)>,
    ) -> Result<(Vec<PlannedModule>, Vec<NewBatch>), OdooError> {
        let now = Utc::now();
        let end = ceil_to_second(now);
        let limits = WindowLimits {
            limit: u64::from(self.options.limit_per_call),
            page: self.group_page(),
            min_window: self.options.min_window,
            max_window: self.options.max_window,
        };
        let mut batches = Vec::new();
        let mut planned_modules = Vec::new();
        for (module, model) in available {
            let extra_fields = resolve_extra_fields(client, module, model).await?;
            let mapping = module.mapping(client.version(), model, &extra_fields);
            let context = context_for(&mapping);
            let start = match self.options.initial_sync_range_days {
                0 => earliest_write_date(client, &mapping, context)
                    .await?
                    .unwrap_or(end),
                days => end - TimeDelta::days(i64::from(days)),
            };
            let windows = WindowSizer::new(client, &mapping, context, limits)
                .plan(start, end)
                .await?;
            if windows.is_empty() {
                // An empty module still gets one (free) batch: its end is where the first
                // incremental batch starts.
                batches.push(NewBatch::window(
                    module,
                    BatchKind::Initial,
                    end - to_delta(self.options.min_window),
                    end,
                    Some(0),
                ));
            }
            // One batch per fetch group: its windows stay listed inside it.
            batches.extend(
                fetch_groups(&windows, limits.page)
                    .filter_map(|group| NewBatch::group(module, BatchKind::Initial, group)),
            );
            planned_modules.push(PlannedModule {
                module,
                model: mapping.model.to_string(),
                extra_fields,
            });
        }
        Ok((planned_modules, batches))
    }

    /// Which of `wanted` this server can sync, with the model each reads: a built-in module
    /// whose app is installed (read from `ir.module.module`, or by probing its models), a
    /// declared one whose model exists and is readable. A module with a fallback model
    /// (employees) reads it where the user may not read the main one. The rest are logged
    /// and left out.
    async fn available_modules(
        &self,
        client: &OdooClient,
        wanted: &[Module],
    ) -> Result<Vec<(Module, &'static str)>, OdooError> {
        let probes: Vec<_> = wanted.iter().filter_map(|m| m.app_probe()).collect();
        let apps = if probes.is_empty() {
            Default::default()
        } else {
            client.installed_apps(&probes).await?
        };
        let version = client.version();
        let mut available = Vec::with_capacity(wanted.len());
        for &module in wanted {
            if let Some(app) = module.app() {
                if !apps.contains(app) {
                    tracing::info!(module = %module, app, "app not installed; module left out");
                    continue;
                }
            }
            let model = module.model(version);
            let fallback = module.fallback_model(version);
            if module.app().is_some() && fallback.is_none() {
                available.push((module, model));
                continue;
            }
            match client.can_read(model).await {
                Ok(true) => available.push((module, model)),
                Ok(false) => match fallback {
                    Some(fallback) => available.push((module, fallback)),
                    None => {
                        tracing::warn!(module = %module, model, "the user may not read the model; module left out")
                    }
                },
                Err(OdooError::MissingModel { .. }) => {
                    tracing::warn!(module = %module, model, "no such model on this server; module left out")
                }
                Err(e) => return Err(e),
            }
        }
        Ok(available)
    }

    /// Turns Odoo errors that need a person into a blocked tenant.
    pub(super) async fn settle(
        &self,
        lease: &TenantLease,
        user_id: &TenantId,
        result: Result<Step, SyncError>,
    ) -> Result<Step, SyncError> {
        match result {
            Err(SyncError::Odoo(e)) if e.class() == ErrorClass::TenantBlocked => {
                let error = tenant_error(&e);
                self.forget_client(user_id).await;
                self.store
                    .set_blocked(lease.lease(), Some(&error), Utc::now())
                    .await?;
                // Not logged as a warning here: every caller reports `Step::Blocked` itself (the
                // worker logs it, `sync` fails with it), and saying it twice confuses.
                tracing::debug!(tenant = %user_id, code = %error.code, "tenant blocked: {}", error.message);
                Ok(Step::Blocked(error))
            }
            Err(SyncError::Store(StoreError::LeaseLost { .. })) => Ok(Step::Busy),
            other => other,
        }
    }

    /// Clears a blocking error so work resumes (after the credentials were fixed).
    pub async fn unblock(&self, user_id: &TenantId) -> Result<bool, SyncError> {
        let Some(lease) = self.lease(user_id).await? else {
            return Ok(false);
        };
        let result = self
            .store
            .set_blocked(lease.lease(), None, Utc::now())
            .await;
        release(lease).await;
        result?;
        Ok(true)
    }

    /// The module's extra fields as the server has them now; stored when they changed.
    pub(super) async fn refresh_extra_fields(
        &self,
        lease: &TenantLease,
        client: &OdooClient,
        module: Module,
        model: &str,
        known: Vec<String>,
    ) -> Result<Vec<String>, FetchError> {
        let model = module.mapping(client.version(), model, &[]).model;
        let found = resolve_extra_fields(client, module, model).await?;
        if found != known {
            tracing::info!(module = %module, before = ?known, now = ?found, "fields changed on the server");
            self.store
                .set_module_fields(lease.lease(), module, &found, Utc::now())
                .await
                .map_err(store_to_fetch)?;
        }
        Ok(found)
    }

    /// Compares Odoo's `(id, write_date)` pairs with the mirror's: marks records gone from
    /// Odoo as deleted (and restores returning ones), then reads again every record whose
    /// `write_date` in Odoo differs from the stored one — newer or older: a late commit, a
    /// date moved back by hand — and every record of the sync range the mirror lacks, and
    /// stores what Odoo answers as the truth. Returns (records changed, calls made).
    pub(super) async fn reconcile(
        &self,
        lease: &TenantLease,
        state: &TenantState,
        runner: &BatchRunner<'_>,
        batch: &Batch,
    ) -> Result<(u64, u32), FetchError> {
        let (pairs, mut calls) = runner.id_dates(|| !lease.is_lost()).await?;
        let alive: Vec<i64> = pairs.iter().map(|(id, _)| *id).collect();
        let summary = self
            .store
            .complete_reconcile(lease.lease(), batch, &alive, Utc::now())
            .await
            .map_err(store_to_fetch)?;
        let stored: HashMap<i64, DateTime<Utc>> = self
            .store
            .stored_versions(&state.user_id, batch.module)
            .await
            .map_err(store_to_fetch)?
            .into_iter()
            .map(|v| (v.odoo_id, v.write_date))
            .collect();
        let since = self.range_start();
        let stale: Vec<i64> = pairs
            .iter()
            .filter(|(id, date)| match stored.get(id) {
                Some(stored) => stored != date,
                None => since.is_none_or(|since| *date >= since),
            })
            .map(|(id, _)| *id)
            .collect();
        let mut refetched = 0;
        if !stale.is_empty() {
            let fetched = runner.fetch_ids(&stale, || !lease.is_lost()).await?;
            calls += fetched.calls;
            refetched = self
                .store
                .complete_batch(lease.lease(), batch, &fetched.records, None, Utc::now())
                .await
                .map_err(store_to_fetch)?
                .written;
        }
        tracing::info!(tenant = %state.user_id, module = %batch.module,
            deleted = summary.marked_deleted, restored = summary.restored, refetched, calls,
            "reconciled");
        Ok((summary.marked_deleted + summary.restored + refetched, calls))
    }

    /// Reads again, a page of ids per call, every live record of the module's mirror, and
    /// rewrites those whose content differs from Odoo's answer: what changes without a new
    /// `write_date` (a partner merge re-pointing many2one columns by SQL, a rename seen in
    /// other records' many2one names, a direct SQL fix). The number rewritten is kept on the
    /// module. Returns (records corrected, calls made).
    pub(super) async fn verify(
        &self,
        lease: &TenantLease,
        state: &TenantState,
        runner: &BatchRunner<'_>,
        batch: &Batch,
    ) -> Result<(u64, u32), FetchError> {
        let live: Vec<i64> = self
            .store
            .stored_versions(&state.user_id, batch.module)
            .await
            .map_err(store_to_fetch)?
            .into_iter()
            .filter(|v| !v.deleted)
            .map(|v| v.odoo_id)
            .collect();
        let mut corrected = Vec::new();
        let mut calls = 0;
        // A page of stored records compared at a time; the runner pages Odoo by its own size.
        for ids in live.chunks(self.options.page_size.max(1) as usize) {
            let fetched = runner.fetch_ids(ids, || !lease.is_lost()).await?;
            calls += fetched.calls;
            let stored: HashMap<i64, serde_json::Value> = self
                .store
                .records_by_ids(&state.user_id, batch.module, ids)
                .await
                .map_err(store_to_fetch)?
                .into_iter()
                .map(|r| (r.odoo_id, r.document))
                .collect();
            corrected.extend(fetched.records.into_iter().filter(|record| {
                stored
                    .get(&record.odoo_id)
                    .is_none_or(|doc| differs(doc, record))
            }));
        }
        let written = self
            .store
            .complete_batch(lease.lease(), batch, &corrected, None, Utc::now())
            .await
            .map_err(store_to_fetch)?
            .written;
        tracing::info!(tenant = %state.user_id, module = %batch.module, checked = live.len(),
            corrected = written, calls, "verified");
        Ok((written, calls))
    }

    /// Where the sync range starts now (`None`: all history).
    fn range_start(&self) -> Option<DateTime<Utc>> {
        match self.options.initial_sync_range_days {
            0 => None,
            days => Some(Utc::now() - TimeDelta::days(i64::from(days))),
        }
    }

    /// Adds incremental batches (from each module's watermark minus the lookback to now)
    /// and reconcile batches when their intervals have passed, or when forced. Only for
    /// tenants whose initial sync is done and that have nothing runnable left. Returns the
    /// number of batches added.
    pub async fn schedule_follow_up(
        &self,
        user_id: &TenantId,
        follow_up: FollowUp,
    ) -> Result<usize, SyncError> {
        let Some(state) = self.store.tenant(user_id).await? else {
            return Ok(0);
        };
        if state.sync_status != SyncStatus::Done || state.blocked.is_some() {
            return Ok(0);
        }
        let Some(lease) = self.lease(user_id).await? else {
            return Ok(0);
        };
        let result = self.follow_up_under(&lease, &state, follow_up).await;
        release(lease).await;
        match result {
            Err(SyncError::Store(StoreError::LeaseLost { .. })) => Ok(0),
            other => other,
        }
    }

    async fn follow_up_under(
        &self,
        lease: &TenantLease,
        state: &TenantState,
        follow_up: FollowUp,
    ) -> Result<usize, SyncError> {
        let now = Utc::now();
        if self
            .store
            .next_runnable_batch(&state.user_id, now)
            .await?
            .is_some()
        {
            return Ok(0);
        }
        let end = ceil_to_second(now);
        let lookback = to_delta(self.options.incremental_lookback);
        let mut batches = Vec::new();
        let mut initial_ends: Option<HashMap<Module, DateTime<Utc>>> = None;
        for module in &state.modules {
            let due = |last: Option<DateTime<Utc>>, every: Duration| {
                last.is_none_or(|last| now - last >= to_delta(every))
            };
            if follow_up.force_incremental
                || due(
                    module.last_incremental_at,
                    self.options.incremental_interval,
                )
            {
                let from = match module.watermark.or(module.last_incremental_at) {
                    Some(at) => at,
                    None => {
                        // An empty module: continue from where its initial plan ended.
                        if initial_ends.is_none() {
                            initial_ends = Some(self.initial_ends(&state.user_id).await?);
                        }
                        initial_ends
                            .as_ref()
                            .and_then(|ends| ends.get(&module.module).copied())
                            .unwrap_or(end)
                    }
                };
                let mut start = (from - lookback).min(end - lookback);
                let step = to_delta(self.options.max_window);
                while start < end {
                    let stop = (start + step).min(end);
                    batches.push(NewBatch::window(
                        module.module,
                        BatchKind::Incremental,
                        start,
                        stop,
                        None,
                    ));
                    start = stop;
                }
            }
            // Reconcile and verify read the whole module, not a window: their window is empty.
            let rechecks = [
                (
                    BatchKind::Reconcile,
                    follow_up.force_reconcile,
                    module.last_reconcile_at,
                    self.options.reconcile_interval,
                ),
                (
                    BatchKind::Verify,
                    follow_up.force_verify,
                    module.last_verify_at,
                    self.options.verify_interval,
                ),
            ];
            for (kind, forced, last, every) in rechecks {
                if forced || due(last, every) {
                    batches.push(NewBatch::window(module.module, kind, end, end, None));
                }
            }
        }
        if batches.is_empty() {
            return Ok(0);
        }
        let added = self.store.add_batches(lease.lease(), &batches, now).await?;
        Ok(added.len())
    }

    async fn initial_ends(
        &self,
        user_id: &TenantId,
    ) -> Result<HashMap<Module, DateTime<Utc>>, SyncError> {
        let mut ends: HashMap<Module, DateTime<Utc>> = HashMap::new();
        for batch in self.store.batches(user_id).await? {
            let end = ends.entry(batch.module).or_insert(batch.window_end);
            *end = (*end).max(batch.window_end);
        }
        Ok(ends)
    }
}

pub(super) async fn release(lease: TenantLease) {
    if let Err(e) = lease.release().await {
        tracing::warn!(error = %e, "releasing a lease failed; it will expire");
    }
}

pub(super) fn store_to_fetch(error: StoreError) -> FetchError {
    match error {
        StoreError::LeaseLost { .. } => FetchError::LeaseLost,
        // Surfaced as a failed attempt with the store's message.
        other => FetchError::Odoo(OdooError::ServerFault {
            code: "store".into(),
            message: other.to_string(),
        }),
    }
}

fn tenant_error(error: &OdooError) -> TenantError {
    TenantError {
        code: error.code().to_string(),
        message: error.to_string(),
        at: Utc::now(),
    }
}

/// Whether a stored record's content differs from what Odoo answers now: every field as
/// returned (`raw`, which the structured fields are made from) and `active`. Numbers compare
/// by value, so `5` and `5.0` are the same amount whichever way a store kept them.
fn differs(stored: &serde_json::Value, record: &crate::store::MirrorRecord) -> bool {
    let raw_differs = match stored.get("raw").and_then(serde_json::Value::as_object) {
        Some(raw) => {
            raw.len() != record.raw.len()
                || record
                    .raw
                    .iter()
                    .any(|(key, value)| raw.get(key).is_none_or(|kept| !same_value(kept, value)))
        }
        None => true,
    };
    raw_differs || stored.get("active").and_then(serde_json::Value::as_bool) != Some(record.active)
}

fn same_value(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_value(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w)))
        }
        _ => a == b,
    }
}

fn context_for(mapping: &ModelMapping) -> Context {
    if mapping.has_active {
        Context::with_archived()
    } else {
        Context::default()
    }
}

/// The first whole second at or after `at`: windows end there so that everything written
/// up to now is inside.
fn ceil_to_second(at: DateTime<Utc>) -> DateTime<Utc> {
    let floor = at.duration_trunc(TimeDelta::seconds(1)).unwrap_or(at);
    if floor == at {
        at
    } else {
        floor + TimeDelta::seconds(1)
    }
}

/// Batches counted in windows, as the progress figures count them.
fn windows_of(batches: &[Batch]) -> usize {
    let windows: u64 = batches.iter().map(Batch::window_count).sum();
    usize::try_from(windows).unwrap_or(usize::MAX)
}

pub(super) fn to_delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// The oldest `write_date` of the module (for "all history"), floored to the day.
async fn earliest_write_date(
    client: &OdooClient,
    mapping: &ModelMapping,
    context: Context,
) -> Result<Option<DateTime<Utc>>, OdooError> {
    let rows = client
        .search_read(
            mapping.model,
            &mapping.domain,
            &crate::odoo::SearchOptions {
                fields: &["write_date"],
                order: Some("write_date asc, id asc"),
                limit: Some(1),
                context,
            },
        )
        .await?;
    Ok(rows
        .first()
        .and_then(|r| r.get("write_date"))
        .and_then(serde_json::Value::as_str)
        .and_then(crate::mirror::parse_datetime)
        .and_then(|at| at.duration_trunc(TimeDelta::days(1)).ok()))
}

/// Field types never mirrored: file contents (images, attachments) would make every page
/// megabytes long and belong in a file store, not in dashboard data.
const SKIPPED_TYPES: [&str; 1] = ["binary"];

/// The fields of `model` the module's [patterns](crate::modules::ModuleSpec::field_patterns)
/// name on this server, by name: stored (or delegated to a parent record), not binary, not
/// already among the module's own fields. `fields_get` lists only the fields the user may read. No call when the module has
/// no patterns.
async fn resolve_extra_fields(
    client: &OdooClient,
    module: Module,
    model: &str,
) -> Result<Vec<String>, OdooError> {
    let patterns = &module.spec().field_patterns;
    if patterns.is_empty() {
        return Ok(Vec::new());
    }
    let own = module.mapping(client.version(), model, &[]).fields;
    let described = client
        .fields_get(model, &["type", "store", "sortable"])
        .await?;
    let mut found: Vec<String> = described
        .iter()
        .filter(|(name, _)| patterns.iter().any(|p| p.matches(name)))
        .filter(|(name, _)| name.as_str() != "id" && !own.contains(name))
        .filter(|(_, attributes)| {
            let flag = |name: &str| attributes.get(name).and_then(serde_json::Value::as_bool);
            // Delegated fields (`name` of a product variant, kept on its template) are not
            // stored on the model itself but are data all the same: Odoo sorts by them, which
            // it cannot do for a computed field.
            let stored = flag("store").unwrap_or(true) || flag("sortable").unwrap_or(false);
            let kind = attributes
                .get("type")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default();
            stored && !SKIPPED_TYPES.contains(&kind)
        })
        .map(|(name, _)| name.clone())
        .collect();
    found.sort();
    Ok(found)
}

/// The protocol the tenant's last prepare chose, unless the credential changed kind since:
/// JSON-2 takes an API key only, and a key on Odoo 19+ goes over JSON-2 (XML-RPC and
/// JSON-RPC go away in 20), so a password turned key, or a key turned password, is detected
/// again instead of kept.
pub(super) fn remembered_protocol(state: &TenantState, info: &ConnectionInfo) -> Option<Protocol> {
    let protocol: Protocol = state.protocol.as_deref()?.parse().ok()?;
    let key = info.credential.is_api_key();
    let json2_server = state
        .odoo_version
        .as_deref()
        .and_then(|v| crate::odoo::ServerVersion::parse(v).ok())
        .is_some_and(|v| v.major >= 19);
    match protocol {
        Protocol::Json2 if !key => None,
        Protocol::XmlRpc | Protocol::JsonRpc if key && json2_server => None,
        other => Some(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odoo::Credential;

    fn state(version: &str, protocol: &str) -> TenantState {
        TenantState::sample(version, protocol)
    }

    fn info(credential: Credential) -> ConnectionInfo {
        ConnectionInfo::parse("https://acme.odoo.com", "acme", "admin", credential).expect("valid")
    }

    #[test]
    fn a_credential_of_another_kind_detects_the_protocol_again() {
        let key = || info(Credential::api_key("a-key-of-the-user").expect("key"));
        let password = || info(Credential::password("secret").expect("password"));
        // Password turned key on 19: JSON-2 is found again instead of keeping XML-RPC.
        assert_eq!(remembered_protocol(&state("19.0", "xmlrpc"), &key()), None);
        // Key turned password: JSON-2 cannot take it.
        assert_eq!(
            remembered_protocol(&state("19.0", "json2"), &password()),
            None
        );
        // Same kind: kept (no detection calls).
        assert_eq!(
            remembered_protocol(&state("19.0", "xmlrpc"), &password()),
            Some(Protocol::XmlRpc)
        );
        assert_eq!(
            remembered_protocol(&state("19.0", "json2"), &key()),
            Some(Protocol::Json2)
        );
        // Before 19 a key goes over XML-RPC too.
        assert_eq!(
            remembered_protocol(&state("17.0", "xmlrpc"), &key()),
            Some(Protocol::XmlRpc)
        );
    }
}
