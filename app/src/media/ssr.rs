//! The media service: checks, stores, describes and deletes images on the configured backend.
//!
//! Local backend: the upload is checked by its magic bytes (not its name or declared type),
//! refused over 10 MB or 40 megapixels, decoded and re-encoded (which drops EXIF and any other
//! metadata, GPS included), and written with its variants under `MEDIA_DIR/<shop>/<image>/`.
//!
//! Cloudinary backend: the browser uploads straight to Cloudinary with parameters we sign (the
//! shop's folder, allowed formats); we then verify Cloudinary's response signature and that the
//! `public_id` lies in that shop's folder before storing it.

use super::{ImageView, OG_SIZE, SignedUpload, THUMB_SIDES, detail_widths};
use crate::config::{CloudinaryConfig, MediaConfig};
use crate::error::{AppError, AppResult};
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};
use secrecy::ExposeSecret;
use sha1::{Digest, Sha1};
use std::io::Cursor;
use std::path::PathBuf;
use uuid::Uuid;

pub const MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;
pub const MAX_PIXELS: u64 = 40_000_000;
/// The most memory the decoded pixels of one upload may take: a 40-megapixel 8-bit RGB photo
/// (120 MB) fits; deeper colour or alpha at that size is refused from the header, before
/// decoding. With the CPU gate (one image per core at a time) this bounds what uploads can
/// make the server allocate.
pub const MAX_DECODE_BYTES: u64 = 128 * 1024 * 1024;
/// The longest side accepted (room for panoramas; the pixel limit bounds the rest).
pub const MAX_SIDE: u32 = 20_000;
/// What a decoder may use beyond the pixels (row buffers, palettes, inflate state).
const DECODER_SLACK_BYTES: u64 = 16 * 1024 * 1024;
const JPEG_QUALITY: u8 = 82;
/// WebP at this quality looks like the JPEG at 82 and weighs roughly a third less.
const WEBP_QUALITY: f32 = 75.0;

/// A stored image row, as the database has it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ImageRow {
    pub id: Uuid,
    pub backend: String,
    pub storage_key: String,
    pub version: Option<i64>,
    pub width: i32,
    pub height: i32,
    pub alt: String,
}

/// What a backend produced for a new image, before it is written to the database.
#[derive(Debug, Clone)]
pub struct StoredImage {
    pub id: Uuid,
    pub backend: &'static str,
    pub storage_key: String,
    pub version: Option<i64>,
    pub width: u32,
    pub height: u32,
    pub bytes: i64,
    pub format: String,
}

#[derive(Clone)]
pub struct Media {
    config: MediaConfig,
    http: crate::platform::http::HttpClient,
}

impl Media {
    /// `http` comes from `platform::http`, which sets the timeouts, user agent and logging.
    pub fn new(config: MediaConfig, http: crate::platform::http::HttpClient) -> Self {
        Media { config, http }
    }

    pub fn is_cloudinary(&self) -> bool {
        matches!(self.config, MediaConfig::Cloudinary(_))
    }

    pub fn local_dir(&self) -> Option<&PathBuf> {
        match &self.config {
            MediaConfig::Local { dir } => Some(dir),
            MediaConfig::Cloudinary(_) => None,
        }
    }

    /// URLs for one stored image.
    pub fn view(&self, row: &ImageRow) -> ImageView {
        let (w, h) = (row.width.max(1) as u32, row.height.max(1) as u32);
        let widths = detail_widths(w);
        let url = |variant: &str| -> String {
            match (&self.config, row.backend.as_str()) {
                (MediaConfig::Cloudinary(c), "cloudinary") => format!(
                    "{}/{}/image/upload/{variant},f_auto,q_auto/v{}/{}",
                    c.delivery_base_url,
                    c.cloud_name,
                    row.version.unwrap_or(1),
                    row.storage_key
                ),
                _ => format!("/media/{}/{variant}.jpg", row.storage_key),
            }
        };
        let cloud = row.backend == "cloudinary";
        let detail = |width: u32| {
            if cloud {
                url(&format!("c_limit,w_{width}"))
            } else {
                url(&format!("w{width}"))
            }
        };
        let thumb = |side: u32| {
            if cloud {
                url(&format!("c_fill,w_{side},h_{side}"))
            } else {
                url(&format!("sq{side}"))
            }
        };
        let srcset = widths
            .iter()
            .map(|w| format!("{} {w}w", detail(*w)))
            .collect::<Vec<_>>()
            .join(", ");
        let thumb_srcset = THUMB_SIDES
            .iter()
            .map(|s| format!("{} {s}w", thumb(*s)))
            .collect::<Vec<_>>()
            .join(", ");
        let default_width = *widths
            .iter()
            .find(|x| **x >= 640)
            .unwrap_or(widths.last().expect("non-empty"));
        ImageView {
            id: row.id,
            alt: row.alt.clone(),
            width: w,
            height: h,
            src: detail(default_width),
            srcset,
            thumb_src: thumb(*THUMB_SIDES.last().expect("non-empty")),
            thumb_srcset,
            og_url: if cloud {
                url(&format!("c_fill,w_{},h_{}", OG_SIZE.0, OG_SIZE.1))
            } else {
                url("og")
            },
        }
    }

