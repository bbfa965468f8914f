//! Integration tests: the real app on a random port, a fresh PostgreSQL database per test, and a
//! cookie-aware HTTP client. One test binary for build speed; one module per capability.

mod fakes;
mod helpers;

mod accounts;
mod agent;
mod agent_embed;
mod agent_faq;
mod agent_llm;
mod agent_playground;
mod catalog;
mod catalog_tenancy;
mod contention;
mod hardening;
mod headers;
mod imports;
mod insights;
mod jobs;
mod limits;
mod media;
mod orders;
mod platform;
mod proxy_limits;
mod retrieval;
mod shutdown;
mod storefront;
mod storefront_cache;
mod time_zone;
mod usage;
mod variants;
mod wa_support;
mod whatsapp;
