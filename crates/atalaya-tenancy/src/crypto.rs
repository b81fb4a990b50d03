//! Envelope encryption for the inference log. Rows are encrypted with AES-256-GCM under a
//! random data key; data keys are stored wrapped (AES-256-GCM) by the master key, which
//! never touches the database (`encryption.master_key`, an `env:` or `file:` reference to 32
//! bytes in base64 or hex). Rotating the master key re-wraps the few data keys; rows are not
//! re-encrypted. Each row's ciphertext is bound to its id and tenant (associated data), so a
//! payload moved to another row does not decrypt.
//!
//! Subjects are found by a keyed hash (HMAC-SHA256 under a dedicated data key), so the
//! store holds no subject id in clear and the hash cannot be reversed by guessing ids
//! without the master key.
//!
//! Crypto-shredding: each data subject has its own random key per tenant ([`SubjectKey`]),
//! wrapped by the `subject-keys` data key. The subject's text (inference-log payloads,
//! tickets) is sealed under it, and erasing the subject destroys the key: every copy of the
//! text, in replicas, the write-ahead log and backups, is then unreadable, even with the
//! master key.

use std::collections::HashMap;

use aes_gcm::{
    aead::{Aead, KeyInit, Payload},
    Aes256Gcm, Key, Nonce,
};
use atalaya_store::{DataKey, Millis, SubjectKey};
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::Error;

pub const PURPOSE_INFERENCE: &str = "inference";
pub const PURPOSE_SUBJECTS: &str = "subject-index";
pub const PURPOSE_SUBJECT_KEYS: &str = "subject-keys";

/// A 256-bit key with a public fingerprint.
#[derive(Clone)]
pub struct MasterKey {
    id: String,
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

/// Decodes 32 bytes written as base64 (standard or URL-safe) or 64 hex digits.
pub fn decode_key(text: &str) -> Result<[u8; 32], String> {
    let t = text.trim();
    let bytes = if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(t).map_err(|e| e.to_string())?
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(t)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t))
            .map_err(|_| "not base64 or hex".to_owned())?
    };
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        format!(
            "must be 32 bytes (base64 or 64 hex digits), got {} bytes; `openssl rand -base64 32` makes one",
            bytes.len()
        )
    })
}

/// Public fingerprint of a key: 8 hex digits of SHA-256 over a domain tag and the key.
pub fn fingerprint(key: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(b"atalaya-key-id");
    h.update(key);
    hex::encode(&h.finalize()[..4])
}

fn seal(cipher: &Aes256Gcm, plain: &[u8], aad: &[u8]) -> Result<(Vec<u8>, Vec<u8>), Error> {
    let mut nonce = [0u8; 12];
    rand::rng().fill_bytes(&mut nonce);
    let ct = cipher
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain, aad })
        .map_err(|_| Error::Crypto("encryption failed".into()))?;
    Ok((nonce.to_vec(), ct))
}

/// Opens `ct` under `cipher` (a data key [`Keyring::unwrap_data_key`] gave).
pub fn open(cipher: &Aes256Gcm, nonce: &[u8], ct: &[u8], aad: &[u8]) -> Result<Vec<u8>, Error> {
    if nonce.len() != 12 {
        return Err(Error::Crypto("a nonce is not 12 bytes".into()));
    }
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
        .map_err(|_| {
            Error::Crypto("a ciphertext failed authentication (wrong key or altered)".into())
        })
}

