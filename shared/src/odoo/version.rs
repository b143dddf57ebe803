//! The Odoo server version, parsed from `common.version()` or `GET /web/version`, and the
//! capabilities that follow from it.

use std::fmt;

use serde_json::Value;

use super::OdooError;

/// A server's major and minor version, e.g. 17.0 or saas~17.2 (major 17, minor 2).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerVersion {
    pub major: u32,
    pub minor: u32,
}

impl ServerVersion {
    pub fn new(major: u32, minor: u32) -> Self {
        ServerVersion { major, minor }
    }

    /// Reads `server_version_info` / `version_info` (`[19, 0, 0, "final", 0, ""]`), falling
    /// back to the `server_version` / `version` string ("17.0", "saas~17.2", "16.0+e").
    pub fn from_answer(answer: &Value) -> Result<Self, OdooError> {
        let info = answer
            .get("server_version_info")
            .or_else(|| answer.get("version_info"));
        if let Some(Value::Array(parts)) = info {
            let major = parts.first().and_then(Value::as_u64);
            let minor = parts.get(1).and_then(Value::as_u64).unwrap_or(0);
            if let Some(major) = major {
                return Ok(ServerVersion::new(major as u32, minor as u32));
            }
            // saas versions put the text "saas~17" first.
            if let Some(text) = parts.first().and_then(Value::as_str) {
                return Self::parse(text);
            }
        }
        let text = answer
            .get("server_version")
            .or_else(|| answer.get("version"))
            .and_then(Value::as_str)
            .ok_or_else(|| OdooError::Protocol("version answer has no version".into()))?;
        Self::parse(text)
    }

    /// Parses "17.0", "saas~17.2", "16.0+e", "19.0-20251201".
    pub fn parse(text: &str) -> Result<Self, OdooError> {
        let trimmed = text.trim().trim_start_matches("saas~");
        let mut numbers = trimmed
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .map(str::parse::<u32>);
        let major = numbers
            .next()
            .and_then(Result::ok)
            .ok_or_else(|| OdooError::Protocol(format!("unrecognised Odoo version {text:?}")))?;
        let minor = numbers.next().and_then(Result::ok).unwrap_or(0);
        Ok(ServerVersion::new(major, minor))
    }

    /// JSON-2 (`/json/2/<model>/<method>`) exists from 19.
    pub fn has_json2(&self) -> bool {
        self.major >= 19
    }

    /// API keys exist from 14.
    pub fn has_api_keys(&self) -> bool {
        self.major >= 14
    }

    /// `formatted_read_group` replaced `read_group` for external callers in 19.
    pub fn has_formatted_read_group(&self) -> bool {
        self.major >= 19
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_version_info_and_strings() {
        let v =
            ServerVersion::from_answer(&json!({"server_version_info": [19, 0, 0, "final", 0, ""]}))
                .expect("valid");
        assert_eq!(v, ServerVersion::new(19, 0));
        let v = ServerVersion::from_answer(
            &json!({"version_info": [17, 2, 0, "final", 0, ""], "version": "17.2"}),
        )
        .expect("valid");
        assert_eq!(v, ServerVersion::new(17, 2));
        assert_eq!(
            ServerVersion::parse("saas~17.2").expect("valid"),
            ServerVersion::new(17, 2)
        );
        assert_eq!(
            ServerVersion::parse("16.0+e").expect("valid"),
            ServerVersion::new(16, 0)
        );
        assert!(ServerVersion::parse("banana").is_err());
        assert!(ServerVersion::from_answer(&json!({})).is_err());
    }
}
