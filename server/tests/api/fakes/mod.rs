//! In-process stand-ins for the third parties the app talks to. Each speaks the real wire
//! protocol (replies, errors included) on 127.0.0.1, so the app's real clients are exercised.

pub mod embeddings;
pub mod llm;
pub mod smtp;
