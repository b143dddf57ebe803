//! Who is calling: tenants by a bearer JWT (HS256 with `JWT_SECRET`, `sub` = the tenant's
//! userId, `exp` required; `nbf` and `iat` numeric when present; `aud`, `iss` and a longest
//! lifetime when the operator sets `JWT_AUDIENCE`, `JWT_ISSUER`, `JWT_MAX_LIFETIME`),
//! operators by the `ADMIN_TOKEN` bearer token. Expired, malformed, wrongly signed and
//! `none`-algorithm tokens, and requests with more than one `Authorization` header, are
//! refused with 401; the token never appears in a log or an error.
//!
//! The extractors read what they need from the state through `FromRef`, so this module does
//! not depend on the app's state type.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use shared::config::ApiLimits;
use shared::store::TenantId;
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// Seconds of clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECONDS: u64 = 5;
/// Longest bearer header value looked at.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The claims read from a tenant's token. `nbf` and `iat` are typed so a token carrying
/// them as anything but a number is malformed (jsonwebtoken alone skips a non-numeric `nbf`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: u64,
    #[serde(
        default,
        deserialize_with = "numeric",
        skip_serializing_if = "Option::is_none"
    )]
    pub nbf: Option<u64>,
    #[serde(
        default,
        deserialize_with = "numeric",
        skip_serializing_if = "Option::is_none"
    )]
    pub iat: Option<u64>,
}

/// A claim that must be a number when it is there at all (`null` included).
fn numeric<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    u64::deserialize(deserializer).map(Some)
}

/// What the operator asks of tenant tokens beyond a valid signature and `exp`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenPolicy {
    pub audience: Option<String>,
    pub issuer: Option<String>,
    pub max_lifetime: Option<Duration>,
}

impl TokenPolicy {
    pub fn from_limits(limits: &ApiLimits) -> TokenPolicy {
        TokenPolicy {
            audience: limits.jwt_audience.clone(),
            issuer: limits.jwt_issuer.clone(),
            max_lifetime: limits.jwt_max_lifetime,
        }
    }
}

/// Checks tenants' tokens.
#[derive(Clone)]
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
    max_lifetime: Option<Duration>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtVerifier([REDACTED])")
    }
}

impl JwtVerifier {
    pub fn new(secret: &SecretString) -> JwtVerifier {
        JwtVerifier::with_policy(secret, &TokenPolicy::default())
    }

    /// A verifier that also asks for `policy`'s audience, issuer and longest lifetime.
    pub fn with_policy(secret: &SecretString, policy: &TokenPolicy) -> JwtVerifier {
        // Only HS256: a token naming another algorithm (`none` included) is refused.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        // jsonwebtoken refuses a token with an `aud` when no audience is configured; without
        // JWT_AUDIENCE the claim is not looked at, as before.
        validation.validate_aud = false;
        if let Some(audience) = &policy.audience {
            validation.validate_aud = true;
            validation.set_audience(&[audience]);
            required.push("aud");
        }
        if let Some(issuer) = &policy.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);
        JwtVerifier {
            key: DecodingKey::from_secret(secret.expose_secret().as_bytes()),
            validation,
            max_lifetime: policy.max_lifetime,
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
                        ErrorKind::MissingRequiredClaim(_) => {
                            "the token lacks a required claim (`sub`, `exp`, or the configured \
                             `aud` / `iss`)"
                        }
                        ErrorKind::InvalidAudience => "the token's `aud` is not accepted",
                        ErrorKind::InvalidIssuer => "the token's `iss` is not accepted",
                        _ => "the token is malformed",
                    }
                    .to_string(),
                )
            })?;
        if let Some(max) = self.max_lifetime {
            let Some(iat) = data.claims.iat else {
                return Err(ApiError::Unauthorized(
                    "the token needs `iat`: its lifetime is limited".into(),
                ));
            };
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            let lifetime = data.claims.exp.saturating_sub(iat);
            // An `iat` in the future would stretch the window; a token only lives from now.
            if lifetime > max.as_secs() || iat > now + LEEWAY_SECONDS {
                return Err(ApiError::Unauthorized(
                    "the token lives longer than this API accepts".into(),
                ));
            }
        }
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
        nbf: None,
        iat: Some(now.as_secs()),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.expose_secret().as_bytes()),
    )
}

