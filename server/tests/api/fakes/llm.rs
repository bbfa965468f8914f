//! A fake OpenAI-compatible chat server: `POST /v1/chat/completions` answered from a script,
//! in OpenAI's wire format (a choice with `content` or `tool_calls`, `usage`, and error bodies
//! `{"error": {...}}` with their HTTP status). Each scripted answer may read the request, so a
//! test can answer with an id a tool returned earlier in the same turn.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// One answer of the fake.
pub enum Script {
    Text(String),
    /// Tool calls: (name, arguments).
    Tools(Vec<(String, Value)>),
    /// An error status with OpenAI's error body.
    Error(u16, &'static str),
    /// Nothing for this long (longer than the client's timeout: a hung provider).
    Hang(Duration),
    /// Tells `arrived`, waits for `release`, then answers `then`.
    Gate {
        arrived: Arc<Notify>,
        release: Arc<Notify>,
        then: Box<Script>,
    },
}

pub fn text(s: &str) -> Script {
    Script::Text(s.into())
}

pub fn tool(name: &str, args: Value) -> Script {
    Script::Tools(vec![(name.into(), args)])
}

type Step = Box<dyn FnOnce(&Value) -> Script + Send>;

#[derive(Default)]
struct Shared {
    script: VecDeque<Step>,
    requests: Vec<Value>,
    /// Every answer waits this long first (a model's own time, for `make eval`'s overhead).
    latency: Duration,
}

#[derive(Clone)]
pub struct FakeLlm {
    /// For `LLM_BASE_URL` (with `/v1`, as OpenAI's own base).
    pub base_url: String,
    shared: Arc<Mutex<Shared>>,
}

impl FakeLlm {
    pub async fn start() -> Self {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let app = Router::new()
            .route("/v1/chat/completions", post(completions))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeLlm {
            base_url: format!("http://{addr}/v1"),
            shared,
        }
    }

    /// Queues a fixed answer.
    pub fn then(&self, script: Script) -> &Self {
        self.shared
            .lock()
            .unwrap()
            .script
            .push_back(Box::new(move |_| script));
        self
    }

    /// Queues an answer worked out from the request (e.g. an id a tool returned).
    pub fn then_with(&self, f: impl FnOnce(&Value) -> Script + Send + 'static) -> &Self {
        self.shared.lock().unwrap().script.push_back(Box::new(f));
        self
    }

    pub fn requests(&self) -> Vec<Value> {
        self.shared.lock().unwrap().requests.clone()
    }

    pub fn unused(&self) -> usize {
        self.shared.lock().unwrap().script.len()
    }

    /// Drops the answers left over (a turn that called the model fewer times than scripted).
    #[allow(dead_code, reason = "used by `make eval`, which shares this module")]
    pub fn clear(&self) {
        self.shared.lock().unwrap().script.clear();
    }

    /// From now on every answer takes this long, as a real model's would.
    #[allow(dead_code, reason = "used by `make eval`, which shares this module")]
    pub fn set_latency(&self, latency: Duration) {
        self.shared.lock().unwrap().latency = latency;
    }
}

/// The content of the last tool message in a request, parsed.
pub fn last_tool_result(request: &Value) -> Value {
    let content = request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["role"] == "tool")
        .and_then(|m| m["content"].as_str())
        .expect("a tool result in the request");
    serde_json::from_str(content).unwrap()
}

fn error(status: u16, message: &str) -> Response {
    let code = match status {
        429 => "rate_limit_exceeded",
        401 => "invalid_api_key",
        _ => "server_error",
    };
    (
        StatusCode::from_u16(status).unwrap(),
        Json(json!({"error": {"message": message, "type": if status == 429 { "requests" } else { "server_error" },
                              "param": null, "code": code}})),
    )
        .into_response()
}

async fn completions(
    State(shared): State<Arc<Mutex<Shared>>>,
    Json(body): Json<Value>,
) -> Response {
    let (step, latency) = {
        let mut s = shared.lock().unwrap();
        s.requests.push(body.clone());
        (s.script.pop_front(), s.latency)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let Some(step) = step else {
        return error(500, "the fake has no scripted answer left");
    };
    let mut script = step(&body);
    loop {
        match script {
            Script::Gate {
                arrived,
                release,
                then,
            } => {
                arrived.notify_one();
                release.notified().await;
                script = *then;
            }
            Script::Hang(d) => {
                tokio::time::sleep(d).await;
                return error(504, "hung");
            }
            Script::Error(status, message) => return error(status, message),
            Script::Text(content) => {
                return answer(
                    &body,
                    json!({"role": "assistant", "content": content}),
                    "stop",
                );
            }
            Script::Tools(calls) => {
                let calls: Vec<Value> = calls
                    .into_iter()
                    .enumerate()
                    .map(|(i, (name, args))| {
                        json!({"id": format!("call_{i}_{}", uuid::Uuid::now_v7().simple()), "type": "function",
                               "function": {"name": name, "arguments": args.to_string()}})
                    })
                    .collect();
                return answer(
                    &body,
                    json!({"role": "assistant", "content": null, "tool_calls": calls}),
                    "tool_calls",
                );
            }
        }
    }
}

fn answer(request: &Value, message: Value, finish: &str) -> Response {
    Json(json!({
        "id": format!("chatcmpl-{}", uuid::Uuid::now_v7().simple()),
        "object": "chat.completion",
        "created": 1_780_000_000,
        "model": request["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": null}],
        "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}
    }))
    .into_response()
}
