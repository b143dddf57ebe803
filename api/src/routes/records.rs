//! `GET /odoo/records/{module}`: the tenant's mirrored records of any module (built-in,
//! optional or declared) in `odooId`
//! order, paged by an opaque cursor, filtered by state, invoice type (`moveType`), active
//! flag and change time.
//! Filtering happens while paging, with a bound on the records looked at per request, so a
//! page may hold fewer than `limit` items: go on while `nextCursor` is not null.

use axum::extract::{Path, State};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::figures::INVOICE_MOVE_TYPES;
use shared::modules::Module;
use shared::store::StoredRecord;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Tenant;
use crate::error::{ApiError, ErrorBody};
use crate::extract::QueryParams;
use crate::state::AppState;

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 500;
/// Records looked at per request at most, whatever the filters.
const SCAN_BUDGET: usize = 5000;
const CURSOR_PREFIX: &str = "r1:";

/// Paging and filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct RecordsQuery {
    /// Items per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// Only records with this `state` (sales orders, invoices).
    pub state: Option<String>,
    /// Invoices only: records of these `moveType`s, comma-separated (`out_invoice`,
    /// `out_refund`, `out_receipt`, `in_invoice`, `in_refund`, `in_receipt`), e.g.
    /// `out_invoice,out_refund` for receivables.
    #[param(example = "out_invoice,out_refund")]
    pub move_type: Option<String>,
    /// Only active (`true`) or archived (`false`) records.
    pub active: Option<bool>,
    /// Only records changed in Odoo at or after this time (RFC 3339).
    #[param(format = DateTime)]
    pub changed_since: Option<String>,
    /// Include records deleted in Odoo (they carry `deletedAt`); default false.
    pub include_deleted: Option<bool>,
}

/// A page of records.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordsPage {
    /// Stored documents: `odooId`, the module's camelCase fields, `active`, `writeDate`,
    /// `createDate`, `raw`, `syncedAt`, `deletedAt`.
    pub items: Vec<Value>,
    /// Pass as `cursor` for the next page; null when there is nothing more.
    pub next_cursor: Option<String>,
}

struct Filter {
    state: Option<String>,
    move_types: Option<Vec<String>>,
    active: Option<bool>,
    changed_since: Option<DateTime<Utc>>,
    include_deleted: bool,
}

impl Filter {
    fn keeps(&self, record: &StoredRecord) -> bool {
        (self.include_deleted || record.deleted_at.is_none())
            && self.active.is_none_or(|a| record.active == a)
            && self.changed_since.is_none_or(|t| record.write_date >= t)
            && self
                .state
                .as_deref()
                .is_none_or(|s| record.document.get("state").and_then(Value::as_str) == Some(s))
            && self.move_types.as_ref().is_none_or(|types| {
                record
                    .document
                    .get("moveType")
                    .and_then(Value::as_str)
                    .is_some_and(|t| types.iter().any(|wanted| wanted == t))
            })
    }
}

/// The `moveType` filter: invoices only, known types only.
fn move_types(module: Module, param: Option<&str>) -> Result<Option<Vec<String>>, ApiError> {
    let Some(param) = param else {
        return Ok(None);
    };
    if module != Module::invoices() {
        return Err(ApiError::invalid_field(
            "moveType",
            "moveType only applies to invoices",
        ));
    }
    param
        .split(',')
        .map(|t| {
            let t = t.trim();
            INVOICE_MOVE_TYPES
                .contains(&t)
                .then(|| t.to_string())
                .ok_or_else(|| {
                    ApiError::invalid_field(
                        "moveType",
                        format!(
                            "moveType {t:?} is not one of {}",
                            INVOICE_MOVE_TYPES.join(", ")
                        ),
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn encode_cursor(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{id}"))
}

fn decode_cursor(cursor: &str) -> Result<i64, ApiError> {
    let bad = || ApiError::invalid_field("cursor", "the cursor is not one this API returned");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    text.strip_prefix(CURSOR_PREFIX)
        .and_then(|id| id.parse::<i64>().ok())
        .filter(|id| *id >= 0)
        .ok_or_else(bad)
}

/// The tenant's records of one module.
#[utoipa::path(get, path = "/odoo/records/{module}", tag = "tenant",
    security(("tenant" = [])),
    params(
        ("module" = String, Path, description = "The module whose records to read: `sales`, \
            `invoices`, `contacts`, `employees`, the optional `sale_lines`, `invoice_lines`, \
            `products`, or a module declared in the service's settings (`GET /odoo/modules` lists \
            the tenant's)", example = "sales"),
        RecordsQuery,
    ),
    responses(
        (status = 200, description = "A page of records", body = RecordsPage),
        (status = 400, description = "Invalid paging or filter", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "Unknown module", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ))]
pub async fn records(
    State(state): State<AppState>,
    Tenant(user_id): Tenant,
    Path(module): Path<String>,
    QueryParams(query): QueryParams<RecordsQuery>,
) -> Result<Json<RecordsPage>, ApiError> {
    let module: Module = module
        .parse()
        .map_err(|e: shared::modules::UnknownModule| ApiError::NotFound {
            code: "unknown_module",
            message: e.to_string(),
        })?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            "limit must be between 1 and 500",
        ));
    }
    let mut after = match &query.cursor {
        Some(cursor) => decode_cursor(cursor)?,
        None => 0,
    };
    let changed_since = query
        .changed_since
        .as_deref()
        .map(|t| {
            DateTime::parse_from_rfc3339(t)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    ApiError::invalid_field(
                        "changedSince",
                        "changedSince must be an RFC 3339 time, e.g. 2024-03-01T00:00:00Z",
                    )
                })
        })
        .transpose()?;
    let filter = Filter {
        move_types: move_types(module, query.move_type.as_deref())?,
        state: query.state,
        active: query.active,
        changed_since,
        include_deleted: query.include_deleted.unwrap_or(false),
    };
    let page_size = limit.max(200);
    let mut items = Vec::new();
    let mut scanned = 0;
    let next_cursor = loop {
        let page = state
            .store
            .records(&user_id, module, after, page_size)
            .await?;
        let exhausted = page.len() < page_size as usize;
        for record in page {
            scanned += 1;
            after = record.odoo_id;
            if filter.keeps(&record) {
                items.push(record.document);
                if items.len() == limit as usize {
                    break;
                }
            }
        }
        if items.len() == limit as usize {
            break Some(encode_cursor(after));
        }
        if exhausted {
            break None;
        }
        if scanned >= SCAN_BUDGET {
            break Some(encode_cursor(after));
        }
    };
    Ok(Json(RecordsPage { items, next_cursor }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn move_type_filter_is_for_invoices_and_known_types() {
        assert_eq!(move_types(Module::invoices(), None).expect("none"), None);
        assert_eq!(
            move_types(Module::invoices(), Some("out_invoice, out_refund")).expect("valid"),
            Some(vec!["out_invoice".to_string(), "out_refund".to_string()])
        );
        assert!(move_types(Module::invoices(), Some("entry")).is_err());
        assert!(move_types(Module::invoices(), Some("")).is_err());
        assert!(move_types(Module::sales(), Some("out_invoice")).is_err());
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        assert_eq!(decode_cursor(&encode_cursor(42)).expect("valid"), 42);
        for bad in ["", "42", "!!", &URL_SAFE_NO_PAD.encode("r1:-3")] {
            assert!(decode_cursor(bad).is_err(), "{bad:?}");
        }
    }
}
