//! Integration tests: the real app on a random port, a fresh PostgreSQL database per test, and a
//! cookie-aware HTTP client. One test binary for build speed; one module per capability.

mod helpers;

mod accounts;
mod catalog;
mod insights;
mod orders;
mod platform;
mod storefront;
mod usage;
