//! `GET /odoo/modules`: the modules the tenant syncs, each with the Odoo model it reads on
//! the tenant's server, every field it reads (custom fields found there included), its
//! collection and how many records the mirror holds; plus the modules it asked for that its
//! server cannot sync (app not installed, model missing or unreadable).

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::modules::{Module, Origin};
use shared::odoo::ServerVersion;
use utoipa::ToSchema;

use crate::auth::Tenant;
use crate::error::{ApiError, ErrorBody};
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
    /// `synced`, or `unavailable` when the tenant's Odoo cannot sync it (see `reason`), or
    /// `pending` before the first sync plans it.
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
        let reason = planned.then(|| match module.app() {
            Some(app) => format!(
                "not synced: the Odoo app {app:?} is not installed or its model is not readable"
            ),
            None => "not synced: the model does not exist or the user may not read it".into(),
        });
        modules.push(ModuleInfo {
            name: module.as_str().to_string(),
            display_name: module.display_name().to_string(),
            origin: origin_name(module.origin()).to_string(),
            state: if planned { "unavailable" } else { "pending" }.into(),
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
