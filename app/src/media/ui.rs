//! The image upload form. With the local backend it is a plain multipart form (works without
//! JavaScript); where the page asks for it (`in_place`) and JavaScript runs, the same form is
//! sent with fetch instead, so the page around it — shop settings being typed — stays
//! as it is. With Cloudinary the file goes straight from the browser to Cloudinary, using
//! parameters our server signs, and our server then verifies and records the result.

use leptos::prelude::*;
use uuid::Uuid;

#[component]
pub fn ImageUpload(
    /// None uploads a shop logo.
    product_id: Option<Uuid>,
    cloudinary: bool,
    #[prop(into)] label: String,
    /// Called after an upload is recorded, to refresh the page's data (without it, the local
    /// backend's form posts and the page reloads).
    #[prop(optional)]
    on_done: Option<Callback<()>>,
    /// With the local backend, send the form with fetch (when JavaScript runs) and call
    /// `on_done`, instead of posting and reloading the page: for pages with other unsaved
    /// fields around the upload.
    #[prop(optional)]
    in_place: bool,
) -> impl IntoView {
    let purpose = if product_id.is_some() {
        "product"
    } else {
        "logo"
    };
    let pid = product_id.map(|p| p.to_string()).unwrap_or_default();
    let file_id = format!("upload-{purpose}");
    let alt_id = format!("upload-{purpose}-alt");
    let done_words = if product_id.is_some() {
        "Image uploaded."
    } else {
        "Logo uploaded."
    };
    if !cloudinary {
        let (status, set_status) = signal(None::<Result<String, String>>);
        let (busy, set_busy) = signal(false);
        let on_submit = move |ev: leptos::ev::SubmitEvent| {
            // Otherwise the form posts and the page comes back with `?uploaded=1`.
            let Some(on_done) = on_done.filter(|_| in_place) else {
                return;
            };
            #[cfg(feature = "hydrate")]
            {
                use wasm_bindgen::JsCast;
                let Some(form) = ev
                    .target()
                    .and_then(|t| t.dyn_into::<web_sys::HtmlFormElement>().ok())
                else {
                    return;
                };
                ev.prevent_default();
                set_busy.set(true);
                leptos::task::spawn_local(async move {
                    let result = browser::post_form(&form).await;
                    set_busy.set(false);
                    if result.is_ok() {
                        form.reset();
                        on_done.run(());
                    }
                    set_status.set(Some(result.map(|_| done_words.to_string())));
                });
            }
            #[cfg(not(feature = "hydrate"))]
            {
                let _ = (ev, on_done, set_busy, set_status, done_words);
            }
        };
        return view! {
            <form class="form" method="post" action="/api/media/upload" enctype="multipart/form-data" on:submit=on_submit>
                {move || status.get().map(|s| match s {
                    Ok(m) => view! { <p class="notice ok" role="status">{m}</p> }.into_any(),
                    Err(m) => view! { <p class="notice error" role="alert">{m}</p> }.into_any(),
                })}
                <input type="hidden" name="purpose" value=purpose/>
                {product_id.map(|_| view! { <input type="hidden" name="product_id" value=pid.clone()/> })}
                <div class="field">
                    <label for=file_id.clone()>{label}</label>
                    <p class="hint">"JPEG, PNG, WebP or GIF, up to 10 MB and 40 megapixels."</p>
                    <input id=file_id type="file" name="file" accept="image/jpeg,image/png,image/webp,image/gif" required/>
                </div>
                {product_id.map(|_| view! {
                    <div class="field">
                        <label for=alt_id.clone()>"Describe the image (for people who cannot see it)"</label>
                        <input id=alt_id.clone() name="alt"/>
                    </div>
                })}
                <button type="submit" class="button" disabled=move || busy.get()>"Upload image"</button>
            </form>
        }
        .into_any();
    }
    let file_ref = NodeRef::<leptos::html::Input>::new();
    let alt_ref = NodeRef::<leptos::html::Input>::new();
    let (status, set_status) = signal(None::<Result<String, String>>);
    let (busy, set_busy) = signal(false);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        #[cfg(feature = "hydrate")]
        {
            let Some(file) = file_ref
                .get()
                .and_then(|i| i.files())
                .and_then(|f| f.get(0))
            else {
                set_status.set(Some(Err("Choose an image file to upload.".into())));
                return;
            };
            let alt = alt_ref.get().map(|i| i.value()).unwrap_or_default();
            set_busy.set(true);
            leptos::task::spawn_local(async move {
                let result = browser::upload(file, product_id, alt).await;
                set_busy.set(false);
                if result.is_ok()
                    && let Some(cb) = on_done
                {
                    cb.run(());
                }
                set_status.set(Some(result.map(|_| done_words.to_string())));
            });
        }
        #[cfg(not(feature = "hydrate"))]
        {
            let _ = (file_ref, alt_ref, set_busy, on_done);
            set_status.set(Some(Err(
                "Uploading needs JavaScript on this server.".into()
            )));
        }
    };
    view! {
        <form class="form" on:submit=on_submit>
            {move || status.get().map(|s| match s {
                Ok(m) => view! { <p class="notice ok" role="status">{m}</p> }.into_any(),
                Err(m) => view! { <p class="notice error" role="alert">{m}</p> }.into_any(),
            })}
            <div class="field">
                <label for=file_id.clone()>{label}</label>
                <p class="hint">"JPEG, PNG, WebP or GIF, up to 10 MB. Sent straight to Cloudinary."</p>
                <input id=file_id node_ref=file_ref type="file" accept="image/jpeg,image/png,image/webp,image/gif" required/>
            </div>
            {product_id.map(|_| view! {
                <div class="field">
                    <label for=alt_id.clone()>"Describe the image (for people who cannot see it)"</label>
                    <input id=alt_id.clone() node_ref=alt_ref/>
                </div>
            })}
            <button type="submit" class="button" disabled=move || busy.get()>"Upload image"</button>
        </form>
    }
    .into_any()
}

