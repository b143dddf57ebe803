//! `odoo-sync export`: one tenant's mirror of one module, out of a store as CSV or JSON
//! lines, to stdout or a file. Records are read in keyset pages (`odooId > last`), never
//! loaded whole; deleted ones are left out unless asked for.
//!
//! JSON lines: one stored document per line, as the store holds it. CSV: `odooId`,
//! `writeDate`, `createDate`, `active`, `deletedAt`, then the Odoo fields the sync reads
//! for this tenant (the module's field list on its version, plus the tenant's resolved
//! extra fields), sorted by name, so the header is known before the first row and the
//! same for every export of that tenant. A many2one field is two columns, `<field>` (the
//! id) and `<field>_name`; an x2many list is one cell of JSON; Odoo's `false` for an
//! empty value is an empty cell, except in boolean fields.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, ValueEnum};
use serde_json::Value;
use shared::config::Settings;
use shared::modules::{Kind, Module};
use shared::odoo::ServerVersion;
use shared::store::{SharedStore, StoredRecord, TenantId};

use super::sync::open_store;

/// Records read from the store per page.
const PAGE: u32 = 500;

/// Columns every CSV row starts with; Odoo fields of the same name (`active`) are not
/// repeated after them.
const LEADING: [&str; 5] = ["odooId", "writeDate", "createDate", "active", "deletedAt"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Comma-separated values with a header row.
    Csv,
    /// One stored document (JSON) per line.
    Jsonl,
}

impl Format {
    fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
        }
    }
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The store: sqlite://PATH or mongodb://...
    #[arg(long)]
    store: String,
    /// The tenant (userId) whose mirror to export.
    #[arg(long)]
    tenant: String,
    /// The module to export (sales, invoices, contacts, employees, or another synced one).
    #[arg(long)]
    module: String,
    /// csv or jsonl.
    #[arg(long, value_enum)]
    format: Format,
    /// Write DIR/<module>.<csv|jsonl> instead of printing to stdout.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Also export records deleted in Odoo (they carry deletedAt).
    #[arg(long)]
    include_deleted: bool,
    /// A TOML file with settings (same keys as the environment variables, in lower case):
    /// the modules it declares can be exported.
    #[arg(long)]
    config: Option<PathBuf>,
}

