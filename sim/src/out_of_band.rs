//! Changes a real Odoo makes without touching `write_date`, which only re-reading content
//! finds: many2one display names that follow a rename (Odoo computes the name inside
//! `[id, "name"]` when it answers), the partner merge wizard (it re-points the many2one
//! columns of other models with plain SQL, then deletes the merged partners), and direct SQL
//! fixes by administrators.

use std::collections::HashMap;

use serde_json::Value as Json;

use crate::database::{Database, Db, Table};
use crate::error::SimError;
use crate::methods::display_name;
use crate::schema::FieldType;
use crate::value::Cell;

/// Shows the record `id` of `table` under its current display name in every many2one cell
/// pointing at it, in every model: what reading those records returns from now on. Their
/// `write_date` stays.
pub(crate) fn follow_rename(
    db: &Database,
    tables: &mut HashMap<&'static str, Table>,
    table: &str,
    id: i64,
) {
    let schema = db.schema();
    let Some(target) = schema.models().iter().find(|m| m.table == table) else {
        return;
    };
    let Some(name) = tables
        .get(table)
        .and_then(|t| t.rows.get(&id))
        .map(|row| display_name(target, row))
    else {
        return;
    };
    // A product's template is its own record here (one variant per template, same id): the
    // template's name is the product's, so its pair follows too.
    if let Some(tmpl) = target.field_index("product_tmpl_id") {
        if let Some(row) = tables.get_mut(table).and_then(|t| t.rows.get_mut(&id)) {
            if let Some(Cell::Link(tid, shown)) = row.get(tmpl) {
                if **shown != *name {
                    row[tmpl] = Cell::Link(*tid, name.as_str().into());
                }
            }
        }
    }
    relink(db, tables, table, |linked| {
        (linked == id).then(|| (id, name.clone()))
    });
}

/// Rewrites every many2one cell pointing into `table` for which `to` gives a new target.
fn relink(
    db: &Database,
    tables: &mut HashMap<&'static str, Table>,
    table: &str,
    to: impl Fn(i64) -> Option<(i64, String)>,
) {
    let schema = db.schema();
    for model in schema.models() {
        // hr.employee.public is a view over hr.employee's rows: one pass per table is enough,
        // and a second would find nothing left to change.
        for (index, field) in model.fields.iter().enumerate() {
            let FieldType::Many2one(relation) = field.ty else {
                continue;
            };
            if schema.model(relation).map(|m| m.table) != Some(table) {
                continue;
            }
            let Some(rows) = tables.get_mut(model.table) else {
                continue;
            };
            for row in rows.rows.values_mut() {
                if let Some(Cell::Link(linked, shown)) = row.get(index) {
                    if let Some((new_id, new_name)) = to(*linked) {
                        if *linked != new_id || **shown != *new_name {
                            row[index] = Cell::Link(new_id, new_name.as_str().into());
                        }
                    }
                }
            }
        }
    }
}

impl Db {
    /// Merges the partners `sources` into `target` as Odoo's `base.partner.merge` wizard does:
    /// every many2one pointing at a source now points at the target, by SQL (no `write_date`
    /// changes on the re-pointed records), then the sources are deleted. The target itself is
    /// written (its `write_date` moves), as the wizard writes the merged values on it.
    pub fn merge_partners(&self, sources: &[i64], target: i64) -> Result<(), SimError> {
        let db = &self.inner;
        let partner =
            db.schema()
                .model("res.partner")
                .cloned()
                .ok_or_else(|| SimError::UnknownModel {
                    database: db.name.clone(),
                    model: "res.partner".into(),
                })?;
        {
            let mut tables = db.tables.write();
            let name = tables
                .get(partner.table)
                .and_then(|t| t.rows.get(&target))
                .map(|row| display_name(&partner, row))
                .ok_or(SimError::MissingRecord {
                    model: "res.partner".into(),
                    id: target,
                })?;
            relink(db, &mut tables, partner.table, |linked| {
                sources.contains(&linked).then(|| (target, name.clone()))
            });
        }
        self.touch("res.partner", &[target])?;
        let mut tx = self.begin();
        for source in sources {
            tx.delete("res.partner", *source)?;
        }
        tx.commit();
        Ok(())
    }

    /// Writes `values` on a record as a direct SQL `UPDATE` would: its `write_date` stays
    /// what it was (display names pointing at it follow, as Odoo computes them on read).
    pub fn sql_update(&self, model: &str, id: i64, values: Json) -> Result<(), SimError> {
        let mut tx = self.begin();
        tx.update_without_stamp(model, id, values)?;
        tx.commit();
        Ok(())
    }
}
