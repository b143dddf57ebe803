//! Odoo secrets at rest: AES-256-GCM sealing of a tenant's password or API key into an
//! [`EncryptedSecret`] (key id, nonce, ciphertext), and opening it again with a [`Keyring`]
//! that holds the current key (`ENCRYPTION_KEY`) and, while keys rotate, previous ones.
//!
//! Each secret records the id of the key that sealed it, so a rotated key keeps opening old
//! secrets until they are sealed again under the new one ([`Keyring::needs_reseal`]). A key
//! id is derived from the key (the first 8 hex digits of a domain-separated SHA-256), so the
//! same key always has the same id on every machine, and reveals nothing usable about it.
//!
//! Clear text only ever leaves this module as a [`SecretString`] or inside a
//! [`ConnectionInfo`]'s [`Credential`], both redacted in `Debug`; no error carries it.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::config::{EncryptionKey, Settings};
use crate::odoo::{ConnectionInfo, Credential};
use crate::store::{EncryptedSecret, StoredConnection};

/// `StoredConnection::secret_kind` of a password.
pub const SECRET_KIND_PASSWORD: &str = "password";
/// `StoredConnection::secret_kind` of an API key.
pub const SECRET_KIND_API_KEY: &str = "api_key";

/// Associated data bound into every ciphertext: a sealed value only opens as an Odoo secret
/// of this format version, never as anything else sealed under the same key.
const AAD: &[u8] = b"odoo-sync/odoo-secret/v1";
/// AES-GCM's standard nonce: 96 bits, random per seal.
const NONCE_LEN: usize = 12;
/// Upper bound on a stored ciphertext (secrets are at most 1024 bytes plus the 16-byte tag),
/// so a corrupt document cannot make us decode megabytes.
const MAX_CIPHERTEXT_B64: usize = 4096;

/// Why a secret could not be sealed or opened. Never carries clear text.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// No `ENCRYPTION_KEY` is configured.
    #[error("ENCRYPTION_KEY is not set: it is needed to encrypt and decrypt Odoo secrets")]
    NoKey,
    /// The secret was sealed under a key this keyring does not have.
    #[error(
        "the secret was encrypted with key {0:?}, which is not configured \
         (set it as a previous key while rotating)"
    )]
    UnknownKey(String),
    /// The stored value is not a well-formed sealed secret (bad base64, nonce length...).
    #[error("the stored secret is malformed: {0}")]
    Malformed(&'static str),
    /// Authentication failed: the ciphertext was altered, or the key with this id is another
    /// key than the one that sealed it.
    #[error("the stored secret does not decrypt with key {0:?} (altered, or the wrong key)")]
    Decrypt(String),
    /// Encryption failed (only for absurdly long input).
    #[error("the secret could not be encrypted")]
    Encrypt,
    /// The stored connection's other parts are not valid (unknown secret kind, bad URL...).
    #[error("the stored connection is invalid: {0}")]
    InvalidConnection(String),
}

/// One AES-256 key with its id.
#[derive(Clone)]
struct Key {
    id: String,
    cipher: Aes256Gcm,
}

impl Key {
    fn new(id: String, key: &EncryptionKey) -> Key {
        Key {
            id,
            cipher: Aes256Gcm::new(key.bytes().into()),
        }
    }
}

/// The keys that seal and open Odoo secrets: the current one seals, any of them opens.
#[derive(Clone)]
pub struct Keyring {
    current: Key,
    previous: Vec<Key>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let previous: Vec<&str> = self.previous.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("Keyring")
            .field("current", &self.current.id)
            .field("previous", &previous)
            .finish()
    }
}

/// The id of a key: the first 8 hex digits of SHA-256 over a fixed label and the key.
pub fn key_id(key: &EncryptionKey) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"odoo-sync key id\0");
    hasher.update(key.bytes());
    let digest = hasher.finalize();
    digest[..4].iter().map(|b| format!("{b:02x}")).collect()
}

impl Keyring {
    /// A keyring with `key` as the current key, its id derived from the key.
    pub fn new(key: &EncryptionKey) -> Keyring {
        Keyring {
            current: Key::new(key_id(key), key),
            previous: Vec::new(),
        }
    }

    /// A keyring whose current key has an explicit id (for operators who name their keys).
    pub fn with_id(id: impl Into<String>, key: &EncryptionKey) -> Keyring {
        Keyring {
            current: Key::new(id.into(), key),
            previous: Vec::new(),
        }
    }

    /// Adds a previous key (id derived) that still opens secrets sealed under it.
    pub fn with_previous(mut self, key: &EncryptionKey) -> Keyring {
        let id = key_id(key);
        if id != self.current.id && self.previous.iter().all(|k| k.id != id) {
            self.previous.push(Key::new(id, key));
        }
        self
    }

