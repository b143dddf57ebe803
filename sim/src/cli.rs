//! `odoo-sync sim`: runs the simulator as a standalone server, with databases and faults
//! given on the command line, prints its address and credentials, and serves until Ctrl-C.

use crate::custom::CustomField;
use crate::database::{DatabaseSpec, UserSpec};
use crate::error::SimError;
use crate::faults::FaultRule;
use crate::generator::BurstSpec;
use crate::schema::{App, Schema};
use crate::simulator::Simulator;
use std::io::Write;

const DB_HELP: &str = concat!(
    "A database, as comma-separated key=value pairs (repeatable):\n",
    "  name=NAME            database name (required)\n",
    "  version=12..19       Odoo major version (default 19)\n",
    "  login=LOGIN          user login (default admin; uid 2, Settings and HR rights)\n",
    "  password=SECRET      user password (default admin)\n",
    "  api-key=KEY          API key (honoured from version 14; JSON-2 needs one)\n",
    "  apps=a+b+...         installed apps among sale, account, contacts, hr, stock\n",
    "                       (default all; base is always installed)\n",
    "  records=N            generated records over the models (default 200)\n",
    "  days=N               write_date spread over the last N days (default 90)\n",
    "  seed=N               random seed (default 1)\n",
    "  burst=N              also N res.partner rows in one transaction\n",
    "Example: --db name=acme,version=17,login=admin,password=admin,api-key=k1,apps=sale+account+contacts+hr,records=5000,days=90,seed=1\n",
    "Without --db: one database name=demo,version=19,login=admin,password=admin,api-key=demo-api-key.",
);

const CUSTOM_FIELD_HELP: &str = concat!(
    "A custom (Studio) field every database having the model gets at start (repeatable):\n",
    "  [DB/]MODEL:NAME:KIND\n",
    "  DB/                  only that database (default: every database with the model)\n",
    "  NAME                 starts with x_ (Studio's are x_studio_...)\n",
    "  KIND                 char, text, integer, float, monetary, boolean, date, datetime,\n",
    "                       selection=a+b+c (each value or value/Label), many2one=MODEL\n",
    "Existing records read it as False (0 for numbers) and keep their write_date.\n",
    "Example: --custom-field sale.order:x_studio_region:char --custom-field acme/res.partner:x_studio_tier:selection=gold+silver",
);

const FAULT_HELP: &str = concat!(
    "A fault rule, as comma-separated key=value pairs (repeatable):\n",
    "  kind=latency|429|502|503|504|reset|hang|truncate|malformed|fault\n",
    "  rate=P               fire on each call with probability P (0..1)\n",
    "  next=N               fire on the next N calls\n",
    "  calls=K-M            fire on calls number K to M\n",
    "                       (no trigger: every call)\n",
    "  ms=N | secs=N        duration of latency (default 500 ms) and hang (default 600 s)\n",
    "  retry-after=N        Retry-After seconds of 429 (default 1)\n",
    "  methods=a+b          only these methods (search_read, authenticate, ...)\n",
    "  db=NAME              only this database (default: every database)\n",
    "Example: --fault kind=503,rate=0.05 --fault kind=latency,ms=200",
);

/// Arguments of `odoo-sync sim`.
#[derive(clap::Args, Debug, Clone)]
#[command(
    about = "Run the Odoo simulator (XML-RPC, JSON-RPC, JSON-2) for demos and manual tests",
    long_about = "Runs the Odoo simulator: many databases, each with its own Odoo version, users, \
apps and generated data, served over XML-RPC (/xmlrpc/2/common, /xmlrpc/2/object), JSON-RPC \
(/jsonrpc) and JSON-2 (/json/2/<model>/<method>, version 19). Every database is also served alone \
under /db/<name> (its own version for common.version). Call counters: GET /__sim/stats/<name>.\n\n\
Once ready it prints, one line each: `listening url=<url>` and, per database, `database name=... \
version=... url=... login=... password=... uid=... api_key=...`. It serves until Ctrl-C."
)]
pub struct SimArgs {
    /// Address to listen on (port 0 picks a free port). Not Odoo's 8069, so that a real Odoo
    /// on the same machine keeps its port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:18069")]
    pub listen: String,

    #[arg(long = "db", value_name = "SPEC", long_help = DB_HELP, help = "A database: name=..,version=..,login=..,password=..,api-key=..,apps=..,records=..,days=..,seed=.. (repeatable)")]
    pub dbs: Vec<String>,

