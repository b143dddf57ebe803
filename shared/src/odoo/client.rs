//! The Odoo client the engine talks to: one per tenant connection. It picks the protocol
//! (JSON-2 when the server has it and an API key is given, else XML-RPC, then JSON-RPC),
//! authenticates, keeps the politeness gap, retries transient failures with back-off and
//! jitter (honouring `Retry-After`), and offers the calls the engine needs.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use chrono::NaiveDateTime;
use serde_json::{json, Map, Value};

use super::choice::{NoJson2, ProtocolChoice, ProtocolReason};
use super::connection::{ConnectionInfo, Credential, DatabaseName, Login, OdooUrl};
use super::domain::{Context, Domain, Op};
use super::pacer::Pacer;
use super::paging::{page_too_big, PageAnswer, PageSizer};
use super::redact::Redactor;
use super::transport::{CallTarget, Protocol, Wire};
use super::version::ServerVersion;
use super::xmlrpc::Limits;
use super::OdooError;

/// A record as Odoo returned it: field name to value (`false` for empty values).
pub type Record = Map<String, Value>;

/// How the client behaves towards a server.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Minimum pause between the end of one call and the start of the next
    /// (`API_CALL_DELAY_MS`).
    pub call_delay: Duration,
    pub connect_timeout: Duration,
    /// Whole-request timeout; Odoo's own worker limit is 120 s.
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    pub limits: Limits,
    /// The largest `search_read` page (`PAGE_SIZE`); the server's answers may shrink it.
    pub page_size: u32,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            call_delay: Duration::from_millis(1000),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            retry: RetryPolicy::default(),
            limits: Limits::default(),
            page_size: 1000,
        }
    }
}

/// Retries of transient failures inside one call: exponential with jitter, capped.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 = no retry).
    pub max_retries: usize,
    pub min_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        }
    }

    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_retries)
            .with_jitter()
    }
}

/// Builds the HTTP client shared by every tenant of a process (one connection pool).
pub fn http_client(settings: &ClientSettings) -> Result<reqwest::Client, OdooError> {
    reqwest::Client::builder()
        .connect_timeout(settings.connect_timeout)
        .timeout(settings.request_timeout)
        .user_agent(concat!("odoo-sync/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| OdooError::InvalidSetting(format!("cannot build the HTTP client: {e}")))
}

/// Options of `search` and `search_read`.
#[derive(Debug, Clone, Default)]
pub struct SearchOptions<'a> {
    /// Fields to read (`search_read` only); empty means every field, which is slow.
    pub fields: &'a [&'a str],
    /// Always end with `id` for a stable order, e.g. `"id asc"`.
    pub order: Option<&'a str>,
    pub limit: Option<u32>,
    pub context: Context,
}

/// Bucket size for counting rows per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Day,
    Hour,
}

impl Granularity {
    fn suffix(self) -> &'static str {
        match self {
            Granularity::Day => "day",
            Granularity::Hour => "hour",
        }
    }
}

/// Rows whose field falls in `[start, end)`, in UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodCount {
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
    pub count: u64,
}

/// An app and the models whose presence proves it is installed, for users who may not
/// read `ir.module.module`.
#[derive(Debug, Clone, Copy)]
pub struct AppProbe<'a> {
    pub app: &'a str,
    pub models: &'a [&'a str],
}

/// Why [`OdooClient::login_of_api_key`] found no user.
#[derive(Debug, thiserror::Error)]
pub enum KeyOwnerError {
    /// A password was given: only an API key names its user.
    #[error("only an API key names its user; with a password the login is needed")]
    NotAnApiKey,
    /// The server has no JSON-2, the one protocol that authenticates by the key alone.
    #[error("the server does not offer JSON-2 ({0})")]
    NoJson2(String),
    /// Odoo refused the key, or a call failed.
    #[error(transparent)]
    Odoo(#[from] OdooError),
}

/// A connected, authenticated client for one tenant's Odoo.
pub struct OdooClient {
    wire: Wire,
    info: ConnectionInfo,
    protocol: Protocol,
    version: ServerVersion,
    /// Why `protocol`.
    reason: ProtocolReason,
    uid: i64,
    pacer: Pacer,
    retry: RetryPolicy,
    pages: PageSizer,
}

impl std::fmt::Debug for OdooClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OdooClient")
            .field("url", &self.info.url)
            .field("db", &self.info.db)
            .field("login", &self.info.login)
            .field("protocol", &self.protocol)
            .field("version", &self.version)
            .field("uid", &self.uid)
            .finish()
    }
}

const DATETIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

impl OdooClient {
    /// Connects with a client of its own. See [`OdooClient::connect_with`].
    pub async fn connect(
        info: ConnectionInfo,
        settings: &ClientSettings,
        remembered: Option<Protocol>,
    ) -> Result<Self, OdooError> {
        let http = http_client(settings)?;
        Self::connect_with(http, info, settings, remembered).await
    }

    /// An unconnected client: no protocol chosen, no login yet.
    fn unconnected(http: reqwest::Client, info: ConnectionInfo, settings: &ClientSettings) -> Self {
        let redactor = Redactor::new(info.credential.expose());
        OdooClient {
            wire: Wire::new(http, info.url.clone(), settings.limits, redactor),
            info,
            protocol: Protocol::XmlRpc,
            version: ServerVersion::new(0, 0),
            reason: ProtocolReason::Remembered,
            uid: 0,
            pacer: Pacer::new(settings.call_delay),
            retry: settings.retry,
            pages: PageSizer::new(settings.page_size, settings.request_timeout),
        }
    }

    /// Which protocol [`OdooClient::connect_with`] would choose for this connection and
    /// why, without logging in (one or two unauthenticated version calls; one over the
    /// protocol the connection [asks for](ConnectionInfo::with_protocol)).
    pub async fn detect(
        http: reqwest::Client,
        info: ConnectionInfo,
        settings: &ClientSettings,
    ) -> Result<ProtocolChoice, OdooError> {
        let client = Self::unconnected(http, info, settings);
        match client.info.forced_protocol() {
            Some(protocol) => client.asked_for(protocol, ProtocolReason::Forced).await,
            None => client.detect_protocol().await,
        }
    }

    /// Who an API key belongs to, for callers given a key but no login: JSON-2
    /// authenticates by the key alone, so `res.users.context_get` over JSON-2 names the
    /// user's id and a `read` of that user its login (which XML-RPC and JSON-RPC, and the
    /// messages about this connection, need). Three calls, spaced by the politeness gap,
    /// none retried: a refused key is [`OdooError::AuthenticationFailed`] after one try.
    /// A server without JSON-2 (before 19, or `/web/version` not answering) is
    /// [`KeyOwnerError::NoJson2`]: there the login must be given.
    pub async fn login_of_api_key(
        http: reqwest::Client,
        url: &OdooUrl,
        db: &DatabaseName,
        credential: &Credential,
        settings: &ClientSettings,
    ) -> Result<(i64, Login), KeyOwnerError> {
        if !credential.is_api_key() {
            return Err(KeyOwnerError::NotAnApiKey);
        }
        let wire = Wire::new(
            http,
            url.clone(),
            settings.limits,
            Redactor::new(credential.expose()),
        );
        let pacer = Pacer::new(settings.call_delay);
        let version = {
            let _turn = pacer.turn().await;
            match wire.web_version().await {
                Ok(answer) => ServerVersion::from_answer(&answer)?,
                Err(OdooError::ApiUnavailable { detail, .. }) => {
                    return Err(KeyOwnerError::NoJson2(detail))
                }
                Err(e) => return Err(e.into()),
            }
        };
        if !version.has_json2() {
            return Err(KeyOwnerError::NoJson2(format!(
                "Odoo {version} has no JSON-2 (it comes with 19)"
            )));
        }
        let target = CallTarget {
            db: db.as_str(),
            model: Some("res.users"),
        };
        let key = credential.expose();
        let context = {
            let _turn = pacer.turn().await;
            wire.json2("res.users", "context_get", &json!({}), key, target)
                .await
                .map_err(|e| match e {
                    OdooError::AuthenticationFailed { .. } => OdooError::AuthenticationFailed {
                        reason: format!("the API key was refused on database {:?}", db.as_str()),
                    },
                    other => other,
                })?
        };
        let uid = context
            .get("uid")
            .and_then(Value::as_i64)
            .filter(|uid| *uid > 0)
            .ok_or_else(|| {
                wire.redactor().error(OdooError::Protocol(format!(
                    "context_get answered {context} without a user id"
                )))
            })?;
        let answer = {
            let _turn = pacer.turn().await;
            let body = json!({"ids": [uid], "fields": ["login"]});
            wire.json2("res.users", "read", &body, key, target).await?
        };
        let login = answer
            .get(0)
            .and_then(|user| user.get("login"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                wire.redactor().error(OdooError::Protocol(format!(
                    "reading user {uid} answered {answer} without a login"
                )))
            })?;
        Ok((uid, Login::parse(login)?))
    }

