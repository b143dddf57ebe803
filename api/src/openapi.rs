//! The OpenAPI document, generated from the handlers' annotations and the body types: what
//! the app's frontend is written against (`GET /openapi.json`).

use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, OneOfBuilder, Schema};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::RefOr;
use utoipa::{Modify, OpenApi};

use crate::dashboard::{
    Activity, BalanceFigures, ContactFigures, Counts, DashboardBody, DocumentTally,
    EmployeeFigures, InvoiceFigures, ModuleFigures, MonthRevenue, OpenDocuments, SalesFigures,
};
use crate::error::ErrorBody;
use crate::operator::{
    ActionResult, BatchFailure, ModuleSummary, TenantDetail, TenantPage, TenantSummary,
};
use crate::queue::{
    DeadJob, DeadJobs, DrainResult, LiveWorker, LiveWorkers, QueueDepth, WaitingJob, WaitingJobs,
};
use crate::routes;
use crate::routes::connection::{SaveConnectionRequest, SaveConnectionResponse};
use crate::routes::health::HealthBody;
use crate::routes::modules::{ModuleInfo, ModulesBody, SetModulesRequest};
use crate::routes::records::RecordsPage;
use crate::status::{ProgressBody, StatusBody, StatusError};
use crate::warning::WarningBody;

/// What the derive cannot say about the save-connection body: exactly one of `password`
/// and `apiKey`. Without it the document promises that a body with both (or neither) is
/// fine, which the route refuses with 400.
struct OneCredential;

impl Modify for OneCredential {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let Some(body) = components.schemas.remove("SaveConnectionRequest") else {
            return;
        };
        let needs = |field: &str| ObjectBuilder::new().required(field).build();
        let exactly_one = OneOfBuilder::new()
            .item(needs("password"))
            .item(needs("apiKey"))
            .build();
        let schema = AllOfBuilder::new()
            .item(body)
            .item(Schema::OneOf(exactly_one))
            .description(Some(
                "The connection to save: `url`, `db`, `username`, and exactly one of \
                 `password` and `apiKey`.",
            ))
            .build();
        components.schemas.insert(
            "SaveConnectionRequest".into(),
            RefOr::T(Schema::AllOf(schema)),
        );
    }
}

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
        routes::modules::modules,
        routes::modules::set_modules,
        routes::records::records,
        routes::admin::list_tenants,
        routes::admin::tenant,
        routes::admin::retry,
        routes::admin::resync,
        routes::admin::verify,
        routes::admin::pause,
        routes::admin::resume,
        routes::admin::queue_depth,
        routes::admin::waiting_jobs,
        routes::admin::dead_jobs,
        routes::admin::live_workers,
        routes::admin::drain_queue,
        routes::health::health,
        routes::health::ready,
        routes::metrics::metrics,
        routes::docs::openapi,
    ),
    components(schemas(
        ErrorBody, SaveConnectionRequest, SaveConnectionResponse, StatusBody, ProgressBody,
        StatusError, WarningBody, DashboardBody, ModuleFigures, SalesFigures, InvoiceFigures,
        BalanceFigures, OpenDocuments, DocumentTally, ContactFigures, EmployeeFigures, Counts,
        MonthRevenue, Activity, RecordsPage, ModulesBody, ModuleInfo, SetModulesRequest,
        TenantPage, TenantSummary, ModuleSummary, TenantDetail, BatchFailure, ActionResult, HealthBody,
        QueueDepth, DeadJobs, DeadJob, DrainResult, WaitingJobs, WaitingJob, LiveWorkers,
        LiveWorker,
    )),
    modifiers(&Security, &OneCredential),
    tags(
        (name = "tenant", description = "A tenant's own connection, status and data"),
        (name = "operator", description = "Operator routes (ADMIN_TOKEN)"),
        (name = "health", description = "Health, readiness, metrics, this document"),
    )
)]
pub struct ApiDoc;
