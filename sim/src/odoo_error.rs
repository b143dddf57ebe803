//! The exceptions the simulated Odoo raises, and how each protocol shows them: XML-RPC fault
//! codes and strings, JSON-RPC `error.data`, JSON-2 statuses and bodies (as in the fixtures).

use serde_json::{json, Value as Json};

/// An exception raised while serving a call, named after the Python class Odoo raises.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OdooError {
    /// Bad uid or secret (`odoo.exceptions.AccessDenied`).
    #[error("{0}")]
    AccessDenied(String),
    /// Not allowed on a model or a private method (`odoo.exceptions.AccessError`).
    #[error("{0}")]
    AccessError(String),
    /// The model does not exist: Odoo's `UserError` on RPC; JSON-2 answers 404.
    #[error("Object {0} doesn't exist")]
    UnknownModel(String),
    /// Records that are gone (`odoo.exceptions.MissingError`).
    #[error("{0}")]
    MissingError(String),
    /// Bad domain, field or order (`builtins.ValueError`).
    #[error("{0}")]
    ValueError(String),
    /// Bad arguments (`builtins.TypeError`); JSON-2 answers 422.
    #[error("{0}")]
    TypeError(String),
    /// No such public method (`builtins.AttributeError`); JSON-2 answers 404. Built by
    /// [`OdooError::unknown_method`], worded as the version words it.
    #[error("{0}")]
    UnknownMethod(String),
    /// The database does not exist (`psycopg2.OperationalError`).
    #[error("connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  database \"{0}\" does not exist")]
    UnknownDatabase(String),
    /// Any other server error, with its Python class name.
    #[error("{message}")]
    Server { name: String, message: String },
}

/// The Python traceback Odoo puts in fault strings and `debug`, shortened like the fixtures.
fn traceback(name: &str, message: &str) -> String {
    // Python prints builtin exception classes without their module.
    let short = name.strip_prefix("builtins.").unwrap_or(name);
    format!("Traceback (most recent call last):\n  [frames omitted]\n{short}: {message}\n")
}

/// Odoo 19 reworded some messages and dropped the traceback of a refused login; before it,
/// the wording is 17.0's (captured), assumed for 12 to 18 too.
const REWORDED_IN: u32 = 19;

impl OdooError {
    /// A method the model does not have: 19 `The method 'res.partner.x' does not exist`,
    /// 17 `The method 'x' does not exist on the model 'res.partner'`.
    pub fn unknown_method(version: u32, model: &str, method: &str) -> OdooError {
        OdooError::UnknownMethod(if version >= REWORDED_IN {
            format!("The method '{model}.{method}' does not exist")
        } else {
            format!("The method '{method}' does not exist on the model '{model}'")
        })
    }

    /// A call of a private method: 19 names the model, 17 only the method.
    pub fn private_method(version: u32, model: &str, method: &str) -> OdooError {
        OdooError::AccessError(if version >= REWORDED_IN {
            format!("Private methods (such as '{model}.{method}') cannot be called remotely.")
        } else {
            format!("Private methods (such as {method}) cannot be called remotely.")
        })
    }

    /// A domain leaf on a field the model does not have: 19 says `in condition`, 17 `in
    /// leaf`. `term` is the leaf as Python prints it.
    pub fn invalid_field(version: u32, model: &str, field: &str, term: &str) -> OdooError {
        let place = if version >= REWORDED_IN {
            "condition"
        } else {
            "leaf"
        };
        OdooError::ValueError(format!("Invalid field {model}.{field} in {place} {term}"))
    }

    /// The Python class name, as JSON error bodies give it.
    pub fn class_name(&self) -> String {
        match self {
            OdooError::AccessDenied(_) => "odoo.exceptions.AccessDenied".into(),
            OdooError::AccessError(_) => "odoo.exceptions.AccessError".into(),
            OdooError::UnknownModel(_) => "odoo.exceptions.UserError".into(),
            OdooError::MissingError(_) => "odoo.exceptions.MissingError".into(),
            OdooError::ValueError(_) => "builtins.ValueError".into(),
            OdooError::TypeError(_) => "builtins.TypeError".into(),
            OdooError::UnknownMethod(_) => "builtins.AttributeError".into(),
            OdooError::UnknownDatabase(_) => "psycopg2.OperationalError".into(),
            OdooError::Server { name, .. } => name.clone(),
        }
    }

    /// XML-RPC `faultCode`: 1 server error, 2 user error, 3 access denied, 4 access error.
    pub fn fault_code(&self) -> i64 {
        match self {
            OdooError::AccessDenied(_) => 3,
            OdooError::AccessError(_) => 4,
            OdooError::UnknownModel(_) | OdooError::MissingError(_) => 2,
            _ => 1,
        }
    }

