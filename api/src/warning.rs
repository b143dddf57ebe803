//! A tenant's warnings as the status and the operator views show them
//! (`[{"code": "protocol_removed_in_odoo_20", "message": "..."}]`), from
//! [`shared::warnings`].

use serde::Serialize;
use shared::store::{StoredConnection, TenantState};
use shared::warnings::tenant_warnings;
use utoipa::ToSchema;

/// Something to act on before the sync breaks; the sync still works.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct WarningBody {
    /// Stable code, e.g. `protocol_removed_in_odoo_20`.
    #[schema(example = "protocol_removed_in_odoo_20")]
    pub code: String,
    /// What will break and what to do.
    pub message: String,
}

/// The tenant's warnings.
pub fn warnings_of(state: &TenantState, connection: Option<&StoredConnection>) -> Vec<WarningBody> {
    tenant_warnings(state, connection)
        .into_iter()
        .map(|w| WarningBody {
            code: w.code.to_string(),
            message: w.message,
        })
        .collect()
}
