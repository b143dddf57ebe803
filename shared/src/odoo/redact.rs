//! Scrubs a tenant's Odoo secret out of text built from Odoo's answers. Odoo sometimes quotes
//! what it was sent (a fault string or traceback with the call's arguments, a JSON-RPC
//! `data.message`, a `UserError`), so the password or API key can come back inside an error;
//! every message the client makes from an answer goes through [`Redactor::text`] before it
//! becomes an [`OdooError`], and the API scrubs stored errors the same way when it reads them.
//!
//! The secret is looked for as sent and in the encodings an answer may carry it in: XML
//! (XML-RPC faults), JSON (JSON-RPC and JSON-2 bodies, with and without `ensure_ascii`) and
//! URL encoding (a query string echoed back). Hand-written because no maintained crate
//! redacts a known value in its encoded forms; each encoding comes from the crate that
//! defines it (quick-xml, serde_json, url).

use super::OdooError;

/// What a secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// The forms of one secret to remove from text.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Longest first, so a form that contains another is replaced whole.
    forms: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redactor([REDACTED])")
    }
}

impl Redactor {
    /// A redactor of `secret`; an empty secret redacts nothing.
    pub fn new(secret: &str) -> Redactor {
        if secret.is_empty() {
            return Redactor::default();
        }
        let mut forms = vec![secret.to_string()];
        // XML: quick-xml's minimal escape (`&`, `<`, `>`, as Python's xmlrpc writes text),
        // its full one (quotes as entities) and quotes as numeric references.
        forms.push(quick_xml::escape::minimal_escape(secret).into_owned());
        let full = quick_xml::escape::escape(secret).into_owned();
        forms.push(full.replace("&quot;", "&#34;").replace("&apos;", "&#39;"));
        forms.push(full);
        // JSON: serde_json's string escape, with `/` escaped too, and with every non-ASCII
        // character as `\uXXXX` (Python's `json.dumps` default).
        let quoted = serde_json::to_string(secret).unwrap_or_default();
        let json = quoted
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or_default()
            .to_string();
        let ascii = ascii_json(&json);
        forms.push(json.replace('/', "\\/"));
        forms.push(ascii.replace('/', "\\/"));
        forms.push(ascii);
        forms.push(json);
        // URL encoding: form style (`+` for spaces) and percent style (`%20`).
        let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        forms.push(form.replace('+', "%20"));
        forms.push(form);
        forms.retain(|f| !f.is_empty());
        forms.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        forms.dedup();
        Redactor { forms }
    }

    /// `text` with every form of the secret replaced by [`REDACTED`].
    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_string();
        for form in &self.forms {
            if out.contains(form.as_str()) {
                out = out.replace(form.as_str(), REDACTED);
            }
        }
        out
    }

    /// The same error with every message scrubbed.
    pub fn error(&self, error: OdooError) -> OdooError {
        let t = |s: String| self.text(&s);
        match error {
            OdooError::AuthenticationFailed { reason } => {
                OdooError::AuthenticationFailed { reason: t(reason) }
            }
            OdooError::AccessDenied { model, message } => OdooError::AccessDenied {
                model: t(model),
                message: t(message),
            },
            OdooError::MissingModel { model } => OdooError::MissingModel { model: t(model) },
            OdooError::InvalidField { model, message } => OdooError::InvalidField {
                model: t(model),
                message: t(message),
            },
            OdooError::UnknownDatabase { db } => OdooError::UnknownDatabase { db: t(db) },
            OdooError::Transient { kind, detail } => OdooError::Transient {
                kind,
                detail: t(detail),
            },
            OdooError::ServerFault { code, message } => OdooError::ServerFault {
                code: t(code),
                message: t(message),
            },
            OdooError::ApiUnavailable { protocol, detail } => OdooError::ApiUnavailable {
                protocol,
                detail: t(detail),
            },
            OdooError::Protocol(message) => OdooError::Protocol(t(message)),
            OdooError::InvalidSetting(message) => OdooError::InvalidSetting(t(message)),
            kept @ (OdooError::LoginThrottled | OdooError::RateLimited { .. }) => kept,
        }
    }
}

/// A JSON string body with every non-ASCII character written as `\uXXXX` (UTF-16 units).
fn ascii_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "p&ss<wörd> \"q\" 'x'/+=%";

    #[test]
    fn every_encoded_form_is_scrubbed() {
        let r = Redactor::new(SECRET);
        let json = serde_json::to_string(SECRET).expect("json");
        let encoded = [
            SECRET.to_string(),
            quick_xml::escape::escape(SECRET).into_owned(),
            quick_xml::escape::minimal_escape(SECRET).into_owned(),
            "p&amp;ss&lt;wörd&gt; &#34;q&#34; &#39;x&#39;/+=%".to_string(),
            json[1..json.len() - 1].to_string(),
            "p&ss<w\\u00f6rd> \\\"q\\\" 'x'\\/+=%".to_string(),
            url::form_urlencoded::byte_serialize(SECRET.as_bytes()).collect(),
            "p%26ss%3Cw%C3%B6rd%3E%20%22q%22%20%27x%27%2F%2B%3D%25".to_string(),
        ];
        for form in encoded {
            let text = format!("Traceback: ValueError('{form}') in call");
            let scrubbed = r.text(&text);
            assert_eq!(
                scrubbed,
                format!("Traceback: ValueError('{REDACTED}') in call")
            );
        }
    }

    #[test]
    fn errors_are_scrubbed_and_an_empty_secret_changes_nothing() {
        let r = Redactor::new("hunter2-secret");
        let e = r.error(OdooError::ServerFault {
            code: "UserError".into(),
            message: "wrong key hunter2-secret".into(),
        });
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert_eq!(Redactor::new("").text("anything"), "anything");
    }
}
