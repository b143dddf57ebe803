//! Mirrored records in MongoDB: how a record is stored, the upserts of a fenced write (the
//! newest version wins, or Odoo's answer wins for reconcile and verify), renames followed into
//! the records that link to a renamed one, and the reads reconcile and verify compare against.

use std::collections::HashMap;

use chrono::{DateTime, NaiveTime, Utc};
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::ClientSession;
use serde_json::{Map, Value};

use super::{date, doc_to_json, mongo_error, opt_date, Fields, MongoStore, TxnError, ID_CHUNK};
use crate::mirror::DISPLAY_NAME;
use crate::modules::Module;
use crate::store::{
    FieldValue, MirrorRecord, StoreError, StoredRecord, StoredVersion, TenantId, WriteSummary,
};

/// A record whose display name changed: its odooId and new name.
pub(super) type Rename = (i64, String);

/// What is stored of a record about to be replaced.
struct Before {
    write_date: DateTime<Utc>,
    display_name: Option<String>,
}

impl MongoStore {
    /// Upserts one chunk of records of `module`. Unless `truth` (reconcile, verify), a record
    /// older than the stored one is skipped; the stored versions are read first (in the same
    /// snapshot) so the summary counts exactly what was kept, and the update pipeline
    /// re-checks the date anyway. Returns the renames among the replaced records.
    pub(super) async fn upsert_chunk(
        &self,
        session: &mut ClientSession,
        user_id: &TenantId,
        module: Module,
        chunk: &[&MirrorRecord],
        truth: bool,
        now: DateTime<Utc>,
    ) -> Result<(WriteSummary, Vec<Rename>), TxnError> {
        let ids: Vec<i64> = chunk.iter().map(|r| r.odoo_id).collect();
        let stored = self.stored_before(session, user_id, module, &ids).await?;
        let mut summary = WriteSummary::default();
        let mut renames = Vec::new();
        let mut inserts = Vec::new();
        let mut statements = Vec::new();
        for record in chunk {
            match stored.get(&record.odoo_id) {
                Some(before) if !truth && before.write_date > record.write_date => {
                    summary.skipped_older += 1
                }
                Some(before) => {
                    statements.push(upsert_statement(user_id, record, truth, now));
                    if let Some(name) = display_name(&record.raw) {
                        if before.display_name.as_deref() != Some(name) {
                            renames.push((record.odoo_id, name.to_string()));
                        }
                    }
                }
                // Absent in this transaction's snapshot: a plain insert is far cheaper for
                // the server than a pipeline upsert. Fenced transactions of one tenant
                // conflict on the tenant document, so nobody else inserts it meanwhile.
                None => inserts.push(record_doc(user_id, record, now)),
            }
        }
        summary.written = (inserts.len() + statements.len()) as u64;
        if !inserts.is_empty() {
            self.records(module)
                .insert_many(inserts)
                .session(&mut *session)
                .await?;
        }
        self.send_updates(session, module.collection(), statements)
            .await?;
        Ok((summary, renames))
    }

    /// `writeDate` and display name of the stored records among `ids`.
    async fn stored_before(
        &self,
        session: &mut ClientSession,
        user_id: &TenantId,
        module: Module,
        ids: &[i64],
    ) -> Result<HashMap<i64, Before>, TxnError> {
        let name_path = format!("raw.{DISPLAY_NAME}");
        let mut cursor = self
            .records(module)
            .find(doc! { "userId": user_id.as_str(), "odooId": { "$in": ids } })
            .projection(doc! { "_id": 0, "odooId": 1, "writeDate": 1, name_path: 1 })
            .session(&mut *session)
            .await?;
        let mut stored = HashMap::with_capacity(ids.len());
        while let Some(found) = cursor.next(session).await {
            let found = found?;
            let fields = Fields::new(&found, "record");
            let display_name = found
                .get_document("raw")
                .ok()
                .and_then(|raw| raw.get_str(DISPLAY_NAME).ok())
                .map(str::to_string);
            stored.insert(
                fields.i64("odooId")?,
                Before {
                    write_date: fields.date("writeDate")?,
                    display_name,
                },
            );
        }
        Ok(stored)
    }

    /// Shows each renamed record of `target` under its new name in every mirrored record
    /// that links to it, as Odoo now answers for them (their `writeDate` stays: Odoo's does).
    pub(super) async fn follow_renames(
        &self,
        session: &mut ClientSession,
        user_id: &TenantId,
        target: Module,
        renames: &[Rename],
    ) -> Result<(), TxnError> {
        if renames.is_empty() {
            return Ok(());
        }
        for link in target.links_to() {
            let (id_field, name_field) = (link.id_field(), link.name_field());
            // Versions may name the field differently: the raw pair is rewritten under the
            // name the record has, never added under another.
            let statements = link
                .odoo_fields
                .iter()
                .flat_map(|odoo_field| {
                    let raw_field = format!("raw.{odoo_field}");
                    let (id_field, name_field) = (id_field.clone(), name_field.clone());
                    renames.iter().map(move |(id, name)| {
                        doc! {
                            "q": {
                                "userId": user_id.as_str(),
                                &id_field: id,
                                &name_field: { "$ne": name },
                                &raw_field: { "$exists": true },
                            },
                            "u": { "$set": { &name_field: name, &raw_field: [*id, name] } },
                            "multi": true,
                        }
                    })
                })
                .collect();
            self.send_updates(session, link.module.collection(), statements)
                .await?;
        }
        Ok(())
    }

