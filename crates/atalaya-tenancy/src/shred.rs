//! Crypto-shredding: every data subject has its own key per tenant, created the first time
//! its text is stored. The inference log seals a subject's rows under it, and other stores
//! (tickets) seal through [`Tenancy::subject_key`]. Erasing the subject destroys the key in
//! the transaction that deletes its rows ([`atalaya_store::InferenceStore::erase_subject`]),
//! so copies the deletion cannot reach (replicas, the write-ahead log, backups) stay sealed
//! under a key that no longer exists anywhere.

use std::collections::HashMap;

use atalaya_store::InferenceRecord;

use crate::{
    clock::now_millis,
    crypto::{Keyring, SubjectCipher},
    Error, Result, Tenancy,
};

impl Tenancy {
    /// Whether a subject's text is sealed under its own key (`encryption.master_key` is
    /// configured). Without it, erasure deletes rows and nothing more.
    pub fn seals_subjects(&self) -> bool {
        self.keyring().is_some()
    }

    /// The pseudonym a subject's records are filed under in other stores (its keyed hash,
    /// hex), so that they hold no subject id in clear; `None` without encryption.
    pub fn subject_pseudonym(&self, subject: &str) -> Option<String> {
        self.keyring()
            .map(|k| format!("sh:{}", hex::encode(k.subject_hash(subject))))
    }

    /// The key `subject`'s text is sealed under in `tenant`, created on first use; `None`
    /// without encryption.
    pub async fn subject_key(&self, tenant: &str, subject: &str) -> Result<Option<SubjectCipher>> {
        let Some(keyring) = self.keyring() else {
            return Ok(None);
        };
        let hash = keyring.subject_hash(subject);
        self.subject_key_by_hash(&keyring, tenant, &hash)
            .await
            .map(Some)
    }

    async fn subject_key_by_hash(
        &self,
        keyring: &Keyring,
        tenant: &str,
        hash: &[u8],
    ) -> Result<SubjectCipher> {
        let stored = match self.store.subject_key(tenant, hash).await? {
            Some(k) => k,
            None => {
                let k = keyring.new_subject_key(tenant, hash, now_millis())?;
                self.store.add_subject_key(k).await?
            }
        };
        let extra = self
            .extra_data_keys(keyring, std::iter::once(stored.data_key_id.as_str()))
            .await?;
        keyring.open_subject_key(&stored, extra.get(&stored.data_key_id))
    }

    /// Those of these subject keys that still exist, opened: an erased subject's keys are
    /// gone, and what was sealed under them cannot be read.
    pub async fn subject_keys(&self, ids: Vec<String>) -> Result<HashMap<String, SubjectCipher>> {
        let Some(keyring) = self.keyring() else {
            return Ok(HashMap::new());
        };
        let mut ids = ids;
        ids.sort();
        ids.dedup();
        let keys = self.store.subject_keys(ids).await?;
        let extra = self
            .extra_data_keys(&keyring, keys.iter().map(|k| k.data_key_id.as_str()))
            .await?;
        let mut out = HashMap::new();
        for k in keys {
            let c = keyring.open_subject_key(&k, extra.get(&k.data_key_id))?;
            out.insert(k.id, c);
        }
        Ok(out)
    }

    /// Data keys another process created after this one opened its keyring (two replicas
    /// starting on an empty database each create one), unwrapped from the store.
    pub(crate) async fn extra_data_keys(
        &self,
        keyring: &Keyring,
        ids: impl Iterator<Item = &str>,
    ) -> Result<HashMap<String, aes_gcm::Aes256Gcm>> {
        let missing: Vec<&str> = ids.filter(|id| !keyring.has_data_key(id)).collect();
        let mut out = HashMap::new();
        if missing.is_empty() {
            return Ok(out);
        }
        for dk in self.store.data_keys().await? {
            if missing.contains(&dk.id.as_str()) {
                out.insert(dk.id.clone(), keyring.unwrap_data_key(&dk)?);
            }
        }
        Ok(out)
    }

    /// Seals inference-log rows of data subjects under their subjects' keys: each comes
    /// with its payload in clear, and leaves with `subject_key_id`, `nonce` and `payload`
    /// set.
    pub(crate) async fn seal_subject_rows(
        &self,
        rows: &[(InferenceRecord, Vec<u8>)],
    ) -> Result<Vec<InferenceRecord>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let keyring = self
            .keyring()
            .ok_or_else(|| Error::Unavailable("encryption is not configured".into()))?;
        let mut keys: HashMap<(String, Vec<u8>), SubjectCipher> = HashMap::new();
        let mut out = Vec::with_capacity(rows.len());
        for (r, plain) in rows {
            let hash = r.subject_hash.clone().unwrap_or_default();
            let slot = (r.tenant_id.clone(), hash);
            if !keys.contains_key(&slot) {
                let c = self.subject_key_by_hash(&keyring, &slot.0, &slot.1).await?;
                keys.insert(slot.clone(), c);
            }
            let Some(cipher) = keys.get(&slot) else {
                continue;
            };
            let (nonce, payload) =
                cipher.seal(plain, &crate::crypto::row_aad(&r.id, &r.tenant_id))?;
            let mut sealed = r.clone();
            sealed.subject_key_id = Some(cipher.id.clone());
            sealed.data_key_id = cipher.data_key_id.clone();
            sealed.nonce = nonce;
            sealed.payload = payload;
            out.push(sealed);
        }
        Ok(out)
    }
}
