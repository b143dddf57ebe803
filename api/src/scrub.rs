//! Scrubs a tenant's Odoo secret out of errors read back from the store. The Odoo client
//! scrubs every message it makes, but errors stored before it did (a blocking error, a
//! batch's last error) may still quote the secret; the API opens the tenant's saved secret
//! with the keyring and removes it from what it serves.

use secrecy::ExposeSecret;
use shared::crypto::{open, Keyring};
use shared::odoo::Redactor;
use shared::store::StoredConnection;

/// Builds a tenant's [`Redactor`] from its saved connection.
#[derive(Debug, Clone, Default)]
pub struct StoredErrorScrubber {
    /// `None` where no key is configured (`odoo-sync admin` without `ENCRYPTION_KEY`):
    /// then stored errors are shown as they are.
    keyring: Option<Keyring>,
}

impl StoredErrorScrubber {
    pub fn new(keyring: Option<Keyring>) -> StoredErrorScrubber {
        StoredErrorScrubber { keyring }
    }

    /// The redactor of the secret in `connection`; one that redacts nothing when there is
    /// no connection or its secret cannot be opened (logged).
    pub fn redactor(&self, connection: Option<&StoredConnection>) -> Redactor {
        let (Some(keyring), Some(connection)) = (&self.keyring, connection) else {
            return Redactor::default();
        };
        match open(keyring, &connection.secret) {
            Ok(secret) => Redactor::new(secret.expose_secret()),
            Err(e) => {
                tracing::warn!(error = %e, "cannot open a saved secret to scrub stored errors");
                Redactor::default()
            }
        }
    }
}