    /// The keyring of the settings: `ENCRYPTION_KEY` current, `PREVIOUS_ENCRYPTION_KEYS`
    /// (if any) previous; [`CryptoError::NoKey`] without a key.
    pub fn from_settings(settings: &Settings) -> Result<Keyring, CryptoError> {
        let current = settings.encryption_key.as_ref().ok_or(CryptoError::NoKey)?;
        Ok(settings
            .previous_encryption_keys
            .iter()
            .fold(Keyring::new(current), Keyring::with_previous))
    }

    /// The id of the key that seals.
    pub fn current_key_id(&self) -> &str {
        &self.current.id
    }

    /// True when `secret` was sealed under another key than the current one, so it should
    /// be sealed again (after opening) to finish a rotation.
    pub fn needs_reseal(&self, secret: &EncryptedSecret) -> bool {
        secret.key_id != self.current.id
    }

    fn key(&self, id: &str) -> Option<&Key> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == id)
    }
}

/// Seals `secret` under the keyring's current key with a fresh random nonce.
pub fn seal(keyring: &Keyring, secret: &str) -> Result<EncryptedSecret, CryptoError> {
    let key = &keyring.current;
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let ciphertext = key
        .cipher
        .encrypt(
            &nonce,
            Payload {
                msg: secret.as_bytes(),
                aad: AAD,
            },
        )
        .map_err(|_| CryptoError::Encrypt)?;
    Ok(EncryptedSecret {
        key_id: key.id.clone(),
        nonce: BASE64.encode(nonce),
        ciphertext: BASE64.encode(ciphertext),
    })
}

/// Opens a sealed secret with the key its id names.
pub fn open(keyring: &Keyring, sealed: &EncryptedSecret) -> Result<SecretString, CryptoError> {
    let key = keyring
        .key(&sealed.key_id)
        .ok_or_else(|| CryptoError::UnknownKey(sealed.key_id.chars().take(64).collect()))?;
    let nonce: [u8; NONCE_LEN] = BASE64
        .decode(sealed.nonce.as_bytes())
        .map_err(|_| CryptoError::Malformed("nonce is not base64"))?
        .try_into()
        .map_err(|_| CryptoError::Malformed("nonce is not 12 bytes"))?;
    if sealed.ciphertext.len() > MAX_CIPHERTEXT_B64 {
        return Err(CryptoError::Malformed("ciphertext is too long"));
    }
    let ciphertext = BASE64
        .decode(sealed.ciphertext.as_bytes())
        .map_err(|_| CryptoError::Malformed("ciphertext is not base64"))?;
    let clear = key
        .cipher
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &ciphertext,
                aad: AAD,
            },
        )
        .map_err(|_| CryptoError::Decrypt(key.id.clone()))?;
    let text = String::from_utf8(clear).map_err(|_| CryptoError::Malformed("not UTF-8"))?;
    Ok(SecretString::from(text))
}

/// The stored form of a connection: its secret sealed under the current key.
pub fn stored_connection(
    info: &ConnectionInfo,
    keyring: &Keyring,
    saved_at: DateTime<Utc>,
) -> Result<StoredConnection, CryptoError> {
    let secret_kind = if info.credential.is_api_key() {
        SECRET_KIND_API_KEY
    } else {
        SECRET_KIND_PASSWORD
    };
    Ok(StoredConnection {
        url: info.url.to_string(),
        db: info.db.as_str().to_string(),
        username: info.login.as_str().to_string(),
        secret_kind: secret_kind.to_string(),
        secret: seal(keyring, info.credential.expose())?,
        saved_at,
        modules: None,
        protocol: None,
    })
}