    // ------------------------------------------------------------------ local backend

    /// Checks, re-encodes and stores an upload. The decoding and encoding run behind the CPU
    /// gate, one image per core at a time, which also bounds the memory uploads can take.
    pub async fn store_local(&self, shop_id: Uuid, bytes: Vec<u8>) -> AppResult<StoredImage> {
        let Some(dir) = self.local_dir().cloned() else {
            return Err(AppError::validation(
                "file",
                "Uploads go straight to Cloudinary on this server.",
            ));
        };
        check_upload_size(bytes.len())?;
        let id = Uuid::now_v7();
        let key = format!("{shop_id}/{id}");
        let target = dir.join(&key);
        let stored = crate::platform::limits::CpuGate::global()
            .run(move || process_local(&bytes, &target))
            .await??;
        Ok(StoredImage {
            id,
            backend: "local",
            storage_key: key,
            version: None,
            width: stored.0,
            height: stored.1,
            bytes: stored.2,
            format: "jpeg".into(),
        })
    }

    /// Removes an image's files or Cloudinary asset. A missing file or asset is not an error:
    /// deleting twice must be harmless.
    pub async fn delete(&self, row: &ImageRow) -> AppResult<()> {
        match (&self.config, row.backend.as_str()) {
            (MediaConfig::Cloudinary(c), "cloudinary") => {
                self.cloudinary_destroy(c, &row.storage_key).await
            }
            (_, "local") => {
                if let Some(dir) = self.local_dir() {
                    let path = dir.join(&row.storage_key);
                    match tokio::fs::remove_dir_all(&path).await {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => {
                            return Err(AppError::Internal(anyhow::anyhow!(
                                "removing {}: {e}",
                                path.display()
                            )));
                        }
                    }
                }
                Ok(())
            }
            (_, other) => {
                tracing::warn!(backend = other, key = %row.storage_key, "image on a backend that is not configured; left in place");
                Ok(())
            }
        }
    }

    // ------------------------------------------------------------------ Cloudinary backend

    fn cloudinary(&self) -> AppResult<&CloudinaryConfig> {
        match &self.config {
            MediaConfig::Cloudinary(c) => Ok(c),
            MediaConfig::Local { .. } => Err(AppError::validation(
                "file",
                "Cloudinary is not configured on this server.",
            )),
        }
    }

    pub fn shop_folder(shop_id: Uuid) -> String {
        format!("shops/{shop_id}/products")
    }

    /// Signs the only parameters the browser may send: the shop's folder and allowed formats.
    pub fn sign_upload(&self, shop_id: Uuid, now_unix: i64) -> AppResult<SignedUpload> {
        let c = self.cloudinary()?;
        let folder = Self::shop_folder(shop_id);
        let allowed_formats = "jpg,png,webp,gif".to_string();
        let timestamp = now_unix.to_string();
        let signature = sign_params(
            &[
                ("allowed_formats", allowed_formats.as_str()),
                ("folder", folder.as_str()),
                ("timestamp", timestamp.as_str()),
            ],
            c.api_secret.expose_secret(),
        );
        Ok(SignedUpload {
            upload_url: format!("{}/v1_1/{}/image/upload", c.api_base_url, c.cloud_name),
            api_key: c.api_key.clone(),
            timestamp: now_unix,
            folder,
            allowed_formats,
            signature,
        })
    }

