//! `POST /odoo/save-connection` (validate, test against Odoo, store the secret encrypted,
//! start a fresh sync) and `DELETE /odoo/connection` (forget the connection and every
//! mirrored record of the tenant).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use shared::crypto::stored_connection;
use shared::modules::Module;
use shared::odoo::{ConnectionInfo, Credential, OdooError, Protocol};
use utoipa::ToSchema;

use crate::auth::Tenant;
use crate::error::{ApiError, ErrorBody};
use crate::extract::JsonBody;
use crate::probe::test_connection;
use crate::state::AppState;

/// The connection to save. Give `password` or `apiKey`, not both.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SaveConnectionRequest {
    /// The Odoo server's base URL, http or https, e.g. `https://acme.odoo.com`.
    #[schema(
        example = "https://acme.odoo.com",
        min_length = 1,
        max_length = 2048,
        pattern = "^[Hh][Tt][Tt][Pp][Ss]?://"
    )]
    pub url: String,
    /// The database name.
    #[schema(example = "acme", min_length = 1, max_length = 63)]
    pub db: String,
    /// The Odoo user's login.
    #[schema(example = "admin@acme.com", min_length = 1, max_length = 256)]
    pub username: String,
    /// The user's password (Odoo 13 and older, or where API keys are not used).
    #[schema(min_length = 1, max_length = 1024, format = Password)]
    pub password: Option<String>,
    /// An API key of the user (Odoo 14+; needed for JSON-2 on 19+).
    #[schema(min_length = 1, max_length = 1024, format = Password)]
    pub api_key: Option<String>,
    /// The modules to sync (see `GET /odoo/modules` for the names: `sales`, `invoices`,
    /// `contacts`, `employees`, the optional `sale_lines`, `invoice_lines`, `products`, and
    /// modules declared in the service's settings). Default: the service's default modules.
    #[schema(example = json!(["sales", "sale_lines", "products"]))]
    pub modules: Option<Vec<String>>,
    /// `auto` (default: detected, JSON-2 first on 19+ with an API key), `json2`, `xmlrpc` or
    /// `jsonrpc`.
    #[schema(example = "auto")]
    pub protocol: Option<String>,
}

/// What the request asks for besides the connection itself.
struct Wishes {
    modules: Option<Vec<Module>>,
    protocol: Option<Protocol>,
}

/// The `modules` and `protocol` of the request, or a 400 naming the field.
fn wishes(request: &SaveConnectionRequest) -> Result<Wishes, ApiError> {
    let modules = request
        .modules
        .as_deref()
        .map(crate::routes::modules::parse_names)
        .transpose()?;
    let protocol = match request.protocol.as_deref() {
        None | Some("auto") => None,
        Some(name) => Some(name.parse::<Protocol>().map_err(|_| {
            ApiError::invalid_field(
                "protocol",
                "protocol must be one of auto, json2, xmlrpc, jsonrpc",
            )
        })?),
    };
    if protocol == Some(Protocol::Json2) && request.api_key.is_none() {
        return Err(ApiError::invalid_field(
            "protocol",
            "JSON-2 authenticates with an API key: give apiKey, or another protocol",
        ));
    }
    Ok(Wishes { modules, protocol })
}

/// What the connection test found; the sync starts from here (`not_started`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SaveConnectionResponse {
    pub connection_info_available: bool,
    #[schema(example = "not_started")]
    pub sync_status: String,
    #[schema(example = "17.0")]
    pub odoo_version: String,
    /// `json2`, `xmlrpc` or `jsonrpc`.
    pub protocol: String,
    /// The modules that will be synced: the ones asked for (or the default ones) whose Odoo
    /// apps are installed.
    pub modules: Vec<String>,
}

