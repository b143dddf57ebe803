//! `odoo-sync inspect`: what an Odoo offers this sync, before syncing anything. By default
//! the server's version, which protocols answer, whether the login works, the apps the
//! modules need, and per module its model on this version, read access and record count;
//! `--models` lists the models, `--fields MODEL` a model's fields. `--json` prints the same
//! as one JSON document. A server that cannot be reached or a refused login exits non-zero
//! (after the report, which says so).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context as _};
use clap::Args;
use serde::Serialize;
use serde_json::Value;
use shared::config::Settings;
use shared::modules::Module;
use shared::odoo::{
    http_client, probe_protocols, ClientSettings, Context, DatabaseName, Domain, OdooClient,
    OdooError, OdooUrl, ProbeOutcome, ProtocolProbe, SearchOptions, ServerVersion,
};

use super::odoo_args::OdooArgs;

#[derive(Args, Debug)]
pub struct InspectArgs {
    #[command(flatten)]
    odoo: OdooArgs,
    /// List the models Odoo's `ir.model` shows this user (model, name), sorted.
    #[arg(long, conflicts_with = "fields")]
    models: bool,
    /// List one model's fields (name, type, label, stored, relation), sorted by name.
    #[arg(long, value_name = "MODEL")]
    fields: Option<String>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
    /// A TOML file with settings (same keys as the environment variables, in lower case):
    /// the modules it declares are inspected too.
    #[arg(long)]
    config: Option<PathBuf>,
}

pub async fn run(args: InspectArgs) -> anyhow::Result<()> {
    let settings = Settings::load(args.config.as_deref())?;
    let mut client_settings = settings.client_settings();
    // A look at a server, not a sync: one retry of a transient failure at most.
    client_settings.retry.max_retries = client_settings.retry.max_retries.min(1);
    if args.models || args.fields.is_some() {
        let client = connect(&args.odoo, &client_settings).await?;
        return if let Some(model) = &args.fields {
            fields_view(&client, model, args.json).await
        } else {
            models_view(&client, args.json).await
        };
    }
    server_view(&args, &client_settings).await
}

/// Connects (detecting the protocol unless one is asked for) for `--models` and `--fields`,
/// failing clearly when the server is unreachable or refuses the login.
async fn connect(odoo: &OdooArgs, settings: &ClientSettings) -> anyhow::Result<OdooClient> {
    let info = odoo.connection(settings).await.map_err(login_error)?;
    let url = info.url.clone();
    let http = http_client(settings)?;
    OdooClient::connect_with(http, info, settings, None)
        .await
        .map_err(|e| login_error(anyhow::Error::from(e)))
        .with_context(|| format!("connecting to {url}"))
}

/// Says plainly what a refused login or an unreachable server is.
fn login_error(error: anyhow::Error) -> anyhow::Error {
    match error.downcast_ref::<OdooError>() {
        Some(OdooError::AuthenticationFailed { .. } | OdooError::LoginThrottled) => {
            anyhow!("login refused: {error:#}")
        }
        Some(OdooError::Transient { .. }) => anyhow!("cannot reach the server: {error:#}"),
        _ => error,
    }
}

