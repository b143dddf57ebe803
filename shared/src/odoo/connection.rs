//! What a tenant saves to reach its Odoo: the server's URL, the database, the login and a
//! secret (password or API key). Each part is a type that parses, so an invalid value never
//! gets as far as a request, and the secret is redacted in every `Debug` and `Display`.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::transport::Protocol;
use super::OdooError;

/// The base URL of an Odoo server: http or https, with a host, no credentials, query or
/// fragment. Stored without a trailing slash so endpoint paths join cleanly.
#[derive(Clone, PartialEq, Eq)]
pub struct OdooUrl(Url);

impl OdooUrl {
    pub fn parse(input: &str) -> Result<Self, OdooError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(OdooError::InvalidSetting("url is empty".into()));
        }
        if input.len() > 2048 {
            return Err(OdooError::InvalidSetting(
                "url is longer than 2048 characters".into(),
            ));
        }
        if !input.contains("://") {
            // `acme.odoo.com` or `localhost:8069` (which would parse as a scheme). The input is
            // not quoted back: it may hold a secret typed in the wrong place.
            return Err(OdooError::InvalidSetting(
                "url has no scheme: start it with https:// (or http:// for a server without TLS)"
                    .into(),
            ));
        }
        let mut url = Url::parse(input)
            .map_err(|e| OdooError::InvalidSetting(format!("url is not a valid URL: {e}")))?;
        match url.scheme() {
            "http" | "https" => {}
            other => {
                return Err(OdooError::InvalidSetting(format!(
                    "url scheme {other:?} is not supported (use http or https)"
                )))
            }
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(OdooError::InvalidSetting("url has no host".into()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            // Credentials in a URL end up in logs and proxies; they belong in the secret.
            return Err(OdooError::InvalidSetting(
                "url must not contain a user name or password".into(),
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(OdooError::InvalidSetting(
                "url must not contain a query or fragment".into(),
            ));
        }
        let path = url.path().trim_end_matches('/').to_string();
        url.set_path(&path);
        Ok(OdooUrl(url))
    }

    /// The URL of an endpoint below the base, e.g. `/xmlrpc/2/object`.
    pub fn endpoint(&self, path: &str) -> String {
        let base = self.0.as_str().trim_end_matches('/');
        format!("{base}{path}")
    }

    pub fn host(&self) -> &str {
        self.0.host_str().unwrap_or("")
    }

    pub fn as_url(&self) -> &Url {
        &self.0
    }
}

impl fmt::Display for OdooUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str().trim_end_matches('/'))
    }
}

impl fmt::Debug for OdooUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OdooUrl({self})")
    }
}

/// An Odoo database name as PostgreSQL and Odoo accept it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatabaseName(String);

