//! The OpenAPI document, generated from the handlers' annotations and the body types: what
//! the app's frontend is written against (`GET /openapi.json`).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::dashboard::{
    Activity, ContactFigures, Counts, DashboardBody, EmployeeFigures, InvoiceFigures,
    ModuleFigures, MonthRevenue, SalesFigures,
};
use crate::error::ErrorBody;
use crate::operator::{ActionResult, BatchFailure, TenantDetail, TenantPage, TenantSummary};
use crate::routes;
use crate::routes::connection::{SaveConnectionRequest, SaveConnectionResponse};
use crate::routes::health::HealthBody;
use crate::routes::records::RecordsPage;
use crate::status::{ProgressBody, StatusBody, StatusError};

/// The bearer schemes: tenants' JWTs and the operators' token.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "tenant",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "HS256 JWT signed with JWT_SECRET; `sub` is the tenant's user id, \
                         `exp` is required",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "admin",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The operators' ADMIN_TOKEN"))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "odoo-sync API",
        description = "Tenants' Odoo data mirrored for dashboards: save a connection, follow \
            the sync, read figures and records. Errors are `{\"error\": code, \"message\": \
            text}` (plus `field` for bad input).",
    ),
    paths(
        routes::connection::save_connection,
        routes::connection::delete_connection,
        routes::status::status,
        routes::status::status_events,
        routes::dashboard::dashboard,
        routes::records::records,
        routes::admin::list_tenants,
        routes::admin::tenant,
        routes::admin::retry,
        routes::admin::resync,
        routes::admin::pause,
        routes::admin::resume,
        routes::health::health,
        routes::health::ready,
        routes::metrics::metrics,
        routes::docs::openapi,
    ),
    components(schemas(
        ErrorBody, SaveConnectionRequest, SaveConnectionResponse, StatusBody, ProgressBody,
        StatusError, DashboardBody, ModuleFigures, SalesFigures, InvoiceFigures,
        ContactFigures, EmployeeFigures, Counts, MonthRevenue, Activity, RecordsPage,
        TenantPage, TenantSummary, TenantDetail, BatchFailure, ActionResult, HealthBody,
    )),
    modifiers(&Security),
    tags(
        (name = "tenant", description = "A tenant's own connection, status and data"),
        (name = "operator", description = "Operator routes (ADMIN_TOKEN)"),
        (name = "health", description = "Health, readiness, metrics, this document"),
    )
)]
pub struct ApiDoc;
