//! The one place that builds HTTP clients for third parties (Cloudinary now; the Graph API,
//! OpenAI and media downloads next), so every outbound call gets the same timeouts, user agent,
//! logging and retry rules.
//!
//! Each third party keeps its own configurable base URL in [`crate::config::Config`]; tests point
//! it at an in-process fake. Logging names the service, method, host, status and latency only:
//! paths, query strings, headers and bodies can carry tokens and signatures, and reqwest's own
//! error text includes the full URL, so errors are stripped of it before they go anywhere.

use reqwest::{RequestBuilder, Response, StatusCode};
use std::time::{Duration, Instant};

/// Timeouts shared by every outbound client (`HTTP_CONNECT_TIMEOUT_SECS`, `HTTP_TIMEOUT_SECS`).
#[derive(Debug, Clone, Copy)]
pub struct HttpSettings {
    pub connect_timeout: Duration,
    /// The whole exchange, body included: a third party that trickles bytes cannot hold a job
    /// (or a request) forever.
    pub timeout: Duration,
}

impl HttpSettings {
    pub fn from_config(config: &crate::config::Config) -> Self {
        HttpSettings {
            connect_timeout: Duration::from_secs(config.http_connect_timeout_secs),
            timeout: Duration::from_secs(config.http_timeout_secs),
        }
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(20),
        }
    }
}

pub const USER_AGENT: &str = concat!("Bizmaat/", env!("CARGO_PKG_VERSION"));

/// A client for one third party. Cheap to clone (reqwest shares the connection pool).
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    service: &'static str,
}

/// How often and how patiently an idempotent call is repeated.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in total, the first one included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    /// No single wait is longer; a `Retry-After` asking for more is not waited for (the caller
    /// gets the 429/503 and, in a job, the queue's own backoff takes over).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl HttpClient {
    /// `service` names the third party in logs ("cloudinary", "whatsapp", …).
    pub fn new(service: &'static str, settings: &HttpSettings) -> Self {
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .build()
            .expect("an HTTP client with default TLS settings builds");
        HttpClient { client, service }
    }

    pub fn service(&self) -> &'static str {
        self.service
    }

    pub fn get(&self, url: &str) -> RequestBuilder {
        self.client.get(url)
    }

    pub fn post(&self, url: &str) -> RequestBuilder {
        self.client.post(url)
    }

    pub fn request(&self, method: reqwest::Method, url: &str) -> RequestBuilder {
        self.client.request(method, url)
    }

    /// Sends once, with logging. Use this for calls that must not be repeated blindly (a
    /// message send without an idempotency key, a payment).
    pub async fn send(&self, request: RequestBuilder) -> Result<Response, reqwest::Error> {
        let (client, request) = request.build_split();
        let request = request.map_err(reqwest::Error::without_url)?;
        self.execute(&client, request, 1).await
    }

    /// Sends an idempotent request, repeating it on connection failures, 429 and 5xx (except
    /// 501) with exponential backoff and jitter. The last answer or error is returned as is, so
    /// the caller still sees a 503 it could not get past. Requests whose body is a stream cannot
    /// be repeated and are sent once.
    pub async fn send_idempotent(
        &self,
        request: RequestBuilder,
        policy: RetryPolicy,
    ) -> Result<Response, reqwest::Error> {
        let (client, request) = request.build_split();
        let request = request.map_err(reqwest::Error::without_url)?;
        let mut attempt = 1;
        loop {
            let retry_copy = (attempt < policy.max_attempts)
                .then(|| request.try_clone())
                .flatten();
            let this = match retry_copy {
                Some(copy) => copy,
                None => return self.execute(&client, request, attempt).await,
            };
            let wait = match self.execute(&client, this, attempt).await {
                Ok(res) => match retry_after(&res, attempt, &policy) {
                    Some(wait) => wait,
                    None => return Ok(res),
                },
                Err(e) if e.is_connect() => backoff(attempt, &policy),
                Err(e) => return Err(e),
            };
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn execute(
        &self,
        client: &reqwest::Client,
        request: reqwest::Request,
        attempt: u32,
    ) -> Result<Response, reqwest::Error> {
        let method = request.method().clone();
        let host = request.url().host_str().unwrap_or("-").to_string();
        let started = Instant::now();
        let result = client.execute(request).await;
        let latency_ms = started.elapsed().as_millis() as u64;
        match &result {
            Ok(res) => tracing::info!(
                service = self.service,
                %method,
                %host,
                status = res.status().as_u16(),
                latency_ms,
                attempt,
                "outbound request"
            ),
            Err(e) => tracing::warn!(
                service = self.service,
                %method,
                %host,
                latency_ms,
                attempt,
                connect = e.is_connect(),
                timeout = e.is_timeout(),
                "outbound request failed"
            ),
        }
        result.map_err(reqwest::Error::without_url)
    }
}

/// Whether an answer is worth repeating, and after how long.
fn retry_after(res: &Response, attempt: u32, policy: &RetryPolicy) -> Option<Duration> {
    let status = res.status();
    let retryable = status == StatusCode::TOO_MANY_REQUESTS
        || (status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED);
    if !retryable {
        return None;
    }
    match res
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        Some(secs) if Duration::from_secs(secs) > policy.max_delay => None,
        Some(secs) => Some(Duration::from_secs(secs)),
        None => Some(backoff(attempt, policy)),
    }
}

/// `base × 2^(attempt-1)`, capped, with up to 25% added at random so that clients that failed
/// together do not all come back at the same instant.
pub fn backoff(attempt: u32, policy: &RetryPolicy) -> Duration {
    let exp = policy
        .base_delay
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
    let capped = exp.min(policy.max_delay);
    capped.mul_f64(1.0 + rand::random_range(0.0..0.25))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_bounded_jitter_and_a_cap() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        for _ in 0..50 {
            let first = backoff(1, &p);
            let second = backoff(2, &p);
            assert!(first >= Duration::from_millis(100) && first <= Duration::from_millis(125));
            assert!(second >= Duration::from_millis(200) && second <= Duration::from_millis(250));
            assert!(backoff(9, &p) <= Duration::from_millis(1250));
        }
    }

    #[test]
    fn user_agent_names_the_product_and_version() {
        assert!(USER_AGENT.starts_with("Bizmaat/"));
        assert!(USER_AGENT.len() > "Bizmaat/".len());
    }
}