    /// Detects the protocol (or uses the one the connection [asks
    /// for](ConnectionInfo::with_protocol), else the one `remembered` for this tenant), reads
    /// the version and authenticates. Authentication failures are returned at once, never
    /// retried: Odoo blocks an address after repeated failed logins.
    pub async fn connect_with(
        http: reqwest::Client,
        info: ConnectionInfo,
        settings: &ClientSettings,
        remembered: Option<Protocol>,
    ) -> Result<Self, OdooError> {
        // The user's explicit choice wins over what an earlier sync found.
        let wanted = match (info.forced_protocol(), remembered) {
            (Some(protocol), _) => Some((protocol, ProtocolReason::Forced)),
            (None, Some(protocol)) => Some((protocol, ProtocolReason::Remembered)),
            (None, None) => None,
        };
        // Detection never picks JSON-2 for a password; an asked-for or remembered JSON-2
        // with one is a bad setting, refused before any call.
        if matches!(wanted, Some((Protocol::Json2, _))) && !info.credential.is_api_key() {
            return Err(OdooError::InvalidSetting(
                "JSON-2 needs an API key, not a password".into(),
            ));
        }
        let mut client = Self::unconnected(http, info, settings);
        let choice = match wanted {
            Some((protocol, reason)) => client.asked_for(protocol, reason).await?,
            None => client.detect_protocol().await?,
        };
        let protocol = choice.protocol;
        client.protocol = protocol;
        client.version = choice.version;
        client.reason = choice.reason;
        client.uid = client.authenticate().await?;
        tracing::debug!(
            url = %client.info.url,
            db = %client.info.db,
            protocol = %protocol,
            version = %client.version,
            why = %client.protocol_choice().explanation(),
            uid = client.uid,
            "connected to Odoo"
        );
        Ok(client)
    }

    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The protocol, the version and why this protocol.
    pub fn protocol_choice(&self) -> ProtocolChoice {
        ProtocolChoice {
            protocol: self.protocol,
            version: self.version.clone(),
            reason: self.reason.clone(),
        }
    }

    pub fn version(&self) -> &ServerVersion {
        &self.version
    }

    pub fn uid(&self) -> i64 {
        self.uid
    }

    pub fn connection(&self) -> &ConnectionInfo {
        &self.info
    }

    /// `error` with the secret scrubbed out. Wire errors already are; this covers the
    /// errors this file makes from answers that came back in an unexpected shape (they
    /// quote the answer, which a hostile server can fill with what it was sent).
    fn scrub(&self, error: OdooError) -> OdooError {
        self.wire.redactor().error(error)
    }

    fn target<'a>(&'a self, model: Option<&'a str>) -> CallTarget<'a> {
        CallTarget {
            db: self.info.db.as_str(),
            model,
        }
    }