/// Rebuilds the client's [`ConnectionInfo`] from a stored connection: opens the secret and
/// makes it a password or an API key according to `secret_kind`.
pub fn connection_info(
    stored: &StoredConnection,
    keyring: &Keyring,
) -> Result<ConnectionInfo, CryptoError> {
    let secret = open(keyring, &stored.secret)?;
    let credential = match stored.secret_kind.as_str() {
        SECRET_KIND_PASSWORD => Credential::password(secret.expose_secret()),
        SECRET_KIND_API_KEY => Credential::api_key(secret.expose_secret()),
        _ => {
            return Err(CryptoError::InvalidConnection(
                "secretKind is neither \"password\" nor \"api_key\"".into(),
            ))
        }
    }
    .map_err(|e| CryptoError::InvalidConnection(e.to_string()))?;
    // The protocol the tenant asked for travels with the connection (`None`: detected).
    let protocol = stored
        .protocol
        .as_deref()
        .map(str::parse::<crate::odoo::Protocol>)
        .transpose()
        .map_err(|e| CryptoError::InvalidConnection(e.to_string()))?;
    Ok(
        ConnectionInfo::parse(&stored.url, &stored.db, &stored.username, credential)
            .map_err(|e| CryptoError::InvalidConnection(e.to_string()))?
            .with_protocol(protocol),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> EncryptionKey {
        EncryptionKey::parse(&BASE64.encode([byte; 32])).expect("32 bytes")
    }

    #[test]
    fn seal_then_open_round_trips_and_hides_the_secret() {
        let ring = Keyring::new(&key(1));
        let sealed = seal(&ring, "hunter2-secret").expect("seals");
        assert_eq!(sealed.key_id, ring.current_key_id());
        assert_eq!(sealed.key_id.len(), 8);
        let stored = serde_json::to_string(&sealed).expect("serialises");
        assert!(!stored.contains("hunter2"), "{stored}");
        let opened = open(&ring, &sealed).expect("opens");
        assert_eq!(opened.expose_secret(), "hunter2-secret");
        assert!(!format!("{opened:?}").contains("hunter2"));
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let ring = Keyring::new(&key(1));
        let a = seal(&ring, "same").expect("seals");
        let b = seal(&ring, "same").expect("seals");
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
    }

    #[test]
    fn key_ids_are_stable_and_distinct() {
        assert_eq!(key_id(&key(1)), key_id(&key(1)));
        assert_ne!(key_id(&key(1)), key_id(&key(2)));
        let ring = Keyring::with_id("2024-06", &key(1));
        assert_eq!(seal(&ring, "x").expect("seals").key_id, "2024-06");
    }

    #[test]
    fn rotation_opens_old_secrets_and_flags_them_for_resealing() {
        let old = Keyring::new(&key(1));
        let sealed = seal(&old, "old-secret").expect("seals");
        let rotated = Keyring::new(&key(2)).with_previous(&key(1));
        assert!(rotated.needs_reseal(&sealed));
        assert_eq!(
            open(&rotated, &sealed).expect("opens").expose_secret(),
            "old-secret"
        );
        let resealed = seal(&rotated, "old-secret").expect("seals");
        assert!(!rotated.needs_reseal(&resealed));
        // Without the previous key the old secret cannot be opened, and the error says why.
        match open(&Keyring::new(&key(2)), &sealed) {
            Err(CryptoError::UnknownKey(id)) => assert_eq!(id, sealed.key_id),
            other => panic!("expected UnknownKey, got {other:?}"),
        }
    }

    #[test]
    fn tampering_and_wrong_keys_are_refused() {
        let ring = Keyring::new(&key(1));
        let sealed = seal(&ring, "secret").expect("seals");
        let mut bytes = BASE64.decode(&sealed.ciphertext).expect("base64");
        bytes[0] ^= 1;
        let tampered = EncryptedSecret {
            ciphertext: BASE64.encode(bytes),
            ..sealed.clone()
        };
        assert!(matches!(
            open(&ring, &tampered),
            Err(CryptoError::Decrypt(_))
        ));
        // Another key under the same id (an operator mistake) fails authentication.
        let imposter = Keyring::with_id(sealed.key_id.clone(), &key(9));
        assert!(matches!(
            open(&imposter, &sealed),
            Err(CryptoError::Decrypt(_))
        ));
        let bad_nonce = EncryptedSecret {
            nonce: "AAAA".into(),
            ..sealed.clone()
        };
        assert!(matches!(
            open(&ring, &bad_nonce),
            Err(CryptoError::Malformed(_))
        ));
        let not_base64 = EncryptedSecret {
            ciphertext: "%%%".into(),
            ..sealed
        };
        assert!(matches!(
            open(&ring, &not_base64),
            Err(CryptoError::Malformed(_))
        ));
    }

    #[test]
    fn connection_info_round_trips_password_and_api_key() {
        let ring = Keyring::new(&key(3));
        for credential in [
            Credential::password("pw-123").expect("valid"),
            Credential::api_key("key-456").expect("valid"),
        ] {
            let is_key = credential.is_api_key();
            let info = ConnectionInfo::parse("https://acme.odoo.com/", "acme", "admin", credential)
                .expect("valid");
            let stored = stored_connection(&info, &ring, Utc::now()).expect("seals");
            assert_eq!(stored.url, "https://acme.odoo.com");
            assert_eq!(
                stored.secret_kind,
                if is_key { "api_key" } else { "password" }
            );
            let json = serde_json::to_string(&stored).expect("serialises");
            assert!(
                !json.contains("pw-123") && !json.contains("key-456"),
                "{json}"
            );
            let back = connection_info(&stored, &ring).expect("opens");
            assert_eq!(back.fingerprint(), info.fingerprint());
            assert_eq!(back.credential.is_api_key(), is_key);
        }
    }

    #[test]
    fn unknown_secret_kind_is_invalid() {
        let ring = Keyring::new(&key(3));
        let info = ConnectionInfo::parse(
            "https://acme.odoo.com",
            "acme",
            "admin",
            Credential::password("pw").expect("valid"),
        )
        .expect("valid");
        let mut stored = stored_connection(&info, &ring, Utc::now()).expect("seals");
        stored.secret_kind = "token".into();
        let err = connection_info(&stored, &ring).expect_err("refused");
        assert!(matches!(err, CryptoError::InvalidConnection(_)));
        assert!(!err.to_string().contains("pw"));
    }
}