/// The request as a `ConnectionInfo`, or a 400 naming the field at fault.
fn connection_info(request: SaveConnectionRequest) -> Result<ConnectionInfo, ApiError> {
    let credential = match (request.password, request.api_key) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_field(
                "apiKey",
                "give either password or apiKey, not both",
            ))
        }
        (None, None) => {
            return Err(ApiError::invalid_field(
                "password",
                "give password or apiKey",
            ))
        }
        (Some(password), None) => Credential::password(&password),
        (None, Some(key)) => Credential::api_key(&key),
    }
    .map_err(setting_error)?;
    ConnectionInfo::parse(&request.url, &request.db, &request.username, credential)
        .map_err(setting_error)
}

/// `InvalidSetting` messages start with the field they are about ("url is empty").
fn setting_error(error: OdooError) -> ApiError {
    match error {
        OdooError::InvalidSetting(message) => {
            let field = message
                .split_whitespace()
                .next()
                .filter(|f| ["url", "db", "username", "password", "apiKey"].contains(f))
                .map(str::to_string);
            ApiError::BadRequest {
                code: "invalid_field",
                message,
                field,
            }
        }
        other => ApiError::bad_request("invalid_connection", other.to_string()),
    }
}

/// Tests the connection and saves it; the tenant's sync starts over.
#[utoipa::path(post, path = "/odoo/save-connection", tag = "tenant",
    request_body = SaveConnectionRequest,
    security(("tenant" = [])),
    responses(
        (status = 200, description = "Connection tested and saved", body = SaveConnectionResponse),
        (status = 400, description = "Invalid input or a URL that may not be reached", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 429, description = "Too many calls for this tenant or overall; see Retry-After", body = ErrorBody),
        (status = 422, description = "Odoo refused the credentials, rights or database", body = ErrorBody),
        (status = 502, description = "Odoo could not be reached", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ))]
pub async fn save_connection(
    State(state): State<AppState>,
    Tenant(user_id): Tenant,
    JsonBody(request): JsonBody<SaveConnectionRequest>,
) -> Result<Json<SaveConnectionResponse>, ApiError> {
    let wishes = wishes(&request)?;
    let info = connection_info(request)?;
    let wanted = wishes
        .modules
        .clone()
        .unwrap_or_else(|| state.settings.default_modules.clone());
    // After validation, before Odoo: only calls that would reach Odoo count.
    state.save_limiter.check(&user_id)?;
    let report = test_connection(
        &info,
        wishes.protocol,
        &wanted,
        &state.policy,
        &state.settings.odoo_client,
        &state.metrics,
        state.settings.limits.probe_timeout,
    )
    .await
    .inspect_err(|e| {
        tracing::info!(tenant = %user_id, url = %info.url, db = %info.db, error = %e,
            "connection test failed");
    })?;
    let mut stored =
        stored_connection(&info, &state.settings.keyring, Utc::now()).map_err(|e| {
            tracing::error!(error = %e, "sealing the secret failed");
            ApiError::Internal
        })?;
    stored.modules = wishes
        .modules
        .map(|modules| modules.iter().map(|m| m.as_str().to_string()).collect());
    stored.protocol = wishes.protocol.map(|p| p.to_string());
    state
        .store
        .save_connection(&user_id, &stored, Utc::now())
        .await?;
    tracing::info!(tenant = %user_id, url = %info.url, db = %info.db,
        version = %report.odoo_version, protocol = %report.protocol, "connection saved");
    Ok(Json(SaveConnectionResponse {
        connection_info_available: true,
        sync_status: "not_started".into(),
        odoo_version: report.odoo_version,
        protocol: report.protocol,
        modules: report
            .modules
            .iter()
            .map(|m| m.as_str().to_string())
            .collect(),
    }))
}

/// Forgets the connection and every mirrored record of the tenant.
#[utoipa::path(delete, path = "/odoo/connection", tag = "tenant",
    security(("tenant" = [])),
    responses(
        (status = 204, description = "Connection and mirrored data deleted (or there were none)"),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ))]
pub async fn delete_connection(
    State(state): State<AppState>,
    Tenant(user_id): Tenant,
) -> Result<StatusCode, ApiError> {
    state.store.delete_tenant(&user_id).await?;
    tracing::info!(tenant = %user_id, "connection and mirrored data deleted");
    Ok(StatusCode::NO_CONTENT)
}