impl DatabaseName {
    pub fn parse(input: &str) -> Result<Self, OdooError> {
        let name = input.trim();
        if name.is_empty() {
            return Err(OdooError::InvalidSetting("db is empty".into()));
        }
        if name.len() > 63 {
            return Err(OdooError::InvalidSetting(
                "db is longer than 63 characters".into(),
            ));
        }
        // Odoo's own rule for database names (service/db.py: DBNAME_PATTERN).
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err(OdooError::InvalidSetting(
                "db may contain only letters, digits, '_', '.' and '-'".into(),
            ));
        }
        Ok(DatabaseName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DatabaseName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The login of the Odoo user the tenant connects as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Login(String);

impl Login {
    pub fn parse(input: &str) -> Result<Self, OdooError> {
        let login = input.trim();
        if login.is_empty() {
            return Err(OdooError::InvalidSetting("username is empty".into()));
        }
        if login.len() > 256 {
            return Err(OdooError::InvalidSetting(
                "username is longer than 256 characters".into(),
            ));
        }
        if login.chars().any(char::is_control) {
            return Err(OdooError::InvalidSetting(
                "username contains control characters".into(),
            ));
        }
        Ok(Login(login.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The secret: a password, or an API key (Odoo 14+, the only kind JSON-2 accepts; it also
/// works as the password over XML-RPC and JSON-RPC).
#[derive(Clone)]
pub enum Credential {
    Password(SecretString),
    ApiKey(SecretString),
}

impl Credential {
    pub fn password(secret: &str) -> Result<Self, OdooError> {
        Ok(Credential::Password(Self::checked(secret, "password")?))
    }

    pub fn api_key(secret: &str) -> Result<Self, OdooError> {
        Ok(Credential::ApiKey(Self::checked(secret, "apiKey")?))
    }

    fn checked(secret: &str, field: &str) -> Result<SecretString, OdooError> {
        if secret.is_empty() {
            return Err(OdooError::InvalidSetting(format!("{field} is empty")));
        }
        if secret.len() > 1024 {
            return Err(OdooError::InvalidSetting(format!(
                "{field} is longer than 1024 characters"
            )));
        }
        Ok(SecretString::from(secret.to_string()))
    }

    pub fn is_api_key(&self) -> bool {
        matches!(self, Credential::ApiKey(_))
    }

    /// The secret's text, for building a request body. Never log the result.
    pub(crate) fn expose(&self) -> &str {
        match self {
            Credential::Password(s) | Credential::ApiKey(s) => s.expose_secret(),
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Password(_) => f.write_str("Password([REDACTED])"),
            Credential::ApiKey(_) => f.write_str("ApiKey([REDACTED])"),
        }
    }
}

/// Everything needed to reach one tenant's Odoo.
#[derive(Clone, Debug)]
pub struct ConnectionInfo {
    pub url: OdooUrl,
    pub db: DatabaseName,
    pub login: Login,
    pub credential: Credential,
    /// A protocol the user asked for (`--protocol`): used instead of detection and of the
    /// protocol a tenant's earlier syncs found. `None`: detect (or go on with that one).
    protocol: Option<Protocol>,
}

impl ConnectionInfo {
    /// Identifies the connection, secret included, without keeping the secret: a changed
    /// password or key gives another value. In-memory only (std's hasher is not stable
    /// across releases), e.g. to know when a cached client must reconnect.
    pub fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.url.to_string().hash(&mut hasher);
        self.db.as_str().hash(&mut hasher);
        self.login.as_str().hash(&mut hasher);
        self.credential.is_api_key().hash(&mut hasher);
        self.credential.expose().hash(&mut hasher);
        self.protocol.hash(&mut hasher);
        hasher.finish()
    }

    /// The same connection, always over `protocol` (`None`: detected). JSON-2 with a
    /// password is refused when the client connects, before any call.
    pub fn with_protocol(mut self, protocol: Option<Protocol>) -> Self {
        self.protocol = protocol;
        self
    }

    /// The protocol asked for with [`ConnectionInfo::with_protocol`], if any.
    pub fn forced_protocol(&self) -> Option<Protocol> {
        self.protocol
    }

    /// Parses the four parts, naming the first one that is invalid.
    pub fn parse(
        url: &str,
        db: &str,
        login: &str,
        credential: Credential,
    ) -> Result<Self, OdooError> {
        Ok(ConnectionInfo {
            url: OdooUrl::parse(url)?,
            db: DatabaseName::parse(db)?,
            login: Login::parse(login)?,
            credential,
            protocol: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_accepts_http_and_https_and_drops_trailing_slash() {
        let url = OdooUrl::parse("https://acme.odoo.com/").expect("valid");
        assert_eq!(
            url.endpoint("/xmlrpc/2/common"),
            "https://acme.odoo.com/xmlrpc/2/common"
        );
        let url = OdooUrl::parse("http://10.0.0.1:8069/odoo/").expect("valid");
        assert_eq!(
            url.endpoint("/jsonrpc"),
            "http://10.0.0.1:8069/odoo/jsonrpc"
        );
    }

    #[test]
    fn url_refuses_other_schemes_credentials_and_queries() {
        for bad in [
            "",
            "ftp://acme.com",
            "file:///etc/passwd",
            "https://user:pw@acme.com",
            "https://acme.com/?a=1",
            "not a url",
        ] {
            assert!(OdooUrl::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn a_url_without_a_scheme_is_told_to_start_with_https() {
        for bare in [
            "acme.odoo.com",
            "localhost:8069",
            "acme:s3cret@odoo.example",
        ] {
            let message = OdooUrl::parse(bare).expect_err("no scheme").to_string();
            assert!(message.contains("https://"), "{bare:?}: {message}");
            assert!(
                !message.contains("s3cret"),
                "the input is not quoted back: {message}"
            );
        }
    }

    #[test]
    fn db_and_login_are_checked() {
        assert!(DatabaseName::parse("acme-prod_1.2").is_ok());
        assert!(DatabaseName::parse("acme; drop").is_err());
        assert!(DatabaseName::parse(&"a".repeat(64)).is_err());
        assert!(Login::parse("  ").is_err());
        assert!(
            Login::parse("admin\n").is_ok(),
            "trailing newline is trimmed"
        );
        assert!(Login::parse("ad\u{0}min").is_err());
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let info = ConnectionInfo::parse(
            "https://acme.odoo.com",
            "acme",
            "admin",
            Credential::password("hunter2-secret").expect("valid"),
        )
        .expect("valid");
        let text = format!("{info:?}");
        assert!(!text.contains("hunter2-secret"), "{text}");
        assert!(text.contains("REDACTED"));
    }
}
