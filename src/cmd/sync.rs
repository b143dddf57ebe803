//! `odoo-sync sync`: one tenant in the foreground. The first run makes the initial sync; a
//! later run on the same store does one incremental pass (and a deletion check with
//! `--reconcile`); `--follow` keeps the tenant in sync until interrupted.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use shared::config::Settings;
use shared::modules::Module;
use shared::odoo::{
    http_client, ConnectionInfo, OdooClient, ProtocolChoice, ProtocolReason, ServerVersion,
};
use shared::store::mongo::MongoStore;
use shared::store::sqlite::SqliteStore;
use shared::store::{BatchKind, SharedStore, SyncStatus, TenantId, TenantState};
use shared::sync::{EngineOptions, FollowUp, Step, SyncEngine};

use super::odoo_args::OdooArgs;
use super::session::{run_until_idle, SessionReport};
use super::summary::print_summary;

#[derive(Args, Debug)]
pub struct SyncArgs {
    #[command(flatten)]
    odoo: OdooArgs,
    /// The tenant (userId) the records are stored under.
    #[arg(long, default_value = "cli")]
    tenant: String,
    /// Sync these modules (comma-separated): sales, invoices, contacts, employees, the
    /// optional sale_lines, invoice_lines, products, or modules the --config file declares.
    /// Default: DEFAULT_MODULES.
    // Names, not modules: declared ones are known only once the settings are loaded.
    #[arg(long, value_delimiter = ',')]
    modules: Option<Vec<String>>,
    /// Where to store: sqlite://PATH or mongodb://... (default: the SQLite file under DATA_DIR).
    #[arg(long)]
    store: Option<String>,
    /// Also reconcile (on a tenant whose initial sync is done): compare every (id, write_date)
    /// with Odoo, mark deleted records, read again records whose write_date differs.
    #[arg(long)]
    reconcile: bool,
    /// Also verify: read every mirrored record again and rewrite those whose content differs
    /// from Odoo (changes Odoo makes without a new write_date: merges, renames, SQL fixes).
    #[arg(long)]
    verify: bool,
    /// Keep the tenant in sync until interrupted (Ctrl-C).
    #[arg(long)]
    follow: bool,
    /// A TOML file with settings (same keys as the environment variables, in lower case).
    #[arg(long)]
    config: Option<PathBuf>,
}

/// Opens the store named by `--store`, or the embedded default.
pub async fn open_store(spec: Option<&str>, settings: &Settings) -> anyhow::Result<SharedStore> {
    let store: SharedStore = match spec {
        Some(uri) if uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://") => {
            Arc::new(MongoStore::connect(uri).await?)
        }
        Some(uri) if uri.starts_with("sqlite://") => {
            let path = uri.trim_start_matches("sqlite://");
            if path.is_empty() {
                bail!(
                    "--store sqlite:// needs a file path, e.g. sqlite://./data/odoo-sync.sqlite3"
                );
            }
            Arc::new(SqliteStore::open(std::path::Path::new(path)).await?)
        }
        Some(other) => {
            bail!("--store {other:?} is not supported: use sqlite://PATH or mongodb://HOST/DB")
        }
        None => Arc::new(SqliteStore::open_in_dir(&settings.data_dir).await?),
    };
    Ok(store)
}

