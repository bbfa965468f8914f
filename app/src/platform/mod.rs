//! What every capability uses and none owns: the job queue, outbound HTTP clients, the clock,
//! the shop's time zone, rate limits and secrets encryption. Capabilities import from here, never from each other's internals.
//! Server-only: nothing here is compiled to WASM.

pub mod clock;
pub mod csv;
pub mod http;
pub mod jobs;
pub mod limits;
pub mod secrets;
pub mod zone;
