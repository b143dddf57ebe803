//! The store conformance suite (`store/suite.rs`) against [`MongoStore`] on a real `mongod`
//! (a one-node replica set from testkit, one server per test). A missing `mongod` fails the
//! tests: it never skips them.

#[path = "store/suite.rs"]
mod suite;

use std::sync::Arc;

use shared::store::mongo::MongoStore;
use shared::store::SharedStore;
use testkit::MongoServer;

/// A fresh server and a store on it; the server lives as long as the returned guard.
async fn mongo_store() -> (SharedStore, MongoServer) {
    let server = MongoServer::start()
        .await
        .unwrap_or_else(|e| panic!("cannot start mongod (set MONGOD_BIN?): {e}"));
    let client = server
        .client()
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test mongod: {e}"));
    let store = MongoStore::new(client, "odoo_sync_test")
        .await
        .unwrap_or_else(|e| panic!("cannot set up the store: {e}"));
    (Arc::new(store), server)
}

store_suite!(mongo_store());

/// `connect` reads the database name from the URI and creates the indexes DESIGN.md 4.2 names.
#[tokio::test]
async fn connect_uses_uri_database_and_creates_indexes() {
    let server = MongoServer::start()
        .await
        .unwrap_or_else(|e| panic!("cannot start mongod: {e}"));
    let uri = server.uri().replacen("/?", "/tenant_data?", 1);
    let store = MongoStore::connect(&uri)
        .await
        .unwrap_or_else(|e| panic!("connect failed: {e}"));
    assert_eq!(store.database_name(), "tenant_data");
    let client = server.client().await.unwrap_or_else(|e| panic!("{e}"));
    let db = client.database("tenant_data");
    for collection in [
        "odoosaleorders",
        "odooinvoices",
        "odoocontacts",
        "odooemployees",
    ] {
        let names = db
            .collection::<mongodb::bson::Document>(collection)
            .list_index_names()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            names.iter().any(|n| n.contains("userId_1_odooId_1")),
            "{collection}: {names:?}"
        );
    }
    let default = MongoStore::connect(&server.uri())
        .await
        .unwrap_or_else(|e| panic!("connect failed: {e}"));
    assert_eq!(default.database_name(), "odoo_sync");
}