pub async fn run(args: ExportArgs) -> anyhow::Result<()> {
    // Loading the settings registers the modules they declare, so parse the name after.
    let settings = Settings::load(args.config.as_deref())?;
    let module: Module = args.module.parse()?;
    let tenant = TenantId::parse(&args.tenant)?;
    let store = open_store(Some(&args.store), &settings).await?;
    let Some(state) = store.tenant(&tenant).await? else {
        bail!("tenant {tenant} is not in this store");
    };
    let Some(synced) = state.module(module) else {
        let names: Vec<&str> = state.modules.iter().map(|m| m.module.as_str()).collect();
        bail!(
            "module {module} is not synced for tenant {tenant} (synced: {})",
            if names.is_empty() {
                "none yet".to_string()
            } else {
                names.join(", ")
            }
        );
    };
    let source = Source {
        store: &store,
        tenant: &tenant,
        module,
        include_deleted: args.include_deleted,
    };
    let columns = match args.format {
        Format::Csv => {
            let version = state
                .odoo_version
                .as_deref()
                .map(ServerVersion::parse)
                .transpose()?
                .with_context(|| format!("tenant {tenant} has no Odoo version stored yet"))?;
            let fields = module
                .mapping(&version, &synced.model, &synced.extra_fields)
                .fields;
            Some(Columns::learn(&source, module, fields).await?)
        }
        Format::Jsonl => None,
    };

    match &args.out {
        Some(dir) => {
            let path = dir.join(format!("{module}.{}", args.format.extension()));
            let written = export_to_file(&source, columns.as_ref(), dir, &path).await?;
            eprintln!(
                "Exported {written} {} records of tenant {tenant} to {}",
                module.display_name(),
                path.display()
            );
            if !args.include_deleted {
                let deleted = store.record_count(&tenant, module, true).await?
                    - store.record_count(&tenant, module, false).await?;
                if deleted > 0 {
                    eprintln!("{deleted} deleted records left out (--include-deleted adds them)");
                }
            }
        }
        None => {
            let stdout = io::stdout().lock();
            match export(&source, columns.as_ref(), BufWriter::new(stdout)).await {
                Ok(_) => {}
                // `| head` closed the pipe: the reader has what it wanted.
                Err(e) if broken_pipe(&e) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Where the records come from.
struct Source<'a> {
    store: &'a SharedStore,
    tenant: &'a TenantId,
    module: Module,
    include_deleted: bool,
}

impl Source<'_> {
    /// Calls `each` with every record to export, page by page.
    async fn for_each(
        &self,
        all: bool,
        mut each: impl FnMut(&StoredRecord) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let mut after = 0;
        loop {
            let page = self
                .store
                .records(self.tenant, self.module, after, PAGE)
                .await?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            after = last.odoo_id;
            for record in &page {
                if all || self.include_deleted || record.deleted_at.is_none() {
                    each(record)?;
                }
            }
            if page.len() < PAGE as usize {
                return Ok(());
            }
        }
    }
}

/// Writes the export into `path` through a partial file beside it, renamed when complete,
/// so a failed export never leaves a file that looks whole. (Created like any file, so it
/// gets the usual permissions, which a temporary file would not.)
async fn export_to_file(
    source: &Source<'_>,
    columns: Option<&Columns>,
    dir: &Path,
    path: &Path,
) -> anyhow::Result<u64> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let partial = dir.join(format!(".{name}.partial"));
    let written = async {
        let file = fs::File::create(&partial)
            .with_context(|| format!("creating {}", partial.display()))?;
        let written = export(source, columns, BufWriter::new(&file)).await?;
        file.sync_all()?;
        fs::rename(&partial, path).with_context(|| format!("writing {}", path.display()))?;
        anyhow::Ok(written)
    }
    .await;
    if written.is_err() {
        let _ = fs::remove_file(&partial);
    }
    written
}

/// Writes every record to `out` (CSV with `columns`, else JSON lines); returns how many.
async fn export(
    source: &Source<'_>,
    columns: Option<&Columns>,
    out: impl Write,
) -> anyhow::Result<u64> {
    let mut written = 0;
    match columns {
        Some(columns) => {
            let mut csv = csv::Writer::from_writer(out);
            csv.write_record(columns.header()).map_err(csv_error)?;
            source
                .for_each(false, |record| {
                    written += 1;
                    csv.write_record(columns.row(record)).map_err(csv_error)
                })
                .await?;
            csv.flush()?;
        }
        None => {
            let mut out = out;
            source
                .for_each(false, |record| {
                    written += 1;
                    // As an I/O error when it is one, so a closed pipe is seen as such.
                    serde_json::to_writer(&mut out, &record.document).map_err(io::Error::from)?;
                    out.write_all(b"\n")?;
                    Ok(())
                })
                .await?;
            out.flush()?;
        }
    }
    Ok(written)
}

/// A CSV error as the I/O error inside it when there is one (so a closed pipe is seen).
fn csv_error(error: csv::Error) -> anyhow::Error {
    if error.is_io_error() {
        if let csv::ErrorKind::Io(io) = error.into_kind() {
            return io.into();
        }
        return anyhow::anyhow!("writing CSV failed");
    }
    error.into()
}

fn broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|e| e.downcast_ref::<io::Error>())
        .any(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

/// How an Odoo field's values are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Shape {
    /// Nothing but `false` seen: an empty cell for it.
    Unknown,
    /// Text, numbers, dates, selections: `false` is empty.
    Scalar,
    /// `true` and `false` as written.
    Bool,
    /// An id list: one JSON cell.
    List,
    /// `[id, "name"]`: two cells.
    Many2one,
}

impl Shape {
    /// What one value says about its field, and whether that settles it (a bare number may
    /// still be a many2one sent without its name).
    fn of(value: &Value) -> Option<(Shape, bool)> {
        match value {
            Value::Array(items) => match items.as_slice() {
                [Value::Number(_), Value::String(_)] => Some((Shape::Many2one, true)),
                _ => Some((Shape::List, true)),
            },
            Value::Bool(true) => Some((Shape::Bool, true)),
            Value::Bool(false) | Value::Null => None,
            Value::Number(_) => Some((Shape::Scalar, false)),
            Value::String(_) | Value::Object(_) => Some((Shape::Scalar, true)),
        }
    }
}

/// The CSV columns of one export: the Odoo fields and how each is written.
struct Columns {
    fields: Vec<(String, Shape)>,
}