/// The bearer token of a request, or a 401 saying what is wrong with the header. Two
/// `Authorization` headers are refused rather than one picked: proxies and servers disagree
/// on which one wins.
fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let mut headers = parts.headers.get_all(AUTHORIZATION).iter();
    let header = headers
        .next()
        .ok_or_else(|| ApiError::Unauthorized("missing Authorization: Bearer <token>".into()))?;
    if headers.next().is_some() {
        return Err(ApiError::Unauthorized(
            "send exactly one Authorization header".into(),
        ));
    }
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

impl<S> FromRequestParts<S> for Tenant
where
    S: Send + Sync,
    std::sync::Arc<JwtVerifier>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let token = bearer(parts)?;
        std::sync::Arc::<JwtVerifier>::from_ref(state)
            .verify(token)
            .map(Tenant)
    }
}

/// The operators' token as the state holds it (`None`: operator routes are disabled).
#[derive(Clone, Default)]
pub struct AdminToken(pub Option<std::sync::Arc<SecretString>>);

/// An operator, authenticated by `ADMIN_TOKEN`.
#[derive(Debug, Clone, Copy)]
pub struct Operator;

impl<S> FromRequestParts<S> for Operator
where
    S: Send + Sync,
    AdminToken: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let AdminToken(admin) = AdminToken::from_ref(state);
        let Some(expected) = admin else {
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
                nbf: None,
                iat: None,
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

    fn signed(claims: serde_json::Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret().expose_secret().as_bytes()),
        )
        .expect("signs")
    }

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs()
    }

    #[test]
    fn a_non_numeric_nbf_or_iat_is_refused() {
        let verifier = JwtVerifier::new(&secret());
        let exp = now() + 600;
        for claims in [
            serde_json::json!({"sub": "user-1", "exp": exp, "nbf": "tomorrow"}),
            serde_json::json!({"sub": "user-1", "exp": exp, "nbf": null}),
            serde_json::json!({"sub": "user-1", "exp": exp, "iat": "now"}),
        ] {
            assert!(
                verifier.verify(&signed(claims.clone())).is_err(),
                "{claims} must be refused"
            );
        }
        let numeric = serde_json::json!({"sub": "user-1", "exp": exp, "nbf": now() - 10});
        assert!(verifier.verify(&signed(numeric)).is_ok());
        let future = serde_json::json!({"sub": "user-1", "exp": exp, "nbf": now() + 300});
        assert!(verifier.verify(&signed(future)).is_err());
    }

    #[test]
    fn audience_issuer_and_lifetime_are_enforced_when_configured() {
        let policy = TokenPolicy {
            audience: Some("odoo-sync".into()),
            issuer: Some("https://auth.example.com".into()),
            max_lifetime: Some(Duration::from_secs(3600)),
        };
        let verifier = JwtVerifier::with_policy(&secret(), &policy);
        let (iat, exp) = (now(), now() + 600);
        let good = serde_json::json!({"sub": "user-1", "exp": exp, "iat": iat,
            "aud": "odoo-sync", "iss": "https://auth.example.com"});
        assert_eq!(
            verifier.verify(&signed(good.clone())).expect("valid"),
            tenant()
        );
        let mut cases = Vec::new();
        for (field, value) in [
            ("aud", serde_json::json!("another-app")),
            ("iss", serde_json::json!("https://evil.example.com")),
            ("exp", serde_json::json!(iat + 7200)),
            ("iat", serde_json::json!(iat + 600)),
        ] {
            let mut claims = good.clone();
            claims[field] = value;
            cases.push(claims);
        }
        for missing in ["aud", "iss", "iat"] {
            let mut claims = good.clone();
            claims.as_object_mut().expect("object").remove(missing);
            cases.push(claims);
        }
        for claims in cases {
            assert!(
                verifier.verify(&signed(claims.clone())).is_err(),
                "{claims} must be refused"
            );
        }
        // Without a policy, `aud` and `iss` are not looked at and lifetimes are free.
        let open = JwtVerifier::new(&secret());
        let mut long = good;
        long["exp"] = serde_json::json!(iat + 30 * 86_400);
        long["aud"] = serde_json::json!("anything");
        assert!(open.verify(&signed(long)).is_ok());
    }
}
