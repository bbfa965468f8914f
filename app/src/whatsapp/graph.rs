//! The Graph API client: the calls the channel makes to Meta (or to the simulator, which speaks
//! the same wire format). Base URL and version come from configuration. Errors keep Meta's
//! `code` (what Meta tells integrators to branch on), its subcode and `error_data.details`.

use crate::platform::http::{HttpClient, RetryPolicy};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct Graph {
    http: HttpClient,
    base: String,
    version: String,
}

/// Why a Graph call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GraphError {
    /// Meta answered with its error envelope.
    #[error("Meta error {code}: {message}")]
    Api {
        status: u16,
        code: i64,
        subcode: Option<i64>,
        message: String,
        details: Option<String>,
        transient: bool,
    },
    /// No answer (timeout, connection refused): the request may or may not have been acted on.
    #[error("no answer from Meta: {0}")]
    Transport(String),
    /// An answer we could not read.
    #[error("unexpected answer from Meta (HTTP {status}): {message}")]
    Decode { status: u16, message: String },
}

/// What to do about a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The token is dead or lacks permissions: the number needs reconnecting.
    Auth,
    /// Too fast (app, WABA, number or pair limit) or Meta is busy: try again later.
    Throttled,
    /// A 5xx or a transient flag: try again.
    Transient,
    /// No answer at all: the call may have been acted on.
    Unknown,
    /// Retrying cannot help (window closed, undeliverable, bad template…).
    Terminal,
}

