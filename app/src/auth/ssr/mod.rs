//! Account services, in three rooms: `passwords` (argon2id), `sessions` (JWT access token,
//! rotating refresh token, cookies and the middleware that resolves who is calling) and
//! `accounts` (signup, login, reset and account changes). Server functions in `api.rs` are thin
//! wrappers over these; integration tests reach them over HTTP.

mod accounts;
mod passwords;
mod sessions;

pub use accounts::*;
pub use passwords::*;
pub use sessions::*;
