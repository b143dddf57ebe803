//! The Odoo client against the simulator over real HTTP: each protocol, protocol detection,
//! every error class, retries, politeness and the version-aware mapping for Odoo 12 to 19.

use std::time::{Duration, Instant};

use serde_json::json;
use shared::modules::Module;
use shared::odoo::{
    ClientSettings, ConnectionInfo, Context, Credential, Domain, Granularity, NoJson2, OdooClient,
    OdooError, Op, Protocol, ProtocolReason, RetryPolicy, SearchOptions, TransientKind,
};
use sim::{App, DatabaseSpec, FaultKind, FaultRule, SimServer, Simulator, Trigger, UserSpec};

const API_KEY: &str = "k3y-0f-the-admin-user-xyz";

fn quick_settings() -> ClientSettings {
    ClientSettings {
        call_delay: Duration::ZERO,
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_retries: 3,
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        },
        ..ClientSettings::default()
    }
}

struct Fixture {
    sim: Simulator,
    server: SimServer,
}

async fn start(version: u32, records: usize) -> Fixture {
    let sim = Simulator::new();
    let mut spec = DatabaseSpec::new("acme", version);
    spec.users = vec![
        UserSpec::admin().with_api_key(API_KEY),
        UserSpec::new(7, "clerk", "clerk-pw"),
    ];
    spec.data.records = records;
    sim.add_database(spec).expect("database");
    let server = sim.serve("127.0.0.1:0").await.expect("serve");
    Fixture { sim, server }
}

fn info(fx: &Fixture, login: &str, credential: Credential) -> ConnectionInfo {
    ConnectionInfo::parse(&fx.server.url(), "acme", login, credential).expect("valid connection")
}

fn admin_password() -> Credential {
    Credential::password("admin").expect("valid")
}

fn admin_key() -> Credential {
    Credential::api_key(API_KEY).expect("valid")
}

async fn connect(
    fx: &Fixture,
    credential: Credential,
    protocol: Option<Protocol>,
) -> Result<OdooClient, OdooError> {
    OdooClient::connect(info(fx, "admin", credential), &quick_settings(), protocol).await
}

/// Reads every partner with id keyset paging and checks it against the simulator's rows.
async fn exercise_reads(client: &OdooClient, fx: &Fixture) {
    let db = fx.sim.db("acme").expect("db");
    let all = db.snapshot("res.partner").expect("snapshot");
    let archived = all
        .iter()
        .filter(|r| r.get("active") == Some(&json!(false)))
        .count();
    assert!(
        archived > 0,
        "the generated data should archive some partners"
    );

    let everything = client
        .search_count("res.partner", &Domain::all(), Context::with_archived())
        .await
        .expect("count");
    assert_eq!(everything as usize, all.len());
    let active_only = client
        .search_count("res.partner", &Domain::all(), Context::default())
        .await
        .expect("count");
    assert_eq!(active_only as usize, all.len() - archived);

    let fields = ["name", "is_company", "parent_id", "active", "write_date"];
    let mut last_id = 0;
    let mut seen = Vec::new();
    loop {
        let page = client
            .search_read(
                "res.partner",
                &Domain::all().and("id", Op::Gt, last_id),
                &SearchOptions {
                    fields: &fields,
                    order: Some("id asc"),
                    limit: Some(50),
                    context: Context::with_archived(),
                },
            )
            .await
            .expect("page");
        for record in &page {
            let id = record["id"].as_i64().expect("id");
            assert!(id > last_id, "ids must come in ascending order");
            last_id = id;
            seen.push(id);
            let write_date = record["write_date"].as_str().expect("write_date string");
            assert_eq!(write_date.len(), 19, "whole seconds: {write_date}");
            assert!(record["parent_id"] == json!(false) || record["parent_id"].is_array());
        }
        if page.len() < 50 {
            break;
        }
    }
    let mut expected: Vec<i64> = all.iter().map(|r| r["id"].as_i64().expect("id")).collect();
    expected.sort_unstable();
    assert_eq!(seen, expected);

    let ids = client
        .search(
            "res.partner",
            &Domain::all().and("is_company", Op::Eq, true),
            &SearchOptions {
                order: Some("id desc"),
                limit: Some(3),
                ..SearchOptions::default()
            },
        )
        .await
        .expect("search");
    assert!(ids.len() <= 3 && ids.windows(2).all(|w| w[0] > w[1]));

    let periods = client
        .count_by_period(
            "res.partner",
            &Domain::all(),
            "write_date",
            Granularity::Day,
            Context::with_archived(),
        )
        .await
        .expect("periods");
    let total: u64 = periods.iter().map(|p| p.count).sum();
    assert_eq!(
        total as usize,
        all.len(),
        "per-day counts add up to the whole"
    );
    for period in &periods {
        assert_eq!(period.end - period.start, chrono::Duration::days(1));
    }
    let hours = client
        .count_by_period(
            "res.partner",
            &Domain::all(),
            "write_date",
            Granularity::Hour,
            Context::with_archived(),
        )
        .await
        .expect("hours");
    assert_eq!(hours.iter().map(|p| p.count).sum::<u64>(), total);

    let fields = client
        .fields_get("res.partner", &["type", "string"])
        .await
        .expect("fields_get");
    assert_eq!(fields["parent_id"]["type"], json!("many2one"));

    let apps = client
        .installed_apps(
            &Module::defaults()
                .into_iter()
                .filter_map(Module::app_probe)
                .collect::<Vec<_>>(),
        )
        .await
        .expect("apps");
    assert_eq!(
        apps.into_iter().collect::<Vec<_>>(),
        vec!["account", "contacts", "hr", "sale"]
    );
}

