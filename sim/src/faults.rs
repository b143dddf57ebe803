//! Fault injection: rules that make calls slow or fail (HTTP errors, resets, hangs, broken
//! bodies, Odoo server faults), fired by probability or by schedule, per database.

use crate::error::SimError;
use parking_lot::Mutex;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::str::FromStr;
use std::time::Duration;

/// What a fault does to a call.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// Answers normally after this extra delay (adds up with other faults).
    Latency(Duration),
    /// HTTP 429 with `Retry-After: <seconds>`.
    TooManyRequests { retry_after_secs: u64 },
    /// HTTP 502 from a proxy.
    BadGateway,
    /// HTTP 503.
    ServiceUnavailable,
    /// HTTP 504 from a proxy.
    GatewayTimeout,
    /// Closes the connection (TCP reset) without any response.
    ConnectionReset,
    /// Sends nothing for this long (past any sensible client timeout), then closes.
    Hang(Duration),
    /// Sends the first half of the real body, then breaks the connection.
    TruncatedBody,
    /// A 200 response whose body is not valid XML-RPC / JSON.
    MalformedBody,
    /// An Odoo server error on `execute_kw` (XML-RPC fault 1, JSON-RPC error, JSON-2 500);
    /// other calls are not affected.
    ServerFault,
    /// A proxy's 504 for a model call asking for more than this many records (its `limit`,
    /// or the ids its domain names; calls that name no size are left alone): what a proxy in
    /// front of an Odoo that works per record does to pages too big for its timeout.
    PageTimeout { max_records: u64 },
}

/// When a rule fires.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// On every matching call.
    Always,
    /// On each matching call with this probability (0.0 to 1.0).
    Rate(f64),
    /// On the next `n` matching calls.
    Next(u64),
    /// On matching calls number `first..=last` (1-based, counted from when the rule was added).
    Calls { first: u64, last: u64 },
}

/// One fault rule.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    pub kind: FaultKind,
    pub trigger: Trigger,
    /// Only calls of these methods (as the counters name them); all calls when `None`.
    pub methods: Option<Vec<String>>,
}

impl FaultRule {
    /// A rule on every method.
    pub fn new(kind: FaultKind, trigger: Trigger) -> FaultRule {
        FaultRule {
            kind,
            trigger,
            methods: None,
        }
    }

    /// Restricts the rule to calls of these methods.
    pub fn on_methods(mut self, methods: &[&str]) -> FaultRule {
        self.methods = Some(methods.iter().map(|m| m.to_string()).collect());
        self
    }
}

fn spec_error(input: &str, reason: impl Into<String>) -> SimError {
    SimError::InvalidSpec {
        what: "fault",
        input: input.to_string(),
        reason: reason.into(),
    }
}

impl FromStr for FaultRule {
    type Err = SimError;

    /// Parses `kind=503,rate=0.05`, `kind=latency,ms=200`, `kind=429,retry-after=2,next=3`,
    /// `kind=reset,calls=5-10`, `kind=fault,methods=search_read+search_count`, `kind=hang,secs=600`,
    /// `kind=page-timeout,max-records=300`.
    fn from_str(input: &str) -> Result<FaultRule, SimError> {
        let mut kind = None;
        let mut trigger = Trigger::Always;
        let mut methods = None;
        let mut ms: Option<u64> = None;
        let mut secs: Option<u64> = None;
        let mut retry_after = 1u64;
        let mut max_records: Option<u64> = None;
        for part in input.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| spec_error(input, format!("{part:?} is not key=value")))?;
            let num = |v: &str| {
                v.parse::<u64>()
                    .map_err(|_| spec_error(input, format!("{key} needs a whole number")))
            };
            match key {
                "kind" => kind = Some(value.to_string()),
                "rate" => {
                    let r: f64 = value
                        .parse()
                        .map_err(|_| spec_error(input, "rate needs a number from 0 to 1"))?;
                    if !(0.0..=1.0).contains(&r) {
                        return Err(spec_error(input, "rate needs a number from 0 to 1"));
                    }
                    trigger = Trigger::Rate(r);
                }
                "next" => trigger = Trigger::Next(num(value)?),
                "calls" => {
                    let (a, b) = value.split_once('-').unwrap_or((value, value));
                    trigger = Trigger::Calls {
                        first: num(a)?,
                        last: num(b)?,
                    };
                }
                "ms" => ms = Some(num(value)?),
                "secs" => secs = Some(num(value)?),
                "retry-after" => retry_after = num(value)?,
                "max-records" => max_records = Some(num(value)?),
                "methods" => methods = Some(value.split('+').map(str::to_string).collect()),
                other => return Err(spec_error(input, format!("unknown key {other:?}"))),
            }
        }
        let duration = |default_ms: u64| {
            Duration::from_millis(ms.unwrap_or(secs.map_or(default_ms, |s| s * 1000)))
        };
        let kind = match kind.as_deref() {
            Some("latency") => FaultKind::Latency(duration(500)),
            Some("429") => FaultKind::TooManyRequests {
                retry_after_secs: retry_after,
            },
            Some("502") => FaultKind::BadGateway,
            Some("503") => FaultKind::ServiceUnavailable,
            Some("504") => FaultKind::GatewayTimeout,
            Some("page-timeout") => FaultKind::PageTimeout {
                max_records: max_records
                    .ok_or_else(|| spec_error(input, "page-timeout needs max-records=N"))?,
            },
            Some("reset") => FaultKind::ConnectionReset,
            Some("hang") => FaultKind::Hang(duration(600_000)),
            Some("truncate") => FaultKind::TruncatedBody,
            Some("malformed") => FaultKind::MalformedBody,
            Some("fault") => FaultKind::ServerFault,
            Some(other) => return Err(spec_error(input, format!("unknown kind {other:?}"))),
            None => return Err(spec_error(input, "kind is required")),
        };
        Ok(FaultRule {
            kind,
            trigger,
            methods,
        })
    }
}