    /// Trusts a browser-reported upload only if Cloudinary signed it and it is in this shop's folder.
    pub fn verify_upload(
        &self,
        shop_id: Uuid,
        public_id: &str,
        version: i64,
        signature: &str,
    ) -> AppResult<()> {
        let c = self.cloudinary()?;
        let folder = format!("{}/", Self::shop_folder(shop_id));
        if !public_id.starts_with(&folder) || public_id.contains("..") {
            return Err(AppError::validation(
                "public_id",
                "That image does not belong to this shop.",
            ));
        }
        let expected = response_signature(public_id, version, c.api_secret.expose_secret());
        if !constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
            return Err(AppError::validation(
                "public_id",
                "Cloudinary's signature on that upload does not match. Upload the image again.",
            ));
        }
        Ok(())
    }

    /// Uploads image bytes the server holds (an image fetched by a catalog import) to the
    /// shop's Cloudinary folder, signed with the API secret. The bytes are checked as an image
    /// here first (behind the CPU gate), so Cloudinary is never sent what we would refuse.
    /// `Err(Validation)` is Cloudinary's (or our) refusal; `Err(Internal)` may pass on retry.
    pub async fn store_cloudinary(&self, shop_id: Uuid, bytes: Vec<u8>) -> AppResult<StoredImage> {
        let c = self.cloudinary()?.clone();
        check_upload_size(bytes.len())?;
        let (bytes, _) = crate::platform::limits::CpuGate::global()
            .run(move || {
                let decoded = decode_bounded(&bytes)?;
                Ok::<_, AppError>((bytes, (decoded.width(), decoded.height())))
            })
            .await??;
        let folder = Self::shop_folder(shop_id);
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
        let signature = sign_params(
            &[
                ("folder", folder.as_str()),
                ("timestamp", timestamp.as_str()),
            ],
            c.api_secret.expose_secret(),
        );
        let form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(bytes).file_name("import"),
            )
            .text("api_key", c.api_key.clone())
            .text("timestamp", timestamp)
            .text("folder", folder)
            .text("signature", signature);
        let url = format!("{}/v1_1/{}/image/upload", c.api_base_url, c.cloud_name);
        // Not retried here: an upload is not idempotent (a repeat would make a second asset);
        // the import's job retries the whole fetch instead.
        let res = self
            .http
            .send(self.http.post(&url).multipart(form))
            .await
            .map_err(|e| AppError::Internal(anyhow::anyhow!("Cloudinary upload failed: {e}")))?;
        let status = res.status();
        let body: serde_json::Value = res.json().await.unwrap_or_default();
        if status.is_client_error() {
            let message = body["error"]["message"].as_str().unwrap_or("refused");
            return Err(AppError::validation(
                "file",
                format!("Cloudinary refused the image: {message}"),
            ));
        }
        let uploaded = (|| {
            Some(StoredImage {
                id: Uuid::now_v7(),
                backend: "cloudinary",
                storage_key: body["public_id"].as_str()?.to_string(),
                version: body["version"].as_i64(),
                width: u32::try_from(body["width"].as_u64()?).ok()?,
                height: u32::try_from(body["height"].as_u64()?).ok()?,
                bytes: body["bytes"].as_i64().unwrap_or(0),
                format: body["format"].as_str().unwrap_or("jpg").to_string(),
            })
        })();
        match uploaded {
            Some(image) if status.is_success() => Ok(image),
            _ => Err(AppError::Internal(anyhow::anyhow!(
                "Cloudinary upload answered {status}: {body}"
            ))),
        }
    }

    async fn cloudinary_destroy(&self, c: &CloudinaryConfig, public_id: &str) -> AppResult<()> {
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
        let signature = sign_params(
            &[("public_id", public_id), ("timestamp", &timestamp)],
            c.api_secret.expose_secret(),
        );
        let url = format!("{}/v1_1/{}/image/destroy", c.api_base_url, c.cloud_name);
        // Destroying is idempotent ("not found" counts as done), so it may be repeated.
        let request = self.http.post(&url).form(&[
            ("public_id", public_id),
            ("timestamp", &timestamp),
            ("api_key", &c.api_key),
            ("signature", &signature),
        ]);
        let res = self
            .http
            .send_idempotent(request, crate::platform::http::RetryPolicy::default())
            .await
            .map_err(|e| {
                AppError::Internal(anyhow::anyhow!("Cloudinary destroy request failed: {e}"))
            })?;
        let status = res.status();
        let body: serde_json::Value = res.json().await.unwrap_or_default();
        match body.get("result").and_then(|r| r.as_str()) {
            Some("ok") | Some("not found") if status.is_success() => Ok(()),
            _ => Err(AppError::Internal(anyhow::anyhow!(
                "Cloudinary destroy answered {status}: {body}"
            ))),
        }
    }
}

pub fn check_upload_size(len: usize) -> AppResult<()> {
    if len == 0 {
        return Err(AppError::validation(
            "file",
            "Choose an image file to upload.",
        ));
    }
    if len > MAX_UPLOAD_BYTES {
        return Err(AppError::validation(
            "file",
            format!(
                "That file is {:.1} MB; images can be at most 10 MB.",
                len as f64 / 1_048_576.0
            ),
        ));
    }
    Ok(())
}

/// Cloudinary's request signature: sorted `key=value` pairs joined by `&`, the secret appended,
/// SHA-1 in hex. Empty values and `file`, `cloud_name`, `resource_type`, `api_key` are left out.
pub fn sign_params(params: &[(&str, &str)], api_secret: &str) -> String {
    let mut kept: Vec<(&str, &str)> = params
        .iter()
        .copied()
        .filter(|(k, v)| {
            !v.is_empty() && !matches!(*k, "file" | "cloud_name" | "resource_type" | "api_key")
        })
        .collect();
    kept.sort_by(|a, b| a.0.cmp(b.0));
    let joined = kept
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    hex::encode(Sha1::digest(format!("{joined}{api_secret}").as_bytes()))
}