#[tokio::test]
async fn xmlrpc_reads_everything() {
    let fx = start(17, 400).await;
    let client = connect(&fx, admin_password(), None).await.expect("connect");
    assert_eq!(client.protocol(), Protocol::XmlRpc);
    assert_eq!(client.version().major, 17);
    assert_eq!(client.uid(), 2);
    exercise_reads(&client, &fx).await;
}

#[tokio::test]
async fn jsonrpc_reads_everything() {
    let fx = start(16, 400).await;
    let client = connect(&fx, admin_password(), Some(Protocol::JsonRpc))
        .await
        .expect("connect");
    assert_eq!(client.protocol(), Protocol::JsonRpc);
    exercise_reads(&client, &fx).await;
}

#[tokio::test]
async fn json2_reads_everything() {
    let fx = start(19, 400).await;
    let client = connect(&fx, admin_key(), None).await.expect("connect");
    assert_eq!(
        client.protocol(),
        Protocol::Json2,
        "API key on 19 picks JSON-2"
    );
    assert_eq!(client.uid(), 2);
    exercise_reads(&client, &fx).await;
    let stats = fx.sim.db("acme").expect("db").stats();
    assert_eq!(stats.get("authenticate"), 0, "JSON-2 needs no login call");
}

#[tokio::test]
async fn protocol_detection_falls_back() {
    let fx = start(19, 50).await;
    let client = connect(&fx, admin_password(), None).await.expect("connect");
    assert_eq!(
        client.protocol(),
        Protocol::XmlRpc,
        "a password cannot use JSON-2"
    );
    assert_eq!(
        client.protocol_choice().reason,
        ProtocolReason::XmlRpcFallback(NoJson2::PasswordGiven)
    );
    let client = connect(&fx, admin_key(), None).await.expect("connect");
    assert_eq!(
        client.protocol_choice().reason,
        ProtocolReason::Json2Available
    );
    let fx = start(17, 50).await;
    let client = connect(&fx, admin_key(), None).await.expect("connect");
    assert_eq!(client.protocol(), Protocol::XmlRpc, "no JSON-2 before 19");
    // 17.0 has no /web/version: Odoo's 404 page, as captured.
    let choice = client.protocol_choice();
    assert_eq!(
        choice.reason,
        ProtocolReason::XmlRpcFallback(NoJson2::NotOffered {
            answer: "GET /web/version answered 404 Not Found".into()
        }),
        "{choice}"
    );
    assert_eq!(choice.version.major, 17);
    let remembered = connect(&fx, admin_key(), Some(Protocol::XmlRpc))
        .await
        .expect("connect");
    assert_eq!(
        remembered.protocol_choice().reason,
        ProtocolReason::Remembered
    );
    // Detection alone logs in nowhere.
    let before = fx.sim.db("acme").expect("db").stats().get("authenticate");
    let detected = OdooClient::detect(
        reqwest::Client::new(),
        client.connection().clone(),
        &quick_settings(),
    )
    .await
    .expect("detect");
    assert_eq!(detected, choice);
    assert_eq!(
        fx.sim.db("acme").expect("db").stats().get("authenticate"),
        before
    );
    let err = connect(&fx, admin_password(), Some(Protocol::Json2))
        .await
        .expect_err("JSON-2 with a password");
    assert!(matches!(err, OdooError::InvalidSetting(_)), "{err}");
}