    #[arg(long = "fault", value_name = "SPEC", long_help = FAULT_HELP, help = "A fault: kind=..,rate=..|next=..|calls=K-M,ms=..,methods=..,db=.. (repeatable)")]
    pub faults: Vec<String>,

    #[arg(long = "custom-field", value_name = "[DB/]MODEL:NAME:KIND", long_help = CUSTOM_FIELD_HELP, help = "A custom field: [DB/]MODEL:NAME:KIND, e.g. sale.order:x_studio_region:char (repeatable)")]
    pub custom_fields: Vec<String>,
}

fn spec_error(input: &str, reason: impl Into<String>) -> SimError {
    SimError::InvalidSpec {
        what: "database",
        input: input.to_string(),
        reason: reason.into(),
    }
}

/// Parses a `--db` spec.
pub fn parse_db_spec(input: &str) -> Result<DatabaseSpec, SimError> {
    let mut name = None;
    let mut spec = DatabaseSpec::new("", 19);
    let mut user = UserSpec::admin();
    for part in input.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| spec_error(input, format!("{part:?} is not key=value")))?;
        let num = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| spec_error(input, format!("{key} needs a whole number")))
        };
        match key {
            "name" if !value.is_empty() => name = Some(value.to_string()),
            "version" => {
                let v = num(value)? as u32;
                if !(12..=19).contains(&v) {
                    return Err(spec_error(input, "version must be 12 to 19"));
                }
                spec.version = v;
            }
            "login" => user.login = value.to_string(),
            "password" => user.password = value.to_string(),
            "api-key" | "api_key" => user.api_keys.push(value.to_string()),
            "apps" => {
                spec.apps = value
                    .split('+')
                    .filter(|a| !a.is_empty())
                    .map(|a| {
                        App::from_name(a)
                            .ok_or_else(|| spec_error(input, format!("unknown app {a:?}")))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "records" => spec.data.records = num(value)? as usize,
            "days" => spec.data.days = num(value)? as u32,
            "seed" => spec.data.seed = num(value)?,
            "burst" => spec.data.bursts.push(BurstSpec {
                model: "res.partner".into(),
                count: num(value)? as usize,
                at: None,
            }),
            other => return Err(spec_error(input, format!("unknown key {other:?}"))),
        }
    }
    spec.name = name.ok_or_else(|| spec_error(input, "name is required"))?;
    spec.users = vec![user];
    Ok(spec)
}

/// Splits `db=NAME` off a `--fault` spec.
fn parse_fault_spec(input: &str) -> Result<(Option<String>, FaultRule), SimError> {
    let mut db = None;
    let rest: Vec<&str> = input
        .split(',')
        .filter(|p| match p.trim().strip_prefix("db=") {
            Some(name) => {
                db = Some(name.to_string());
                false
            }
            None => true,
        })
        .collect();
    Ok((db, rest.join(",").parse()?))
}

/// Parses a `--custom-field` spec: the database it is limited to, if any, and the field.
pub fn parse_custom_field_spec(input: &str) -> Result<(Option<String>, CustomField), SimError> {
    // Model names have no `/`, so one before the first `:` names a database.
    let head = input.split(':').next().unwrap_or_default();
    match head.split_once('/') {
        Some(("", _)) => Err(SimError::InvalidSpec {
            what: "custom field",
            input: input.to_string(),
            reason: "empty database name before '/'".into(),
        }),
        Some((db, _)) => Ok((Some(db.to_string()), input[db.len() + 1..].parse()?)),
        None => Ok((None, input.parse()?)),
    }
}

/// Gives each database spec the custom fields meant for it: those naming it, and those naming
/// no database when it has their model. A field that reaches no database is an error.
pub fn assign_custom_fields(specs: &mut [DatabaseSpec], inputs: &[String]) -> Result<(), SimError> {
    for input in inputs {
        let (db, field) = parse_custom_field_spec(input)?;
        let mut assigned = false;
        for spec in specs.iter_mut() {
            let wanted = match &db {
                Some(name) => *name == spec.name,
                None => Schema::new(spec.version, &spec.apps)
                    .model(&field.model)
                    .is_some(),
            };
            if wanted {
                spec.custom_fields.push(field.clone());
                assigned = true;
            }
        }
        if !assigned {
            return Err(SimError::InvalidSpec {
                what: "custom field",
                input: input.clone(),
                reason: match db {
                    Some(name) => format!("no database named {name:?}"),
                    None => format!("no database has the model {:?}", field.model),
                },
            });
        }
    }
    Ok(())
}

/// Runs the simulator until Ctrl-C.
pub async fn run(args: SimArgs) -> Result<(), SimError> {
    let sim = Simulator::new();
    let mut specs = if args.dbs.is_empty() {
        vec![parse_db_spec(
            "name=demo,version=19,login=admin,password=admin,api-key=demo-api-key",
        )?]
    } else {
        args.dbs
            .iter()
            .map(|s| parse_db_spec(s))
            .collect::<Result<Vec<_>, _>>()?
    };
    assign_custom_fields(&mut specs, &args.custom_fields)?;
    for spec in specs {
        sim.add_database(spec)?;
    }
    for f in &args.faults {
        let (db, rule) = parse_fault_spec(f)?;
        match db {
            Some(name) => sim.db(&name)?.add_fault(rule),
            None => {
                for db in sim.databases() {
                    db.add_fault(rule.clone());
                }
                sim.add_server_fault(rule);
            }
        }
    }
    let server = sim.serve(&args.listen).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening url={}", server.url()).map_err(SimError::Output)?;
        for db in sim.databases() {
            for u in db.users() {
                writeln!(
                    out,
                    "database name={} version={} url={} login={} password={} uid={} api_key={} records={}",
                    db.name(),
                    db.version(),
                    server.db_url(db.name()),
                    u.login,
                    u.password,
                    u.uid,
                    u.api_keys.first().map_or("-", String::as_str),
                    ["res.partner", "sale.order", "account.move", "account.invoice", "hr.employee"]
                        .iter()
                        .filter_map(|m| db.count(m).ok())
                        .sum::<usize>(),
                )
                .map_err(SimError::Output)?;
            }
        }
        out.flush().map_err(SimError::Output)?;
    }
    tokio::signal::ctrl_c().await.map_err(SimError::Output)?;
    server.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_db_specs() {
        let s = parse_db_spec(
            "name=acme,version=17,login=boss,password=pw,api-key=k1,apps=sale+hr,records=5000,days=30,seed=9",
        )
        .unwrap();
        assert_eq!((s.name.as_str(), s.version), ("acme", 17));
        assert_eq!(s.apps, vec![App::Sale, App::Hr]);
        assert_eq!(s.users[0].login, "boss");
        assert_eq!(s.users[0].api_keys, vec!["k1".to_string()]);
        assert_eq!((s.data.records, s.data.days, s.data.seed), (5000, 30, 9));
        assert!(parse_db_spec("version=17").is_err());
        assert!(parse_db_spec("name=a,version=11").is_err());
        assert!(parse_db_spec("name=a,apps=crm").is_err());
    }

    #[test]
    fn custom_fields_go_to_the_databases_meant() {
        let mut specs = vec![
            parse_db_spec("name=a,version=17").unwrap(),
            parse_db_spec("name=b,version=12,apps=contacts").unwrap(),
        ];
        assign_custom_fields(
            &mut specs,
            &[
                "sale.order:x_studio_region:char".to_string(),
                "b/res.partner:x_studio_tier:selection=gold+silver".to_string(),
                "res.partner:x_code:integer".to_string(),
            ],
        )
        .unwrap();
        let names = |s: &DatabaseSpec| -> Vec<String> {
            s.custom_fields.iter().map(|f| f.name.clone()).collect()
        };
        // b has no sales app: the unprefixed sale.order field skips it.
        assert_eq!(names(&specs[0]), vec!["x_studio_region", "x_code"]);
        assert_eq!(names(&specs[1]), vec!["x_studio_tier", "x_code"]);
        for bad in [
            "c/res.partner:x_a:char",
            "hr.employee.nope:x_a:char",
            "/res.partner:x_a:char",
            "res.partner:x_a",
        ] {
            assert!(
                assign_custom_fields(&mut specs, &[bad.to_string()]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn parses_fault_specs_with_db() {
        let (db, rule) = parse_fault_spec("db=acme,kind=503,rate=0.5").unwrap();
        assert_eq!(db.as_deref(), Some("acme"));
        assert_eq!(rule.kind, crate::faults::FaultKind::ServiceUnavailable);
    }
}