/// The signature Cloudinary puts on an upload response.
pub fn response_signature(public_id: &str, version: i64, api_secret: &str) -> String {
    hex::encode(Sha1::digest(
        format!("public_id={public_id}&version={version}{api_secret}").as_bytes(),
    ))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Decodes, checks and writes every variant. Returns the stored width, height and bytes.
fn process_local(bytes: &[u8], target: &std::path::Path) -> AppResult<(u32, u32, i64)> {
    let rgb = DynamicImage::ImageRgb8(prepare(decode_bounded(bytes)?));
    std::fs::create_dir_all(target)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("creating {}: {e}", target.display())))?;
    let mut total = 0i64;
    let widths = detail_widths(rgb.width());
    let mut largest = (rgb.width(), rgb.height());
    for width in &widths {
        let img = if *width < rgb.width() {
            rgb.resize(*width, u32::MAX, image::imageops::FilterType::Lanczos3)
        } else {
            rgb.clone()
        };
        largest = (img.width(), img.height());
        total += write_variant(&img, target, &format!("w{width}"))?;
    }
    for side in THUMB_SIDES {
        total += write_variant(&square(&rgb, *side), target, &format!("sq{side}"))?;
    }
    // Link previews stay JPEG: not every crawler reads WebP.
    let og = rgb.resize_to_fill(OG_SIZE.0, OG_SIZE.1, image::imageops::FilterType::Triangle);
    total += write_jpeg(&og, &target.join("og.jpg"))?;
    Ok((largest.0, largest.1, total))
}

fn square(rgb: &DynamicImage, side: u32) -> DynamicImage {
    rgb.resize_to_fill(side, side, image::imageops::FilterType::Lanczos3)
}

/// One variant as JPEG (every browser, link previews, downloads) and WebP (served instead by
/// `/media` to browsers that accept it).
fn write_variant(img: &DynamicImage, dir: &std::path::Path, name: &str) -> AppResult<i64> {
    Ok(write_jpeg(img, &dir.join(format!("{name}.jpg")))?
        + write_webp(img, &dir.join(format!("{name}.webp")))?)
}

/// Brings one stored image's folder up to the variants this version makes: a WebP beside every
/// JPEG variant and every square size in `THUMB_SIDES`, each made from the largest proportional
/// variant (the stored base image). Images stored before WebP or before a new square size was
/// added get them here, once. Returns how many files were written.
pub fn complete_variants(dir: &std::path::Path) -> AppResult<usize> {
    let io = |e: std::io::Error| AppError::Internal(anyhow::anyhow!("{}: {e}", dir.display()));
    let mut widths: Vec<u32> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let name = entry.map_err(io)?.file_name();
        let name = name.to_string_lossy();
        if let Some(w) = name
            .strip_prefix('w')
            .and_then(|n| n.strip_suffix(".jpg"))
            .and_then(|n| n.parse::<u32>().ok())
        {
            widths.push(w);
        }
    }
    widths.sort_unstable();
    let Some(&base_width) = widths.last() else {
        return Ok(0);
    };
    let missing = |name: &str| !dir.join(name).exists();
    let wanted_webp: Vec<u32> = widths
        .iter()
        .copied()
        .filter(|w| missing(&format!("w{w}.webp")))
        .collect();
    let wanted_squares: Vec<u32> = THUMB_SIDES
        .iter()
        .copied()
        .filter(|s| missing(&format!("sq{s}.jpg")) || missing(&format!("sq{s}.webp")))
        .collect();
    if wanted_webp.is_empty() && wanted_squares.is_empty() {
        return Ok(0);
    }
    let base = decode_bounded(&std::fs::read(dir.join(format!("w{base_width}.jpg"))).map_err(io)?)?;
    let base = DynamicImage::ImageRgb8(base.into_rgb8());
    let mut written = 0;
    for width in wanted_webp {
        let img = if width < base.width() {
            base.resize(width, u32::MAX, image::imageops::FilterType::Lanczos3)
        } else {
            base.clone()
        };
        write_webp(&img, &dir.join(format!("w{width}.webp")))?;
        written += 1;
    }
    for side in wanted_squares {
        let img = square(&base, side);
        if missing(&format!("sq{side}.jpg")) {
            write_jpeg(&img, &dir.join(format!("sq{side}.jpg")))?;
            written += 1;
        }
        write_webp(&img, &dir.join(format!("sq{side}.webp")))?;
        written += 1;
    }
    Ok(written)
}