pub async fn run(args: SyncArgs) -> anyhow::Result<()> {
    let settings = Settings::load(args.config.as_deref())?;
    let modules: Option<Vec<Module>> = args
        .modules
        .as_ref()
        .map(|names| {
            names
                .iter()
                .map(|n| n.parse::<Module>())
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
        .map_err(|e| anyhow::anyhow!("--modules: {e}"))?;
    let tenant = TenantId::parse(&args.tenant)?;
    let options = EngineOptions::from_settings(&settings);
    let info = args.odoo.connection(&options.client).await?;
    let store = open_store(args.store.as_deref(), &settings).await?;
    let call_delay = options.client.call_delay;
    let engine = SyncEngine::new(store.clone(), options)?;

    let state = store.ensure_tenant(&tenant).await?;
    // A protocol asked for wins over the remembered one (the client does the same).
    match remembered_choice(&state).filter(|_| info.forced_protocol().is_none()) {
        Some(choice) => eprintln!("Protocol: {choice}"),
        None => {
            // The engine detects again when it plans; this probe only says what it will find.
            let http = http_client(&engine.options().client)?;
            match OdooClient::detect(http, info.clone(), &engine.options().client).await {
                Ok(choice) => eprintln!("Protocol: {choice}"),
                // Planning meets the same error and reports it the engine's way.
                Err(e) => eprintln!("Protocol: not detected ({e})"),
            }
            // Keep the politeness gap before the engine's first call.
            tokio::time::sleep(call_delay).await;
        }
    }
    if state.blocked.is_some() {
        // The user is trying again, maybe with corrected credentials.
        engine.unblock(&tenant).await?;
    }
    let mut report = SessionReport::default();
    if state.sync_status == SyncStatus::NotStarted {
        match engine.prepare(&tenant, &info, modules.as_deref()).await? {
            Step::Prepared { batches } => eprintln!("Planned the initial sync: {batches} batches"),
            Step::Blocked(error) => bail!("Odoo refused to sync: {}", error.message),
            Step::Busy => bail!("another process is syncing tenant {tenant} right now"),
            other => bail!("unexpected outcome of planning: {other:?}"),
        }
        merge(
            &mut report,
            run_until_idle(&engine, &tenant, &info, &[BatchKind::Initial], true).await?,
        );
    } else if state.sync_status == SyncStatus::InProgress {
        eprintln!("Resuming the initial sync of tenant {tenant}");
        merge(
            &mut report,
            run_until_idle(&engine, &tenant, &info, &[BatchKind::Initial], true).await?,
        );
    } else {
        let added = engine
            .schedule_follow_up(
                &tenant,
                FollowUp {
                    force_incremental: true,
                    force_reconcile: args.reconcile,
                    force_verify: args.verify,
                },
            )
            .await?;
        eprintln!("Incremental pass: {added} batches");
        let deleted_before = deleted_counts(&store, &tenant).await?;
        merge(&mut report, follow_up_pass(&engine, &tenant, &info).await?);
        if args.reconcile {
            print_reconciled(&store, &tenant, &deleted_before).await?;
        }
        if args.verify {
            print_verified(&store, &tenant).await?;
        }
    }

    if args.follow && report.blocked.is_none() {
        // Listening before the line that says so, and for the whole loop: a Ctrl-C right
        // after the line, or during a pass, stops the follow instead of killing the process
        // or going unheard.
        let mut interrupt =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        eprintln!("Following tenant {tenant}; Ctrl-C to stop");
        let tick = Duration::from_secs(5);
        loop {
            tokio::select! {
                _ = interrupt.recv() => break,
                _ = tokio::time::sleep(tick) => {}
            }
            let added = engine
                .schedule_follow_up(&tenant, FollowUp::default())
                .await?;
            if added > 0 {
                let pass = follow_up_pass(&engine, &tenant, &info).await?;
                eprintln!("Incremental pass: {} records written", pass.records_written);
                merge(&mut report, pass);
                if report.blocked.is_some() {
                    break;
                }
            }
        }
    }
    print_summary(&engine, &tenant, &report).await?;
    if let Some(error) = &report.blocked {
        bail!("tenant {tenant} is blocked: {}", error.message);
    }
    let counts = store.batch_counts(&tenant, BatchKind::Initial).await?;
    if counts.permanently_failed > 0 || report.batches_failed_for_good > 0 {
        bail!(
            "{} batches failed permanently (see their errors with the status of tenant {tenant})",
            counts
                .permanently_failed
                .max(report.batches_failed_for_good)
        );
    }
    Ok(())
}

/// The protocol an earlier sync of this tenant found, as the engine will use it again.
fn remembered_choice(state: &TenantState) -> Option<ProtocolChoice> {
    if state.sync_status == SyncStatus::NotStarted {
        return None;
    }
    Some(ProtocolChoice {
        protocol: state.protocol.as_deref()?.parse().ok()?,
        version: ServerVersion::parse(state.odoo_version.as_deref()?).ok()?,
        reason: ProtocolReason::Remembered,
    })
}

async fn follow_up_pass(
    engine: &SyncEngine,
    tenant: &TenantId,
    info: &ConnectionInfo,
) -> anyhow::Result<SessionReport> {
    run_until_idle(
        engine,
        tenant,
        info,
        &[
            BatchKind::Incremental,
            BatchKind::Reconcile,
            BatchKind::Verify,
        ],
        false,
    )
    .await
}

/// What the verify of each module found and corrected.
/// Records of each of the tenant's modules the mirror holds as deleted.
async fn deleted_counts(
    store: &SharedStore,
    tenant: &TenantId,
) -> anyhow::Result<Vec<(Module, u64)>> {
    let Some(state) = store.tenant(tenant).await? else {
        return Ok(Vec::new());
    };
    let mut counts = Vec::new();
    for module in state.modules.iter().map(|m| m.module) {
        let all = store.record_count(tenant, module, true).await?;
        let alive = store.record_count(tenant, module, false).await?;
        counts.push((module, all.saturating_sub(alive)));
    }
    Ok(counts)
}

/// What a reconcile changed per module: records found deleted in Odoo (or back again), as the
/// change in the mirror's deleted records since `before`.
async fn print_reconciled(
    store: &SharedStore,
    tenant: &TenantId,
    before: &[(Module, u64)],
) -> anyhow::Result<()> {
    for (module, now) in deleted_counts(store, tenant).await? {
        let was = before
            .iter()
            .find(|(m, _)| *m == module)
            .map_or(0, |(_, n)| *n);
        let change = if now >= was {
            format!("{} found deleted in Odoo", now - was)
        } else {
            format!("{} deleted records back in Odoo", was - now)
        };
        eprintln!(
            "Reconcile {}: every id and write_date compared with Odoo; {change} ({now} deleted in all)",
            module.display_name()
        );
    }
    Ok(())
}

async fn print_verified(store: &SharedStore, tenant: &TenantId) -> anyhow::Result<()> {
    let Some(state) = store.tenant(tenant).await? else {
        return Ok(());
    };
    for module in &state.modules {
        if let Some(corrected) = module.last_verify_corrected {
            eprintln!(
                "Verify {}: {corrected} records differed from Odoo and were rewritten",
                module.module.display_name()
            );
        }
    }
    Ok(())
}

fn merge(total: &mut SessionReport, part: SessionReport) {
    total.batches_done += part.batches_done;
    total.batches_failed_for_good += part.batches_failed_for_good;
    total.records_written += part.records_written;
    total.calls += part.calls;
    if part.blocked.is_some() {
        total.blocked = part.blocked;
    }
}
