//! A missing server binary must fail the test with a message that says how to install it, never
//! skip. Alone in its own test binary because it changes environment variables, which would race
//! with other tests running on other threads of the same process under `cargo test`.

use testkit::{MongoServer, RedisServer, TestkitError};

#[tokio::test]
async fn missing_binaries_are_errors_that_say_how_to_install() {
    std::env::set_var("MONGOD_BIN", "/nonexistent/mongod");
    std::env::set_var("REDIS_SERVER_BIN", "/nonexistent/redis-server");

    let err = MongoServer::start().await.err();
    assert!(
        matches!(err, Some(TestkitError::BinaryNotFound { .. })),
        "{err:?}"
    );
    let msg = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("scripts/install-test-deps.sh"), "{msg}");
    assert!(msg.contains("/nonexistent/mongod"), "{msg}");

    let err = RedisServer::start().await.err();
    assert!(
        matches!(err, Some(TestkitError::BinaryNotFound { .. })),
        "{err:?}"
    );
    let msg = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("scripts/install-test-deps.sh"), "{msg}");
}