/// Completes the variants of every image under the local media folder (see
/// `complete_variants`), one image at a time behind the CPU gate so that uploads and pages keep
/// their cores. Run in the background at start-up; an image it has not reached yet is still
/// served, as JPEG (and a square size it lacks answers 404 until then).
pub async fn complete_all_variants(root: PathBuf) {
    let listed = tokio::task::spawn_blocking(move || image_folders(&root)).await;
    let folders = match listed {
        Ok(Ok(folders)) => folders,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "listing the media folder to complete image variants");
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "listing the media folder to complete image variants");
            return;
        }
    };
    let (mut images, mut files) = (0usize, 0usize);
    for folder in folders {
        let shown = folder.display().to_string();
        match crate::platform::limits::CpuGate::global()
            .run(move || complete_variants(&folder))
            .await
        {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => {
                images += 1;
                files += n;
            }
            Ok(Err(e)) | Err(e) => {
                tracing::warn!(folder = %shown, error = %e, "completing an image's variants");
            }
        }
    }
    if images > 0 {
        tracing::info!(
            images,
            files,
            "image variants completed (WebP, square sizes)"
        );
    }
}

/// `<root>/<shop>/<image>/` folders.
fn image_folders(root: &std::path::Path) -> std::io::Result<Vec<PathBuf>> {
    let mut folders = Vec::new();
    let shops = match std::fs::read_dir(root) {
        Ok(shops) => shops,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(folders),
        Err(e) => return Err(e),
    };
    for shop in shops {
        let shop = shop?;
        if !shop.file_type()?.is_dir() {
            continue;
        }
        for image in std::fs::read_dir(shop.path())? {
            let image = image?;
            if image.file_type()?.is_dir() {
                folders.push(image.path());
            }
        }
    }
    Ok(folders)
}

fn not_an_image() -> AppError {
    AppError::validation(
        "file",
        "That file is not an image we can use. Upload a JPEG, PNG, WebP or GIF.",
    )
}

/// Decodes an upload without letting it take more memory than [`MAX_DECODE_BYTES`]. The
/// format comes from the magic bytes and the size and colour depth from the header; an image
/// over the limits is refused before a single pixel is decoded (a 10 MB PNG can claim
/// gigabytes of pixels). The decoder also gets the limits, in case the data and the header
/// disagree.
pub fn decode_bounded(bytes: &[u8]) -> AppResult<DynamicImage> {
    let format = image::guess_format(bytes).map_err(|_| not_an_image())?;
    if !matches!(
        format,
        ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP | ImageFormat::Gif
    ) {
        return Err(not_an_image());
    }
    // Reading the header needs little memory, and no size limit yet: the checks below say in
    // words what is wrong, where the decoder would only fail.
    let mut header = ImageReader::with_format(Cursor::new(bytes), format);
    let mut header_limits = image::Limits::default();
    header_limits.max_alloc = Some(DECODER_SLACK_BYTES);
    header.limits(header_limits);
    let decoder = header.into_decoder().map_err(|_| not_an_image())?;
    let (w, h) = decoder.dimensions();
    let color = decoder.color_type();
    let needed = working_bytes(w, h, color, decoder.total_bytes());
    drop(decoder);
    check_decode_size(w, h, color, needed)?;

    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES + DECODER_SLACK_BYTES);
    reader.limits(limits);
    reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => too_much_memory(w, h, color, needed),
        _ => not_an_image(),
    })
}

/// Memory to decode an image and bring it to RGB: the decoded pixels, plus a full-size RGBA
/// copy for alpha types other than RGBA8 (see [`prepare`]).
fn working_bytes(w: u32, h: u32, color: image::ColorType, decoded: u64) -> u64 {
    let copy = if color.has_alpha() && color != image::ColorType::Rgba8 {
        u64::from(w) * u64::from(h) * 4
    } else {
        0
    };
    decoded.saturating_add(copy)
}

/// The limits an image's header must meet before it is decoded.
fn check_decode_size(w: u32, h: u32, color: image::ColorType, needed: u64) -> AppResult<()> {
    let pixels = u64::from(w) * u64::from(h);
    if pixels > MAX_PIXELS {
        return Err(AppError::validation(
            "file",
            format!(
                "That image is {w}×{h} pixels ({:.0} megapixels); the limit is 40 megapixels.",
                pixels as f64 / 1e6
            ),
        ));
    }
    if w > MAX_SIDE || h > MAX_SIDE {
        return Err(AppError::validation(
            "file",
            format!(
                "That image is {w}×{h} pixels; a side can be at most {MAX_SIDE} pixels. Crop or resize it and upload it again."
            ),
        ));
    }
    if needed > MAX_DECODE_BYTES {
        return Err(too_much_memory(w, h, color, needed));
    }
    Ok(())
}

