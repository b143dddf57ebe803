//! The operator routes under `/admin` (bearer `ADMIN_TOKEN`): tenants with status and
//! errors (searched by user id prefix, filtered by status, paged), one tenant with its
//! failed batches, and the actions retry, resync, pause and resume (see
//! [`crate::operator`]); the job queue's depth, waiting and dead jobs, live workers and drain
//! (see [`crate::queue`]). Query parameters are checked here: a bad one is a 400 naming it.

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use shared::store::{TenantFilter, TenantId, TenantSearch};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Operator;
use crate::error::{ApiError, ErrorBody};
use crate::extract::QueryParams;
use crate::operator::{self, ActionResult, TenantDetail, TenantPage};
use crate::queue::{
    DeadJobs, DrainResult, LiveWorkers, QueueAdmin, QueueAdminError, QueueDepth, WaitingJobs,
    MAX_JOBS_LISTED,
};
use crate::state::AppState;

/// Which tenants the list shows (`status` parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusParam {
    /// No sync planned yet.
    NotStarted,
    /// The first sync is running.
    InProgress,
    /// The first sync is over.
    Done,
    /// Stopped until a person acts: a blocking error or a pause.
    Blocked,
    /// With batches given up on (`permanently_failed`), waiting for a retry.
    Failed,
}

impl From<StatusParam> for TenantFilter {
    fn from(p: StatusParam) -> Self {
        match p {
            StatusParam::NotStarted => TenantFilter::NotStarted,
            StatusParam::InProgress => TenantFilter::InProgress,
            StatusParam::Done => TenantFilter::Done,
            StatusParam::Blocked => TenantFilter::Blocked,
            StatusParam::Failed => TenantFilter::Failed,
        }
    }
}

/// Search, filter and paging of the tenant list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TenantsQuery {
    /// The start of the user ids wanted (case-sensitive prefix, served by the user id index;
    /// empty for every tenant).
    #[param(max_length = 128, pattern = "^[A-Za-z0-9_.:@-]*$")]
    pub search: Option<String>,
    /// Only tenants in this state.
    #[param(inline)]
    pub status: Option<StatusParam>,
    /// The `nextCursor` of the previous page (a user id), with the same `search` and `status`.
    pub after: Option<String>,
    /// Tenants per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// How many jobs a queue listing shows (`limit` parameter).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobsQuery {
    /// Jobs listed, 1 to 100 (default 100 for dead jobs, 20 for waiting ones).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

impl JobsQuery {
    fn limit(&self, default: u32) -> Result<usize, ApiError> {
        let limit = self.limit.unwrap_or(default);
        if !(1..=MAX_JOBS_LISTED as u32).contains(&limit) {
            return Err(ApiError::invalid_field(
                "limit",
                format!("limit must be between 1 and {MAX_JOBS_LISTED}"),
            ));
        }
        Ok(limit as usize)
    }
}

fn user_id(raw: &str) -> Result<TenantId, ApiError> {
    TenantId::parse(raw).map_err(|e| ApiError::invalid_field("userId", e.to_string()))
}

/// A search prefix: empty means none; else the start of a possible user id.
fn search_prefix(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    match raw {
        None | Some("") => Ok(None),
        Some(prefix) => match TenantId::parse(prefix) {
            Ok(_) => Ok(Some(prefix.to_string())),
            Err(_) => Err(ApiError::invalid_field(
                "search",
                "search is the start of a user id: at most 128 letters, digits or _ - . : @",
            )),
        },
    }
}

/// Tenants with their status, progress and errors.
#[utoipa::path(get, path = "/admin/tenants", tag = "operator",
    security(("admin" = [])),
    params(TenantsQuery),
    responses(
        (status = 200, description = "A page of tenants", body = TenantPage),
        (status = 400, description = "Invalid search, status or paging; `field` names the parameter", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 403, description = "Operator routes are disabled (no ADMIN_TOKEN)", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ))]