// ---- the default view ----

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServerReport {
    url: String,
    db: String,
    version: Option<String>,
    protocols: Vec<ProbeView>,
    login: LoginView,
    #[serde(skip_serializing_if = "Option::is_none")]
    apps: Option<Vec<AppView>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    modules: Option<Vec<ModuleView>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProbeView {
    protocol: &'static str,
    /// `answered`, `not_offered` or `error`.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

impl ProbeView {
    fn of(probe: &ProtocolProbe) -> Self {
        let (status, detail) = match &probe.outcome {
            ProbeOutcome::Answered { .. } => ("answered", None),
            ProbeOutcome::NotOffered { detail } => ("not_offered", Some(detail.clone())),
            ProbeOutcome::Failed { error } => ("error", Some(error.to_string())),
        };
        ProbeView {
            protocol: probe.protocol.as_str(),
            status,
            version: probe.version().map(ToString::to_string),
            detail,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LoginView {
    /// `ok`, `refused` or `error`.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    login: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    protocol: Option<&'static str>,
    /// Why this protocol, or what went wrong.
    message: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AppView {
    app: &'static str,
    installed: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ModuleView {
    module: &'static str,
    display_name: &'static str,
    model: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    fallback_model: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    app: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    app_installed: Option<bool>,
    /// `readable` (the model), `fallback` (only the fallback model), `denied`, `missing`
    /// (not installed / no such model) or `error`.
    access: &'static str,
    /// The model whose records were counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    read_model: Option<&'static str>,
    /// Records matching the module's domain, archived ones included.
    #[serde(skip_serializing_if = "Option::is_none")]
    records: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

async fn server_view(args: &InspectArgs, settings: &ClientSettings) -> anyhow::Result<()> {
    let url = OdooUrl::parse(&args.odoo.url)?;
    let db = DatabaseName::parse(&args.odoo.db)?;
    let http = http_client(settings)?;
    let probes = probe_protocols(&http, &url, &db, settings).await;
    if probes.iter().all(ProtocolProbe::unreachable) {
        let why = probes
            .iter()
            .find_map(|p| match &p.outcome {
                ProbeOutcome::Failed { error } => Some(error.to_string()),
                _ => None,
            })
            .unwrap_or_default();
        bail!("cannot reach {url}: {why}");
    }
    if !probes.iter().any(ProtocolProbe::answered) {
        let each: Vec<String> = probes
            .iter()
            .map(|p| format!("{}: {}", p.protocol, p.outcome))
            .collect();
        bail!(
            "no Odoo external API answers at {url} ({})",
            each.join("; ")
        );
    }
    let mut report = ServerReport {
        url: url.to_string(),
        db: db.to_string(),
        version: probes
            .iter()
            .find_map(ProtocolProbe::version)
            .map(ToString::to_string),
        protocols: probes.iter().map(ProbeView::of).collect(),
        login: LoginView {
            status: "error",
            login: None,
            uid: None,
            protocol: None,
            message: String::new(),
        },
        apps: None,
        modules: None,
    };
    // The probes kept their own politeness gap; the client starts its own after this one.
    tokio::time::sleep(settings.call_delay).await;

    let connected = match args.odoo.connection(settings).await {
        Ok(info) => OdooClient::connect_with(http, info, settings, None)
            .await
            .map_err(anyhow::Error::from),
        Err(e) => Err(e),
    };
    let client = match connected {
        Ok(client) => client,
        Err(error) => {
            let refused = matches!(
                error.downcast_ref::<OdooError>(),
                Some(OdooError::AuthenticationFailed { .. } | OdooError::LoginThrottled)
            );
            report.login.status = if refused { "refused" } else { "error" };
            report.login.login = args.odoo.login.clone();
            report.login.message = format!("{error:#}");
            print_server(&report, args.json)?;
            return Err(if refused {
                anyhow!("login refused: {error:#}")
            } else {
                error
            });
        }
    };
    let choice = client.protocol_choice();
    report.version = Some(client.version().to_string());
    report.login = LoginView {
        status: "ok",
        login: Some(client.connection().login.to_string()),
        uid: Some(client.uid()),
        protocol: Some(choice.protocol.as_str()),
        message: choice.explanation(),
    };

    let modules = Module::all();
    let probes: Vec<_> = modules.iter().filter_map(|m| m.app_probe()).collect();
    let installed = client
        .installed_apps(&probes)
        .await
        .context("reading the installed apps")?;
    let mut apps: Vec<&'static str> = modules.iter().filter_map(|m| m.app()).collect();
    let mut seen = std::collections::BTreeSet::new();
    apps.retain(|app| seen.insert(*app));
    report.apps = Some(
        apps.iter()
            .map(|app| AppView {
                app,
                installed: installed.contains(*app),
            })
            .collect(),
    );
    let mut views = Vec::with_capacity(modules.len());
    for module in modules {
        views.push(inspect_module(&client, module, |app| installed.contains(app)).await?);
    }
    report.modules = Some(views);
    print_server(&report, args.json)
}

/// One module on this server. The count with the module's domain is also the read check
/// (one call instead of two): it fails with access denied or a missing model exactly
/// where `can_read` would.
async fn inspect_module(
    client: &OdooClient,
    module: Module,
    app_installed: impl Fn(&str) -> bool,
) -> anyhow::Result<ModuleView> {
    let version = client.version();
    let model = module.model(version);
    let fallback = module.fallback_model(version);
    let mut view = ModuleView {
        module: module.as_str(),
        display_name: module.display_name(),
        model,
        fallback_model: fallback,
        app: module.app(),
        app_installed: module.app().map(app_installed),
        access: "error",
        read_model: None,
        records: None,
        error: None,
    };
    match count(client, module, version, model).await {
        Ok(records) => {
            view.access = "readable";
            view.read_model = Some(model);
            view.records = Some(records);
        }
        Err(OdooError::MissingModel { .. }) => view.access = "missing",
        Err(OdooError::AccessDenied { .. }) => {
            view.access = "denied";
            if let Some(fallback) = fallback {
                match count(client, module, version, fallback).await {
                    Ok(records) => {
                        view.access = "fallback";
                        view.read_model = Some(fallback);
                        view.records = Some(records);
                    }
                    Err(OdooError::AccessDenied { .. } | OdooError::MissingModel { .. }) => {}
                    Err(e) if e.is_retryable() => return Err(e.into()),
                    Err(e) => view.error = Some(e.to_string()),
                }
            }
        }
        // Give up on a server that stopped answering rather than report every module broken.
        Err(e) if e.is_retryable() => {
            return Err(anyhow::Error::from(e).context(format!("counting {model}")))
        }
        Err(e) => view.error = Some(e.to_string()),
    }
    Ok(view)
}

/// Records of `model` in the module's domain, archived ones included where the model has
/// `active` (as the sync reads them).
async fn count(
    client: &OdooClient,
    module: Module,
    version: &ServerVersion,
    model: &str,
) -> Result<u64, OdooError> {
    let mapping = module.mapping(version, model, &[]);
    let context = if mapping.has_active {
        Context::with_archived()
    } else {
        Context::default()
    };
    client
        .search_count(mapping.model, &mapping.domain, context)
        .await
}

fn print_server(report: &ServerReport, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(report);
    }
    let mut out = String::new();
    let mut line = |label: &str, text: &str| {
        out.push_str(&format!("{label:<11} {text}\n"));
    };
    line("Odoo", &format!("{} (database {})", report.url, report.db));
    line("Version", report.version.as_deref().unwrap_or("unknown"));
    let protocols = table(
        &[],
        report
            .protocols
            .iter()
            .map(|p| {
                let said = match (p.status, &p.version, &p.detail) {
                    ("answered", Some(v), _) => format!("answers (Odoo {v})"),
                    ("answered", None, _) => "answers".to_string(),
                    ("not_offered", _, Some(d)) => format!("not offered ({d})"),
                    (_, _, d) => format!("error ({})", d.as_deref().unwrap_or("")),
                };
                vec![p.protocol.to_string(), said]
            })
            .collect(),
    );
    for (i, row) in protocols.lines().enumerate() {
        line(if i == 0 { "Protocols" } else { "" }, row);
    }
    let login = &report.login;
    let who = login.login.as_deref().unwrap_or("(from the API key)");
    match (login.status, login.uid, login.protocol) {
        ("ok", Some(uid), Some(protocol)) => line(
            "Login",
            &format!("ok: {who} (uid {uid}) over {protocol} ({})", login.message),
        ),
        ("refused", ..) => line("Login", &format!("refused: {}", login.message)),
        _ => line("Login", &format!("error: {}", login.message)),
    }
    if let Some(apps) = &report.apps {
        let text: Vec<String> = apps
            .iter()
            .map(|a| {
                let state = if a.installed {
                    "installed"
                } else {
                    "not installed"
                };
                format!("{} {state}", a.app)
            })
            .collect();
        line("Apps", &text.join(", "));
    }
    if let Some(modules) = &report.modules {
        out.push('\n');
        let rows = modules
            .iter()
            .map(|m| {
                let app = match (m.app, m.app_installed) {
                    (Some(app), Some(true)) => format!("{app} (installed)"),
                    (Some(app), _) => format!("{app} (not installed)"),
                    (None, _) => "-".to_string(),
                };
                let access = match (m.access, m.read_model, &m.error) {
                    ("readable", ..) => "yes".to_string(),
                    ("fallback", Some(fallback), _) => format!("only {fallback}"),
                    ("denied", ..) => "no (access denied)".to_string(),
                    ("missing", ..) => "not installed / missing".to_string(),
                    (_, _, error) => format!("error: {}", error.as_deref().unwrap_or("")),
                };
                let records = m.records.map_or("-".to_string(), |n| n.to_string());
                vec![
                    m.module.to_string(),
                    m.model.to_string(),
                    app,
                    access,
                    records,
                ]
            })
            .collect();
        out.push_str(&table(&["MODULE", "MODEL", "APP", "READ", "RECORDS"], rows));
    }
    emit(&out)
}

// ---- --models ----

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ModelsReport {
    url: String,
    db: String,
    version: String,
    /// `ir.model`, or `probed` where the user may not read `ir.model` (or it is missing):
    /// then the models the modules read that this user may read.
    source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    models: Vec<ModelView>,
}

#[derive(Serialize)]
struct ModelView {
    model: String,
    name: Option<String>,
}

async fn models_view(client: &OdooClient, json: bool) -> anyhow::Result<()> {
    let options = SearchOptions {
        fields: &["model", "name"],
        order: Some("model asc, id asc"),
        ..SearchOptions::default()
    };
    let (source, note, mut models) = match client
        .search_read("ir.model", &Domain::all(), &options)
        .await
    {
        Ok(rows) => {
            let models = rows
                .iter()
                .filter_map(|row| {
                    Some(ModelView {
                        model: row.get("model")?.as_str()?.to_string(),
                        name: row.get("name").and_then(Value::as_str).map(str::to_string),
                    })
                })
                .collect();
            ("ir.model", None, models)
        }
        Err(e @ (OdooError::AccessDenied { .. } | OdooError::MissingModel { .. })) => {
            let note = format!(
                "ir.model cannot be read here ({e}), so these are the models the modules read that this user may read"
            );
            ("probed", Some(note), probe_models(client).await?)
        }
        Err(e) => return Err(anyhow::Error::from(e).context("reading ir.model")),
    };
    models.sort_by(|a, b| a.model.cmp(&b.model));
    models.dedup_by(|a, b| a.model == b.model);
    let report = ModelsReport {
        url: client.connection().url.to_string(),
        db: client.connection().db.to_string(),
        version: client.version().to_string(),
        source,
        note,
        models,
    };
    if json {
        return print_json(&report);
    }
    let rows = report
        .models
        .iter()
        .map(|m| vec![m.model.clone(), m.name.clone().unwrap_or_default()])
        .collect();
    let mut text = table(&["MODEL", "NAME"], rows);
    match &report.note {
        None => text.push_str(&format!("{} models (from ir.model)\n", report.models.len())),
        Some(note) => text.push_str(&format!("{} models; {note}\n", report.models.len())),
    }
    emit(&text)
}

/// The models of every module (and their fallbacks) this user may read, with the module's
/// display name: what `--models` can still say where `ir.model` is closed.
async fn probe_models(client: &OdooClient) -> anyhow::Result<Vec<ModelView>> {
    let version = client.version();
    let mut candidates: BTreeMap<&'static str, &'static str> = BTreeMap::new();
    for module in Module::all() {
        for model in [Some(module.model(version)), module.fallback_model(version)]
            .into_iter()
            .flatten()
        {
            candidates.entry(model).or_insert(module.display_name());
        }
    }
    let mut readable = Vec::new();
    for (model, name) in candidates {
        match client.can_read(model).await {
            Ok(true) => readable.push(ModelView {
                model: model.to_string(),
                name: Some(name.to_string()),
            }),
            Ok(false) | Err(OdooError::MissingModel { .. }) => {}
            Err(e) => return Err(anyhow::Error::from(e).context(format!("probing {model}"))),
        }
    }
    Ok(readable)
}

// ---- --fields MODEL ----

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FieldsReport {
    url: String,
    db: String,
    version: String,
    model: String,
    fields: Vec<FieldView>,
}

#[derive(Serialize)]
struct FieldView {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    string: String,
    store: Option<bool>,
    relation: Option<String>,
}

async fn fields_view(client: &OdooClient, model: &str, json: bool) -> anyhow::Result<()> {
    let fields = match client
        .fields_get(model, &["string", "type", "store", "relation"])
        .await
    {
        Ok(fields) => fields,
        Err(OdooError::MissingModel { .. }) => {
            bail!(
                "model {model:?} does not exist on this Odoo server (its app may not be installed)"
            )
        }
        Err(e) => {
            return Err(anyhow::Error::from(e).context(format!("reading the fields of {model}")))
        }
    };
    let text = |attrs: &Value, key: &str| {
        attrs
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    // A map's keys come sorted (serde_json's default map is ordered), but sort anyway: the
    // order is part of what this prints.
    let mut views: Vec<FieldView> = fields
        .iter()
        .map(|(name, attrs)| FieldView {
            name: name.clone(),
            kind: text(attrs, "type"),
            string: text(attrs, "string"),
            store: attrs.get("store").and_then(Value::as_bool),
            relation: attrs
                .get("relation")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
                .map(str::to_string),
        })
        .collect();
    views.sort_by(|a, b| a.name.cmp(&b.name));
    let report = FieldsReport {
        url: client.connection().url.to_string(),
        db: client.connection().db.to_string(),
        version: client.version().to_string(),
        model: model.to_string(),
        fields: views,
    };
    if json {
        return print_json(&report);
    }
    let rows = report
        .fields
        .iter()
        .map(|f| {
            vec![
                f.name.clone(),
                f.kind.clone(),
                f.string.clone(),
                match f.store {
                    Some(true) => "yes".into(),
                    Some(false) => "no".into(),
                    None => "-".into(),
                },
                f.relation.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let mut text = table(&["FIELD", "TYPE", "LABEL", "STORED", "RELATION"], rows);
    text.push_str(&format!("{} fields of {model}\n", report.fields.len()));
    emit(&text)
}

// ---- output ----

fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    emit(&text)
}

/// Writes to stdout; a reader that closed the pipe (`| head`) has what it wanted.
fn emit(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Rows as aligned columns (two spaces apart; the last column is not padded), with a
/// header line when `headers` is not empty.
fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let columns = rows
        .iter()
        .map(Vec::len)
        .chain(std::iter::once(headers.len()))
        .max()
        .unwrap_or(0);
    let mut widths = vec![0; columns];
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows.iter()) {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let lines = std::iter::once(&header)
        .filter(|h| !h.is_empty())
        .chain(rows.iter());
    for row in lines {
        let mut text = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                text.push_str(cell);
            } else {
                let pad = widths[i] - cell.chars().count();
                text.push_str(cell);
                text.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::table;

    #[test]
    fn aligns_columns() {
        let text = table(
            &["A", "BB"],
            vec![
                vec!["long-cell".into(), "x".into()],
                vec!["s".into(), "y".into()],
            ],
        );
        assert_eq!(text, "A          BB\nlong-cell  x\ns          y\n");
    }
}
