//! API keys: `atl_` + an 8-character public id + 43 characters of secret (256 random bits,
//! base64url). The first 12 characters (`atl_` and the id) are the key's visible prefix:
//! listings, logs and audit entries show it, and authentication looks keys up by it before
//! comparing SHA-256 digests in constant time. Only the digest is stored.

use base64::Engine;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};

pub const KEY_MARK: &str = "atl_";
/// `atl_` + 8 id characters.
pub const PREFIX_LEN: usize = 12;
/// The shortest key accepted from outside (a bootstrap key from the environment): the prefix
/// and at least 32 characters of secret.
pub const MIN_KEY_LEN: usize = PREFIX_LEN + 32;

const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A freshly generated key: the secret is shown once and never stored.
pub struct NewKey {
    pub secret: String,
    pub prefix: String,
    pub hash: [u8; 32],
}

pub fn generate() -> NewKey {
    let mut rng = rand::rng();
    let mut key = String::with_capacity(PREFIX_LEN + 43);
    key.push_str(KEY_MARK);
    for _ in 0..8 {
        key.push(char::from(
            ID_ALPHABET[rng.random_range(0..ID_ALPHABET.len())],
        ));
    }
    let mut secret = [0u8; 32];
    rng.fill_bytes(&mut secret);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(secret, &mut key);
    NewKey {
        prefix: key[..PREFIX_LEN].to_owned(),
        hash: digest(&key),
        secret: key,
    }
}

/// The visible prefix of a key in Atalaya's format, if it is one.
pub fn prefix_of(key: &str) -> Option<&str> {
    (key.len() >= MIN_KEY_LEN && key.starts_with(KEY_MARK) && key.is_char_boundary(PREFIX_LEN))
        .then(|| &key[..PREFIX_LEN])
        .filter(|p| {
            p[KEY_MARK.len()..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric())
        })
}

pub fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_format() {
        let a = generate();
        let b = generate();
        assert_ne!(a.secret, b.secret);
        assert_eq!(a.secret.len(), PREFIX_LEN + 43);
        assert_eq!(prefix_of(&a.secret), Some(a.prefix.as_str()));
        assert_eq!(digest(&a.secret), a.hash);
        assert!(!a.prefix.contains(&a.secret[PREFIX_LEN..]));
    }

    #[test]
    fn prefix_needs_the_format() {
        assert_eq!(prefix_of("sk-abc"), None);
        assert_eq!(prefix_of("atl_short"), None);
        assert_eq!(prefix_of(&format!("atl_ab-defgh{}", "x".repeat(40))), None);
        assert_eq!(prefix_of(&format!("atl_éécdef{}", "x".repeat(40))), None);
        assert_eq!(
            prefix_of(&format!("atl_abcdefgh{}", "x".repeat(40))),
            Some("atl_abcdefgh")
        );
    }
}
