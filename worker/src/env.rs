//! Process settings of the queue roles read from the environment, beside the shared
//! `Settings` (which does not hold them yet): lease TTL, grace period, queue heartbeat and
//! polling, scheduler bounds. Each has a default; a bad value names its variable.

use std::time::Duration;

/// Variables read here, with their defaults (documented in the README).
pub const VARIABLES: &[(&str, &str)] = &[
    ("LEASE_TTL_SECONDS", "60"),
    ("WORKER_SHUTDOWN_GRACE_SECONDS", "30"),
    ("WORKER_FETCHERS", "2"),
    ("QUEUE_POLL_MS", "200"),
    ("QUEUE_HEARTBEAT_SECONDS", "2"),
    ("QUEUE_MISSED_HEARTBEATS", "3"),
    ("ENQUEUE_STALE_SECONDS", "120"),
    ("SCHEDULER_MAX_PER_TICK", "2000"),
    ("SCHEDULER_MAX_BACKLOG", "5000"),
];

/// A variable with a value out of range.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct EnvError {
    pub variable: &'static str,
    pub problem: String,
}

/// The values, parsed.
#[derive(Debug, Clone)]
pub struct QueueEnv {
    pub lease_ttl: Duration,
    pub shutdown_grace: Duration,
    pub fetchers: usize,
    pub poll_interval: Duration,
    pub heartbeat: Duration,
    pub missed_heartbeats: usize,
    pub enqueue_stale: Duration,
    pub max_per_tick: usize,
    pub max_backlog: u64,
}

impl QueueEnv {
    /// Reads the process environment.
    pub fn load() -> Result<Self, EnvError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads through `lookup` (tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, EnvError> {
        let get = |variable: &'static str, min: u64, max: u64| -> Result<u64, EnvError> {
            let default = VARIABLES
                .iter()
                .find(|(name, _)| *name == variable)
                .map(|(_, d)| *d)
                .unwrap_or("0");
            let text = lookup(variable).filter(|v| !v.trim().is_empty());
            let text = text.as_deref().unwrap_or(default).trim();
            let value: u64 = text.parse().map_err(|_| EnvError {
                variable,
                problem: format!("must be a whole number, got {text:?}"),
            })?;
            if !(min..=max).contains(&value) {
                return Err(EnvError {
                    variable,
                    problem: format!("must be between {min} and {max}, got {value}"),
                });
            }
            Ok(value)
        };
        Ok(QueueEnv {
            lease_ttl: Duration::from_secs(get("LEASE_TTL_SECONDS", 3, 3600)?),
            shutdown_grace: Duration::from_secs(get("WORKER_SHUTDOWN_GRACE_SECONDS", 0, 3600)?),
            fetchers: get("WORKER_FETCHERS", 1, 64)? as usize,
            poll_interval: Duration::from_millis(get("QUEUE_POLL_MS", 10, 60_000)?),
            heartbeat: Duration::from_secs(get("QUEUE_HEARTBEAT_SECONDS", 1, 300)?),
            missed_heartbeats: get("QUEUE_MISSED_HEARTBEATS", 1, 100)? as usize,
            enqueue_stale: Duration::from_secs(get("ENQUEUE_STALE_SECONDS", 5, 86_400)?),
            max_per_tick: get("SCHEDULER_MAX_PER_TICK", 1, 100_000)? as usize,
            max_backlog: get("SCHEDULER_MAX_BACKLOG", 1, 7_000)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let env = QueueEnv::from_lookup(|_| None).expect("defaults are valid");
        assert_eq!(env.lease_ttl, Duration::from_secs(60));
        assert_eq!(env.max_backlog, 5000);
        let env = QueueEnv::from_lookup(|n| (n == "LEASE_TTL_SECONDS").then(|| "5".into()))
            .expect("valid");
        assert_eq!(env.lease_ttl, Duration::from_secs(5));
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = QueueEnv::from_lookup(|n| (n == "SCHEDULER_MAX_BACKLOG").then(|| "9000".into()))
            .expect_err("above the apalis-redis limit");
        assert_eq!(err.variable, "SCHEDULER_MAX_BACKLOG");
        let err = QueueEnv::from_lookup(|n| (n == "QUEUE_POLL_MS").then(|| "soon".into()))
            .expect_err("not a number");
        assert_eq!(err.variable, "QUEUE_POLL_MS");
    }
}
