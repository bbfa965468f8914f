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
use image::{DynamicImage, ImageFormat, ImageReader};
use secrecy::ExposeSecret;
use sha1::{Digest, Sha1};
use std::io::Cursor;
use std::path::PathBuf;
use uuid::Uuid;

pub const MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;
pub const MAX_PIXELS: u64 = 40_000_000;
const JPEG_QUALITY: u8 = 82;

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
    http: reqwest::Client,
}

impl Media {
    pub fn new(config: MediaConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(20))
            .build()
            .expect("an HTTP client with default TLS settings builds");
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

    /// Checks, re-encodes and stores an upload. CPU work runs on the blocking pool.
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
        let stored = tokio::task::spawn_blocking(move || process_local(&bytes, &target))
            .await
            .map_err(|e| AppError::Internal(anyhow::anyhow!("image task failed: {e}")))??;
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

    async fn cloudinary_destroy(&self, c: &CloudinaryConfig, public_id: &str) -> AppResult<()> {
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
        let signature = sign_params(
            &[("public_id", public_id), ("timestamp", &timestamp)],
            c.api_secret.expose_secret(),
        );
        let url = format!("{}/v1_1/{}/image/destroy", c.api_base_url, c.cloud_name);
        let res = self
            .http
            .post(&url)
            .form(&[
                ("public_id", public_id),
                ("timestamp", &timestamp),
                ("api_key", &c.api_key),
                ("signature", &signature),
            ])
            .send()
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
    let not_image = || {
        AppError::validation(
            "file",
            "That file is not an image we can use. Upload a JPEG, PNG, WebP or GIF.",
        )
    };
    let format = image::guess_format(bytes).map_err(|_| not_image())?;
    if !matches!(
        format,
        ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP | ImageFormat::Gif
    ) {
        return Err(not_image());
    }
    let reader = ImageReader::with_format(Cursor::new(bytes), format);
    let (w, h) = reader.into_dimensions().map_err(|_| not_image())?;
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(AppError::validation(
            "file",
            format!(
                "That image is {w}×{h} pixels ({:.0} megapixels); the limit is 40 megapixels.",
                (u64::from(w) * u64::from(h)) as f64 / 1e6
            ),
        ));
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(512 * 1024 * 1024);
    reader.limits(limits);
    let decoded = reader.decode().map_err(|_| not_image())?;
    // Flatten transparency onto white: JPEG has no alpha, and product photos read best on white.
    let rgb = flatten(decoded);
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
        total += write_jpeg(&img, &target.join(format!("w{width}.jpg")))?;
    }
    for side in THUMB_SIDES {
        let img = rgb.resize_to_fill(*side, *side, image::imageops::FilterType::Lanczos3);
        total += write_jpeg(&img, &target.join(format!("sq{side}.jpg")))?;
    }
    let og = rgb.resize_to_fill(OG_SIZE.0, OG_SIZE.1, image::imageops::FilterType::Triangle);
    total += write_jpeg(&og, &target.join("og.jpg"))?;
    Ok((largest.0, largest.1, total))
}

fn flatten(img: DynamicImage) -> DynamicImage {
    if !img.color().has_alpha() {
        return DynamicImage::ImageRgb8(img.into_rgb8());
    }
    let rgba = img.into_rgba8();
    let mut out = image::RgbImage::new(rgba.width(), rgba.height());
    for (x, y, p) in rgba.enumerate_pixels() {
        let a = u16::from(p[3]);
        let blend = |c: u8| ((u16::from(c) * a + 255 * (255 - a)) / 255) as u8;
        out.put_pixel(x, y, image::Rgb([blend(p[0]), blend(p[1]), blend(p[2])]));
    }
    DynamicImage::ImageRgb8(out)
}

fn write_jpeg(img: &DynamicImage, path: &std::path::Path) -> AppResult<i64> {
    let mut buf = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, JPEG_QUALITY);
    img.write_with_encoder(encoder)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("encoding JPEG: {e}")))?;
    std::fs::write(path, &buf)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("writing {}: {e}", path.display())))?;
    Ok(buf.len() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_cloudinarys_published_vectors() {
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
}