#[tokio::test]
async fn wrong_credentials_are_refused_once_on_every_protocol() {
    let fx = start(19, 20).await;
    for (credential, protocol) in [
        (Credential::password("nope").expect("valid"), None),
        (
            Credential::password("nope").expect("valid"),
            Some(Protocol::JsonRpc),
        ),
        (
            Credential::api_key("not-a-key").expect("valid"),
            Some(Protocol::Json2),
        ),
    ] {
        fx.sim.db("acme").expect("db").reset_stats();
        let err = connect(&fx, credential, protocol)
            .await
            .expect_err("must be refused");
        assert!(
            matches!(err, OdooError::AuthenticationFailed { .. }),
            "{protocol:?}: {err:?}"
        );
        let text = format!("{err} {err:?}");
        assert!(
            !text.contains("nope") && !text.contains("not-a-key"),
            "{text}"
        );
        let stats = fx.sim.db("acme").expect("db").stats();
        assert!(
            stats.get("authenticate") <= 1,
            "no retry of a refused login: {stats:?}"
        );
    }
}

#[tokio::test]
async fn unknown_database_is_named() {
    let fx = start(17, 20).await;
    let info = ConnectionInfo::parse(&fx.server.url(), "nosuchdb", "admin", admin_password())
        .expect("valid");
    let err = OdooClient::connect(info, &quick_settings(), None)
        .await
        .expect_err("unknown db");
    assert!(
        matches!(err, OdooError::UnknownDatabase { ref db } if db == "nosuchdb"),
        "{err:?}"
    );
}

#[tokio::test]
async fn missing_models_invalid_fields_and_access_errors_are_classified() {
    let sim = Simulator::new();
    let mut spec = DatabaseSpec::new("acme", 17);
    spec.apps = vec![App::Contacts, App::Hr];
    spec.users = vec![UserSpec::admin(), UserSpec::new(7, "clerk", "clerk-pw")];
    spec.data.records = 50;
    sim.add_database(spec).expect("db");
    let server = sim.serve("127.0.0.1:0").await.expect("serve");
    let fx = Fixture { sim, server };

    let admin = connect(&fx, admin_password(), None).await.expect("admin");
    for protocol in [Protocol::XmlRpc, Protocol::JsonRpc] {
        let client = connect(&fx, admin_password(), Some(protocol))
            .await
            .expect("connect");
        let err = client
            .search_count("sale.order", &Domain::all(), Context::default())
            .await
            .expect_err("sale not installed");
        assert!(
            matches!(err, OdooError::MissingModel { ref model } if model == "sale.order"),
            "{err:?}"
        );
        let err = client
            .search_count(
                "res.partner",
                &Domain::all().and("no_such_field", Op::Eq, 1),
                Context::default(),
            )
            .await
            .expect_err("bad field");
        assert!(matches!(err, OdooError::InvalidField { .. }), "{err:?}");
    }

    let clerk = OdooClient::connect(
        info(
            &fx,
            "clerk",
            Credential::password("clerk-pw").expect("valid"),
        ),
        &quick_settings(),
        None,
    )
    .await
    .expect("clerk connects");
    let err = clerk
        .search_count("hr.employee", &Domain::all(), Context::default())
        .await
        .expect_err("no HR rights");
    assert!(matches!(err, OdooError::AccessDenied { .. }), "{err:?}");
    assert!(!clerk.can_read("hr.employee").await.expect("probe"));
    assert!(clerk.can_read("hr.employee.public").await.expect("probe"));
    // The clerk may not read ir.module.module: the apps come from probing models instead.
    let apps = clerk
        .installed_apps(
            &Module::defaults()
                .into_iter()
                .filter_map(Module::app_probe)
                .collect::<Vec<_>>(),
        )
        .await
        .expect("probed apps");
    let listed = admin
        .installed_apps(
            &Module::defaults()
                .into_iter()
                .filter_map(Module::app_probe)
                .collect::<Vec<_>>(),
        )
        .await
        .expect("listed apps");
    assert_eq!(apps, listed);
    assert!(apps.contains("hr") && !apps.contains("sale") && !apps.contains("account"));
}