    /// XML-RPC `faultString`: the message for Odoo's own exceptions, a traceback otherwise.
    pub fn fault_string(&self) -> String {
        match self.fault_code() {
            1 => traceback(&self.class_name(), &self.to_string()),
            _ => self.to_string(),
        }
    }

    /// The `debug` text of JSON error bodies.
    fn debug(&self, version: u32) -> String {
        match self {
            // 19 logs no traceback for a refused login, only the exception line; 17 does.
            OdooError::AccessDenied(m) if version >= REWORDED_IN => {
                format!("odoo.exceptions.AccessDenied: {m}\n")
            }
            _ => traceback(&self.class_name(), &self.to_string()),
        }
    }

    /// `error.data` of a JSON-RPC error (Odoo's `serialize_exception`) on `version`.
    pub fn jsonrpc_data(&self, version: u32) -> Json {
        let message = self.to_string();
        json!({
            "name": self.class_name(),
            "message": message,
            "arguments": [message],
            "context": {},
            "debug": self.debug(version),
        })
    }

    /// Status and body of a JSON-2 error response (JSON-2 exists from 19).
    pub fn json2_response(&self) -> (u16, Json) {
        let message = self.to_string();
        match self {
            // werkzeug exceptions carry the status in their arguments.
            OdooError::UnknownModel(model) => {
                json2_http_error(404, &format!("the model '{model}' does not exist"))
            }
            OdooError::UnknownMethod(_) => json2_http_error(404, &message),
            OdooError::TypeError(_) => json2_http_error(422, &message),
            OdooError::UnknownDatabase(_) => json2_http_error(404, &message),
            OdooError::AccessDenied(_) => json2_http_error(401, "Invalid apikey"),
            // Odoo's UserError family carries its own status (http_status).
            OdooError::AccessError(_) => (403, self.jsonrpc_data(REWORDED_IN)),
            OdooError::MissingError(_) => (404, self.jsonrpc_data(REWORDED_IN)),
            OdooError::ValueError(_) | OdooError::Server { .. } => {
                (500, self.jsonrpc_data(REWORDED_IN))
            }
        }
    }
}

/// A werkzeug HTTP exception as JSON-2 serialises it.
pub fn json2_http_error(status: u16, description: &str) -> (u16, Json) {
    let (class, title) = match status {
        400 => ("BadRequest", "Bad Request"),
        401 => ("Unauthorized", "Unauthorized"),
        404 => ("NotFound", "Not Found"),
        422 => ("UnprocessableEntity", "Unprocessable Entity"),
        _ => ("InternalServerError", "Internal Server Error"),
    };
    let body = json!({
        "name": format!("werkzeug.exceptions.{class}"),
        "message": description,
        "arguments": [description, status],
        "context": {},
        "debug": format!(
            "Traceback (most recent call last):\n  [frames omitted]\nwerkzeug.exceptions.{class}: {status} {title}: {description}\n"
        ),
    });
    (status, body)
}

/// The access error Odoo raises when a user may not read a model.
pub fn access_error(model: &str, description: &str, group: &str) -> OdooError {
    OdooError::AccessError(format!(
        "You are not allowed to access '{description}' ({model}) records.\n\nThis operation is allowed for the following groups:\n\t- {group}\n\nContact your administrator to request access if necessary."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_strings_match_the_fixtures() {
        let e = OdooError::invalid_field(
            19,
            "res.partner",
            "no_such_field",
            "('no_such_field', '=', 1)",
        );
        assert_eq!(e.fault_code(), 1);
        assert!(e
            .fault_string()
            .ends_with("\nValueError: Invalid field res.partner.no_such_field in condition ('no_such_field', '=', 1)\n"));
        let e = OdooError::UnknownModel("no.such.model".into());
        assert_eq!(
            (e.fault_code(), e.fault_string().as_str()),
            (2, "Object no.such.model doesn't exist")
        );
        assert_eq!(e.json2_response().0, 404);
    }

    #[test]
    fn version_17_wordings_match_its_fixtures() {
        let e = OdooError::invalid_field(
            17,
            "res.partner",
            "no_such_field",
            "('no_such_field', '=', 1)",
        );
        assert!(e.fault_string().ends_with(
            "\nValueError: Invalid field res.partner.no_such_field in leaf ('no_such_field', '=', 1)\n"
        ));
        let e = OdooError::private_method(17, "res.partner", "_search");
        assert_eq!(
            (e.fault_code(), e.fault_string().as_str()),
            (
                4,
                "Private methods (such as _search) cannot be called remotely."
            )
        );
        let e = OdooError::unknown_method(17, "res.partner", "formatted_read_group");
        assert!(e.fault_string().ends_with(
            "\nAttributeError: The method 'formatted_read_group' does not exist on the model 'res.partner'\n"
        ));
    }
}
