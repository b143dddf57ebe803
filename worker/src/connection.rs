//! Where a job finds the tenant's Odoo connection: the store's saved connection, its
//! secret opened with the keyring. A trait so that the runner does not care where
//! connections come from (tests, a future secrets service).

use async_trait::async_trait;
use shared::crypto::{self, CryptoError, Keyring};
use shared::odoo::ConnectionInfo;
use shared::store::{SharedStore, StoreError, TenantId};

/// Why a connection could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The saved connection cannot be opened (wrong or rotated-away key, damaged record):
    /// retrying will not help until an operator acts.
    #[error("the saved connection cannot be used: {0}")]
    Unusable(#[from] CryptoError),
}

/// Gives a tenant's connection, `None` when the tenant saved none.
#[async_trait]
pub trait ConnectionSource: Send + Sync + 'static {
    async fn connection(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<ConnectionInfo>, ConnectionError>;
}

/// The saved connection in the store, opened with the keyring (`ENCRYPTION_KEY`).
pub struct StoredConnections {
    store: SharedStore,
    keyring: Keyring,
}

impl StoredConnections {
    pub fn new(store: SharedStore, keyring: Keyring) -> Self {
        StoredConnections { store, keyring }
    }
}

#[async_trait]
impl ConnectionSource for StoredConnections {
    async fn connection(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<ConnectionInfo>, ConnectionError> {
        let Some(stored) = self.store.connection(tenant).await? else {
            return Ok(None);
        };
        Ok(Some(crypto::connection_info(&stored, &self.keyring)?))
    }
}
