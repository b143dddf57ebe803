//! Finds the server binaries: explicit env variable first (what scripts/test.sh exports), then the
//! place scripts/install-test-deps.sh puts them.

use std::env;
use std::path::{Path, PathBuf};

use crate::TestkitError;

pub(crate) const MONGOD_ENV: &str = "MONGOD_BIN";
pub(crate) const REDIS_ENV: &str = "REDIS_SERVER_BIN";

/// `MONGOD_BIN`, else `$TOOLS_DIR/mongodb/bin/mongod`, else `<workspace>/.tools/mongodb/bin/mongod`.
pub(crate) fn mongod() -> Result<PathBuf, TestkitError> {
    if let Some(path) = from_env("mongod", MONGOD_ENV)? {
        return Ok(path);
    }
    // Same override as the install script, so a custom tools dir works without MONGOD_BIN.
    let tools = match env::var_os("TOOLS_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace_root().join(".tools"),
    };
    let path = tools.join("mongodb").join("bin").join("mongod");
    if is_executable(&path) {
        Ok(path)
    } else {
        Err(TestkitError::BinaryNotFound {
            server: "mongod",
            env_var: MONGOD_ENV,
            detail: format!("{} does not exist or is not executable", path.display()),
        })
    }
}

/// `REDIS_SERVER_BIN`, else `redis-server` on `PATH`.
pub(crate) fn redis_server() -> Result<PathBuf, TestkitError> {
    if let Some(path) = from_env("redis-server", REDIS_ENV)? {
        return Ok(path);
    }
    let path_var = env::var_os("PATH").unwrap_or_default();
    env::split_paths(&path_var)
        .map(|dir| dir.join("redis-server"))
        .find(|p| is_executable(p))
        .ok_or_else(|| TestkitError::BinaryNotFound {
            server: "redis-server",
            env_var: REDIS_ENV,
            detail: "redis-server is not on PATH".to_string(),
        })
}

/// An env variable that is set must point at an executable; a wrong path is an error rather than
/// a silent fallback, so a typo in CI configuration shows up.
fn from_env(server: &'static str, var: &'static str) -> Result<Option<PathBuf>, TestkitError> {
    match env::var_os(var) {
        Some(v) if !v.is_empty() => {
            let path = PathBuf::from(v);
            if is_executable(&path) {
                Ok(Some(path))
            } else {
                Err(TestkitError::BinaryNotFound {
                    server,
                    env_var: var,
                    detail: format!(
                        "{var}={} does not exist or is not executable",
                        path.display()
                    ),
                })
            }
        }
        _ => Ok(None),
    }
}

/// This crate lives at `<workspace>/testkit`, so its manifest dir's parent is the workspace root.
fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