    /// JSON-2 when an API key is given and the server has it; else XML-RPC; else JSON-RPC
    /// (some servers switch one of the two legacy endpoints off). Says why.
    async fn detect_protocol(&self) -> Result<ProtocolChoice, OdooError> {
        let no_json2 = if self.info.credential.is_api_key() {
            match self.version_over(Protocol::Json2).await {
                Ok(version) if version.has_json2() => {
                    return Ok(ProtocolChoice {
                        protocol: Protocol::Json2,
                        version,
                        reason: ProtocolReason::Json2Available,
                    })
                }
                Ok(_) => NoJson2::VersionTooOld,
                Err(e) if e.is_retryable() => return Err(e),
                Err(OdooError::ApiUnavailable { detail, .. }) => {
                    NoJson2::NotOffered { answer: detail }
                }
                Err(e) => NoJson2::NotOffered {
                    answer: e.to_string(),
                },
            }
        } else {
            NoJson2::PasswordGiven
        };
        match self.version_over(Protocol::XmlRpc).await {
            Ok(version) => Ok(ProtocolChoice {
                protocol: Protocol::XmlRpc,
                version,
                reason: ProtocolReason::XmlRpcFallback(no_json2),
            }),
            Err(e @ (OdooError::ApiUnavailable { .. } | OdooError::Protocol(_))) => {
                let version = self.version_over(Protocol::JsonRpc).await?;
                Ok(ProtocolChoice {
                    protocol: Protocol::JsonRpc,
                    version,
                    reason: ProtocolReason::JsonRpcFallback {
                        no_json2,
                        xmlrpc_error: e.to_string(),
                    },
                })
            }
            Err(e) => Err(e),
        }
    }

    /// `protocol` without detection: its version call must answer, and JSON-2 must be
    /// there (a server before 19 may answer `/web/version` but has no `/json/2`).
    async fn asked_for(
        &self,
        protocol: Protocol,
        reason: ProtocolReason,
    ) -> Result<ProtocolChoice, OdooError> {
        let version = self.version_over(protocol).await?;
        if protocol == Protocol::Json2 && !version.has_json2() {
            return Err(OdooError::ApiUnavailable {
                protocol: protocol.to_string(),
                detail: format!("Odoo {version} has no JSON-2 (it comes with 19)"),
            });
        }
        Ok(ProtocolChoice {
            protocol,
            version,
            reason,
        })
    }

    /// The server's version over one protocol.
    async fn version_over(&self, protocol: Protocol) -> Result<ServerVersion, OdooError> {
        let answer = self
            .paced(|| async {
                match protocol {
                    Protocol::Json2 => self.wire.web_version().await,
                    Protocol::XmlRpc => {
                        self.wire
                            .xmlrpc("common", "version", &[], self.target(None))
                            .await
                    }
                    Protocol::JsonRpc => {
                        self.wire
                            .jsonrpc("common", "version", &[], self.target(None))
                            .await
                    }
                }
            })
            .await?;
        ServerVersion::from_answer(&answer).map_err(|e| self.scrub(e))
    }