impl MasterKey {
    pub fn new(key: &[u8; 32]) -> Self {
        MasterKey {
            id: fingerprint(key),
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    fn wrap(&self, data_key: &[u8; 32], data_key_id: &str) -> Result<Vec<u8>, Error> {
        let (mut nonce, ct) = seal(&self.cipher, data_key, data_key_id.as_bytes())?;
        nonce.extend_from_slice(&ct);
        Ok(nonce)
    }

    fn unwrap_key(&self, wrapped: &[u8], data_key_id: &str) -> Result<[u8; 32], Error> {
        if wrapped.len() < 12 {
            return Err(Error::Crypto(format!(
                "data key {data_key_id} is truncated"
            )));
        }
        let plain = open(
            &self.cipher,
            &wrapped[..12],
            &wrapped[12..],
            data_key_id.as_bytes(),
        )?;
        <[u8; 32]>::try_from(plain.as_slice())
            .map_err(|_| Error::Crypto(format!("data key {data_key_id} is not 32 bytes")))
    }
}

/// The unwrapped data keys, in memory only.
pub struct Keyring {
    active: String,
    ciphers: HashMap<String, Aes256Gcm>,
    subject_key: [u8; 32],
    /// The active `subject-keys` data key (its id is also in `ciphers`).
    subject_wrap: String,
    /// To unwrap data keys another process created after this keyring was opened.
    masters: Vec<MasterKey>,
}

/// A data subject's key, unwrapped.
pub struct SubjectCipher {
    pub id: String,
    /// The data key that wraps it.
    pub data_key_id: String,
    cipher: Aes256Gcm,
}

impl SubjectCipher {
    /// `(nonce, ciphertext)` of `plain`, bound to `aad`.
    pub fn seal(&self, plain: &[u8], aad: &[u8]) -> Result<(Vec<u8>, Vec<u8>), Error> {
        seal(&self.cipher, plain, aad)
    }

    pub fn open(&self, nonce: &[u8], ct: &[u8], aad: &[u8]) -> Result<Vec<u8>, Error> {
        open(&self.cipher, nonce, ct, aad)
    }
}

/// Associated data binding a subject key to its id, tenant and subject.
fn subject_key_aad(id: &str, tenant: &str, subject_hash: &[u8]) -> Vec<u8> {
    let mut a = b"atalaya-subject-key-v1\0".to_vec();
    a.extend_from_slice(id.as_bytes());
    a.push(0);
    a.extend_from_slice(tenant.as_bytes());
    a.push(0);
    a.extend_from_slice(subject_hash);
    a
}

/// What opening the keyring changed in the store.
pub struct Opened {
    pub keyring: Keyring,
    /// Data keys to write back: re-wrapped under the current master key.
    pub rewrapped: Vec<DataKey>,
    /// Data keys created (none existed for a purpose).
    pub created: Vec<DataKey>,
}

/// A new random data key wrapped by `master`.
pub fn new_data_key(
    master: &MasterKey,
    purpose: &str,
    now: Millis,
) -> Result<(DataKey, [u8; 32]), Error> {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    let id = uuid::Uuid::new_v4().simple().to_string();
    let wrapped = master.wrap(&key, &id)?;
    Ok((
        DataKey {
            id,
            wrapped,
            master_key_id: master.id.clone(),
            created_at: now,
            active: true,
            purpose: purpose.to_owned(),
        },
        key,
    ))
}

impl Keyring {
    /// Unwraps every stored data key with the master key that wrapped it (`current` or one
    /// of `previous`), re-wraps those of previous master keys under `current`, and creates
    /// the data keys that do not exist yet.
    pub fn open(
        stored: &[DataKey],
        current: &MasterKey,
        previous: &[MasterKey],
        now: Millis,
    ) -> Result<Opened, Error> {
        let mut ciphers = HashMap::new();
        let mut rewrapped = Vec::new();
        let mut created = Vec::new();
        let mut active = None;
        let mut subject_key = None;
        let mut subject_wrap = None;
        for dk in stored {
            let master = std::iter::once(current)
                .chain(previous)
                .find(|m| m.id == dk.master_key_id)
                .ok_or_else(|| {
                    Error::Crypto(format!(
                        "data key {} is wrapped by master key {}, which is neither encryption.master_key ({}) nor in encryption.previous_master_keys",
                        dk.id, dk.master_key_id, current.id
                    ))
                })?;
            let key = master.unwrap_key(&dk.wrapped, &dk.id)?;
            if master.id != current.id {
                let mut again = dk.clone();
                again.wrapped = current.wrap(&key, &dk.id)?;
                again.master_key_id = current.id.clone();
                rewrapped.push(again);
            }
            if dk.purpose == PURPOSE_SUBJECTS {
                subject_key.get_or_insert(key);
            } else {
                ciphers.insert(
                    dk.id.clone(),
                    Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)),
                );
                if dk.active && dk.purpose == PURPOSE_SUBJECT_KEYS {
                    subject_wrap = Some(dk.id.clone());
                } else if dk.active {
                    active = Some(dk.id.clone());
                }
            }
        }
        let active = match active {
            Some(a) => a,
            None => {
                let (dk, key) = new_data_key(current, PURPOSE_INFERENCE, now)?;
                ciphers.insert(
                    dk.id.clone(),
                    Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)),
                );
                let id = dk.id.clone();
                created.push(dk);
                id
            }
        };
        let subject_key = match subject_key {
            Some(k) => k,
            None => {
                let (dk, key) = new_data_key(current, PURPOSE_SUBJECTS, now)?;
                created.push(dk);
                key
            }
        };
        let subject_wrap = match subject_wrap {
            Some(k) => k,
            None => {
                let (dk, key) = new_data_key(current, PURPOSE_SUBJECT_KEYS, now)?;
                ciphers.insert(
                    dk.id.clone(),
                    Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)),
                );
                let id = dk.id.clone();
                created.push(dk);
                id
            }
        };
        Ok(Opened {
            keyring: Keyring {
                active,
                ciphers,
                subject_key,
                subject_wrap,
                masters: std::iter::once(current).chain(previous).cloned().collect(),
            },
            rewrapped,
            created,
        })
    }

    pub fn active_key_id(&self) -> &str {
        &self.active
    }

    /// Encrypts under the active data key: (data key id, nonce, ciphertext).
    pub fn encrypt(&self, plain: &[u8], aad: &[u8]) -> Result<(String, Vec<u8>, Vec<u8>), Error> {
        let cipher = self
            .ciphers
            .get(&self.active)
            .ok_or_else(|| Error::Crypto("the active data key is not loaded".into()))?;
        let (nonce, ct) = seal(cipher, plain, aad)?;
        Ok((self.active.clone(), nonce, ct))
    }

    pub fn decrypt(
        &self,
        data_key_id: &str,
        nonce: &[u8],
        ct: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let cipher = self.ciphers.get(data_key_id).ok_or_else(|| {
            Error::Crypto(format!("data key {data_key_id} is not in the keyring"))
        })?;
        open(cipher, nonce, ct, aad)
    }

    /// Whether data key `id` is loaded.
    pub fn has_data_key(&self, id: &str) -> bool {
        self.ciphers.contains_key(id)
    }

    /// A data key created by another process after this keyring was opened, unwrapped.
    pub fn unwrap_data_key(&self, dk: &DataKey) -> Result<Aes256Gcm, Error> {
        let master = self
            .masters
            .iter()
            .find(|m| m.id == dk.master_key_id)
            .ok_or_else(|| {
                Error::Crypto(format!(
                    "data key {} is wrapped by master key {}, which is not configured",
                    dk.id, dk.master_key_id
                ))
            })?;
        let key = master.unwrap_key(&dk.wrapped, &dk.id)?;
        Ok(Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)))
    }

    /// A new random key for a subject in a tenant, wrapped by the active `subject-keys`
    /// data key.
    pub fn new_subject_key(
        &self,
        tenant: &str,
        subject_hash: &[u8],
        now: Millis,
    ) -> Result<SubjectKey, Error> {
        let wrap = self
            .ciphers
            .get(&self.subject_wrap)
            .ok_or_else(|| Error::Crypto("the subject-keys data key is not loaded".into()))?;
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        let id = uuid::Uuid::new_v4().simple().to_string();
        let (mut wrapped, ct) = seal(wrap, &key, &subject_key_aad(&id, tenant, subject_hash))?;
        wrapped.extend_from_slice(&ct);
        Ok(SubjectKey {
            id,
            tenant_id: tenant.to_owned(),
            subject_hash: subject_hash.to_vec(),
            data_key_id: self.subject_wrap.clone(),
            wrapped,
            created_at: now,
        })
    }

    /// Unwraps a subject key with its data key (`extra` when it is not in this keyring).
    pub fn open_subject_key(
        &self,
        k: &SubjectKey,
        extra: Option<&Aes256Gcm>,
    ) -> Result<SubjectCipher, Error> {
        let wrap = match self.ciphers.get(&k.data_key_id) {
            Some(c) => c,
            None => extra.ok_or_else(|| {
                Error::Crypto(format!("data key {} is not in the keyring", k.data_key_id))
            })?,
        };
        if k.wrapped.len() < 12 {
            return Err(Error::Crypto(format!("subject key {} is truncated", k.id)));
        }
        let plain = open(
            wrap,
            &k.wrapped[..12],
            &k.wrapped[12..],
            &subject_key_aad(&k.id, &k.tenant_id, &k.subject_hash),
        )?;
        let key = <[u8; 32]>::try_from(plain.as_slice())
            .map_err(|_| Error::Crypto(format!("subject key {} is not 32 bytes", k.id)))?;
        Ok(SubjectCipher {
            id: k.id.clone(),
            data_key_id: k.data_key_id.clone(),
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)),
        })
    }

    /// The keyed hash a subject's rows are found by.
    pub fn subject_hash(&self, subject: &str) -> Vec<u8> {
        // HMAC accepts keys of any length: new_from_slice cannot fail here.
        match <Hmac<Sha256> as Mac>::new_from_slice(&self.subject_key) {
            Ok(mut mac) => {
                mac.update(subject.as_bytes());
                mac.finalize().into_bytes().to_vec()
            }
            Err(_) => Sha256::digest(subject.as_bytes()).to_vec(),
        }
    }
}

