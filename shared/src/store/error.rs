//! The store's error type.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The writer's lease is no longer the tenant's current lease: another worker took over
    /// (or the tenant was deleted). Nothing was written.
    #[error("lease lost for tenant {user_id}: another worker holds the tenant now")]
    LeaseLost { user_id: String },

    #[error("tenant {0} does not exist")]
    UnknownTenant(String),

    #[error("batch {0} does not exist")]
    UnknownBatch(String),

    /// A stored document that does not have the shape this code writes.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),

    /// The database could not be reached or refused the operation; worth retrying.
    #[error("store unavailable: {0}")]
    Unavailable(String),

    #[error("store error: {0}")]
    Backend(String),
}