    /// Logs in and returns the uid. `authenticate` answers `False` for a wrong secret.
    async fn authenticate(&self) -> Result<i64, OdooError> {
        let refused = || OdooError::AuthenticationFailed {
            reason: format!(
                "login {:?} on database {:?} was refused (wrong login, password or API key)",
                self.info.login.as_str(),
                self.info.db.as_str()
            ),
        };
        let answer = match self.protocol {
            Protocol::Json2 => {
                let context = self
                    .execute("res.users", "context_get", Vec::new(), &[], Map::new())
                    .await
                    .map_err(|e| match e {
                        OdooError::AuthenticationFailed { .. } => refused(),
                        other => other,
                    })?;
                context.get("uid").cloned().unwrap_or(Value::Null)
            }
            Protocol::XmlRpc | Protocol::JsonRpc => {
                let args = [
                    json!(self.info.db.as_str()),
                    json!(self.info.login.as_str()),
                    json!(self.info.credential.expose()),
                    json!({}),
                ];
                // No retry here on purpose: one refused login is enough to stop.
                self.paced(|| async {
                    match self.protocol {
                        Protocol::XmlRpc => {
                            self.wire
                                .xmlrpc("common", "authenticate", &args, self.target(None))
                                .await
                        }
                        _ => {
                            self.wire
                                .jsonrpc("common", "authenticate", &args, self.target(None))
                                .await
                        }
                    }
                })
                .await?
            }
        };
        match answer {
            Value::Number(n) => n.as_i64().filter(|uid| *uid > 0).ok_or_else(refused),
            Value::Bool(false) | Value::Null => Err(refused()),
            other => Err(self.scrub(OdooError::Protocol(format!(
                "authenticate answered {other} instead of a user id"
            )))),
        }
    }

    /// Runs one request in this server's turn, retrying transient failures.
    async fn paced<F, Fut>(&self, op: F) -> Result<Value, OdooError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Value, OdooError>>,
    {
        self.paced_when(op, OdooError::is_retryable).await
    }