fn too_much_memory(w: u32, h: u32, color: image::ColorType, needed: u64) -> AppError {
    let bits = u32::from(color.bits_per_pixel()) / u32::from(color.channel_count().max(1));
    AppError::validation(
        "file",
        format!(
            "That image ({w}×{h} pixels, {bits}-bit colour) would need {} MB of memory to open; the limit is {} MB. Save it as a JPEG, or at a smaller size, and upload it again.",
            needed.div_ceil(1024 * 1024),
            MAX_DECODE_BYTES / (1024 * 1024)
        ),
    )
}

/// The smallest size (same proportions) from which every stored variant comes out as it would
/// from the original: the widest detail width, the square crops' side, the Open Graph crop.
fn base_size(w: u32, h: u32) -> (u32, u32) {
    let (w64, h64) = (u64::from(w.max(1)), u64::from(h.max(1)));
    // Scales as fractions (numerator, denominator), compared and applied in integers so the
    // binding side comes out exact (1600, not 1601 after rounding).
    let widest = u64::from(*super::DETAIL_WIDTHS.last().expect("non-empty"));
    let square = u64::from(*THUMB_SIDES.iter().max().expect("non-empty"));
    let larger = |a: (u64, u64), b: (u64, u64)| if a.0 * b.1 >= b.0 * a.1 { a } else { b };
    let og = larger((u64::from(OG_SIZE.0), w64), (u64::from(OG_SIZE.1), h64));
    let (num, den) = larger(larger((widest, w64), (square, w64.min(h64))), og);
    if num >= den {
        return (w, h);
    }
    let scaled = |side: u64| u32::try_from((side * num).div_ceil(den)).unwrap_or(u32::MAX);
    (
        scaled(w64).clamp(1, w.max(1)),
        scaled(h64).clamp(1, h.max(1)),
    )
}

/// Flattens transparency onto white (JPEG has no alpha, and product photos read best on white)
/// and shrinks the image to [`base_size`] straight away, so the full-size decoded pixels are
/// dropped here and every resize after works on the small copy. (A Lanczos resize keeps a
/// 16-byte-per-pixel scratch copy: on a 40-megapixel original that alone was over 100 MB.)
/// The shrink is an area average, which needs no scratch memory beyond its output.
fn prepare(img: DynamicImage) -> image::RgbImage {
    let (w, h) = (img.width(), img.height());
    let (bw, bh) = base_size(w, h);
    let shrink = (bw, bh) != (w, h);
    if !img.color().has_alpha() {
        // Shrunk in its own pixel type first, so a grey or 16-bit image is never converted
        // at full size.
        let small = if shrink {
            img.thumbnail_exact(bw, bh)
        } else {
            img
        };
        return small.into_rgb8();
    }
    // Blended in place: an RGBA8 image is not copied (other alpha types are, and
    // `working_bytes` counts that), and the average below then mixes colours already on
    // white (averaging first would darken edges with the colour hidden under transparency).
    let mut rgba = img.into_rgba8();
    for p in rgba.pixels_mut() {
        let a = u16::from(p[3]);
        let blend = |c: u8| ((u16::from(c) * a + 255 * (255 - a)) / 255) as u8;
        *p = image::Rgba([blend(p[0]), blend(p[1]), blend(p[2]), 255]);
    }
    let rgba = if shrink {
        image::imageops::thumbnail(&rgba, bw, bh)
    } else {
        rgba
    };
    DynamicImage::ImageRgba8(rgba).into_rgb8()
}

fn write_jpeg(img: &DynamicImage, path: &std::path::Path) -> AppResult<i64> {
    let mut buf = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, JPEG_QUALITY);
    img.write_with_encoder(encoder)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("encoding JPEG: {e}")))?;
    write_whole(path, &buf)
}

fn write_webp(img: &DynamicImage, path: &std::path::Path) -> AppResult<i64> {
    let rgb;
    let rgb = match img.as_rgb8() {
        Some(rgb) => rgb,
        None => {
            rgb = img.to_rgb8();
            &rgb
        }
    };
    let encoded = webp::Encoder::from_rgb(rgb.as_raw(), rgb.width(), rgb.height())
        .encode_simple(false, WEBP_QUALITY)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("encoding WebP: {e:?}")))?;
    write_whole(path, &encoded)
}