#[derive(Debug)]
struct RuleState {
    rule: FaultRule,
    seen: u64,
}

/// What to do to one call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultPlan {
    /// Extra delay before answering.
    pub latency: Duration,
    /// The failure to produce instead of (or around) the answer.
    pub failure: Option<FaultKind>,
}

/// The fault rules of one database (or of the database-less calls of a server).
#[derive(Debug)]
pub struct Faults {
    rules: Mutex<Vec<RuleState>>,
    rng: Mutex<ChaCha8Rng>,
}

impl Faults {
    /// No rules; `seed` makes rate-based rules reproducible.
    pub fn new(seed: u64) -> Faults {
        Faults {
            rules: Mutex::new(Vec::new()),
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
        }
    }

    /// Adds a rule after the existing ones.
    pub fn add(&self, rule: FaultRule) {
        self.rules.lock().push(RuleState { rule, seen: 0 });
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.rules.lock().clear();
    }

    /// The current rules (with their remaining counts).
    pub fn rules(&self) -> Vec<FaultRule> {
        self.rules.lock().iter().map(|r| r.rule.clone()).collect()
    }

    /// Decides what happens to a call of `method`. Latencies add up; the first failure wins.
    /// `execute_kw` tells whether the call is a model method (the only ones `ServerFault` hits);
    /// `records_asked` is the size of the page it reads (`PageTimeout` hits bigger ones).
    pub fn plan(&self, method: &str, execute_kw: bool, records_asked: Option<u64>) -> FaultPlan {
        let mut plan = FaultPlan::default();
        let mut rules = self.rules.lock();
        for state in rules.iter_mut() {
            if let Some(methods) = &state.rule.methods {
                if !methods.iter().any(|m| m == method) {
                    continue;
                }
            }
            if state.rule.kind == FaultKind::ServerFault && !execute_kw {
                continue;
            }
            if let FaultKind::PageTimeout { max_records } = state.rule.kind {
                if !execute_kw || records_asked.is_none_or(|n| n <= max_records) {
                    continue;
                }
            }
            state.seen += 1;
            let fire = match &mut state.rule.trigger {
                Trigger::Always => true,
                Trigger::Rate(p) => self.rng.lock().gen_bool(p.clamp(0.0, 1.0)),
                Trigger::Next(n) => {
                    if *n > 0 {
                        *n -= 1;
                        true
                    } else {
                        false
                    }
                }
                Trigger::Calls { first, last } => (*first..=*last).contains(&state.seen),
            };
            if !fire {
                continue;
            }
            match &state.rule.kind {
                FaultKind::Latency(d) => plan.latency += *d,
                other if plan.failure.is_none() => plan.failure = Some(other.clone()),
                _ => {}
            }
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_timeouts_hit_only_bigger_pages() {
        let f = Faults::new(1);
        f.add("kind=page-timeout,max-records=300".parse().expect("spec"));
        assert!(f.plan("search_read", true, Some(301)).failure.is_some());
        assert!(
            f.plan("search_read", true, None).failure.is_none(),
            "no size named"
        );
        assert!(f.plan("search_read", true, Some(300)).failure.is_none());
        assert!(f.plan("version", false, None).failure.is_none());
        assert!("kind=page-timeout".parse::<FaultRule>().is_err());
    }

    #[test]
    fn parses_specs() {
        let r: FaultRule = "kind=503,rate=0.05".parse().unwrap();
        assert_eq!(r.kind, FaultKind::ServiceUnavailable);
        assert_eq!(r.trigger, Trigger::Rate(0.05));
        let r: FaultRule = "kind=latency,ms=20,methods=search_read+search"
            .parse()
            .unwrap();
        assert_eq!(r.kind, FaultKind::Latency(Duration::from_millis(20)));
        assert_eq!(r.methods.unwrap().len(), 2);
        assert!("kind=nope".parse::<FaultRule>().is_err());
        assert!("rate=2,kind=503".parse::<FaultRule>().is_err());
    }

    #[test]
    fn schedules() {
        let f = Faults::new(1);
        f.add(FaultRule::new(
            FaultKind::BadGateway,
            Trigger::Calls { first: 2, last: 3 },
        ));
        let fired: Vec<bool> = (0..5)
            .map(|_| f.plan("search", true, None).failure.is_some())
            .collect();
        assert_eq!(fired, [false, true, true, false, false]);
        f.clear();
        f.add(FaultRule::new(FaultKind::ServerFault, Trigger::Next(1)));
        assert!(f.plan("authenticate", false, None).failure.is_none());
        assert!(f.plan("search", true, None).failure.is_some());
        assert!(f.plan("search", true, None).failure.is_none());
    }
}
