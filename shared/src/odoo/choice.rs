//! Which protocol the client chose for a server and why, as data: `sync` prints it, and
//! tests check it (`xmlrpc (JSON-2 not offered by Odoo 17.0: GET /web/version answered 404
//! Not Found)`, `json2 (Odoo 19.0 with an API key)`).

use std::fmt;

use super::transport::Protocol;
use super::version::ServerVersion;

/// Why the client does not use JSON-2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoJson2 {
    /// A password was given: JSON-2 takes only API keys, so it was not tried.
    PasswordGiven,
    /// `GET /web/version` failed; `answer` says how (`GET /web/version answered 404 Not
    /// Found`).
    NotOffered { answer: String },
    /// The server answered `GET /web/version` with a version before 19.
    VersionTooOld,
}

/// Why the client speaks the protocol it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolReason {
    /// The server has JSON-2 (19+) and an API key was given.
    Json2Available,
    /// Not JSON-2; XML-RPC answered.
    XmlRpcFallback(NoJson2),
    /// Not JSON-2, and XML-RPC failed with `xmlrpc_error`; JSON-RPC answered.
    JsonRpcFallback {
        no_json2: NoJson2,
        xmlrpc_error: String,
    },
    /// The protocol an earlier connection of this tenant found (not probed again).
    Remembered,
    /// The protocol the user asked for (not detected).
    Forced,
}

/// The protocol, the server's version and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolChoice {
    pub protocol: Protocol,
    pub version: ServerVersion,
    pub reason: ProtocolReason,
}

impl ProtocolChoice {
    /// The reason in words, without the protocol's name.
    pub fn explanation(&self) -> String {
        let version = &self.version;
        let no_json2 = |why: &NoJson2| {
            match why {
            NoJson2::PasswordGiven if version.has_json2() => format!(
                "Odoo {version} offers JSON-2, but JSON-2 takes only API keys and a password was given"
            ),
            NoJson2::PasswordGiven => {
                format!("Odoo {version} has no JSON-2 (it comes with 19), and a password was given")
            }
            NoJson2::NotOffered { answer } => {
                format!("JSON-2 not offered by Odoo {version}: {answer}")
            }
            NoJson2::VersionTooOld => {
                format!("Odoo {version} has no JSON-2 (it comes with 19)")
            }
        }
        };
        match &self.reason {
            ProtocolReason::Json2Available => format!("Odoo {version} with an API key"),
            ProtocolReason::XmlRpcFallback(why) => no_json2(why),
            ProtocolReason::JsonRpcFallback {
                no_json2: why,
                xmlrpc_error,
            } => format!("{}; XML-RPC failed: {xmlrpc_error}", no_json2(why)),
            ProtocolReason::Remembered => {
                format!("Odoo {version}; the protocol this tenant's earlier syncs found")
            }
            ProtocolReason::Forced => format!("Odoo {version}; asked for, not detected"),
        }
    }
}

impl fmt::Display for ProtocolChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.protocol, self.explanation())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choice(protocol: Protocol, major: u32, reason: ProtocolReason) -> String {
        ProtocolChoice {
            protocol,
            version: ServerVersion::new(major, 0),
            reason,
        }
        .to_string()
    }

    #[test]
    fn says_which_protocol_and_why() {
        assert_eq!(
            choice(Protocol::Json2, 19, ProtocolReason::Json2Available),
            "json2 (Odoo 19.0 with an API key)"
        );
        assert_eq!(
            choice(
                Protocol::XmlRpc,
                17,
                ProtocolReason::XmlRpcFallback(NoJson2::NotOffered {
                    answer: "GET /web/version answered 404 Not Found".into()
                })
            ),
            "xmlrpc (JSON-2 not offered by Odoo 17.0: GET /web/version answered 404 Not Found)"
        );
        assert!(choice(
            Protocol::XmlRpc,
            19,
            ProtocolReason::XmlRpcFallback(NoJson2::PasswordGiven)
        )
        .contains("JSON-2 takes only API keys"));
        assert!(choice(
            Protocol::JsonRpc,
            16,
            ProtocolReason::JsonRpcFallback {
                no_json2: NoJson2::VersionTooOld,
                xmlrpc_error: "HTTP 404".into()
            }
        )
        .starts_with("jsonrpc (Odoo 16.0 has no JSON-2"));
        assert_eq!(
            choice(Protocol::XmlRpc, 19, ProtocolReason::Forced),
            "xmlrpc (Odoo 19.0; asked for, not detected)"
        );
    }
}