#[tokio::test]
async fn transient_faults_are_retried_and_reported_when_they_persist() {
    let fx = start(17, 30).await;
    let db = fx.sim.db("acme").expect("db");
    let client = connect(&fx, admin_password(), None).await.expect("connect");
    let all = Domain::all();
    let count = || client.search_count("res.partner", &all, Context::with_archived());
    let expected = db.count("res.partner").expect("count") as u64;

    for kind in [
        FaultKind::TooManyRequests {
            retry_after_secs: 0,
        },
        FaultKind::BadGateway,
        FaultKind::ServiceUnavailable,
        FaultKind::GatewayTimeout,
        FaultKind::ConnectionReset,
        FaultKind::TruncatedBody,
        FaultKind::MalformedBody,
    ] {
        db.clear_faults();
        db.add_fault(FaultRule::new(kind.clone(), Trigger::Next(2)).on_methods(&["search_count"]));
        assert_eq!(count().await.expect("retried through {kind:?}"), expected);
    }

    db.clear_faults();
    db.add_fault(
        FaultRule::new(FaultKind::ServiceUnavailable, Trigger::Always)
            .on_methods(&["search_count"]),
    );
    db.reset_stats();
    let err = count().await.expect_err("persistent 503");
    assert!(
        matches!(
            err,
            OdooError::Transient {
                kind: TransientKind::ServiceUnavailable,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        db.stats().get("search_count"),
        4,
        "one call and three retries"
    );

    db.clear_faults();
    db.add_fault(
        FaultRule::new(
            FaultKind::TooManyRequests {
                retry_after_secs: 7,
            },
            Trigger::Always,
        )
        .on_methods(&["search_count"]),
    );
    let no_retry = OdooClient::connect(
        info(&fx, "admin", admin_password()),
        &ClientSettings {
            retry: RetryPolicy::none(),
            ..quick_settings()
        },
        Some(Protocol::XmlRpc),
    )
    .await
    .expect("connect");
    let err = no_retry
        .search_count("res.partner", &Domain::all(), Context::default())
        .await
        .expect_err("429");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)), "{err:?}");

    db.clear_faults();
    db.add_fault(FaultRule::new(FaultKind::ServerFault, Trigger::Next(1)));
    let err = no_retry
        .search_count("res.partner", &Domain::all(), Context::default())
        .await
        .expect_err("fault 1");
    assert!(matches!(err, OdooError::ServerFault { .. }), "{err:?}");
}