/// HMAC-SHA256 of `message` under `key` (audit anchors).
pub fn hmac_sign(key: &[u8], message: &[u8]) -> Vec<u8> {
    match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// Constant-time check of an HMAC-SHA256 signature.
pub fn hmac_verify(key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(message);
            mac.verify_slice(signature).is_ok()
        }
        Err(_) => false,
    }
}

/// Associated data binding a row's ciphertext to the row.
pub(crate) fn row_aad(id: &str, tenant: &str) -> Vec<u8> {
    let mut a = b"atalaya-inference-v1\0".to_vec();
    a.extend_from_slice(id.as_bytes());
    a.push(0);
    a.extend_from_slice(tenant.as_bytes());
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_base64_and_hex() {
        let k = [7u8; 32];
        let b64 = base64::engine::general_purpose::STANDARD.encode(k);
        assert_eq!(decode_key(&b64).unwrap(), k);
        assert_eq!(decode_key(&hex::encode(k)).unwrap(), k);
        assert!(decode_key("c2hvcnQ=").unwrap_err().contains("32 bytes"));
    }

    #[test]
    fn subject_keys_are_bound_to_their_subject_and_survive_rotation() {
        let m1 = MasterKey::new(&[1; 32]);
        let opened = Keyring::open(&[], &m1, &[], 0).unwrap();
        let ring = opened.keyring;
        let k = ring.new_subject_key("acme", b"alice", 5).unwrap();
        assert_eq!(k.tenant_id, "acme");
        assert_eq!(k.subject_hash, b"alice");
        let cipher = ring.open_subject_key(&k, None).unwrap();
        let (nonce, ct) = cipher.seal(b"my phone is 646 227 694", b"row-1").unwrap();
        assert_eq!(
            cipher.open(&nonce, &ct, b"row-1").unwrap(),
            b"my phone is 646 227 694"
        );
        assert!(
            cipher.open(&nonce, &ct, b"row-2").is_err(),
            "bound to its row"
        );
        // A wrapped key moved to another subject or tenant does not open.
        let mut moved = k.clone();
        moved.subject_hash = b"bob".to_vec();
        assert!(ring.open_subject_key(&moved, None).is_err());
        moved = k.clone();
        moved.tenant_id = "beta".into();
        assert!(ring.open_subject_key(&moved, None).is_err());
        // Two keys of one subject are different keys.
        let other = ring
            .open_subject_key(&ring.new_subject_key("acme", b"alice", 6).unwrap(), None)
            .unwrap();
        assert!(other.open(&nonce, &ct, b"row-1").is_err());
        // Rotating the master key re-wraps the subject-keys data key; subject keys open
        // unchanged.
        let m2 = MasterKey::new(&[2; 32]);
        let stored: Vec<DataKey> = opened.created;
        let rotated = Keyring::open(&stored, &m2, std::slice::from_ref(&m1), 9).unwrap();
        assert_eq!(rotated.rewrapped.len(), 3);
        assert!(rotated.created.is_empty());
        let again = rotated.keyring.open_subject_key(&k, None).unwrap();
        assert_eq!(
            again.open(&nonce, &ct, b"row-1").unwrap(),
            b"my phone is 646 227 694"
        );
        // A keyring opened before another process created its subject-keys data key opens
        // that process's subject keys with the data key fetched from the store.
        let late = Keyring::open(&[], &m1, &[], 0).unwrap();
        let theirs = late.keyring.new_subject_key("acme", b"carol", 7).unwrap();
        assert!(ring.open_subject_key(&theirs, None).is_err());
        let dk = late
            .created
            .iter()
            .find(|d| d.id == theirs.data_key_id)
            .unwrap();
        let extra = ring.unwrap_data_key(dk).unwrap();
        assert!(ring.open_subject_key(&theirs, Some(&extra)).is_ok());
    }

    #[test]
    fn round_trip_rotation_and_binding() {
        let m1 = MasterKey::new(&[1; 32]);
        let m2 = MasterKey::new(&[2; 32]);
        let opened = Keyring::open(&[], &m1, &[], 0).unwrap();
        assert!(opened.rewrapped.is_empty());
        assert_eq!(
            opened.created.len(),
            3,
            "inference, subject-index, subject-keys"
        );
        let ring = opened.keyring;
        let (kid, nonce, ct) = ring.encrypt(b"hello", b"row-1").unwrap();
        assert!(!ct.windows(5).any(|w| w == b"hello"));
        assert_eq!(ring.decrypt(&kid, &nonce, &ct, b"row-1").unwrap(), b"hello");
        // Bound to its row.
        assert!(ring.decrypt(&kid, &nonce, &ct, b"row-2").is_err());

        // Rotate: m2 current, m1 previous: every data key re-wrapped, rows still readable.
        let stored = opened.created;
        let rotated = Keyring::open(&stored, &m2, std::slice::from_ref(&m1), 0).unwrap();
        assert_eq!(rotated.rewrapped.len(), 3);
        assert!(rotated.rewrapped.iter().all(|k| k.master_key_id == m2.id()));
        assert_eq!(
            rotated
                .keyring
                .decrypt(&kid, &nonce, &ct, b"row-1")
                .unwrap(),
            b"hello"
        );
        assert_eq!(
            rotated.keyring.subject_hash("alice"),
            ring.subject_hash("alice")
        );
        // Without the old master key, the old wrapping cannot be opened.
        let err = Keyring::open(&stored, &m2, &[], 0).err().unwrap();
        assert!(err.to_string().contains("previous_master_keys"), "{err}");
    }

    #[test]
    fn hmac_signs_and_verifies() {
        let sig = hmac_sign(b"k", b"m");
        assert!(hmac_verify(b"k", b"m", &sig));
        assert!(!hmac_verify(b"k", b"m2", &sig));
        assert!(!hmac_verify(b"k2", b"m", &sig));
    }
}