/// Writes under a temporary name and renames, so a file `/media` can see is always complete
/// (variants completed at start-up are written while the server already serves that folder).
fn write_whole(path: &std::path::Path, bytes: &[u8]) -> AppResult<i64> {
    let fail =
        |e: std::io::Error| AppError::Internal(anyhow::anyhow!("writing {}: {e}", path.display()));
    let partial = path.with_extension("partial");
    std::fs::write(&partial, bytes).map_err(fail)?;
    std::fs::rename(&partial, path).map_err(fail)?;
    Ok(bytes.len() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_cloudinarys_published_vectors() {
        // Cloudinary's own example: the documentation page "Generating authentication
        // signatures" (cloudinary.com/documentation/authentication_signatures), manual signature
        // generation, API secret `abcd`; quoted in the team's Cloudinary notes, §1.3 "Test
        // vectors". The only vector here that Cloudinary published.
        assert_eq!(
            sign_params(
                &[
                    ("eager", "w_400,h_300,c_pad|w_260,h_200,c_crop"),
                    ("public_id", "sample_image"),
                    ("timestamp", "1315060510")
                ],
                "abcd"
            ),
            "bfd09f95f331f558cbd1320e67aa8d488770583e"
        );
        // Not published by Cloudinary: regression values computed with the documented
        // algorithm (team Cloudinary notes §1.3, "Regression values"). They pin our folder
        // signing and which keys are dropped (api_key, file, empty values) and the sorting, but
        // a misreading of the algorithm shared with those notes would not show here.
        assert_eq!(
            sign_params(
                &[("folder", "shops/42/products"), ("timestamp", "1700000000")],
                "abcd"
            ),
            "78b3f572cf3a441722950e85e4384ef34208edcc"
        );
        assert_eq!(
            sign_params(
                &[
                    ("timestamp", "1700000000"),
                    ("tags", "shop_42"),
                    ("folder", "shops/42/products"),
                    ("allowed_formats", "jpg,png,webp"),
                    ("api_key", "k"),
                    ("file", "f"),
                    ("context", "")
                ],
                "abcd"
            ),
            "c4b0c7a1335494d3076b06f56555997108182120"
        );
        // Not published by Cloudinary either: a regression value computed with the formula of
        // the "Response signatures" page (team Cloudinary notes §1.5, "Response").
        assert_eq!(
            response_signature("shops/42/products/abc", 1712000000, "abcd"),
            "74cd16485cd1ab1237910c6d13e5415d4f6a5d2a"
        );
    }

    #[test]
    fn sizes_are_checked_before_decoding() {
        assert!(check_upload_size(0).is_err());
        assert!(check_upload_size(MAX_UPLOAD_BYTES).is_ok());
        let err = check_upload_size(MAX_UPLOAD_BYTES + 1).unwrap_err();
        assert!(matches!(err, AppError::Validation(m) if m["file"].contains("at most 10 MB")));
    }

    /// Counts the bytes this thread has allocated and not yet freed, so a test can see the
    /// most a call ever held at once.
    mod counting {
        use std::alloc::{GlobalAlloc, Layout, System};
        use std::cell::Cell;

        pub struct Counting;

        thread_local! {
            static ON: Cell<bool> = const { Cell::new(false) };
            static LIVE: Cell<i64> = const { Cell::new(0) };
            static PEAK: Cell<i64> = const { Cell::new(0) };
        }

        fn note(delta: i64) {
            // `try_with`: allocations also happen while a thread's locals are torn down.
            let _ = ON.try_with(|on| {
                if on.get() {
                    let live = LIVE.get() + delta;
                    LIVE.set(live);
                    if live > PEAK.get() {
                        PEAK.set(live);
                    }
                }
            });
        }

        unsafe impl GlobalAlloc for Counting {
            unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
                note(layout.size() as i64);
                unsafe { System.alloc(layout) }
            }

            unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
                note(layout.size() as i64);
                unsafe { System.alloc_zeroed(layout) }
            }

            unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
                note(-(layout.size() as i64));
                unsafe { System.dealloc(ptr, layout) }
            }

            unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
                note(new_size as i64 - layout.size() as i64);
                unsafe { System.realloc(ptr, layout, new_size) }
            }
        }

        /// Runs `f` on this thread and returns its result with the most bytes it held at once.
        pub fn peak<T>(f: impl FnOnce() -> T) -> (T, u64) {
            LIVE.set(0);
            PEAK.set(0);
            ON.set(true);
            let out = f();
            ON.set(false);
            (out, PEAK.get().max(0) as u64)
        }
    }

    #[global_allocator]
    static ALLOCATOR: counting::Counting = counting::Counting;

    const MB: u64 = 1024 * 1024;

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for b in data {
            crc ^= u32::from(*b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    /// A PNG header claiming `w`×`h` pixels of 16-bit RGBA, with valid CRCs and no pixel data.
    fn deep_png_header(w: u32, h: u32) -> Vec<u8> {
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        for (kind, data) in [
            (
                &b"IHDR"[..],
                [&w.to_be_bytes()[..], &h.to_be_bytes(), &[16, 6, 0, 0, 0]].concat(),
            ),
            (
                b"IDAT",
                vec![0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01],
            ),
        ] {
            out.extend_from_slice(&(data.len() as u32).to_be_bytes());
            let body = [kind, &data].concat();
            out.extend_from_slice(&body);
            out.extend_from_slice(&crc32(&body).to_be_bytes());
        }
        out
    }

    #[test]
    fn a_header_over_the_memory_budget_is_refused_before_anything_is_allocated() {
        // 36 megapixels (under the pixel limit) at 8 bytes each: 288 MB if decoded.
        let bytes = deep_png_header(6000, 6000);
        let (result, peak) = counting::peak(|| decode_bounded(&bytes));
        let err = result.unwrap_err();
        assert!(
            matches!(&err, AppError::Validation(m) if m["file"].contains("the limit is 128 MB")),
            "{err:?}"
        );
        assert!(peak < 2 * MB, "{peak} bytes allocated to refuse it");
    }

    #[test]
    fn base_size_keeps_what_every_variant_needs() {
        assert_eq!(base_size(900, 600), (900, 600), "small images are kept");
        assert_eq!(base_size(8000, 6000), (1600, 1200));
        // A panorama: the Open Graph crop needs 630 pixels of height.
        assert_eq!(base_size(20000, 2000), (6300, 630));
        // A tall strip: the square crops need 480 pixels of width.
        assert_eq!(base_size(1000, 9000), (1000, 9000));
        assert_eq!(base_size(2000, 9000), (1600, 7200));
    }

    fn is_webp(path: &std::path::Path) -> bool {
        let bytes = std::fs::read(path).unwrap_or_default();
        bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP"
    }

    #[test]
    fn every_variant_has_a_webp_and_old_folders_are_completed_once() {
        // A photo-like picture: smooth light with some texture.
        let img = image::RgbImage::from_fn(1200, 900, |x, y| {
            let t = ((x * 7 + y * 13) % 17) as u8;
            image::Rgb([(x / 5) as u8 + t, (y / 4) as u8, 120u8.wrapping_add(t * 3)])
        });
        let mut png = Cursor::new(Vec::new());
        img.write_to(&mut png, ImageFormat::Png).unwrap();
        let dir = std::env::temp_dir().join(format!("bizmaat-webp-{}", Uuid::now_v7()));
        process_local(png.get_ref(), &dir).unwrap();
        let names = ["w320", "w640", "w1024", "w1200", "sq240", "sq360", "sq480"];
        for name in names {
            let webp = dir.join(format!("{name}.webp"));
            assert!(is_webp(&webp), "{name}.webp is a WebP");
            let jpeg = std::fs::metadata(dir.join(format!("{name}.jpg")))
                .unwrap()
                .len();
            let webp = std::fs::metadata(&webp).unwrap().len();
            assert!(webp < jpeg, "{name}: WebP {webp} bytes, JPEG {jpeg}");
        }
        assert!(!dir.join("og.webp").exists(), "link previews stay JPEG");
        assert_eq!(complete_variants(&dir).unwrap(), 0, "nothing to do");

        // A folder as an older version left it: JPEG only, no 360 px square.
        for name in names {
            std::fs::remove_file(dir.join(format!("{name}.webp"))).unwrap();
        }
        std::fs::remove_file(dir.join("sq360.jpg")).unwrap();
        let written = complete_variants(&dir).unwrap();
        assert_eq!(written, names.len() + 1);
        for name in names {
            assert!(
                is_webp(&dir.join(format!("{name}.webp"))),
                "{name}.webp made"
            );
        }
        let sq = image::open(dir.join("sq360.jpg")).unwrap();
        assert_eq!((sq.width(), sq.height()), (360, 360));
        assert_eq!(complete_variants(&dir).unwrap(), 0, "done once");
        let leftovers = std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "partial")
            })
            .count();
        assert_eq!(leftovers, 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn making_the_variants_holds_little_more_than_the_decoded_photo() {
        let (w, h) = (3000, 2000);
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x % 251) as u8, (y % 241) as u8, 90])
        });
        let mut png = Cursor::new(Vec::new());
        img.write_to(&mut png, ImageFormat::Png).unwrap();
        let png = png.into_inner();
        drop(img);
        let dir = std::env::temp_dir().join(format!("bizmaat-variants-{}", Uuid::now_v7()));
        let (result, peak) = counting::peak(|| process_local(&png, &dir));
        let stored = result.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!((stored.0, stored.1), (1600, 1067));
        // Decoded: 18 MB. Resizing the full-size photo for each variant, as before, held a
        // 16-byte-per-pixel scratch copy on top (51 MB for the 1600 px variant alone).
        let decoded = u64::from(w * h * 3);
        assert!(
            peak < decoded + 22 * MB,
            "peak {} MB for an {} MB photo",
            peak / MB,
            decoded / MB
        );
    }
}
