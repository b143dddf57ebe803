//! What a tenant should act on before it breaks, while its sync still works: warnings its
//! status and the operator views show. Today one: Odoo 19's own source
//! (`addons/rpc/controllers/__init__.py`) says XML-RPC and JSON-RPC are removed in Odoo 20,
//! so a tenant on 19 that syncs over either stops syncing when it upgrades; JSON-2, which
//! stays, takes only API keys.

use crate::crypto::SECRET_KIND_API_KEY;
use crate::odoo::{Protocol, ServerVersion};
use crate::store::{StoredConnection, TenantState};

/// Code of the warning on tenants whose protocol Odoo 20 removes.
pub const PROTOCOL_REMOVED_IN_ODOO_20: &str = "protocol_removed_in_odoo_20";

/// The first version without XML-RPC and JSON-RPC.
const LEGACY_RPC_REMOVED_IN: u32 = 20;

/// A warning: a stable code and what to do, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantWarning {
    pub code: &'static str,
    pub message: String,
}

/// The tenant's warnings (none for most tenants).
pub fn tenant_warnings(
    state: &TenantState,
    connection: Option<&StoredConnection>,
) -> Vec<TenantWarning> {
    legacy_protocol(state, connection).into_iter().collect()
}

/// A tenant on Odoo 19 syncing over XML-RPC or JSON-RPC.
fn legacy_protocol(
    state: &TenantState,
    connection: Option<&StoredConnection>,
) -> Option<TenantWarning> {
    let protocol: Protocol = state.protocol.as_deref()?.parse().ok()?;
    let version = ServerVersion::parse(state.odoo_version.as_deref()?).ok()?;
    if protocol == Protocol::Json2 || !version.has_json2() {
        // Before 19 there is nothing to switch to yet.
        return None;
    }
    let api_name = match protocol {
        Protocol::JsonRpc => "JSON-RPC",
        _ => "XML-RPC",
    };
    let removed = format!(
        "Odoo {version} is synced over {api_name}, which Odoo removes in version \
         {LEGACY_RPC_REMOVED_IN}: this sync stops working when the server is upgraded."
    );
    let has_key = connection.is_some_and(|c| c.secret_kind == SECRET_KIND_API_KEY);
    let action = if has_key {
        "An API key is saved but JSON-2 (/json/2) did not answer: make it reachable (a proxy \
         may block it), then resync the tenant."
    } else {
        "Save the connection again with an API key instead of the password (in Odoo: \
         Preferences, Account Security, New API Key): the sync then uses JSON-2, which stays."
    };
    Some(TenantWarning {
        code: PROTOCOL_REMOVED_IN_ODOO_20,
        message: format!("{removed} {action}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SECRET_KIND_PASSWORD;
    use crate::store::EncryptedSecret;
    use chrono::Utc;

    fn state(version: &str, protocol: &str) -> TenantState {
        TenantState::sample(version, protocol)
    }

    fn connection(kind: &str) -> StoredConnection {
        StoredConnection {
            url: "https://acme.example".into(),
            db: "acme".into(),
            username: "me".into(),
            secret_kind: kind.into(),
            secret: EncryptedSecret {
                key_id: "k".into(),
                nonce: "n".into(),
                ciphertext: "c".into(),
            },
            saved_at: Utc::now(),
            modules: None,
            protocol: None,
        }
    }

    #[test]
    fn warns_odoo_19_tenants_on_the_protocols_odoo_20_removes() {
        let password = connection(SECRET_KIND_PASSWORD);
        let warnings = tenant_warnings(&state("19.0", "xmlrpc"), Some(&password));
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].code, PROTOCOL_REMOVED_IN_ODOO_20);
        assert!(warnings[0].message.contains("version 20"));
        assert!(warnings[0]
            .message
            .contains("API key instead of the password"));
        let jsonrpc = tenant_warnings(&state("19.0", "jsonrpc"), Some(&password));
        assert!(jsonrpc[0].message.contains("JSON-RPC"));
        let key = connection(SECRET_KIND_API_KEY);
        let with_key = tenant_warnings(&state("19.0", "xmlrpc"), Some(&key));
        assert!(with_key[0].message.contains("/json/2"));

        assert!(tenant_warnings(&state("19.0", "json2"), Some(&key)).is_empty());
        assert!(tenant_warnings(&state("17.0", "xmlrpc"), Some(&password)).is_empty());
        let mut unknown = state("19.0", "xmlrpc");
        unknown.protocol = None;
        assert!(tenant_warnings(&unknown, None).is_empty());
    }
}