#[tokio::test]
async fn a_hang_past_the_timeout_is_a_timeout() {
    let fx = start(17, 10).await;
    let db = fx.sim.db("acme").expect("db");
    let settings = ClientSettings {
        request_timeout: Duration::from_millis(300),
        retry: RetryPolicy::none(),
        ..quick_settings()
    };
    let client = OdooClient::connect(info(&fx, "admin", admin_password()), &settings, None)
        .await
        .expect("connect");
    db.add_fault(
        FaultRule::new(FaultKind::Hang(Duration::from_secs(5)), Trigger::Next(1))
            .on_methods(&["search_count"]),
    );
    let err = client
        .search_count("res.partner", &Domain::all(), Context::default())
        .await
        .expect_err("hang");
    assert!(
        matches!(
            err,
            OdooError::Transient {
                kind: TransientKind::Timeout,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn revoked_credentials_and_login_throttling_read_clearly() {
    let fx = start(17, 10).await;
    let db = fx.sim.db("acme").expect("db");
    let client = connect(&fx, admin_password(), None).await.expect("connect");
    db.revoke_credentials("admin").expect("revoke");
    let err = client
        .search_count("res.partner", &Domain::all(), Context::default())
        .await
        .expect_err("revoked");
    assert!(
        matches!(err, OdooError::AuthenticationFailed { .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());

    db.restore_credentials("admin").expect("restore");
    db.set_login_throttle(Some(sim::LoginThrottle {
        max_failures: 2,
        cooldown: Duration::from_secs(60),
    }));
    db.reset_stats();
    for _ in 0..2 {
        let err = connect(&fx, Credential::password("bad").expect("valid"), None)
            .await
            .expect_err("refused");
        assert!(
            matches!(err, OdooError::AuthenticationFailed { .. }),
            "{err:?}"
        );
    }
    // Odoo's external `authenticate` answers False during the cooldown too, even for the right
    // password: the client must read it as refused and not hammer the server.
    let err = connect(&fx, admin_password(), None)
        .await
        .expect_err("throttled");
    assert!(
        matches!(err, OdooError::AuthenticationFailed { .. }),
        "{err:?}"
    );
    assert_eq!(
        db.stats().get("authenticate"),
        3,
        "one login call per attempt"
    );
}

#[tokio::test]
async fn calls_to_one_server_keep_the_politeness_gap() {
    let fx = start(17, 10).await;
    let settings = ClientSettings {
        call_delay: Duration::from_millis(150),
        ..quick_settings()
    };
    let client = OdooClient::connect(info(&fx, "admin", admin_password()), &settings, None)
        .await
        .expect("connect");
    let started = Instant::now();
    let all = Domain::all();
    let calls = (0..4).map(|_| client.search_count("res.partner", &all, Context::default()));
    for result in futures::future::join_all(calls).await {
        result.expect("count");
    }
    // Four calls issued at once still go one at a time, 150 ms apart.
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn every_module_mapping_is_readable_on_every_version() {
    for version in 12..=19 {
        let fx = start(version, 80).await;
        let client = connect(&fx, admin_password(), None).await.expect("connect");
        for module in Module::all() {
            let mapping = module.mapping(client.version(), "", &[]);
            let context = if mapping.has_active {
                Context::with_archived()
            } else {
                Context::default()
            };
            let rows = client
                .search_read(
                    mapping.model,
                    &mapping.domain,
                    &SearchOptions {
                        fields: &mapping.field_names(),
                        order: Some("id asc"),
                        limit: Some(5),
                        context,
                    },
                )
                .await
                .unwrap_or_else(|e| panic!("{version} {module}: {e}"));
            assert!(!rows.is_empty(), "{version} {module}: no rows");
            for row in &rows {
                for field in &mapping.fields {
                    assert!(
                        row.contains_key(field),
                        "{version} {module}: {field} missing"
                    );
                }
            }
            if module == Module::invoices() && version >= 13 {
                let type_field = if version == 13 { "type" } else { "move_type" };
                assert!(rows.iter().all(|r| r[type_field] != json!("entry")));
            }
        }
        if version >= 13 {
            let public = Module::employees().mapping(client.version(), "hr.employee.public", &[]);
            client
                .search_read(
                    public.model,
                    &public.domain,
                    &SearchOptions {
                        fields: &public.field_names(),
                        limit: Some(1),
                        context: Context::with_archived(),
                        ..SearchOptions::default()
                    },
                )
                .await
                .unwrap_or_else(|e| panic!("{version} hr.employee.public: {e}"));
        }
    }
}