    /// [`OdooClient::paced`], retrying only the failures `retry_when` accepts.
    async fn paced_when<F, Fut>(
        &self,
        op: F,
        retry_when: fn(&OdooError) -> bool,
    ) -> Result<Value, OdooError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Value, OdooError>>,
    {
        let attempt = || async {
            let _turn = self.pacer.turn().await;
            op().await
        };
        attempt
            .retry(self.retry.backoff())
            .when(retry_when)
            .adjust(|e: &OdooError, delay| delay.map(|d| e.retry_after().unwrap_or(d)))
            .notify(|e: &OdooError, delay| {
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "retrying Odoo call");
            })
            .await
    }

    /// `execute_kw(model, method, args, kwargs)`, or JSON-2 with the positional arguments
    /// sent under `arg_names`.
    pub async fn execute(
        &self,
        model: &str,
        method: &str,
        args: Vec<Value>,
        arg_names: &[&str],
        kwargs: Map<String, Value>,
    ) -> Result<Value, OdooError> {
        self.execute_retrying(
            model,
            method,
            args,
            arg_names,
            kwargs,
            OdooError::is_retryable,
        )
        .await
    }

    /// [`OdooClient::execute`], retrying only the failures `retry_when` accepts.
    async fn execute_retrying(
        &self,
        model: &str,
        method: &str,
        args: Vec<Value>,
        arg_names: &[&str],
        kwargs: Map<String, Value>,
        retry_when: fn(&OdooError) -> bool,
    ) -> Result<Value, OdooError> {
        let started = Instant::now();
        let target = self.target(Some(model));
        let result = match self.protocol {
            Protocol::Json2 => {
                let mut body = kwargs;
                for (name, value) in arg_names.iter().zip(args) {
                    body.insert((*name).to_string(), value);
                }
                let body = Value::Object(body);
                let key = self.info.credential.expose();
                self.paced_when(
                    || self.wire.json2(model, method, &body, key, target),
                    retry_when,
                )
                .await
            }
            Protocol::XmlRpc | Protocol::JsonRpc => {
                let params = [
                    json!(self.info.db.as_str()),
                    json!(self.uid),
                    json!(self.info.credential.expose()),
                    json!(model),
                    json!(method),
                    Value::Array(args),
                    Value::Object(kwargs),
                ];
                self.paced_when(
                    || async {
                        if self.protocol == Protocol::XmlRpc {
                            self.wire
                                .xmlrpc("object", "execute_kw", &params, target)
                                .await
                        } else {
                            self.wire
                                .jsonrpc("object", "execute_kw", &params, target)
                                .await
                        }
                    },
                    retry_when,
                )
                .await
            }
        };
        tracing::debug!(
            model,
            method,
            protocol = %self.protocol,
            elapsed_ms = started.elapsed().as_millis() as u64,
            ok = result.is_ok(),
            "odoo call"
        );
        result
    }

    /// A model method whose one positional argument is the domain.
    async fn execute_on_domain(
        &self,
        model: &str,
        method: &str,
        domain: &Domain,
        kwargs: Map<String, Value>,
    ) -> Result<Value, OdooError> {
        self.execute(model, method, vec![domain.to_value()], &["domain"], kwargs)
            .await
    }

    /// How many records match.
    pub async fn search_count(
        &self,
        model: &str,
        domain: &Domain,
        context: Context,
    ) -> Result<u64, OdooError> {
        let mut kwargs = Map::new();
        kwargs.insert("context".into(), context.to_value());
        let answer = self
            .execute_on_domain(model, "search_count", domain, kwargs)
            .await?;
        answer.as_u64().ok_or_else(|| {
            self.scrub(OdooError::Protocol(format!(
                "search_count answered {answer} instead of a count"
            )))
        })
    }

    /// The ids of matching records.
    pub async fn search(
        &self,
        model: &str,
        domain: &Domain,
        options: &SearchOptions<'_>,
    ) -> Result<Vec<i64>, OdooError> {
        let kwargs = search_kwargs(options, false);
        let answer = self
            .execute_on_domain(model, "search", domain, kwargs)
            .await?;
        let ids: Result<Vec<i64>, OdooError> = match answer {
            Value::Array(items) => items
                .iter()
                .map(|v| {
                    v.as_i64()
                        .ok_or_else(|| OdooError::Protocol(format!("search answered a non-id {v}")))
                })
                .collect(),
            other => Err(OdooError::Protocol(format!(
                "search answered {other} instead of a list of ids"
            ))),
        };
        ids.map_err(|e| self.scrub(e))
    }

    /// Matching records with the named fields (plus `id`), as Odoo returned them.
    pub async fn search_read(
        &self,
        model: &str,
        domain: &Domain,
        options: &SearchOptions<'_>,
    ) -> Result<Vec<Record>, OdooError> {
        let kwargs = search_kwargs(options, true);
        let answer = self
            .execute_on_domain(model, "search_read", domain, kwargs)
            .await?;
        records_of(answer).map_err(|e| self.scrub(e))
    }

    /// This server's page size, adapted to its answers (see [`PageSizer`]).
    pub fn pages(&self) -> &PageSizer {
        &self.pages
    }

    /// One page of a longer `search_read` (`options.limit` is the page), measured for the
    /// page sizer. A failure that says the page was too big ([`page_too_big`]: a timeout, a
    /// proxy's 502/504) is returned at once instead of retried at the same size: the caller
    /// asks again for fewer records.
    pub async fn search_read_page(
        &self,
        model: &str,
        domain: &Domain,
        options: &SearchOptions<'_>,
    ) -> Result<(Vec<Record>, PageAnswer), OdooError> {
        let kwargs = search_kwargs(options, true);
        let started = Instant::now();
        let answer = self
            .execute_retrying(
                model,
                "search_read",
                vec![domain.to_value()],
                &["domain"],
                kwargs,
                |e| e.is_retryable() && !page_too_big(e),
            )
            .await?;
        // The politeness wait is included: at most `API_CALL_DELAY_MS`, small beside what
        // makes an answer slow.
        let elapsed = started.elapsed();
        let records = records_of(answer).map_err(|e| self.scrub(e))?;
        // The first record's size times the count: close enough to tell a large answer,
        // for a fraction of the cost of encoding them all again.
        let bytes = records
            .first()
            .and_then(|r| serde_json::to_vec(r).ok())
            .map_or(0, |one| one.len().saturating_mul(records.len()));
        let measured = PageAnswer {
            asked: options.limit.unwrap_or(u32::MAX),
            records: records.len(),
            elapsed,
            bytes,
        };
        Ok((records, measured))
    }

    /// The model's field definitions with the given attributes.
    pub async fn fields_get(
        &self,
        model: &str,
        attributes: &[&str],
    ) -> Result<Map<String, Value>, OdooError> {
        let mut kwargs = Map::new();
        kwargs.insert("attributes".into(), json!(attributes));
        match self
            .execute(model, "fields_get", Vec::new(), &[], kwargs)
            .await?
        {
            Value::Object(fields) => Ok(fields),
            other => Err(OdooError::Protocol(format!(
                "fields_get answered {} instead of a mapping",
                type_name(&other)
            ))),
        }
    }

    /// Counts matching rows per day or hour of a datetime field in one call: with
    /// `formatted_read_group` on 19+, `read_group` before. Periods without rows are absent.
    pub async fn count_by_period(
        &self,
        model: &str,
        domain: &Domain,
        field: &str,
        granularity: Granularity,
        context: Context,
    ) -> Result<Vec<PeriodCount>, OdooError> {
        let groupby = format!("{field}:{}", granularity.suffix());
        // Group boundaries follow the context's time zone; ask for UTC so the periods line
        // up with write_date windows.
        let mut ctx = context.to_value();
        if let Value::Object(map) = &mut ctx {
            map.insert("tz".into(), json!("UTC"));
        }
        let mut kwargs = Map::new();
        kwargs.insert("context".into(), ctx);
        let answer = if self.version.has_formatted_read_group() {
            kwargs.insert("groupby".into(), json!([groupby]));
            kwargs.insert("aggregates".into(), json!(["__count"]));
            self.execute_on_domain(model, "formatted_read_group", domain, kwargs)
                .await?
        } else {
            kwargs.insert("lazy".into(), json!(false));
            self.execute(
                model,
                "read_group",
                vec![domain.to_value(), json!(["id:count"]), json!([groupby])],
                &["domain", "fields", "groupby"],
                kwargs,
            )
            .await?
        };
        let Value::Array(groups) = answer else {
            return Err(OdooError::Protocol(
                "read_group answered something other than a list".into(),
            ));
        };
        groups
            .iter()
            .map(|group| parse_group(group, field, &groupby).map_err(|e| self.scrub(e)))
            .collect()
    }

    /// Which of the given apps are installed: read from `ir.module.module`, or, for users
    /// who may not read it, by probing each app's models.
    pub async fn installed_apps(
        &self,
        probes: &[AppProbe<'_>],
    ) -> Result<BTreeSet<String>, OdooError> {
        let names: Vec<&str> = probes.iter().map(|p| p.app).collect();
        let domain =
            Domain::all()
                .and("state", Op::Eq, "installed")
                .and("name", Op::In, json!(names));
        let options = SearchOptions {
            fields: &["name", "state"],
            ..SearchOptions::default()
        };
        match self
            .search_read("ir.module.module", &domain, &options)
            .await
        {
            Ok(rows) => Ok(rows
                .iter()
                .filter_map(|row| row.get("name").and_then(Value::as_str))
                .map(str::to_string)
                .collect()),
            Err(OdooError::AccessDenied { .. }) => {
                tracing::debug!("ir.module.module is not readable; probing models instead");
                let mut installed = BTreeSet::new();
                for probe in probes {
                    for model in probe.models {
                        if self.model_exists(model).await? {
                            installed.insert(probe.app.to_string());
                            break;
                        }
                    }
                }
                Ok(installed)
            }
            Err(e) => Err(e),
        }
    }

    /// True when the model exists, readable or not.
    pub async fn model_exists(&self, model: &str) -> Result<bool, OdooError> {
        match self.can_read(model).await {
            Ok(_) => Ok(true),
            Err(OdooError::MissingModel { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether the user may read the model; `MissingModel` when it does not exist.
    pub async fn can_read(&self, model: &str) -> Result<bool, OdooError> {
        let nothing = Domain::all().and("id", Op::Eq, 0);
        match self.search_count(model, &nothing, Context::default()).await {
            Ok(_) => Ok(true),
            Err(OdooError::AccessDenied { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

fn search_kwargs(options: &SearchOptions<'_>, with_fields: bool) -> Map<String, Value> {
    let mut kwargs = Map::new();
    if with_fields && !options.fields.is_empty() {
        kwargs.insert("fields".into(), json!(options.fields));
    }
    if let Some(order) = options.order {
        kwargs.insert("order".into(), json!(order));
    }
    if let Some(limit) = options.limit {
        kwargs.insert("limit".into(), json!(limit));
    }
    kwargs.insert("context".into(), options.context.to_value());
    kwargs
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn parse_datetime(text: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(text, DATETIME_FORMAT)
        .ok()
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
}

/// One group of a `read_group` / `formatted_read_group` answer. The period's bounds come
/// from `__range` (read_group 13+), else from the group's domain (`__domain` or
/// `__extra_domain`: `[&, [field, >=, start], [field, <, end]]`), which every version sends;
/// the display label ("24 Nov 2026") is never parsed.
fn parse_group(group: &Value, field: &str, groupby: &str) -> Result<PeriodCount, OdooError> {
    let bad = |what: &str| OdooError::Protocol(format!("read_group group without {what}: {group}"));
    let count = group
        .get("__count")
        .or_else(|| group.get(format!("{field}_count")))
        .and_then(Value::as_u64)
        .ok_or_else(|| bad("__count"))?;
    let from_range = group
        .get("__range")
        .and_then(|r| r.get(groupby))
        .and_then(|r| {
            let start = parse_datetime(r.get("from")?.as_str()?)?;
            let end = parse_datetime(r.get("to")?.as_str()?)?;
            Some((start, end))
        });
    let bounds = from_range.or_else(|| {
        let domain = group
            .get("__domain")
            .or_else(|| group.get("__extra_domain"))?
            .as_array()?;
        let mut start = None;
        let mut end = None;
        for term in domain {
            let Some([f, op, v]) = term.as_array().map(Vec::as_slice) else {
                continue;
            };
            if f.as_str() != Some(field) {
                continue;
            }
            let value = v.as_str().and_then(parse_datetime);
            match op.as_str() {
                Some(">=") => start = value,
                Some("<") => end = value,
                _ => {}
            }
        }
        Some((start?, end?))
    });
    let (start, end) = bounds.ok_or_else(|| bad("period bounds"))?;
    Ok(PeriodCount { start, end, count })
}

/// The records of a `search_read` answer.
fn records_of(answer: Value) -> Result<Vec<Record>, OdooError> {
    match answer {
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::Object(record) => Ok(record),
                other => Err(OdooError::Protocol(format!(
                    "search_read answered a non-record {other}"
                ))),
            })
            .collect(),
        other => Err(OdooError::Protocol(format!(
            "search_read answered {} instead of a list of records",
            type_name(&other)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_read_group_and_formatted_read_group_groups() {
        let read_group = json!({
            "write_date:day": "24 Nov 2026", "__count": 61, "id": 61,
            "__domain": ["&", ["write_date", ">=", "2026-11-24 00:00:00"], ["write_date", "<", "2026-11-25 00:00:00"]],
            "__range": {"write_date:day": {"from": "2026-11-24 00:00:00", "to": "2026-11-25 00:00:00"}}
        });
        let formatted = json!({
            "write_date:day": ["2026-11-24 00:00:00", "24 Nov 2026"],
            "__extra_domain": ["&", ["write_date", ">=", "2026-11-24 00:00:00"], ["write_date", "<", "2026-11-25 00:00:00"]],
            "__count": 61
        });
        for group in [read_group, formatted] {
            let period = parse_group(&group, "write_date", "write_date:day").expect("parses");
            assert_eq!(period.count, 61);
            assert_eq!(period.start.to_string(), "2026-11-24 00:00:00");
            assert_eq!(period.end.to_string(), "2026-11-25 00:00:00");
        }
        assert!(parse_group(&json!({"__count": 1}), "write_date", "write_date:day").is_err());
    }
}
