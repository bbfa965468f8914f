//! An OpenAI-compatible `/v1/embeddings` server: vectors from a small table of concepts, so a
//! test knows which texts are close ("footwear" and "sandals" share a dimension), in the real
//! response shape. It can fail with 500 or hang, and records every input it was sent.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Words that mean the same thing share a dimension; everything else is faintly everywhere.
const CONCEPTS: [&[&str]; 6] = [
    &["sandal", "shoe", "footwear", "sandalia", "zapato", "boot"],
    &["necklace", "neck", "collar", "pendant"],
    &["tote", "bag", "bolso", "purse"],
    &["scarf", "shawl", "pañuelo", "stole"],
    &["soap", "wash", "jabón"],
    &["bangle", "bracelet", "wrist"],
];

pub fn vector(text: &str) -> Vec<f32> {
    let lower = text.to_lowercase();
    let mut v = vec![0.05f32; CONCEPTS.len()];
    for word in lower.split(|c: char| !c.is_alphanumeric()) {
        for (i, words) in CONCEPTS.iter().enumerate() {
            if words.iter().any(|w| word.starts_with(w)) {
                v[i] += 1.0;
            }
        }
    }
    v
}

#[derive(Default)]
struct Shared {
    inputs: Vec<String>,
    fail: bool,
    hang: Option<Duration>,
}

#[derive(Clone)]
pub struct FakeEmbeddings {
    /// For `EMBEDDINGS_BASE_URL` (with `/v1`).
    pub base_url: String,
    shared: Arc<Mutex<Shared>>,
}

impl FakeEmbeddings {
    pub async fn start() -> Self {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let app = Router::new()
            .route("/v1/embeddings", post(embeddings))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeEmbeddings {
            base_url: format!("http://{addr}/v1"),
            shared,
        }
    }

    /// Every text embedded so far, as sent (prefixes included).
    pub fn inputs(&self) -> Vec<String> {
        self.shared.lock().unwrap().inputs.clone()
    }

    /// From now on every request fails with 500.
    pub fn fail(&self, on: bool) {
        self.shared.lock().unwrap().fail = on;
    }

    /// From now on every request waits this long before answering.
    pub fn hang(&self, wait: Option<Duration>) {
        self.shared.lock().unwrap().hang = wait;
    }
}

async fn embeddings(State(shared): State<Arc<Mutex<Shared>>>, Json(body): Json<Value>) -> Response {
    let inputs: Vec<String> = match &body["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    let (fail, hang) = {
        let mut s = shared.lock().unwrap();
        s.inputs.extend(inputs.iter().cloned());
        (s.fail, s.hang)
    };
    if let Some(wait) = hang {
        tokio::time::sleep(wait).await;
    }
    if fail {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": {"message": "The server had an error", "type": "server_error", "param": null, "code": null}})),
        )
            .into_response();
    }
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": vector(t)}))
        .collect();
    Json(json!({
        "object": "list",
        "data": data,
        "model": body["model"],
        "usage": {"prompt_tokens": inputs.len() * 4, "total_tokens": inputs.len() * 4}
    }))
    .into_response()
}
