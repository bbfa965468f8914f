//! Password hashing with argon2id, on the CPU gate (never on the async runtime).

use crate::error::{AppError, AppResult};
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};

fn argon2() -> Argon2<'static> {
    // OWASP's recommended argon2id setting: 19 MiB memory, 2 passes, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).expect("static argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashing takes tens of milliseconds of CPU: it runs on the blocking pool, not the runtime,
/// behind the CPU gate (one hash per core at a time, so a burst of logins queues instead of
/// slowing every request down).
pub async fn hash_password(password: SecretString) -> AppResult<String> {
    crate::platform::limits::CpuGate::global()
        .run(move || {
            argon2()
                .hash_password(password.expose_secret().as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
        })
        .await?
        .map_err(AppError::Internal)
}

/// Checks a password against a stored hash. With no hash (unknown email) it checks against a
/// fixed dummy so that both answers take the same time.
pub async fn verify_password(password: SecretString, hash: Option<String>) -> AppResult<bool> {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    crate::platform::limits::CpuGate::global()
        .run(move || {
            let known = hash.is_some();
            let hash = hash.unwrap_or_else(|| {
                DUMMY
                    .get_or_init(|| {
                        argon2()
                            .hash_password(b"dummy password for timing")
                            .expect("hash")
                            .to_string()
                    })
                    .clone()
            });
            let ok = argon2()
                .verify_password(password.expose_secret().as_bytes(), hash.as_str())
                .is_ok();
            known && ok
        })
        .await
}