pub async fn list_tenants(
    State(state): State<AppState>,
    _: Operator,
    QueryParams(query): QueryParams<TenantsQuery>,
) -> Result<Json<TenantPage>, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=operator::MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            "limit must be between 1 and 200",
        ));
    }
    let after = query
        .after
        .as_deref()
        .map(|raw| {
            TenantId::parse(raw).map_err(|e| {
                ApiError::invalid_field("after", format!("after is a nextCursor: {e}"))
            })
        })
        .transpose()?;
    let search = TenantSearch {
        prefix: search_prefix(query.search.as_deref())?,
        filter: query.status.map(TenantFilter::from),
        after,
        limit,
    };
    Ok(Json(
        operator::list(&state.store, &state.scrubber, &search).await?,
    ))
}

/// One tenant with its failed batches and their errors.
#[utoipa::path(get, path = "/admin/tenants/{userId}", tag = "operator",
    security(("admin" = [])),
    params(("userId" = String, Path, description = "The tenant's user id")),
    responses(
        (status = 200, description = "The tenant", body = TenantDetail),
        (status = 400, description = "Invalid user id", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 403, description = "Operator routes are disabled", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ))]
pub async fn tenant(
    State(state): State<AppState>,
    _: Operator,
    Path(raw): Path<String>,
) -> Result<Json<TenantDetail>, ApiError> {
    let id = user_id(&raw)?;
    Ok(Json(
        operator::detail(&state.store, &state.scrubber, &id).await?,
    ))
}

macro_rules! action_route {
    ($name:ident, $path:literal, $summary:literal, $call:path) => {
        #[doc = $summary]
        #[utoipa::path(post, path = $path, tag = "operator",
            security(("admin" = [])),
            params(("userId" = String, Path, description = "The tenant's user id")),
            responses(
                (status = 200, description = "Done", body = ActionResult),
                (status = 400, description = "Invalid user id", body = ErrorBody),
                (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
                (status = 403, description = "Operator routes are disabled", body = ErrorBody),
                (status = 404, description = "No such tenant", body = ErrorBody),
                (status = 409, description = "The tenant has no saved connection (resync)", body = ErrorBody),
                (status = 503, description = "Store unavailable", body = ErrorBody),
            ))]
        pub async fn $name(
            State(state): State<AppState>,
            _: Operator,
            Path(raw): Path<String>,
        ) -> Result<Json<ActionResult>, ApiError> {
            let id = user_id(&raw)?;
            Ok(Json($call(&state.store, &id).await?))
        }
    };
}

action_route!(
    retry,
    "/admin/tenants/{userId}/retry",
    "Gives the tenant's permanently failed batches new attempts.",
    operator::retry
);
action_route!(
    resync,
    "/admin/tenants/{userId}/resync",
    "Starts the tenant's sync over from scratch with its saved connection.",
    operator::resync
);
action_route!(
    verify,
    "/admin/tenants/{userId}/verify",
    "Verifies the tenant now: every mirrored record is read again and rewritten where it differs from Odoo.",
    operator::verify
);
action_route!(
    pause,
    "/admin/tenants/{userId}/pause",
    "Pauses the tenant: no work runs until it is resumed.",
    operator::pause
);
action_route!(
    resume,
    "/admin/tenants/{userId}/resume",
    "Resumes a paused tenant (or unblocks one whose error a person has fixed).",
    operator::resume
);

fn queue(state: &AppState) -> Result<&QueueAdmin, ApiError> {
    state.queue.as_ref().ok_or_else(|| ApiError::Conflict {
        code: "no_queue",
        message: "this API was started without a job queue".into(),
    })
}

fn queue_error(e: QueueAdminError) -> ApiError {
    tracing::warn!(error = %e, "job queue unavailable");
    ApiError::QueueUnavailable
}

