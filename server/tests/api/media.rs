//! Image decoding is bounded: a small file whose header claims a huge or deep image is refused
//! with a message from its header, before decoding; a large real photo is shrunk before its
//! variants are made.

use crate::helpers::{Opts, TestApp, crc32, json, spawn_app, spawn_app_with, upload};

async fn product_fields(app: &TestApp) -> Vec<(&'static str, String)> {
    app.signup("Image Owner").await;
    let id = app
        .create_product(&[("title", "Photo"), ("price", "100"), ("status", "active")])
        .await;
    vec![("purpose", "product".into()), ("product_id", id)]
}

async fn send(
    app: &TestApp,
    fields: &[(&'static str, String)],
    file: Vec<u8>,
) -> reqwest::Response {
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    upload(app, &app.client, &fields, file, "upload.png").await
}

async fn file_error(res: reqwest::Response) -> String {
    assert_eq!(res.status(), 422);
    json(res).await["fields"]["file"]
        .as_str()
        .expect("a message about the file")
        .to_string()
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
}

/// A PNG that claims `width`×`height` pixels of this bit depth and colour type (6 = RGBA),
/// with valid CRCs and a few bytes of compressed data: a few dozen bytes in all.
fn png_claiming(width: u32, height: u32, depth: u8, color: u8) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[depth, color, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    // A zlib stream of a few zero bytes: far less than the claimed image.
    chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01],
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A real small JPEG whose frame header is then rewritten to claim `width`×`height`.
fn jpeg_claiming(width: u16, height: u16) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(16, 16, image::Rgb([10, 120, 200]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    let mut bytes = out.into_inner();
    let sof = bytes
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("a baseline frame header");
    // FFC0, length (2), precision (1), then height and width.
    bytes[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    bytes[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    bytes
}

async fn stored_images(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from images")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_image_that_would_need_too_much_memory_is_refused_from_its_header() {
    let app = spawn_app().await;
    let fields = product_fields(&app).await;
    // 6000×6000 is under the 40-megapixel limit, but at 16 bits per RGBA channel it would
    // decode to 288 MB, plus 144 MB to bring it to 8 bits.
    let message = file_error(send(&app, &fields, png_claiming(6000, 6000, 16, 6)).await).await;
    assert!(
        message.contains("6000×6000 pixels, 16-bit colour") && message.contains("412 MB"),
        "{message}"
    );
    assert!(message.contains("the limit is 128 MB"), "{message}");
    // The same size in 8-bit RGB (108 MB) is within the budget: it fails only because the
    // file holds no real pixel data.
    let message = file_error(send(&app, &fields, png_claiming(6000, 6000, 8, 2)).await).await;
    assert!(message.contains("not an image we can use"), "{message}");
    assert_eq!(stored_images(&app).await, 0);
}

#[tokio::test]
async fn huge_claimed_dimensions_get_a_clear_message_not_a_500() {
    let app = spawn_app().await;
    let fields = product_fields(&app).await;
    let message = file_error(send(&app, &fields, png_claiming(60000, 60000, 8, 6)).await).await;
    assert!(
        message.contains("60000×60000 pixels") && message.contains("40 megapixels"),
        "{message}"
    );
    let message = file_error(send(&app, &fields, jpeg_claiming(65000, 65000)).await).await;
    assert!(
        message.contains("65000×65000 pixels") && message.contains("40 megapixels"),
        "{message}"
    );
    // Few pixels, but one side longer than any decoder should be asked to hold.
    let message = file_error(send(&app, &fields, png_claiming(30000, 100, 8, 2)).await).await;
    assert!(
        message.contains("a side can be at most 20000 pixels"),
        "{message}"
    );
    assert_eq!(stored_images(&app).await, 0);
}

#[tokio::test]
async fn a_large_transparent_photo_is_shrunk_flattened_onto_white_and_stored() {
    // Unoptimised image code on a busy test machine can outlast the default request timeout.
    let app = spawn_app_with(Opts {
        env: vec![("REQUEST_TIMEOUT_SECS", "300".into())],
    })
    .await;
    let fields = product_fields(&app).await;
    // Transparent left half, opaque blue right half.
    let img = image::RgbaImage::from_fn(2000, 1500, |x, _| {
        if x < 1000 {
            image::Rgba([0, 0, 0, 0])
        } else {
            image::Rgba([20, 40, 220, 255])
        }
    });
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png).unwrap();
    let res = send(&app, &fields, png.into_inner()).await;
    let status = res.status();
    let view = json(res).await;
    assert_eq!(status, 201, "{view}");
    assert_eq!(
        (view["width"].as_u64(), view["height"].as_u64()),
        (Some(1600), Some(1200)),
        "the widest stored variant"
    );
    let src = view["srcset"]
        .as_str()
        .unwrap()
        .split(", ")
        .find(|s| s.ends_with(" 1600w"))
        .unwrap()
        .trim_end_matches(" 1600w")
        .to_string();
    let bytes = app.get(&src).await.bytes().await.unwrap();
    let stored = image::load_from_memory(&bytes).unwrap().to_rgb8();
    assert_eq!(stored.dimensions(), (1600, 1200));
    let left = stored.get_pixel(100, 600);
    let right = stored.get_pixel(1500, 600);
    assert!(
        left.0.iter().all(|c| *c > 245),
        "transparency became white: {left:?}"
    );
    assert!(
        right[2] > 180 && right[0] < 60,
        "the opaque half kept its colour: {right:?}"
    );
    for variant in [
        view["thumb_src"].as_str().unwrap(),
        view["og_url"].as_str().unwrap(),
    ] {
        assert_eq!(app.get(variant).await.status(), 200, "{variant}");
    }
}

/// Browsers that accept WebP get the WebP variant at the same URL; others, and link previews,
/// get the JPEG; every answer says it varies by `Accept`.
#[tokio::test]
async fn images_are_served_as_webp_to_browsers_that_accept_it() {
    let app = spawn_app().await;
    let fields = product_fields(&app).await;
    let img = image::RgbImage::from_fn(900, 700, |x, y| {
        image::Rgb([(x / 4) as u8, (y / 3) as u8, 90])
    });
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png).unwrap();
    let res = send(&app, &fields, png.into_inner()).await;
    let view = json(res).await;
    let thumb = view["thumb_src"].as_str().unwrap().to_string();
    assert!(thumb.ends_with("/sq480.jpg"), "{thumb}");
    assert!(
        view["thumb_srcset"]
            .as_str()
            .unwrap()
            .contains("/sq360.jpg 360w"),
        "the phone-grid size is offered: {view}"
    );
    let fetch = |accept: &'static str, path: String| {
        let app = &app;
        async move {
            let mut req = app.client.get(app.url(&path));
            if !accept.is_empty() {
                req = req.header("accept", accept);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 200, "{path} with Accept {accept:?}");
            let header = |name: &str| {
                res.headers()
                    .get(name)
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_default()
            };
            let (kind, vary) = (header("content-type"), header("vary"));
            (kind, vary, res.bytes().await.unwrap())
        }
    };
    let chrome = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8";
    let mut webp_total = 0;
    let mut jpeg_total = 0;
    for variant in ["sq240", "sq360", "sq480", "w320", "w640", "w900"] {
        let path = thumb.replace("sq480", variant);
        let (kind, vary, body) = fetch(chrome, path.clone()).await;
        assert_eq!(kind, "image/webp", "{variant}");
        assert_eq!(&body[..4], b"RIFF");
        assert_eq!(&body[8..12], b"WEBP");
        assert!(vary.contains("Accept"), "{variant}: Vary {vary:?}");
        let decoded = image::load_from_memory(&body).unwrap();
        assert!(decoded.width() > 0);
        webp_total += body.len();

        let (kind, vary, body) = fetch("image/*,*/*;q=0.8", path.clone()).await;
        assert_eq!(kind, "image/jpeg", "{variant} without WebP in Accept");
        assert_eq!(&body[..2], &[0xFF, 0xD8]);
        assert!(vary.contains("Accept"));
        jpeg_total += body.len();
    }
    assert!(
        webp_total * 4 < jpeg_total * 3,
        "WebP {webp_total} bytes against JPEG {jpeg_total}"
    );
    // No Accept at all (crawlers, curl) and the link preview: JPEG.
    let (kind, _, _) = fetch("", thumb.clone()).await;
    assert_eq!(kind, "image/jpeg");
    let (kind, _, _) = fetch(chrome, view["og_url"].as_str().unwrap().to_string()).await;
    assert_eq!(kind, "image/jpeg", "link previews stay JPEG");
    // Another path than a stored image's is still a plain 404.
    let res = app
        .client
        .get(app.url("/media/../Cargo.jpg"))
        .header("accept", chrome)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}
