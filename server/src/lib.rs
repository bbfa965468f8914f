//! The axum server around the Leptos app: configuration, start-up, middleware, routes that are
//! not server functions (health), the background worker and the demo seed.

pub mod assets;
pub mod db;
pub mod health;
pub mod page_views;
pub mod security;
pub mod seed;
pub mod startup;
pub mod telemetry;
pub mod worker;