#[cfg(feature = "hydrate")]
pub(crate) mod browser {
    use crate::media::api::{confirm_upload, sign_upload};
    use serde::Deserialize;
    use uuid::Uuid;
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;

    /// The fields of Cloudinary's upload answer we use.
    #[derive(Deserialize)]
    struct Uploaded {
        public_id: String,
        version: i64,
        signature: String,
        width: u32,
        height: u32,
        bytes: i64,
        format: String,
    }

    #[derive(Deserialize)]
    struct CloudinaryError {
        error: ErrorBody,
    }

    #[derive(Deserialize)]
    struct ErrorBody {
        message: String,
    }

    /// Sends the local backend's upload form as it is (the server answers JSON to a request
    /// that does not ask for HTML): Ok once the image is stored, or the reason in words.
    pub async fn post_form(form: &web_sys::HtmlFormElement) -> Result<(), String> {
        send_local(web_sys::FormData::new_with_form(form).map_err(js)?).await
    }

    /// One image for a product, by whichever backend this server stores images with (the
    /// new-product page's images, sent once the product exists). No description: the merchant
    /// writes it on the product's page.
    pub async fn upload_to_product(
        cloudinary: bool,
        file: web_sys::File,
        product_id: Uuid,
    ) -> Result<(), String> {
        if cloudinary {
            return upload(file, Some(product_id), String::new()).await;
        }
        let data = web_sys::FormData::new().map_err(js)?;
        data.append_with_str("purpose", "product").map_err(js)?;
        data.append_with_str("product_id", &product_id.to_string())
            .map_err(js)?;
        data.append_with_blob("file", &file).map_err(js)?;
        data.append_with_str("alt", "").map_err(js)?;
        send_local(data).await
    }

    async fn send_local(data: web_sys::FormData) -> Result<(), String> {
        let init = web_sys::RequestInit::new();
        init.set_method("POST");
        init.set_body(&data);
        let window = web_sys::window().ok_or("no window")?;
        let response: web_sys::Response =
            JsFuture::from(window.fetch_with_str_and_init("/api/media/upload", &init))
                .await
                .map_err(|_| "Could not reach the server. Check your connection and try again.")?
                .dyn_into()
                .map_err(js)?;
        // A refusal comes back as 200 with its status in a header (`api_client`).
        let refused = response
            .headers()
            .get(crate::api_client::STATUS_HEADER)
            .ok()
            .flatten()
            .is_some();
        if response.ok() && !refused {
            return Ok(());
        }
        let text = JsFuture::from(response.text().map_err(js)?)
            .await
            .map_err(js)?
            .as_string()
            .unwrap_or_default();
        Err(
            match serde_json::from_str::<crate::error::ApiError>(&text) {
                Ok(crate::error::ApiError::Validation(fields)) => {
                    fields.into_values().collect::<Vec<_>>().join(" ")
                }
                Ok(other) => other.to_string(),
                Err(_) => format!("The upload failed (HTTP {}).", response.status()),
            },
        )
    }

    fn js(e: wasm_bindgen::JsValue) -> String {
        e.as_string()
            .unwrap_or_else(|| "the browser refused the upload".into())
    }

    pub async fn upload(
        file: web_sys::File,
        product_id: Option<Uuid>,
        alt: String,
    ) -> Result<(), String> {
        if file.size() > 10.0 * 1024.0 * 1024.0 {
            return Err("That file is larger than 10 MB; images can be at most 10 MB.".into());
        }
        let signed = sign_upload().await.map_err(|e| e.to_string())?;
        let form = web_sys::FormData::new().map_err(js)?;
        form.append_with_blob("file", &file).map_err(js)?;
        for (k, v) in [
            ("api_key", signed.api_key.as_str()),
            ("timestamp", &signed.timestamp.to_string()),
            ("folder", signed.folder.as_str()),
            ("allowed_formats", signed.allowed_formats.as_str()),
            ("signature", signed.signature.as_str()),
        ] {
            form.append_with_str(k, v).map_err(js)?;
        }
        let init = web_sys::RequestInit::new();
        init.set_method("POST");
        init.set_body(&form);
        let window = web_sys::window().ok_or("no window")?;
        let response: web_sys::Response =
            JsFuture::from(window.fetch_with_str_and_init(&signed.upload_url, &init))
                .await
                .map_err(|_| {
                    "Could not reach Cloudinary. Check your connection and try again.".to_string()
                })?
                .dyn_into()
                .map_err(js)?;
        let text = JsFuture::from(response.text().map_err(js)?)
            .await
            .map_err(js)?
            .as_string()
            .unwrap_or_default();
        if !response.ok() {
            let message = serde_json::from_str::<CloudinaryError>(&text)
                .map(|e| e.error.message)
                .unwrap_or(text);
            return Err(format!("Cloudinary refused the image: {message}"));
        }
        let up: Uploaded = serde_json::from_str(&text)
            .map_err(|e| format!("Cloudinary's answer was not understood: {e}"))?;
        confirm_upload(
            product_id,
            up.public_id,
            up.version,
            up.signature,
            up.width,
            up.height,
            up.bytes,
            up.format,
            alt,
        )
        .await
        .map_err(|e| e.to_string())
    }
}