impl GraphError {
    pub fn code(&self) -> Option<i64> {
        match self {
            GraphError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    pub fn class(&self) -> ErrorClass {
        match self {
            GraphError::Transport(_) => ErrorClass::Unknown,
            GraphError::Decode { status, .. } if *status >= 500 => ErrorClass::Transient,
            GraphError::Decode { .. } => ErrorClass::Terminal,
            GraphError::Api {
                status,
                code,
                transient,
                ..
            } => match *code {
                0 | 190 | 3 | 10 | 200..=299 => ErrorClass::Auth,
                4 | 80007 | 130429 | 131056 | 131057 => ErrorClass::Throttled,
                1 | 2 | 131000 | 131016 => ErrorClass::Transient,
                _ if *transient || *status >= 500 => ErrorClass::Transient,
                _ => ErrorClass::Terminal,
            },
        }
    }

    /// What the merchant reads in the thread or on the channel page.
    pub fn plain_words(&self) -> String {
        match self {
            GraphError::Api {
                code,
                message,
                details,
                ..
            } => describe_code(*code).map(str::to_string).unwrap_or_else(|| {
                format!(
                    "WhatsApp refused this ({code}): {}",
                    details.as_deref().unwrap_or(message)
                )
            }),
            GraphError::Transport(_) => "WhatsApp did not answer. We will try again.".into(),
            GraphError::Decode { .. } => "WhatsApp gave an answer we could not read.".into(),
        }
    }
}

/// Meta's codes that a merchant meets, in their words.
pub fn describe_code(code: i64) -> Option<&'static str> {
    Some(match code {
        0 | 190 => {
            "The connection to WhatsApp has expired. Reconnect the number on the WhatsApp page."
        }
        3 | 10 | 200..=299 => {
            "Bizmaat lost permission to use this number. Reconnect it on the WhatsApp page."
        }
        4 | 80007 | 130429 => {
            "WhatsApp's rate limit was reached; the message is waiting to be sent."
        }
        131056 => "Too many messages to this customer in a short time; the message is waiting.",
        131047 => {
            "Not delivered: more than 24 hours have passed since the customer's last message. Send an approved template instead."
        }
        131026 => {
            "Not delivered: this number cannot receive WhatsApp messages (not on WhatsApp, an old app version, or the customer blocked you)."
        }
        131021 => "A business cannot send a message to its own number.",
        131048 => {
            "Not delivered: WhatsApp limited this number for spam. Check your quality rating."
        }
        131049 => {
            "Not delivered: WhatsApp limits how many marketing messages one customer gets. Try later."
        }
        131050 => "Not delivered: the customer stopped marketing messages from you.",
        131051 => "WhatsApp does not support this kind of message.",
        131052 | 131053 => "The attachment could not be downloaded or uploaded.",
        131062 => "This kind of message cannot be sent to a username contact.",
        132000 => "The template's number of parameters does not match what Meta approved.",
        132001 => "No approved template with this name and language exists on WhatsApp.",
        132005 => "The template text is too long once the parameters are filled in.",
        132007 => "The template breaks WhatsApp's content policy.",
        132012 => "A template parameter has the wrong format.",
        132015 => "The template is paused because of low quality.",
        132016 => "The template is disabled because of low quality.",
        133005 => "The two-step verification PIN does not match the one set on this number.",
        133010 => "The number is not registered with WhatsApp's Cloud API.",
        133016 => "Too many registration attempts for this number; wait 72 hours.",
        368 | 130497 => "WhatsApp blocked this message (policy or country restriction).",
        _ => return None,
    })
}

#[derive(Debug, Clone, Deserialize)]
pub struct TokenGrant {
    pub access_token: String,
    #[serde(default)]
    pub expires_in: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct PhoneNumber {
    pub id: String,
    #[serde(default)]
    pub display_phone_number: String,
    #[serde(default)]
    pub verified_name: String,
    #[serde(default)]
    pub quality_rating: String,
    #[serde(default)]
    pub code_verification_status: String,
    #[serde(default)]
    pub messaging_limit_tier: String,
    #[serde(default)]
    pub platform_type: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MediaInfo {
    pub url: String,
    #[serde(default)]
    pub mime_type: String,
    #[serde(default)]
    pub file_size: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TemplateInfo {
    #[serde(default)]
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub language: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub components: Vec<Value>,
    #[serde(default)]
    pub rejected_reason: Option<String>,
}

const PHONE_FIELDS: &str = "id,display_phone_number,verified_name,quality_rating,code_verification_status,messaging_limit_tier,platform_type";

impl Graph {
    pub fn new(http: HttpClient, base: &str, version: &str) -> Self {
        Graph {
            http,
            base: base.trim_end_matches('/').to_string(),
            version: version.to_string(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/{}/{}",
            self.base,
            self.version,
            path.trim_start_matches('/')
        )
    }

    /// One call; reads Meta's envelope on failure. `idempotent` calls are repeated on
    /// connection failures and 5xx (lookups, subscribe, register with the same PIN).
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&SecretString>,
        body: Option<Value>,
        query: &[(&str, &str)],
        idempotent: bool,
    ) -> Result<Value, GraphError> {
        let url = reqwest::Url::parse_with_params(&self.url(path), query)
            .map_err(|e| GraphError::Transport(format!("bad Graph URL: {e}")))?;
        let mut req = self.http.request(method, url.as_str());
        if let Some(t) = token {
            req = req.bearer_auth(t.expose_secret());
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = if idempotent {
            self.http.send_idempotent(req, RetryPolicy::default()).await
        } else {
            self.http.send(req).await
        }
        .map_err(|e| GraphError::Transport(e.to_string()))?;
        read_answer(res).await
    }

    /// Exchanges Embedded Signup's code (valid 30 s) for the business token.
    pub async fn exchange_code(
        &self,
        app_id: &str,
        app_secret: &SecretString,
        code: &str,
    ) -> Result<TokenGrant, GraphError> {
        let v = self
            .call(
                Method::GET,
                "oauth/access_token",
                None,
                None,
                &[
                    ("client_id", app_id),
                    ("client_secret", app_secret.expose_secret()),
                    ("code", code),
                ],
                false,
            )
            .await?;
        decode(v)
    }

    pub async fn phone_numbers(
        &self,
        token: &SecretString,
        waba_id: &str,
    ) -> Result<Vec<PhoneNumber>, GraphError> {
        #[derive(Deserialize)]
        struct List {
            #[serde(default)]
            data: Vec<PhoneNumber>,
        }
        let v = self
            .call(
                Method::GET,
                &format!("{waba_id}/phone_numbers"),
                Some(token),
                None,
                &[("fields", PHONE_FIELDS)],
                true,
            )
            .await?;
        Ok(decode::<List>(v)?.data)
    }

    pub async fn phone_number(
        &self,
        token: &SecretString,
        phone_number_id: &str,
    ) -> Result<PhoneNumber, GraphError> {
        let v = self
            .call(
                Method::GET,
                phone_number_id,
                Some(token),
                None,
                &[("fields", PHONE_FIELDS)],
                true,
            )
            .await?;
        decode(v)
    }

    /// Subscribes our app to the WABA's webhooks (no override: see reference §12).
    pub async fn subscribe_app(
        &self,
        token: &SecretString,
        waba_id: &str,
    ) -> Result<(), GraphError> {
        self.call(
            Method::POST,
            &format!("{waba_id}/subscribed_apps"),
            Some(token),
            None,
            &[],
            true,
        )
        .await
        .map(drop)
    }

    pub async fn register(
        &self,
        token: &SecretString,
        phone_number_id: &str,
        pin: &str,
    ) -> Result<(), GraphError> {
        self.call(
            Method::POST,
            &format!("{phone_number_id}/register"),
            Some(token),
            Some(json!({"messaging_product": "whatsapp", "pin": pin})),
            &[],
            true,
        )
        .await
        .map(drop)
    }

    /// Coexistence: asks Meta to send the WhatsApp Business app's contacts, then its history.
    pub async fn smb_app_data(
        &self,
        token: &SecretString,
        phone_number_id: &str,
        sync_type: &str,
    ) -> Result<(), GraphError> {
        self.call(
            Method::POST,
            &format!("{phone_number_id}/smb_app_data"),
            Some(token),
            Some(json!({"messaging_product": "whatsapp", "sync_type": sync_type})),
            &[],
            false,
        )
        .await
        .map(drop)
    }

    /// Sends one message; returns Meta's message id. Never repeated here: the outbound job
    /// decides what a failure means.
    pub async fn send_message(
        &self,
        token: &SecretString,
        phone_number_id: &str,
        body: &Value,
    ) -> Result<String, GraphError> {
        let v = self
            .call(
                Method::POST,
                &format!("{phone_number_id}/messages"),
                Some(token),
                Some(body.clone()),
                &[],
                false,
            )
            .await?;
        v.pointer("/messages/0/id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| GraphError::Decode {
                status: 200,
                message: "no messages[0].id in the answer".into(),
            })
    }

    /// Uploads a file for sending (`POST /{phone-number-id}/media`, multipart); returns the
    /// media id a message can carry. Not repeated here: an upload that got no answer is done
    /// again by the send job, which costs only a spare copy at Meta (kept 30 days).
    pub async fn upload_media(
        &self,
        token: &SecretString,
        phone_number_id: &str,
        bytes: Vec<u8>,
        mime: &str,
        filename: &str,
    ) -> Result<String, GraphError> {
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(filename.to_string())
            .mime_str(mime)
            .map_err(|e| GraphError::Transport(format!("bad media type {mime}: {e}")))?;
        let form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", mime.to_string())
            .part("file", part);
        let req = self
            .http
            .post(&self.url(&format!("{phone_number_id}/media")))
            .bearer_auth(token.expose_secret())
            .multipart(form);
        let res = self
            .http
            .send(req)
            .await
            .map_err(|e| GraphError::Transport(e.to_string()))?;
        let v = read_answer(res).await?;
        v["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| GraphError::Decode {
                status: 200,
                message: "no id in the media upload answer".into(),
            })
    }

    /// Marks an inbound message read (blue ticks for the customer).
    pub async fn mark_read(
        &self,
        token: &SecretString,
        phone_number_id: &str,
        wamid: &str,
    ) -> Result<(), GraphError> {
        self.call(
            Method::POST,
            &format!("{phone_number_id}/messages"),
            Some(token),
            Some(json!({"messaging_product": "whatsapp", "status": "read", "message_id": wamid})),
            &[],
            true,
        )
        .await
        .map(drop)
    }

    /// Marks the customer's message read and shows "typing…" until our reply, or 25 s.
    pub async fn typing(
        &self,
        token: &SecretString,
        phone_number_id: &str,
        wamid: &str,
    ) -> Result<(), GraphError> {
        self.call(
            Method::POST,
            &format!("{phone_number_id}/messages"),
            Some(token),
            Some(
                json!({"messaging_product": "whatsapp", "status": "read", "message_id": wamid,
                        "typing_indicator": {"type": "text"}}),
            ),
            &[],
            true,
        )
        .await
        .map(drop)
    }

    pub async fn media_info(
        &self,
        token: &SecretString,
        media_id: &str,
    ) -> Result<MediaInfo, GraphError> {
        let v = self
            .call(Method::GET, media_id, Some(token), None, &[], true)
            .await?;
        decode(v)
    }

    /// Downloads media from the URL `media_info` gave (it needs the same bearer token), up to
    /// `max_bytes`.
    pub async fn download(
        &self,
        token: &SecretString,
        url: &str,
        max_bytes: usize,
    ) -> Result<(Vec<u8>, String), GraphError> {
        let req = self.http.get(url).bearer_auth(token.expose_secret());
        let res = self
            .http
            .send_idempotent(req, RetryPolicy::default())
            .await
            .map_err(|e| GraphError::Transport(e.to_string()))?;
        let status = res.status().as_u16();
        if !res.status().is_success() {
            return Err(read_answer(res).await.err().unwrap_or(GraphError::Decode {
                status,
                message: "download failed".into(),
            }));
        }
        let mime = res
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_string();
        if res.content_length().is_some_and(|l| l as usize > max_bytes) {
            return Err(GraphError::Decode {
                status,
                message: "the file is larger than we keep".into(),
            });
        }
        let bytes = res
            .bytes()
            .await
            .map_err(|e| GraphError::Transport(e.to_string()))?;
        if bytes.len() > max_bytes {
            return Err(GraphError::Decode {
                status,
                message: "the file is larger than we keep".into(),
            });
        }
        Ok((bytes.to_vec(), mime))
    }

    pub async fn list_templates(
        &self,
        token: &SecretString,
        waba_id: &str,
    ) -> Result<Vec<TemplateInfo>, GraphError> {
        #[derive(Deserialize)]
        struct List {
            #[serde(default)]
            data: Vec<TemplateInfo>,
        }
        let v = self
            .call(
                Method::GET,
                &format!("{waba_id}/message_templates"),
                Some(token),
                None,
                &[("limit", "250")],
                true,
            )
            .await?;
        Ok(decode::<List>(v)?.data)
    }

    /// Submits a template for approval; returns Meta's id and first status.
    pub async fn create_template(
        &self,
        token: &SecretString,
        waba_id: &str,
        template: &Value,
    ) -> Result<(String, String), GraphError> {
        let v = self
            .call(
                Method::POST,
                &format!("{waba_id}/message_templates"),
                Some(token),
                Some(template.clone()),
                &[],
                false,
            )
            .await?;
        Ok((
            v["id"].as_str().unwrap_or_default().to_string(),
            v["status"].as_str().unwrap_or("PENDING").to_string(),
        ))
    }
}

fn decode<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, GraphError> {
    serde_json::from_value(v).map_err(|e| GraphError::Decode {
        status: 200,
        message: e.to_string(),
    })
}

async fn read_answer(res: reqwest::Response) -> Result<Value, GraphError> {
    let status = res.status().as_u16();
    let bytes = res
        .bytes()
        .await
        .map_err(|e| GraphError::Transport(e.to_string()))?;
    let body: Option<Value> = serde_json::from_slice(&bytes).ok();
    if let Some(err) = body.as_ref().and_then(|b| b.get("error")) {
        return Err(GraphError::Api {
            status,
            code: err["code"].as_i64().unwrap_or(-1),
            subcode: err["error_subcode"].as_i64(),
            message: err["message"].as_str().unwrap_or_default().to_string(),
            details: err
                .pointer("/error_data/details")
                .and_then(Value::as_str)
                .map(str::to_string),
            transient: err["is_transient"].as_bool().unwrap_or(false),
        });
    }
    match body {
        Some(v) if (200..300).contains(&status) => Ok(v),
        _ => Err(GraphError::Decode {
            status,
            message: String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: i64, status: u16) -> GraphError {
        GraphError::Api {
            status,
            code,
            subcode: None,
            message: "m".into(),
            details: None,
            transient: false,
        }
    }

    #[test]
    fn classifies_meta_codes() {
        assert_eq!(api(190, 401).class(), ErrorClass::Auth);
        assert_eq!(api(130429, 400).class(), ErrorClass::Throttled);
        assert_eq!(api(131056, 400).class(), ErrorClass::Throttled);
        assert_eq!(api(131047, 400).class(), ErrorClass::Terminal);
        assert_eq!(api(131026, 400).class(), ErrorClass::Terminal);
        assert_eq!(api(132000, 400).class(), ErrorClass::Terminal);
        assert_eq!(api(99999, 503).class(), ErrorClass::Transient);
        assert_eq!(
            GraphError::Transport("t".into()).class(),
            ErrorClass::Unknown
        );
        assert!(api(131047, 400).plain_words().contains("24 hours"));
        assert!(api(424242, 400).plain_words().contains("424242"));
    }
}
