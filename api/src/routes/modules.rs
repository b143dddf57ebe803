//! `PUT /odoo/modules`: changes which modules the tenant syncs without starting over (the
//! new ones are planned and caught up while the dashboard stays open).
//! `GET /odoo/modules`: the modules the tenant syncs, each with the Odoo model it reads on
//! the tenant's server, every field it reads (custom fields found there included), its
//! collection and how many records the mirror holds; plus the modules it asked for that are
//! not synced yet (planned at its next step, or not available on its server).

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::modules::{Module, Origin, UnknownModule};
use shared::odoo::ServerVersion;
use utoipa::ToSchema;

use crate::auth::Tenant;
use crate::error::{ApiError, ErrorBody};
use crate::extract::JsonBody;
use crate::state::AppState;

/// One module of the tenant.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModuleInfo {
    /// The name `GET /odoo/records/{module}` takes.
    #[schema(example = "sale_lines")]
    pub name: String,
    #[schema(example = "Sales Order Lines")]
    pub display_name: String,
    /// `built_in`, `optional` or `declared` (in the service's settings file).
    #[schema(example = "optional")]
    pub origin: String,
    /// `synced`, or `pending`: asked for but not planned yet (see `reason`; a module whose
    /// Odoo app is not installed stays pending).
    #[schema(example = "synced")]
    pub state: String,
    /// Why an `unavailable` module is not synced.
    pub reason: Option<String>,
    /// The Odoo model read on the tenant's server (null until planned).
    #[schema(example = "sale.order.line")]
    pub model: Option<String>,
    /// Every Odoo field read, in the order asked (`id` always comes too).
    pub fields: Vec<String>,
    /// The fields among them found on the tenant's server by the module's patterns (custom
    /// fields such as `x_studio_*`), refreshed at each reconcile and verify.
    pub custom_fields: Vec<String>,
    /// The MongoDB collection of its records.
    #[schema(example = "odoosaleorderlines")]
    pub collection: String,
    /// Live records in the mirror (deleted ones not counted).
    pub records: u64,
    /// The newest `write_date` seen (Odoo's clock).
    pub watermark: Option<DateTime<Utc>>,
}

/// The tenant's modules.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModulesBody {
    pub modules: Vec<ModuleInfo>,
}

/// Module names as a request gives them: known, at least one, at most 64, duplicates dropped;
/// a 400 naming `modules` otherwise.
pub fn parse_names(names: &[String]) -> Result<Vec<Module>, ApiError> {
    if names.is_empty() {
        return Err(ApiError::invalid_field(
            "modules",
            "name at least one module, or leave modules out for the default ones",
        ));
    }
    if names.len() > 64 {
        return Err(ApiError::invalid_field("modules", "at most 64 modules"));
    }
    let mut modules = Vec::with_capacity(names.len());
    for name in names {
        let module: Module = name
            .parse()
            .map_err(|e: UnknownModule| ApiError::invalid_field("modules", e.to_string()))?;
        if !modules.contains(&module) {
            modules.push(module);
        }
    }
    Ok(modules)
}

/// The modules to sync from now on.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetModulesRequest {
    /// Module names; `null` for the service's default ones.
    #[schema(example = json!(["sales", "invoices", "sale_lines", "products"]))]
    pub modules: Option<Vec<String>>,
}

/// Changes which modules the tenant syncs. Modules added are planned at the tenant's next
/// idle step and synced from the start of the sync range while the status stays as it is;
/// modules left out stop syncing (their mirrored records stay until the connection is
/// deleted).
#[utoipa::path(put, path = "/odoo/modules", tag = "tenant",
    request_body = SetModulesRequest,
    security(("tenant" = [])),
    responses(
        (status = 200, description = "The tenant's modules", body = ModulesBody),
        (status = 400, description = "An unknown module or an empty list", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No saved connection", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ))]
pub async fn set_modules(
    State(state): State<AppState>,
    Tenant(user_id): Tenant,
    JsonBody(request): JsonBody<SetModulesRequest>,
) -> Result<Json<ModulesBody>, ApiError> {
    let names: Option<Vec<String>> = request
        .modules
        .as_deref()
        .map(parse_names)
        .transpose()?
        .map(|modules| modules.iter().map(|m| m.as_str().to_string()).collect());
    state
        .store
        .set_connection_modules(&user_id, names.as_deref(), Utc::now())
        .await
        .map_err(|e| match e {
            shared::store::StoreError::UnknownTenant(_) => ApiError::NotFound {
                code: "no_connection",
                message: "save a connection first".into(),
            },
            other => other.into(),
        })?;
    tracing::info!(tenant = %user_id, modules = ?names, "modules changed");
    modules(State(state), Tenant(user_id)).await
}

fn origin_name(origin: Origin) -> &'static str {
    match origin {
        Origin::BuiltIn => "built_in",
        Origin::BuiltInOptional => "optional",
        Origin::Declared => "declared",
    }
}

/// The modules the tenant syncs or asked for.
#[utoipa::path(get, path = "/odoo/modules", tag = "tenant",
    security(("tenant" = [])),
    responses(
        (status = 200, description = "The tenant's modules", body = ModulesBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ))]
pub async fn modules(
    State(state): State<AppState>,
    Tenant(user_id): Tenant,
) -> Result<Json<ModulesBody>, ApiError> {
    let tenant = state.store.tenant(&user_id).await?;
    let connection = state.store.connection(&user_id).await?;
    let asked: Vec<Module> = match connection.and_then(|c| c.modules) {
        Some(names) => names.iter().filter_map(|n| n.parse().ok()).collect(),
        None => state.settings.default_modules.clone(),
    };
    let version = tenant
        .as_ref()
        .and_then(|t| t.odoo_version.as_deref())
        .and_then(|v| ServerVersion::parse(v).ok());
    let planned = tenant.as_ref().is_some_and(|t| t.odoo_version.is_some());
    let mut modules = Vec::new();
    for module_state in tenant.iter().flat_map(|t| t.modules.iter()) {
        let module = module_state.module;
        let fields = match &version {
            Some(version) => {
                module
                    .mapping(version, &module_state.model, &module_state.extra_fields)
                    .fields
            }
            None => Vec::new(),
        };
        modules.push(ModuleInfo {
            name: module.as_str().to_string(),
            display_name: module.display_name().to_string(),
            origin: origin_name(module.origin()).to_string(),
            state: "synced".into(),
            reason: None,
            model: Some(module_state.model.clone()),
            fields,
            custom_fields: module_state.extra_fields.clone(),
            collection: module.collection().to_string(),
            records: state.store.record_count(&user_id, module, false).await?,
            watermark: module_state.watermark,
        });
    }
    for module in asked {
        if modules.iter().any(|m| m.name == module.as_str()) {
            continue;
        }
        // Without a per-module record of failed probes, "not synced yet" covers both a module
        // planned at the tenant's next step and one its server cannot sync.
        let reason = planned.then(|| {
            let why = match module.app() {
                Some(app) => {
                    format!("its Odoo app {app:?} is not installed or its model not readable")
                }
                None => "its model does not exist or is not readable".to_string(),
            };
            format!("not synced yet: planned at the tenant's next sync step, unless {why}")
        });
        modules.push(ModuleInfo {
            name: module.as_str().to_string(),
            display_name: module.display_name().to_string(),
            origin: origin_name(module.origin()).to_string(),
            state: "pending".into(),
            reason,
            model: None,
            fields: Vec::new(),
            custom_fields: Vec::new(),
            collection: module.collection().to_string(),
            records: 0,
            watermark: None,
        });
    }
    Ok(Json(ModulesBody { modules }))
}