/// The job queue's depth: jobs waiting for a worker and dead jobs.
#[utoipa::path(get, path = "/admin/queue", tag = "operator",
    security(("admin" = [])),
    responses(
        (status = 200, description = "The queue's numbers", body = QueueDepth),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 403, description = "Operator routes are disabled", body = ErrorBody),
        (status = 409, description = "`no_queue`: the API runs without a queue", body = ErrorBody),
        (status = 503, description = "Queue unavailable", body = ErrorBody),
    ))]
pub async fn queue_depth(
    State(state): State<AppState>,
    _: Operator,
) -> Result<Json<QueueDepth>, ApiError> {
    Ok(Json(queue(&state)?.depth().await.map_err(queue_error)?))
}

/// Jobs waiting for a worker, the next due first (at most `limit` listed), with their
/// number.
#[utoipa::path(get, path = "/admin/queue/waiting", tag = "operator",
    security(("admin" = [])),
    params(JobsQuery),
    responses(
        (status = 200, description = "Waiting jobs", body = WaitingJobs),
        (status = 400, description = "Invalid limit", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 403, description = "Operator routes are disabled", body = ErrorBody),
        (status = 409, description = "`no_queue`: the API runs without a queue", body = ErrorBody),
        (status = 503, description = "Queue unavailable", body = ErrorBody),
    ))]
pub async fn waiting_jobs(
    State(state): State<AppState>,
    _: Operator,
    QueryParams(query): QueryParams<JobsQuery>,
) -> Result<Json<WaitingJobs>, ApiError> {
    let limit = query.limit(20)?;
    Ok(Json(
        queue(&state)?.waiting(limit).await.map_err(queue_error)?,
    ))
}

/// The workers taking jobs from the queue now (heartbeat within the last few seconds), with
/// the jobs each is running.
#[utoipa::path(get, path = "/admin/queue/workers", tag = "operator",
    security(("admin" = [])),
    responses(
        (status = 200, description = "Live workers", body = LiveWorkers),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 403, description = "Operator routes are disabled", body = ErrorBody),
        (status = 409, description = "`no_queue`: the API runs without a queue", body = ErrorBody),
        (status = 503, description = "Queue unavailable", body = ErrorBody),
    ))]
pub async fn live_workers(
    State(state): State<AppState>,
    _: Operator,
) -> Result<Json<LiveWorkers>, ApiError> {
    Ok(Json(queue(&state)?.workers().await.map_err(queue_error)?))
}

/// Jobs the queue gave up on (at most `limit` listed), with their number.
#[utoipa::path(get, path = "/admin/queue/dead", tag = "operator",
    security(("admin" = [])),
    params(JobsQuery),
    responses(
        (status = 200, description = "Dead jobs", body = DeadJobs),
        (status = 400, description = "Invalid limit", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 403, description = "Operator routes are disabled", body = ErrorBody),
        (status = 409, description = "`no_queue`: the API runs without a queue", body = ErrorBody),
        (status = 503, description = "Queue unavailable", body = ErrorBody),
    ))]
pub async fn dead_jobs(
    State(state): State<AppState>,
    _: Operator,
    QueryParams(query): QueryParams<JobsQuery>,
) -> Result<Json<DeadJobs>, ApiError> {
    let limit = query.limit(MAX_JOBS_LISTED as u32)?;
    Ok(Json(queue(&state)?.dead(limit).await.map_err(queue_error)?))
}

/// Removes every waiting job. Safe: jobs are hints, the scheduler pushes tenants' jobs
/// again from the store.
#[utoipa::path(post, path = "/admin/queue/drain", tag = "operator",
    security(("admin" = [])),
    responses(
        (status = 200, description = "Drained", body = DrainResult),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 403, description = "Operator routes are disabled", body = ErrorBody),
        (status = 409, description = "`no_queue`: the API runs without a queue", body = ErrorBody),
        (status = 503, description = "Queue unavailable", body = ErrorBody),
    ))]
pub async fn drain_queue(
    State(state): State<AppState>,
    _: Operator,
) -> Result<Json<DrainResult>, ApiError> {
    Ok(Json(queue(&state)?.drain().await.map_err(queue_error)?))
}