impl Columns {
    /// The shapes of `fields`: from the module's structured fields where they say (a
    /// many2one, a boolean), else from the stored values, read in a first pass over the
    /// mirror (page by page, like the export) that stops once every field is settled.
    async fn learn(
        source: &Source<'_>,
        module: Module,
        fields: Vec<String>,
    ) -> anyhow::Result<Columns> {
        let names: BTreeSet<String> = fields
            .into_iter()
            .filter(|f| f != "id" && !LEADING.contains(&f.as_str()))
            .collect();
        let mut known: BTreeMap<String, Shape> = BTreeMap::new();
        for field in &module.spec().structured {
            let shape = match field.kind {
                Kind::Many2one(_) => Shape::Many2one,
                Kind::Bool => Shape::Bool,
                _ => continue,
            };
            for source in field.sources {
                known.insert(source.to_string(), shape);
            }
        }
        let mut shapes: BTreeMap<String, (Shape, bool)> = names
            .iter()
            .map(|name| match known.get(name) {
                Some(shape) => (name.clone(), (*shape, true)),
                None => (name.clone(), (Shape::Unknown, false)),
            })
            .collect();
        if shapes.values().any(|(_, settled)| !settled) {
            let mut open: usize = shapes.values().filter(|(_, settled)| !settled).count();
            let scan = source.for_each(true, |record| {
                if open == 0 {
                    return Ok(());
                }
                let Some(raw) = record.document.get("raw").and_then(Value::as_object) else {
                    return Ok(());
                };
                for (name, (shape, settled)) in shapes.iter_mut() {
                    if *settled {
                        continue;
                    }
                    if let Some((seen, sure)) = raw.get(name).and_then(Shape::of) {
                        *shape = (*shape).max(seen);
                        if sure {
                            *settled = true;
                            open -= 1;
                        }
                    }
                }
                Ok(())
            });
            scan.await?;
        }
        Ok(Columns {
            fields: shapes
                .into_iter()
                .map(|(name, (shape, _))| (name, shape))
                .collect(),
        })
    }

    fn header(&self) -> Vec<String> {
        let mut header: Vec<String> = LEADING.iter().map(|c| c.to_string()).collect();
        for (name, shape) in &self.fields {
            header.push(name.clone());
            if *shape == Shape::Many2one {
                header.push(format!("{name}_name"));
            }
        }
        header
    }

    fn row(&self, record: &StoredRecord) -> Vec<String> {
        let created = record
            .document
            .get("createDate")
            .and_then(Value::as_str)
            .map(|text| match DateTime::parse_from_rfc3339(text) {
                Ok(at) => date(at.with_timezone(&Utc)),
                Err(_) => text.to_string(),
            })
            .unwrap_or_default();
        let mut row = vec![
            record.odoo_id.to_string(),
            date(record.write_date),
            created,
            record.active.to_string(),
            record.deleted_at.map(date).unwrap_or_default(),
        ];
        let raw = record.document.get("raw").and_then(Value::as_object);
        for (name, shape) in &self.fields {
            let value = raw.and_then(|raw| raw.get(name)).unwrap_or(&Value::Null);
            match shape {
                Shape::Many2one => {
                    let (id, label) = match value {
                        Value::Array(pair) => (
                            pair.first().map(cell).unwrap_or_default(),
                            pair.get(1).map(cell).unwrap_or_default(),
                        ),
                        other => (cell(other), String::new()),
                    };
                    row.push(id);
                    row.push(label);
                }
                Shape::Bool => row.push(match value {
                    Value::Bool(b) => b.to_string(),
                    other => cell(other),
                }),
                Shape::List | Shape::Scalar | Shape::Unknown => row.push(cell(value)),
            }
        }
        row
    }
}

/// A value in one cell: `false` and null empty, text as is, lists and objects as JSON.
fn cell(value: &Value) -> String {
    match value {
        Value::Null | Value::Bool(false) => String::new(),
        Value::Bool(true) => "true".to_string(),
        Value::String(text) => text.clone(),
        Value::Number(n) => n.to_string(),
        Value::Array(_) | Value::Object(_) => value.to_string(),
    }
}

fn date(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shapes_come_from_values() {
        assert_eq!(
            Shape::of(&json!([3, "Azure"])),
            Some((Shape::Many2one, true))
        );
        assert_eq!(Shape::of(&json!([3, 4])), Some((Shape::List, true)));
        assert_eq!(Shape::of(&json!([])), Some((Shape::List, true)));
        assert_eq!(Shape::of(&json!(true)), Some((Shape::Bool, true)));
        assert_eq!(Shape::of(&json!(false)), None);
        assert_eq!(Shape::of(&json!(7)), Some((Shape::Scalar, false)));
        assert_eq!(cell(&json!(false)), "");
        assert_eq!(cell(&json!([1, 2])), "[1,2]");
    }
}
