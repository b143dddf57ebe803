//! The deployment files (issue 4, part 4) checked for structure, since no Docker engine runs
//! in CI: docker-compose.yml has the five services, MongoDB as a replica set, Redis with AOF,
//! a worker that can scale, health checks and the settings each role needs; the Dockerfile is
//! multi-stage with a non-root runtime, its base images build args and a `prebuilt` target;
//! .dockerignore keeps build output out of the context but the one binary that target copies;
//! the images come from the environment with the official ones by default, and the MongoDB
//! health check works with the official image (mongosh) and the offline stand-in
//! (docker/offline/). scripts/compose-check.sh runs them in a real engine.

use std::path::Path;

use serde_yaml::{Mapping, Value};

fn read(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The compose file with its `<<` merge keys applied (the shared environment is merged into
/// each service, as Compose does).
fn compose() -> Value {
    let mut value: Value = serde_yaml::from_str(&read("docker-compose.yml")).expect("valid YAML");
    value.apply_merge().expect("merge keys");
    value
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Mapping {
    compose["services"][name]
        .as_mapping()
        .unwrap_or_else(|| panic!("service {name} missing"))
}

/// A service's command as words, whether written as a list or a string.
fn command(service: &Mapping) -> Vec<String> {
    match service.get("command") {
        Some(Value::Sequence(items)) => items
            .iter()
            .map(|v| v.as_str().expect("command word").to_string())
            .collect(),
        Some(Value::String(text)) => text.split_whitespace().map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

/// A service's environment as (name, value) pairs, map or `NAME=value` list.
fn environment(service: &Mapping) -> Vec<(String, String)> {
    match service.get("environment") {
        Some(Value::Mapping(map)) => map
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => serde_yaml::to_string(other).expect("scalar"),
                };
                (k.as_str().expect("name").to_string(), value)
            })
            .collect(),
        Some(Value::Sequence(items)) => items
            .iter()
            .filter_map(|v| v.as_str())
            .map(|item| match item.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (item.to_string(), String::new()),
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn has_healthcheck(service: &Mapping) -> bool {
    service
        .get("healthcheck")
        .and_then(|h| h.get("test"))
        .is_some()
}

/// Every `depends_on` entry waits on a condition (not merely on the container starting).
fn depends_on_conditions(service: &Mapping) -> Vec<(String, String)> {
    match service.get("depends_on") {
        Some(Value::Mapping(map)) => map
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().expect("service").to_string(),
                    v["condition"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[test]
fn compose_has_every_role() {
    let compose = compose();
    for name in ["mongo", "redis", "api", "scheduler", "worker"] {
        service(&compose, name);
    }
    for (name, role) in [
        ("api", "api"),
        ("scheduler", "scheduler"),
        ("worker", "worker"),
    ] {
        let words = command(service(&compose, name));
        assert_eq!(words.first().map(String::as_str), Some(role), "{name}");
        assert!(
            service(&compose, name).contains_key("build")
                || service(&compose, name).contains_key("image"),
            "{name} names no image"
        );
    }
    for volume in ["mongo-data", "redis-data"] {
        assert!(compose["volumes"].get(volume).is_some(), "volume {volume}");
    }
}

#[test]
fn mongo_is_a_replica_set_and_redis_keeps_an_aof() {
    let compose = compose();
    let mongo = command(service(&compose, "mongo"));
    assert!(mongo.iter().any(|w| w == "--replSet"), "mongo: {mongo:?}");
    let healthcheck =
        serde_yaml::to_string(&service(&compose, "mongo")["healthcheck"]).expect("healthcheck");
    assert!(
        healthcheck.contains("rs.initiate"),
        "the mongo health check initiates the replica set"
    );
    let redis = command(service(&compose, "redis"));
    let aof = redis
        .windows(2)
        .any(|w| w[0] == "--appendonly" && w[1] == "yes");
    assert!(aof, "redis: {redis:?}");
    for (name, target) in [("mongo", "/data/db"), ("redis", "/data")] {
        let volumes = serde_yaml::to_string(&service(&compose, name)["volumes"]).expect("volumes");
        assert!(
            volumes.contains(target),
            "{name} keeps {target} in a volume"
        );
    }
}

#[test]
fn worker_can_scale() {
    let compose = compose();
    let worker = service(&compose, "worker");
    for fixed in ["container_name", "ports", "hostname"] {
        assert!(
            !worker.contains_key(fixed),
            "worker has {fixed}: it could not scale"
        );
    }
    // Compose gives a stopping container stop_grace_period (10 s by default) before SIGKILL;
    // it must outlast the worker's own grace period.
    let grace = worker
        .get("stop_grace_period")
        .and_then(Value::as_str)
        .and_then(|t| t.strip_suffix('s'))
        .and_then(|t| t.parse::<u64>().ok())
        .expect("worker stop_grace_period in seconds");
    let env = environment(worker);
    let own = env
        .iter()
        .find(|(k, _)| k == "WORKER_SHUTDOWN_GRACE_SECONDS")
        .map(|(_, v)| default_of(v))
        .and_then(|v| v.parse::<u64>().ok())
        .expect("WORKER_SHUTDOWN_GRACE_SECONDS");
    assert!(
        grace > own,
        "stop_grace_period {grace}s <= worker grace {own}s"
    );
}

#[test]
fn every_service_is_health_checked_or_waits_for_health() {
    let compose = compose();
    let services = compose["services"].as_mapping().expect("services");
    for (name, svc) in services {
        let name = name.as_str().expect("name");
        let svc = svc.as_mapping().expect("service");
        let conditions = depends_on_conditions(svc);
        assert!(
            has_healthcheck(svc) || !conditions.is_empty(),
            "{name}: neither a healthcheck nor depends_on conditions"
        );
        for (dep, condition) in &conditions {
            assert_eq!(condition, "service_healthy", "{name} on {dep}");
            assert!(
                has_healthcheck(service(&compose, dep)),
                "{name} waits for {dep} to be healthy but {dep} has no healthcheck"
            );
        }
    }
    for name in ["api", "scheduler", "worker"] {
        let deps: Vec<String> = depends_on_conditions(service(&compose, name))
            .into_iter()
            .map(|(d, _)| d)
            .collect();
        assert!(
            deps.contains(&"mongo".to_string()),
            "{name} waits for mongo"
        );
        assert!(
            deps.contains(&"redis".to_string()),
            "{name} waits for redis"
        );
    }
}

/// The value Compose substitutes when nothing is exported: the literal, or the `:-default`
/// of a `${NAME:-default}` reference.
fn default_of(value: &str) -> String {
    match value
        .strip_prefix("${")
        .and_then(|v| v.strip_suffix('}'))
        .and_then(|v| v.split_once(":-"))
    {
        Some((_, default)) => default.to_string(),
        None => value.to_string(),
    }
}

#[test]
fn roles_get_the_settings_they_need() {
    let compose = compose();
    let needs: [(&str, &[&str]); 3] = [
        (
            "api",
            &["MONGO_URI", "JWT_SECRET", "ENCRYPTION_KEY", "BIND_ADDRESS"],
        ),
        ("scheduler", &["MONGO_URI", "REDIS_URL"]),
        ("worker", &["MONGO_URI", "REDIS_URL", "ENCRYPTION_KEY"]),
    ];
    for (name, required) in needs {
        let env = environment(service(&compose, name));
        for variable in required {
            let value = env
                .iter()
                .find(|(k, _)| k == variable)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("{name}: {variable} not set"));
            assert!(!value.trim().is_empty(), "{name}: {variable} is empty");
        }
        let uri = &env.iter().find(|(k, _)| k == "MONGO_URI").expect("uri").1;
        assert!(uri.contains("replicaSet="), "{name}: MONGO_URI {uri}");
        // Secrets are never written into the file: they must come from the environment.
        for secret in ["JWT_SECRET", "ENCRYPTION_KEY"] {
            if let Some((_, v)) = env.iter().find(|(k, _)| k == secret) {
                assert!(
                    v.starts_with("${") && v.contains(":?"),
                    "{name}: {secret} = {v}"
                );
            }
        }
    }
}

/// The Dockerfile's stages in order: (base image, alias).
fn stages(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.to_ascii_uppercase().starts_with("FROM "))
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let alias = match words.as_slice() {
                [_, _, as_, alias] if as_.eq_ignore_ascii_case("as") => alias.to_string(),
                _ => String::new(),
            };
            (words[1].to_string(), alias)
        })
        .collect()
}

/// The default of a global or stage `ARG NAME=default` in the Dockerfile.
fn arg_default(text: &str, name: &str) -> String {
    text.lines()
        .map(str::trim)
        .find_map(|l| {
            l.strip_prefix("ARG ")?
                .strip_prefix(name)?
                .strip_prefix('=')
        })
        .unwrap_or_else(|| panic!("Dockerfile has no ARG {name}=..."))
        .to_string()
}

/// The instructions of one stage (from its FROM line to the next).
fn stage_text<'a>(text: &'a str, alias: &str) -> &'a str {
    let from = text
        .lines()
        .find(|l| l.trim().to_ascii_uppercase().starts_with("FROM ") && l.trim().ends_with(alias))
        .unwrap_or_else(|| panic!("no stage {alias}"));
    let start = text.find(from).expect("stage line");
    let rest = &text[start + from.len()..];
    let end = rest.find("\nFROM ").map_or(rest.len(), |i| i + 1);
    &rest[..end]
}

#[test]
fn dockerfile_is_multi_stage_and_non_root() {
    let text = read("Dockerfile");
    let first = text.lines().next().unwrap_or("");
    assert!(
        first.starts_with('#'),
        "the Dockerfile opens with a comment"
    );
    // A `# syntax=` line makes BuildKit pull its frontend from a registry: no offline build.
    assert!(
        !text
            .lines()
            .any(|l| l.trim_start().starts_with("# syntax=")),
        "no syntax line"
    );
    // The base images are build args, today's images by default.
    let builder_image = arg_default(&text, "BUILDER_IMAGE");
    let runtime_image = arg_default(&text, "RUNTIME_IMAGE");
    assert_eq!(builder_image, "rust:1-bookworm");
    assert_eq!(runtime_image, "debian:bookworm-slim");
    let stages = stages(&text);
    let names: Vec<&str> = stages.iter().map(|(_, alias)| alias.as_str()).collect();
    assert_eq!(
        names,
        ["runtime-base", "prebuilt", "builder", "runtime"],
        "stages: the prebuilt target comes before the Rust stage, the default target last"
    );
    assert_eq!(stages[0].0, "${RUNTIME_IMAGE}");
    assert_eq!(stages[2].0, "${BUILDER_IMAGE}");
    assert_eq!(stages[1].0, "runtime-base");
    assert_eq!(stages[3].0, "runtime-base");
    // Everything but the binary is in the runtime base, which both targets start from.
    let base = stage_text(&text, "runtime-base");
    let user = base
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("USER "))
        .expect("runtime USER");
    assert!(
        !user.starts_with("root") && !user.starts_with('0'),
        "USER {user}"
    );
    assert!(user.starts_with("10001"), "USER {user}");
    for needed in [
        "ca-certificates curl",
        "ENTRYPOINT [\"odoo-sync\"]",
        "CMD [\"standalone\"]",
        "STOPSIGNAL SIGTERM",
    ] {
        assert!(base.contains(needed), "runtime base lacks {needed}");
    }
    let runtime = stage_text(&text, "AS runtime");
    assert!(
        runtime.contains("COPY --from=builder"),
        "the default target's binary comes from the builder"
    );
    let prebuilt = stage_text(&text, "prebuilt");
    assert!(
        prebuilt.contains("COPY ${ODOO_SYNC_BINARY} /usr/local/bin/odoo-sync"),
        "the prebuilt target copies the host's binary"
    );
    assert!(
        text.contains("--bin odoo-sync"),
        "builds the odoo-sync binary"
    );
}

#[test]
fn dockerignore_keeps_build_output_out() {
    let text = read(".dockerignore");
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    for entry in ["target/", ".tools/", ".git/", "data/"] {
        assert!(lines.contains(&entry), ".dockerignore lacks {entry}");
    }
    // The prebuilt target's binary is the one file of target/ let through.
    let binary = arg_default(&read("Dockerfile"), "ODOO_SYNC_BINARY");
    let exception = format!("!{binary}");
    assert!(
        lines.contains(&exception.as_str()),
        ".dockerignore does not let {binary} through"
    );
    for line in lines.iter().filter(|l| l.starts_with("!")) {
        assert!(
            line.ends_with("/odoo-sync"),
            "{line}: only the binary may pass"
        );
    }
}

#[test]
fn images_come_from_the_environment_with_todays_defaults() {
    let compose = compose();
    for (name, image) in [
        ("mongo", "${MONGO_IMAGE:-mongo:7.0}"),
        ("redis", "${REDIS_IMAGE:-redis:7.2-alpine}"),
        ("api", "${ODOO_SYNC_IMAGE:-odoo-sync:latest}"),
        ("worker", "${ODOO_SYNC_IMAGE:-odoo-sync:latest}"),
    ] {
        assert_eq!(
            service(&compose, name)["image"].as_str(),
            Some(image),
            "{name}'s image"
        );
    }
    // The build args' defaults are the Dockerfile's, and the target one of its stages.
    let dockerfile = read("Dockerfile");
    let build = &service(&compose, "worker")["build"];
    for arg in ["BUILDER_IMAGE", "RUNTIME_IMAGE", "ODOO_SYNC_BINARY"] {
        let value = build["args"][arg]
            .as_str()
            .unwrap_or_else(|| panic!("build arg {arg}"));
        assert_eq!(
            value,
            format!("${{{arg}:-{}}}", arg_default(&dockerfile, arg)),
            "{arg}"
        );
    }
    let target = default_of(build["target"].as_str().expect("build target"));
    assert_eq!(target, "runtime");
    let aliases: Vec<String> = stages(&dockerfile).into_iter().map(|(_, a)| a).collect();
    assert!(aliases.contains(&"prebuilt".to_string()));
    assert_eq!(
        aliases.last(),
        Some(&target),
        "the default target is the last stage"
    );
}

#[test]
fn mongo_health_check_works_with_and_without_mongosh() {
    let compose = compose();
    let test = serde_yaml::to_string(&service(&compose, "mongo")["healthcheck"]["test"])
        .expect("healthcheck");
    assert!(
        test.contains("CMD-SHELL"),
        "a shell picks the client: {test}"
    );
    assert!(
        test.contains("command -v mongosh"),
        "mongosh where the image has it"
    );
    assert!(test.contains("rs.initiate"), "mongosh initiates the set");
    // The stand-in's own check, under the name the stand-in installs it.
    assert!(test.contains("mongo-rs-health rs0 mongo:27017"), "{test}");
    let stand_in = read("docker/offline/mongo/Dockerfile");
    assert!(stand_in.contains("COPY mongo-rs-health /usr/local/bin/mongo-rs-health"));
    let script = read("docker/offline/mongo/mongo-rs-health");
    assert!(script.contains("replSetInitiate") && script.contains("isWritablePrimary"));
}
