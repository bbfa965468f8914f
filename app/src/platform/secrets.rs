//! Third-party secrets at rest (WhatsApp tokens, app secrets, PINs): AES-256-GCM under the key
//! from `SECRETS_KEY`. Stored as `nonce (12 bytes) || ciphertext+tag`. A fresh random nonce per
//! value; the row id is bound as associated data so a ciphertext copied onto another row does
//! not decrypt.

use crate::error::{AppError, AppResult};
use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};

const NONCE_LEN: usize = 12;

#[derive(Clone)]
pub struct Secrets {
    /// `None` when no key is configured: nothing can be stored or read.
    cipher: Option<Aes256Gcm>,
}

fn no_key() -> AppError {
    AppError::Conflict(
        "This server cannot store WhatsApp connections yet: its operator must set SECRETS_KEY."
            .into(),
    )
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(..)")
    }
}

impl Secrets {
    /// `key` is 32 bytes in base64 (checked when the configuration is read).
    pub fn new(key: Option<&SecretString>) -> AppResult<Self> {
        let Some(key) = key else {
            return Ok(Secrets { cipher: None });
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(key.expose_secret().trim())
            .map_err(|e| AppError::Internal(anyhow::anyhow!("SECRETS_KEY is not base64: {e}")))?;
        let cipher = Aes256Gcm::new_from_slice(&bytes)
            .map_err(|_| AppError::Internal(anyhow::anyhow!("SECRETS_KEY must be 32 bytes")))?;
        Ok(Secrets {
            cipher: Some(cipher),
        })
    }

    fn cipher(&self) -> AppResult<&Aes256Gcm> {
        self.cipher.as_ref().ok_or_else(no_key)
    }

    pub fn encrypt(&self, plaintext: &str, context: &[u8]) -> AppResult<Vec<u8>> {
        let mut bytes = [0u8; NONCE_LEN];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
        let nonce = Nonce::from(bytes);
        let sealed = self
            .cipher()?
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: context,
                },
            )
            .map_err(|_| AppError::Internal(anyhow::anyhow!("encryption failed")))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    pub fn decrypt(&self, stored: &[u8], context: &[u8]) -> AppResult<SecretString> {
        if stored.len() <= NONCE_LEN {
            return Err(AppError::Internal(anyhow::anyhow!(
                "stored secret is truncated"
            )));
        }
        let (nonce, sealed) = stored.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(nonce)
            .map_err(|_| AppError::Internal(anyhow::anyhow!("stored secret has a bad nonce")))?;
        let plain = self
            .cipher()?
            .decrypt(
                &nonce,
                Payload {
                    msg: sealed,
                    aad: context,
                },
            )
            .map_err(|_| {
                AppError::Internal(anyhow::anyhow!(
                    "a stored secret does not decrypt: was SECRETS_KEY changed?"
                ))
            })?;
        let text = String::from_utf8(plain)
            .map_err(|_| AppError::Internal(anyhow::anyhow!("stored secret is not UTF-8")))?;
        Ok(text.into())
    }
}

/// The last four characters, for "…abcd" displays.
pub fn last4(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(key_byte: u8) -> Secrets {
        let key = base64::engine::general_purpose::STANDARD.encode([key_byte; 32]);
        Secrets::new(Some(&key.into())).unwrap()
    }

    #[test]
    fn without_a_key_nothing_is_stored() {
        let s = Secrets::new(None).unwrap();
        assert!(matches!(s.encrypt("t", b"r"), Err(AppError::Conflict(_))));
    }

    #[test]
    fn round_trips_with_a_fresh_nonce_each_time() {
        let s = secrets(7);
        let a = s.encrypt("EAAG-token", b"row-1").unwrap();
        let b = s.encrypt("EAAG-token", b"row-1").unwrap();
        assert_ne!(a, b, "a nonce must never repeat");
        assert!(
            !a.windows(10).any(|w| w == b"EAAG-token"),
            "plaintext must not appear"
        );
        assert_eq!(
            s.decrypt(&a, b"row-1").unwrap().expose_secret(),
            "EAAG-token"
        );
    }

    #[test]
    fn refuses_another_key_another_row_and_tampering() {
        let s = secrets(7);
        let sealed = s.encrypt("EAAG-token", b"row-1").unwrap();
        assert!(secrets(8).decrypt(&sealed, b"row-1").is_err());
        assert!(s.decrypt(&sealed, b"row-2").is_err());
        let mut bad = sealed.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(s.decrypt(&bad, b"row-1").is_err());
        assert!(s.decrypt(&sealed[..5], b"row-1").is_err());
    }

    #[test]
    fn shows_only_the_last_four() {
        assert_eq!(last4("EAAGabcdWXYZ"), "WXYZ");
        assert_eq!(last4("ab"), "ab");
    }
}