    /// Keeps what a verify of `module` corrected on the tenant's module state.
    pub(super) async fn count_verified(
        &self,
        session: &mut ClientSession,
        user_id: &TenantId,
        module: Module,
        corrected: u64,
    ) -> Result<(), TxnError> {
        let corrected = i64::try_from(corrected).unwrap_or(i64::MAX);
        self.tenants()
            .update_one(
                doc! { "userId": user_id.as_str(), "modules.module": module.as_str() },
                doc! {
                    "$set": { "modules.$.lastVerifyCorrected": corrected },
                    "$inc": { "modules.$.verifyCorrectedTotal": corrected },
                },
            )
            .session(session)
            .await?;
        Ok(())
    }

    pub(super) async fn stored_versions_impl(
        &self,
        user_id: &TenantId,
        module: Module,
    ) -> Result<Vec<StoredVersion>, StoreError> {
        let docs: Vec<Document> = self
            .records(module)
            .find(doc! { "userId": user_id.as_str() })
            .sort(doc! { "odooId": 1 })
            .projection(doc! { "_id": 0, "odooId": 1, "writeDate": 1, "deletedAt": 1 })
            .await
            .map_err(mongo_error)?
            .try_collect()
            .await
            .map_err(mongo_error)?;
        docs.iter()
            .map(|found| {
                let f = Fields::new(found, "record");
                Ok(StoredVersion {
                    odoo_id: f.i64("odooId")?,
                    write_date: f.date("writeDate")?,
                    deleted: f.opt_date("deletedAt")?.is_some(),
                })
            })
            .collect()
    }

    pub(super) async fn records_by_ids_impl(
        &self,
        user_id: &TenantId,
        module: Module,
        ids: &[i64],
    ) -> Result<Vec<StoredRecord>, StoreError> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(ID_CHUNK) {
            let docs: Vec<Document> = self
                .records(module)
                .find(doc! { "userId": user_id.as_str(), "odooId": { "$in": chunk } })
                .projection(doc! { "_id": 0 })
                .await
                .map_err(mongo_error)?
                .try_collect()
                .await
                .map_err(mongo_error)?;
            for doc in &docs {
                found.push(stored_record(doc)?);
            }
        }
        found.sort_by_key(|r| r.odoo_id);
        Ok(found)
    }
}

/// The display name in a fetched record's `raw`, when the module reads it.
fn display_name(raw: &Map<String, Value>) -> Option<&str> {
    raw.get(DISPLAY_NAME).and_then(Value::as_str)
}

/// The stored form of a record. `userId` and `odooId` come first for readability and are set
/// again after the structured fields, like the other fixed keys, so that no structured field
/// can shadow them.
pub(super) fn record_doc(
    user_id: &TenantId,
    record: &MirrorRecord,
    now: DateTime<Utc>,
) -> Document {
    let mut doc = Document::new();
    doc.insert("userId", user_id.as_str());
    doc.insert("odooId", record.odoo_id);
    for (name, value) in &record.fields {
        doc.insert(name.clone(), field_bson(value));
    }
    doc.insert("userId", user_id.as_str());
    doc.insert("odooId", record.odoo_id);
    doc.insert("active", record.active);
    doc.insert("writeDate", date(record.write_date));
    doc.insert("createDate", opt_date(record.create_date));
    doc.insert("raw", json_object_to_bson(&record.raw));
    doc.insert("syncedAt", date(now));
    doc.insert("deletedAt", Bson::Null);
    doc
}

/// An `update` statement that inserts the record or replaces the stored one — unless the
/// stored one has a newer `writeDate` and the record is not `truth`. `$literal` keeps Odoo
/// strings such as `"$where"` from being read as field paths or operators.
fn upsert_statement(
    user_id: &TenantId,
    record: &MirrorRecord,
    truth: bool,
    now: DateTime<Utc>,
) -> Document {
    let literal = doc! { "$literal": record_doc(user_id, record, now) };
    let replacement = if truth {
        Bson::Document(literal)
    } else {
        Bson::Document(doc! {
            "$cond": [
                { "$gt": ["$writeDate", date(record.write_date)] },
                "$$ROOT",
                literal,
            ]
        })
    };
    doc! {
        "q": { "userId": user_id.as_str(), "odooId": record.odoo_id },
        "u": [ { "$replaceWith": replacement } ],
        "upsert": true,
    }
}

fn field_bson(value: &FieldValue) -> Bson {
    match value {
        FieldValue::Null => Bson::Null,
        FieldValue::Bool(b) => Bson::Boolean(*b),
        FieldValue::Int(i) => Bson::Int64(*i),
        FieldValue::Float(f) => Bson::Double(*f),
        FieldValue::Text(s) => Bson::String(s.clone()),
        FieldValue::DateTime(at) => date(*at),
        FieldValue::Date(day) => date(day.and_time(NaiveTime::MIN).and_utc()),
    }
}

fn json_object_to_bson(map: &Map<String, Value>) -> Document {
    map.iter()
        .map(|(k, v)| (k.clone(), json_to_bson(v)))
        .collect()
}

/// JSON as Odoo returned it, as BSON: integers as i64 (doubles beyond), objects and arrays
/// recursively.
fn json_to_bson(value: &Value) -> Bson {
    match value {
        Value::Null => Bson::Null,
        Value::Bool(b) => Bson::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Bson::Int64(i),
            None => Bson::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Bson::String(s.clone()),
        Value::Array(items) => Bson::Array(items.iter().map(json_to_bson).collect()),
        Value::Object(map) => Bson::Document(json_object_to_bson(map)),
    }
}

pub(super) fn stored_record(doc: &Document) -> Result<StoredRecord, StoreError> {
    let f = Fields::new(doc, "record");
    Ok(StoredRecord {
        odoo_id: f.i64("odooId")?,
        write_date: f.date("writeDate")?,
        active: f.bool("active")?,
        deleted_at: f.opt_date("deletedAt")?,
        synced_at: f.date("syncedAt")?,
        document: Value::Object(doc_to_json(doc)),
    })
}
