//! Product images and logos. Two backends chosen by configuration: local files (default) or
//! Cloudinary. Either way the browser receives ready-made URLs in an `ImageView`.

pub mod api;
#[cfg(feature = "ssr")]
pub mod images;
#[cfg(feature = "ssr")]
pub mod routes;
#[cfg(feature = "ssr")]
pub mod ssr;
pub mod ui;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Everything an `<img>` needs. `src`/`srcset` keep the image's proportions (detail pages);
/// `thumb_*` are square crops for grids; `og_url` is 1200×630 for link previews.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageView {
    pub id: Uuid,
    pub alt: String,
    pub width: u32,
    pub height: u32,
    pub src: String,
    pub srcset: String,
    pub thumb_src: String,
    pub thumb_srcset: String,
    pub og_url: String,
}

/// Widths (px) of the proportional variants; never upscaled past the original.
pub const DETAIL_WIDTHS: &[u32] = &[320, 640, 1024, 1600];
/// Sides (px) of the square grid variants. 360 is what a two-column phone grid needs (a card
/// about 190 CSS px wide at a device pixel ratio of 1.75–2); 480 was twice that many pixels.
pub const THUMB_SIDES: &[u32] = &[240, 360, 480];
pub const OG_SIZE: (u32, u32) = (1200, 630);
/// Square grid images are shown at this size in markup (CSS scales them).
pub const THUMB_DISPLAY: u32 = 480;

/// The detail widths available for an image of this width.
pub fn detail_widths(width: u32) -> Vec<u32> {
    let mut widths: Vec<u32> = DETAIL_WIDTHS
        .iter()
        .copied()
        .filter(|w| *w < width)
        .collect();
    widths.push(width.min(*DETAIL_WIDTHS.last().expect("non-empty")));
    widths.dedup();
    widths
}

/// Parameters the browser needs for a direct, signed upload to Cloudinary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignedUpload {
    pub upload_url: String,
    pub api_key: String,
    pub timestamp: i64,
    pub folder: String,
    pub allowed_formats: String,
    pub signature: String,
}
