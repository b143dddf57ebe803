//! Who is calling: tenants by a bearer JWT (HS256 with `JWT_SECRET`, `sub` = the tenant's
//! userId, `exp` required), operators by the `ADMIN_TOKEN` bearer token. Expired, malformed,
//! wrongly signed and `none`-algorithm tokens are refused with 401; the token never appears
//! in a log or an error.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use shared::store::TenantId;
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::state::AppState;

/// Seconds of clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECONDS: u64 = 5;
/// Longest bearer header value looked at.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The claims read from a tenant's token.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: u64,
}

/// Checks tenants' tokens.
#[derive(Clone)]
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtVerifier([REDACTED])")
    }
}

impl JwtVerifier {
    pub fn new(secret: &SecretString) -> JwtVerifier {
        // Only HS256: a token naming another algorithm (`none` included) is refused.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        JwtVerifier {
            key: DecodingKey::from_secret(secret.expose_secret().as_bytes()),
            validation,
        }
    }

    /// The tenant a token names, or why it is refused (safe to return to the caller).
    pub fn verify(&self, token: &str) -> Result<TenantId, ApiError> {
        use jsonwebtoken::errors::ErrorKind;
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(|e| {
                ApiError::Unauthorized(
                    match e.kind() {
                        ErrorKind::ExpiredSignature => "the token has expired",
                        ErrorKind::ImmatureSignature => "the token is not valid yet",
                        ErrorKind::InvalidSignature => "the token's signature is invalid",
                        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                            "the token must be signed with HS256"
                        }
                        ErrorKind::MissingRequiredClaim(_) => "the token lacks `sub` or `exp`",
                        _ => "the token is malformed",
                    }
                    .to_string(),
                )
            })?;
        TenantId::parse(&data.claims.sub)
            .map_err(|_| ApiError::Unauthorized("the token's `sub` is not a valid user id".into()))
    }
}

/// Signs a tenant token valid for `ttl` (tests, `odoo-sync admin token`, the demo).
pub fn issue_token(
    secret: &SecretString,
    user_id: &TenantId,
    ttl: Duration,
) -> Result<String, jsonwebtoken::errors::Error> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let claims = Claims {
        sub: user_id.to_string(),
        exp: (now + ttl).as_secs(),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.expose_secret().as_bytes()),
    )
}

/// The bearer token of a request, or a 401 saying what is wrong with the header.
fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let header = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or_else(|| ApiError::Unauthorized("missing Authorization: Bearer <token>".into()))?;
    let value = header
        .to_str()
        .map_err(|_| ApiError::Unauthorized("the Authorization header is not text".into()))?;
    if value.len() > MAX_TOKEN_LEN {
        return Err(ApiError::Unauthorized("the token is too long".into()));
    }
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| ApiError::Unauthorized("use Authorization: Bearer <token>".into()))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::Unauthorized(
            "use Authorization: Bearer <token>".into(),
        ));
    }
    Ok(token.trim())
}

/// The authenticated tenant of a tenant route.
#[derive(Debug, Clone)]
pub struct Tenant(pub TenantId);

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts)?;
        state.jwt.verify(token).map(Tenant)
    }
}

/// An operator, authenticated by `ADMIN_TOKEN`.
#[derive(Debug, Clone, Copy)]
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(expected) = &state.settings.admin_token else {
            return Err(ApiError::Forbidden {
                code: "admin_disabled",
                message: "operator routes are disabled: ADMIN_TOKEN is not set".into(),
            });
        };
        let token = bearer(parts)?;
        let same: bool = token
            .as_bytes()
            .ct_eq(expected.expose_secret().as_bytes())
            .into();
        if same {
            Ok(Operator)
        } else {
            Err(ApiError::Unauthorized("the admin token is wrong".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    fn secret() -> SecretString {
        SecretString::from("an-hs256-secret-of-at-least-32-characters".to_string())
    }

    fn tenant() -> TenantId {
        TenantId::parse("user-1").expect("valid")
    }

    #[test]
    fn issued_tokens_verify_and_name_the_tenant() {
        let token = issue_token(&secret(), &tenant(), Duration::from_secs(60)).expect("signs");
        assert_eq!(
            JwtVerifier::new(&secret()).verify(&token).expect("valid"),
            tenant()
        );
    }

    #[test]
    fn wrong_secret_expired_none_and_garbage_are_refused() {
        let verifier = JwtVerifier::new(&secret());
        let other = SecretString::from("another-secret-of-at-least-32-characters!".to_string());
        let forged = issue_token(&other, &tenant(), Duration::from_secs(60)).expect("signs");
        assert!(verifier.verify(&forged).is_err());

        let expired = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &Claims {
                sub: "user-1".into(),
                exp: 1_000,
            },
            &EncodingKey::from_secret(secret().expose_secret().as_bytes()),
        )
        .expect("signs");
        match verifier.verify(&expired) {
            Err(ApiError::Unauthorized(m)) => assert!(m.contains("expired"), "{m}"),
            other => panic!("expected 401, got {other:?}"),
        }

        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(r#"{"sub":"user-1","exp":99999999999}"#);
        assert!(verifier.verify(&format!("{header}.{payload}.")).is_err());
        assert!(verifier.verify("not.a.token").is_err());
        assert!(verifier.verify("").is_err());
    }
}
