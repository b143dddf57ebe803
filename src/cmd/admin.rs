//! `odoo-sync admin`: the operator routes' actions from a shell, on the same store
//! (`MONGO_URI`, else SQLite in `DATA_DIR`): list tenants with status and errors (by user id
//! prefix and status, like the operator page), show one,
//! retry its permanently failed batches, resync it from scratch, pause and resume it, and
//! mint a tenant token for trying the API; the job queue's depth and dead jobs, and draining
//! it (`REDIS_URL`, else the standalone SQLite queue in `DATA_DIR`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use api::operator::{self, TenantSummary};
use api::scrub::StoredErrorScrubber;
use clap::{Args, Subcommand};
use shared::config::Settings;
use shared::crypto::Keyring;
use shared::store::{TenantFilter, TenantId, TenantSearch};

use super::store::open_store;

#[derive(Args, Debug)]
pub struct AdminArgs {
    /// A TOML file with settings (same keys as the environment variables, in lower case).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    action: AdminAction,
}

#[derive(Subcommand, Debug)]
enum AdminAction {
    /// List tenants with status, progress and errors.
    Tenants {
        /// Only user ids starting with this (case-sensitive).
        #[arg(long)]
        search: Option<String>,
        /// Only tenants in this state: not_started, in_progress, done, blocked (an error or
        /// a pause) or failed (batches given up on).
        #[arg(long)]
        status: Option<TenantFilter>,
        /// Start after this user id.
        #[arg(long)]
        after: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Show one tenant with its failed batches.
    Show { user_id: String },
    /// Give the tenant's permanently failed batches new attempts.
    Retry { user_id: String },
    /// Start the tenant's sync over from scratch with its saved connection.
    Resync { user_id: String },
    /// Verify the tenant now: every mirrored record is read again and rewritten where it
    /// differs from Odoo (at its next follow-up, which the scheduler starts).
    Verify { user_id: String },
    /// Pause the tenant: no work runs until it is resumed.
    Pause { user_id: String },
    /// Resume a paused tenant (or unblock one whose error was fixed).
    Resume { user_id: String },
    /// Show the job queue's depth: waiting and dead jobs.
    Queue,
    /// List waiting jobs, the next due first (at most 100) and live workers.
    Waiting,
    /// List dead jobs (at most 100).
    DeadJobs,
    /// Remove every waiting job (safe: the scheduler pushes tenants' jobs again).
    Drain,
    /// Print a tenant token (HS256 with JWT_SECRET) for trying the API.
    Token {
        user_id: String,
        #[arg(long, default_value_t = 24)]
        hours: u64,
    },
}

fn tenant(raw: &str) -> anyhow::Result<TenantId> {
    Ok(TenantId::parse(raw)?)
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// The column names above [`print_row`]'s rows.
fn print_header() {
    println!(
        "{:<32} {:<12} {:>6} {:>11} {:<11} ERROR",
        "TENANT", "STATUS", "SYNCED", "WINDOWS", "FAILED"
    );
}

fn print_row(t: &TenantSummary) {
    let error = t
        .error
        .as_ref()
        .map(|e| format!("{}: {}", e.code, e.message))
        .unwrap_or_default();
    // Each value under its column of [`print_header`]: the windows right-aligned as one
    // `done/total`, the failed count alone under FAILED.
    let windows = format!(
        "{}/{}",
        t.progress.completed_batches, t.progress.total_batches
    );
    println!(
        "{:<32} {:<12} {:>5}% {:>11} {:<11} {}",
        t.user_id, t.sync_status, t.synced_percentage, windows, t.failed_batches, error
    );
    for w in &t.warnings {
        println!("  warning {}: {}", w.code, w.message);
    }
}

pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    let settings = Settings::load(args.config.as_deref())?;
    if let AdminAction::Token { user_id, hours } = &args.action {
        let secret = settings
            .jwt_secret
            .as_ref()
            .context("JWT_SECRET is not set")?;
        let token = api::auth::issue_token(
            secret,
            &tenant(user_id)?,
            Duration::from_secs(hours.saturating_mul(3600)),
        )?;
        println!("{token}");
        return Ok(());
    }
    if matches!(
        args.action,
        AdminAction::Queue | AdminAction::Waiting | AdminAction::DeadJobs | AdminAction::Drain
    ) {
        let queue = super::queue::open_queue(&settings).await?;
        match args.action {
            AdminAction::Queue => {
                let depth = queue.depth().await?;
                if args.json {
                    return print_json(&depth);
                }
                println!(
                    "{} queue: {} waiting, {} dead",
                    depth.backend, depth.waiting, depth.dead
                );
            }
            AdminAction::Waiting => {
                let waiting = queue.waiting(api::queue::MAX_JOBS_LISTED).await?;
                let workers = queue.workers().await?;
                if args.json {
                    return print_json(&serde_json::json!({
                        "waiting": waiting,
                        "workers": workers,
                    }));
                }
                println!("{} waiting job(s)", waiting.total);
                for job in &waiting.jobs {
                    println!(
                        "{} {} {} {}",
                        job.id,
                        job.kind.as_deref().unwrap_or("unreadable"),
                        job.tenant.as_deref().unwrap_or("-"),
                        job.run_at.as_deref().unwrap_or("due")
                    );
                }
                println!(
                    "{} live worker(s) (heartbeat within {} s)",
                    workers.workers.len(),
                    workers.live_within_seconds
                );
                for w in &workers.workers {
                    println!(
                        "{} last seen {} running {}",
                        w.name, w.last_seen, w.running_jobs
                    );
                }
            }
            AdminAction::DeadJobs => {
                let dead = queue.dead(api::queue::MAX_DEAD_LISTED).await?;
                if args.json {
                    return print_json(&dead);
                }
                println!("{} dead job(s)", dead.total);
                for job in &dead.jobs {
                    println!(
                        "{} {} {}",
                        job.id,
                        job.payload.as_deref().unwrap_or("-"),
                        job.last_error.as_deref().unwrap_or("")
                    );
                }
            }
            _ => print_json(&queue.drain().await?)?,
        }
        return Ok(());
    }
    let store = open_store(&settings).await?;
    // Without ENCRYPTION_KEY stored errors are shown as stored.
    let scrubber = StoredErrorScrubber::new(Keyring::from_settings(&settings).ok());
    match args.action {
        AdminAction::Tenants {
            search,
            status,
            after,
            limit,
        } => {
            let search = TenantSearch {
                prefix: search.filter(|s| !s.is_empty()),
                filter: status,
                after: after.as_deref().map(tenant).transpose()?,
                limit,
            };
            let page = operator::list(&store, &scrubber, &search).await?;
            if args.json {
                return print_json(&page);
            }
            print_header();
            for t in &page.tenants {
                print_row(t);
            }
            if let Some(next) = page.next_cursor {
                println!("… {} in all; more: --after {next}", page.total);
            }
        }
        AdminAction::Show { user_id } => {
            let detail = operator::detail(&store, &scrubber, &tenant(&user_id)?).await?;
            if args.json {
                return print_json(&detail);
            }
            print_header();
            print_row(&detail.summary);
            for f in &detail.failures {
                println!(
                    "  {} {} {}..{} {} after {} attempts: {}",
                    f.module,
                    f.kind,
                    f.window_start,
                    f.window_end,
                    f.status,
                    f.attempts,
                    f.last_error.as_deref().unwrap_or("-")
                );
            }
        }
        AdminAction::Retry { user_id } => {
            print_json(&operator::retry(&store, &tenant(&user_id)?).await?)?
        }
        AdminAction::Resync { user_id } => {
            print_json(&operator::resync(&store, &tenant(&user_id)?).await?)?
        }
        AdminAction::Verify { user_id } => {
            print_json(&operator::verify(&store, &tenant(&user_id)?).await?)?
        }
        AdminAction::Pause { user_id } => {
            print_json(&operator::pause(&store, &tenant(&user_id)?).await?)?
        }
        AdminAction::Resume { user_id } => {
            print_json(&operator::resume(&store, &tenant(&user_id)?).await?)?
        }
        AdminAction::Token { .. }
        | AdminAction::Queue
        | AdminAction::Waiting
        | AdminAction::DeadJobs
        | AdminAction::Drain => {}
    }
    Ok(())
}
