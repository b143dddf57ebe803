//! The tenant's saved Odoo connection on MongoDB: the `connection` sub-document of the
//! tenant's status document (`odoosyncstatuses`), the secret kept encrypted
//! (`secret: {keyId, nonce, ciphertext}`), `savedAt` a BSON date.

use chrono::{DateTime, Utc};
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::{ReadConcern, WriteConcern};

use super::{commit, date, mongo_error, Fields, MongoStore, TxnError};
use crate::store::{EncryptedSecret, StoreError, StoredConnection, SyncStatus, TenantId};

impl MongoStore {
    /// See [`crate::store::Store::save_connection`]: the tenant is created if needed, then
    /// one transaction replaces the connection, drops the lease and bumps the fence (an old
    /// holder's writes fail), forgets the plan and per-module state and deletes the batches.
    pub(super) async fn save_connection_impl(
        &self,
        user_id: &TenantId,
        connection: &StoredConnection,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.upsert_tenant(user_id).await?;
        let stored = connection_doc(connection);
        self.retrying(|| self.save_connection_once(user_id, &stored, now))
            .await
    }

    async fn save_connection_once(
        &self,
        user_id: &TenantId,
        connection: &Document,
        now: DateTime<Utc>,
    ) -> Result<(), TxnError> {
        let mut session = self.client.start_session().await?;
        session
            .start_transaction()
            .read_concern(ReadConcern::snapshot())
            .write_concern(WriteConcern::majority())
            .await?;
        let updated = self
            .tenants()
            .update_one(
                doc! { "userId": user_id.as_str() },
                doc! {
                    "$set": {
                        "connection": connection.clone(),
                        "syncStatus": SyncStatus::NotStarted.as_str(),
                        "blocked": Bson::Null,
                        "odooVersion": Bson::Null,
                        "protocol": Bson::Null,
                        "employeeAccess": Bson::Null,
                        "modules": [],
                        "lease": Bson::Null,
                        "updatedAt": date(now),
                    },
                    "$inc": { "fence": 1_i64 },
                },
            )
            .session(&mut session)
            .await?;
        if updated.matched_count == 0 {
            // Deleted between the upsert and this transaction: the deletion won.
            return Err(StoreError::UnknownTenant(user_id.to_string()).into());
        }
        self.batches_coll()
            .delete_many(doc! { "userId": user_id.as_str() })
            .session(&mut session)
            .await?;
        commit(&mut session).await
    }

    /// See [`crate::store::Store::connection`].
    pub(super) async fn set_connection_modules_impl(
        &self,
        user_id: &TenantId,
        modules: Option<&[String]>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut update = doc! {
            "$set": {
                "modules.$[].lastIncrementalAt": Bson::Null,
                "updatedAt": date(now),
            },
        };
        match modules {
            Some(modules) => {
                if let Ok(set) = update.get_document_mut("$set") {
                    set.insert("connection.modules", modules);
                }
            }
            None => {
                update.insert("$unset", doc! { "connection.modules": "" });
            }
        }
        let updated = self
            .tenants()
            .update_one(
                doc! { "userId": user_id.as_str(), "connection": { "$type": "object" } },
                update,
            )
            .await
            .map_err(mongo_error)?;
        if updated.matched_count == 0 {
            return Err(StoreError::UnknownTenant(user_id.to_string()));
        }
        Ok(())
    }

    pub(super) async fn connection_impl(
        &self,
        user_id: &TenantId,
    ) -> Result<Option<StoredConnection>, StoreError> {
        let found = self
            .tenants()
            .find_one(doc! { "userId": user_id.as_str() })
            .projection(doc! { "_id": 0, "connection": 1 })
            .await
            .map_err(mongo_error)?;
        let Some(tenant) = found else {
            return Ok(None);
        };
        Fields::new(&tenant, "tenant")
            .opt_doc("connection")?
            .map(connection_from_doc)
            .transpose()
    }
}

fn connection_doc(connection: &StoredConnection) -> Document {
    let mut stored = doc! {
        "url": &connection.url,
        "db": &connection.db,
        "username": &connection.username,
        "secretKind": &connection.secret_kind,
        "secret": {
            "keyId": &connection.secret.key_id,
            "nonce": &connection.secret.nonce,
            "ciphertext": &connection.secret.ciphertext,
        },
        "savedAt": date(connection.saved_at),
    };
    if let Some(modules) = &connection.modules {
        stored.insert("modules", modules);
    }
    if let Some(protocol) = &connection.protocol {
        stored.insert("protocol", protocol);
    }
    stored
}

fn connection_from_doc(doc: &Document) -> Result<StoredConnection, StoreError> {
    let f = Fields::new(doc, "tenant.connection");
    let secret = f
        .opt_doc("secret")?
        .ok_or_else(|| f.bad("secret", "a document"))?;
    let s = Fields::new(secret, "tenant.connection.secret");
    Ok(StoredConnection {
        url: f.str("url")?.to_string(),
        db: f.str("db")?.to_string(),
        username: f.str("username")?.to_string(),
        secret_kind: f.str("secretKind")?.to_string(),
        secret: EncryptedSecret {
            key_id: s.str("keyId")?.to_string(),
            nonce: s.str("nonce")?.to_string(),
            ciphertext: s.str("ciphertext")?.to_string(),
        },
        saved_at: f.date("savedAt")?,
        modules: match doc.get("modules") {
            None | Some(Bson::Null) => None,
            Some(_) => Some(f.opt_strings("modules")?),
        },
        protocol: f.opt_str("protocol")?.map(str::to_string),
    })
}
