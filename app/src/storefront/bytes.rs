//! Whole storefront responses kept as bytes (issue 12): a cached page is answered from memory,
//! already compressed (brotli and gzip), with an `ETag`, without a query, a render or a session
//! lookup. The data cache in `ssr` stays underneath for misses.
//!
//! **Where it sits.** [`middleware`] is the outermost layer: a hit is answered before request
//! ids, tracing, timeouts, compression and the security layer run, because on two cores that
//! stack alone costs more than the page (measured: about 14,000 requests/s for `/healthz`
//! through it). What those layers add to a page is kept with the entry instead: the response
//! headers of the render that was stored (security headers included) are replayed on every hit,
//! with the CSP's `script-src` rewritten to hashes. A hit still records its page view. Hits
//! carry no `x-request-id` and leave no trace span.
//!
//! **Freshness.** Entries are tagged with their shop and that shop's generation here. The
//! generation moves when the shop changes:
//! - in this process, right after the request that changed it has finished (so its commit is
//!   done): `bump_catalog_version` notes the shop in a task-local that [`middleware`] reads once
//!   the handler returns. This makes "edit, then reload" deterministic;
//! - from anywhere (jobs, other processes, `psql`), through PostgreSQL: a trigger on `shops`
//!   sends `NOTIFY bz_storefront, '<shop id>'` at commit and [`listen`] receives it. If that line
//!   is lost, everything is dropped (missed notifications cannot be known).
//!
//! A page is stored only if nothing was invalidated while it rendered (it may have read data
//! that was just replaced), and no entry lives longer than [`MAX_AGE`] whatever happens.
//!
//! **Per visitor.** Storefront pages (home, category, product, search) carry nothing per
//! visitor: the cart count is not in the header, and the cart, checkout and order pages are
//! never cached. The CSP nonce is: a cached page cannot carry a fresh nonce inside compressed
//! bytes, so cached pages are served with a CSP that allows their inline scripts by SHA-256
//! hash, and their `nonce` attributes are removed before storing, so no visitor's nonce is
//! ever shown to another.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The longest an entry is served, notifications or not.
pub const MAX_AGE: Duration = Duration::from_secs(600);

/// Lets a CDN or proxy keep a page briefly and serve it stale while it asks again; browsers
/// revalidate every time (a `304` when nothing changed).
pub const CACHE_CONTROL: &str = "public, max-age=0, s-maxage=30, stale-while-revalidate=60";

/// The response header by which a storefront render names its shop (removed before sending).
pub const SHOP_HEADER: &str = "x-bizmaat-shop";

/// The PostgreSQL channel the `shops` trigger notifies.
pub const CHANNEL: &str = "bz_storefront";

/// Pages larger than this are served but not kept.
const MAX_PAGE_BYTES: usize = 1 << 20;

tokio::task_local! {
    /// Shops changed by the request running in this task (see the module comment).
    static TOUCHED: RefCell<Vec<Uuid>>;
}

/// Called where a shop's storefront data changes (inside its transaction).
pub fn touched(shop_id: Uuid) {
    let _ = TOUCHED.try_with(|t| t.borrow_mut().push(shop_id));
}

struct Entry {
    shop: Uuid,
    generation: u64,
    stored: Instant,
    /// Shared with the answers being sent: a hit takes a reference, not a copy.
    page: Arc<Page>,
}

/// A stored page: everything a hit needs, made once when it is stored.
struct Page {
    etag: String,
    /// The `ETag` header of each coding (one entity in three codings: the coding is part of
    /// the tag, and the base part is what `If-None-Match` compares).
    etag_identity: HeaderValue,
    etag_br: HeaderValue,
    etag_gzip: HeaderValue,
    /// The render's response headers worth replaying (content type, security headers, the
    /// CSP with hashes), set on every answer from this entry.
    headers: HeaderMap,
    identity: Bytes,
    br: Bytes,
    gzip: Bytes,
}

impl Entry {
    fn bytes(&self, key: &str) -> usize {
        let page = &self.page;
        let headers: usize = page
            .headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len())
            .sum();
        page.identity.len() + page.br.len() + page.gzip.len() + headers + 2 * key.len() + 256
    }
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, (Entry, u64)>,
    /// Keys in the order they were stored, with the serial of that store; a key stored again
    /// since is skipped when its old serial comes up.
    order: VecDeque<(String, u64)>,
    bytes: usize,
    serial: u64,
    generations: HashMap<Uuid, u64>,
    /// Moves when everything is outdated at once ([`ResponseCache::clear`]).
    epoch: u64,
}

/// Where a shop stands: data stamped before a change to it (or a [`ResponseCache::clear`])
/// is outdated. The page data cache (`storefront::ssr::PageCache`) stamps its entries with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    epoch: u64,
    generation: u64,
}

pub struct ResponseCache {
    max_entries: usize,
    max_bytes: usize,
    inner: Mutex<Inner>,
    /// Moves on every invalidation: a render that saw it move does not store.
    invalidations: AtomicU64,
    /// Renders under way, by key. A request for a page that is being rendered waits for that
    /// render instead of starting its own: when a page expires, or a server starts, under
    /// traffic, it is rendered (queries, Leptos, compression) once, not once per visitor.
    renders: Mutex<HashMap<String, tokio::sync::watch::Receiver<()>>>,
}

/// What a request that missed does: render the page itself, or wait for the render under way.
enum Turn<'a> {
    Lead(Rendering<'a>),
    Follow(tokio::sync::watch::Receiver<()>),
}

/// Held by the request rendering a page. When it goes (stored, not storable, failed or the
/// client gone) the waiting requests wake and look in the cache.
struct Rendering<'a> {
    cache: &'a ResponseCache,
    key: String,
    _done: tokio::sync::watch::Sender<()>,
}

impl Drop for Rendering<'_> {
    fn drop(&mut self) {
        self.cache.lock_renders().remove(&self.key);
        // `_done` is dropped after this: the waiters wake once the key is free again.
    }
}

/// How long a request waits for another's render of the same page before rendering it itself.
const FOLLOW_WAIT: Duration = Duration::from_secs(5);

impl ResponseCache {
    /// A limit of 0 turns the cache off.
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        ResponseCache {
            max_entries,
            max_bytes,
            inner: Mutex::new(Inner::default()),
            invalidations: AtomicU64::new(0),
            renders: Mutex::new(HashMap::new()),
        }
    }

    fn lock_renders(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, tokio::sync::watch::Receiver<()>>> {
        self.renders.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The first request to miss a page renders it; the others wait for that render.
    fn turn(&self, key: &str) -> Turn<'_> {
        let mut renders = self.lock_renders();
        if let Some(rx) = renders.get(key) {
            return Turn::Follow(rx.clone());
        }
        let (tx, rx) = tokio::sync::watch::channel(());
        renders.insert(key.to_string(), rx);
        Turn::Lead(Rendering {
            cache: self,
            key: key.to_string(),
            _done: tx,
        })
    }

    fn enabled(&self) -> bool {
        self.max_entries > 0 && self.max_bytes > 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shop's pages are outdated.
    pub fn invalidate(&self, shop: Uuid) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
        let mut inner = self.lock();
        *inner.generations.entry(shop).or_default() += 1;
        let gone: Vec<String> = inner
            .entries
            .iter()
            .filter(|(_, (e, _))| e.shop == shop)
            .map(|(k, _)| k.clone())
            .collect();
        for key in gone {
            if let Some((e, _)) = inner.entries.remove(&key) {
                inner.bytes -= e.bytes(&key);
            }
        }
    }

    /// Every page is outdated (a lost notification line).
    pub fn clear(&self) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
        let mut inner = self.lock();
        let generations = std::mem::take(&mut inner.generations)
            .into_iter()
            .map(|(k, g)| (k, g + 1))
            .collect();
        *inner = Inner {
            generations,
            serial: inner.serial,
            epoch: inner.epoch + 1,
            ..Inner::default()
        };
    }

    /// The shop's current stamp (see [`Stamp`]). Kept whether or not responses are.
    pub fn stamp(&self, shop: Uuid) -> Stamp {
        let inner = self.lock();
        Stamp {
            epoch: inner.epoch,
            generation: inner.generations.get(&shop).copied().unwrap_or(0),
        }
    }

    /// Moves on every invalidation: read it before loading data, and store the data only if
    /// it has not moved (it may have been read just before a change).
    pub fn invalidation_count(&self) -> u64 {
        self.invalidations.load(Ordering::SeqCst)
    }

    fn get(&self, key: &str) -> Option<Arc<Page>> {
        let mut inner = self.lock();
        let (entry, _) = inner.entries.get(key)?;
        let current = inner.generations.get(&entry.shop).copied().unwrap_or(0);
        if entry.generation == current && entry.stored.elapsed() < MAX_AGE {
            return Some(entry.page.clone());
        }
        if let Some((e, _)) = inner.entries.remove(key) {
            inner.bytes -= e.bytes(key);
        }
        None
    }

    /// Stores a render unless something was invalidated since `seen` (read before it began).
    fn put(&self, key: String, mut entry: Entry, seen: u64) {
        let size = entry.bytes(&key);
        if size > self.max_bytes {
            return;
        }
        let mut inner = self.lock();
        if self.invalidations.load(Ordering::SeqCst) != seen {
            return;
        }
        entry.generation = inner.generations.get(&entry.shop).copied().unwrap_or(0);
        inner.serial += 1;
        let serial = inner.serial;
        if let Some((old, _)) = inner.entries.insert(key.clone(), (entry, serial)) {
            inner.bytes -= old.bytes(&key);
        }
        inner.bytes += size;
        inner.order.push_back((key, serial));
        while inner.entries.len() > self.max_entries || inner.bytes > self.max_bytes {
            let Some((k, s)) = inner.order.pop_front() else {
                break;
            };
            if inner
                .entries
                .get(&k)
                .is_some_and(|(_, current)| *current == s)
                && let Some((e, _)) = inner.entries.remove(&k)
            {
                inner.bytes -= e.bytes(&k);
            }
        }
        // Keys replaced or removed leave stale slots behind; drop them once they dominate.
        if inner.order.len() > 4 * inner.entries.len() + 64 {
            let Inner { entries, order, .. } = &mut *inner;
            order.retain(|(k, s)| entries.get(k).is_some_and(|(_, c)| c == s));
        }
    }
}

/// The cache key of a storefront page, or `None` when the request is not one to cache: only
/// the shop's home, categories, products and search, and only the query parameters the page
/// reads (others, such as `utm_source` on links shared in WhatsApp, do not change it).
///
/// Made from the page as it is rendered ([`super::render::requested`], which reads the address
/// as the router does, then normalised as the data is loaded), never from the raw query: were
/// the key read differently from the page, a visitor could have one page stored under another
/// page's key (`?page=%2532` renders page 2; a key decoding once would have filed it as page 1).
pub fn cache_key(method: &Method, path: &str, query: Option<&str>) -> Option<String> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    // A form error shown from a link: per visitor, never cached.
    if form_urlencoded::parse(query.unwrap_or_default().as_bytes()).any(|(k, _)| k == "__err") {
        return None;
    }
    let (route, choice) = super::render::requested(path, query)?;
    let route = route.normalized();
    let mut key = route.path_for(&route.shop);
    if let super::StoreView::Product(_) = route.view {
        // The product page's variant choice and its add-to-cart message.
        let mut extra = form_urlencoded::Serializer::new(String::new());
        if let Some(v) = &choice.variant {
            extra.append_pair("variant", v);
        }
        for (name, value) in ["o1", "o2", "o3"].iter().zip(&choice.values) {
            if let Some(v) = value {
                extra.append_pair(name, v);
            }
        }
        if let Some(e) = &choice.error {
            extra.append_pair("error", e);
        }
        let extra = extra.finish();
        if !extra.is_empty() {
            key.push('?');
            key.push_str(&extra);
        }
    }
    Some(key)
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Coding {
    Brotli,
    Gzip,
    Identity,
}

/// The best coding the client accepts (a `q=0` refuses one).
fn coding(headers: &HeaderMap) -> Coding {
    // One pass, no allocation: this runs on every cached answer.
    let (mut br, mut gzip) = (false, false);
    for item in headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or_default().trim();
        let refused = parts.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q == 0.0)
        });
        if !refused {
            br |= name.eq_ignore_ascii_case("br");
            gzip |= name.eq_ignore_ascii_case("gzip");
        }
    }
    if br {
        Coding::Brotli
    } else if gzip {
        Coding::Gzip
    } else {
        Coding::Identity
    }
}

/// Whether `If-None-Match` names this entity (weak comparison, as RFC 9110 asks for GET).
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    let bare = etag.trim_matches('"');
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|t| t == "*" || t.split('-').next() == Some(bare))
}

fn respond(hit: &Page, headers: &HeaderMap, state: &'static str) -> Response {
    let coding = coding(headers);
    let etag = match coding {
        Coding::Brotli => &hit.etag_br,
        Coding::Gzip => &hit.etag_gzip,
        Coding::Identity => &hit.etag_identity,
    };
    let fresh = not_modified(headers, &hit.etag);
    let mut res = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let body = match coding {
            Coding::Brotli => hit.br.clone(),
            Coding::Gzip => hit.gzip.clone(),
            Coding::Identity => hit.identity.clone(),
        };
        Response::new(Body::from(body))
    };
    let h = res.headers_mut();
    for (name, value) in hit.headers.iter() {
        if !fresh || name != header::CONTENT_TYPE {
            h.insert(name.clone(), value.clone());
        }
    }
    if !fresh {
        match coding {
            Coding::Brotli => {
                h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
            }
            Coding::Gzip => {
                h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            Coding::Identity => {}
        }
    }
    h.insert(header::ETAG, etag.clone());
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    h.insert("x-cache", HeaderValue::from_static(state));
    res
}

/// The render's CSP with its `script-src` replaced: our own files and these inline scripts by
/// hash, nothing else (no nonce, no WASM: storefront pages load neither).
fn csp_with_hashes(csp: &str, hashes: &str) -> String {
    let script_src = if hashes.is_empty() {
        "script-src 'self'".to_string()
    } else {
        format!("script-src 'self' {hashes}")
    };
    let mut directives: Vec<String> = csp
        .split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            if d.starts_with("script-src ") || d == "script-src" {
                script_src.clone()
            } else {
                d.to_string()
            }
        })
        .collect();
    if !directives.iter().any(|d| d.starts_with("script-src")) {
        directives.push(script_src);
    }
    directives.join("; ")
}

/// Headers of a render that say something about the page rather than about this one answer.
fn replayable(name: &axum::http::HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "content-length"
            | "content-encoding"
            | "transfer-encoding"
            | "date"
            | "etag"
            | "vary"
            | "cache-control"
            | "set-cookie"
            | "x-request-id"
            | "x-cache"
            | "connection"
            | SHOP_HEADER
    )
}

/// Removes every ` nonce="…"` attribute (a per-request value no cached page may carry).
fn strip_nonces(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(i) = rest.find(" nonce=\"") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 8..];
        match after.find('"') {
            Some(end) => rest = &after[end + 1..],
            None => {
                rest = after;
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `'sha256-…'` for the text of every inline `<script>` (those without `src`).
fn inline_script_hashes(html: &str) -> String {
    let mut sources = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        let tag_and_more = &rest[start..];
        let Some(open_end) = tag_and_more.find('>') else {
            break;
        };
        let tag = &tag_and_more[..open_end];
        let body_and_more = &tag_and_more[open_end + 1..];
        let Some(close) = body_and_more.find("</script>") else {
            break;
        };
        if !tag.contains(" src=") {
            let digest = Sha256::digest(&body_and_more.as_bytes()[..close]);
            let source = format!(
                "'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest)
            );
            if !sources.contains(&source) {
                sources.push(source);
            }
        }
        rest = &body_and_more[close + 9..];
    }
    sources.join(" ")
}

/// Brotli's quality and window (log2 of its size) for a page of `len` bytes.
///
/// Quality 5 with a window of at least 128 KB: on the demo home page (22.8 KB) 0.16 ms and
/// 2,758 bytes, against quality 9's 6 ms and 2,712 bytes (measured with brotli 9.1.1, 8
/// December 2026). Quality 9 allocates a fixed 32 MB match table whatever the input, which the
/// kernel zeroes on every store: 32 misses at once (a freshly started server under `make
/// bench`'s 32 connections) spent 63 % of the machine's CPU in its first seconds doing that.
/// Qualities 5–8 with a window of 64 KB or less pick match finders this crate does not
/// implement, and its fallback is as slow as quality 9, hence the floor of 17.
fn brotli_settings(len: usize) -> (u32, u32) {
    let lgwin = (usize::BITS - len.max(1).saturating_sub(1).leading_zeros()).clamp(17, 22);
    (5, lgwin)
}

fn compress(identity: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut br = Vec::with_capacity(identity.len() / 4);
    {
        let (quality, lgwin) = brotli_settings(identity.len());
        let mut w = brotli::CompressorWriter::new(&mut br, 4096, quality, lgwin);
        let _ = w.write_all(identity);
    }
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(identity.len() / 3),
        flate2::Compression::best(),
    );
    let _ = gz.write_all(identity);
    (br, gz.finish().unwrap_or_default())
}

/// What [`middleware`] needs, and nothing more: it runs in front of routing on every request,
/// and cloning the whole `AppState` (with the Leptos options) twice per request was a tenth of
/// a cached answer's CPU time (measured with `perf` under `make bench`'s load).
#[derive(Clone)]
pub struct Front {
    cache: Arc<ResponseCache>,
    page_views: crate::analytics::ssr::PageViews,
    data: Arc<super::ssr::PageCache>,
    direct: Arc<Direct>,
}

/// What a page rendered here ([`super::render`]) needs besides its data.
struct Direct {
    css: String,
    /// The headers the layers behind this one give a storefront page (security headers,
    /// content type), with the CSP's `script-src` to be replaced by the page's hashes.
    headers: HeaderMap,
}

impl Front {
    /// `page_headers`: the security headers of a storefront page (`server::security`).
    pub fn new(state: &crate::state::AppState, mut page_headers: HeaderMap) -> Self {
        page_headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        Front {
            cache: state.storefront_responses.clone(),
            page_views: state.page_views.clone(),
            data: state.storefront_cache.clone(),
            direct: Arc::new(Direct {
                css: crate::css_href(&state.leptos_options),
                headers: page_headers,
            }),
        }
    }

    /// The page rendered here from its data in memory, if that data is there (no query, no
    /// router: see [`super::render`]); `None` sends the request on to the router.
    /// Also says when that data was read: a response kept from it ages from then.
    async fn rendered(&self, uri: axum::http::Uri) -> Option<(Uuid, String, Instant)> {
        if !self.data.enabled() {
            return None;
        }
        let (route, choice) = super::render::requested(uri.path(), uri.query())?;
        let (page, read) = self.data.get_with_time(&route.normalized(), &self.cache)?;
        // This runs in front of the layer that turns a panic into a 500: a render that panics
        // is logged and the request goes on to the router (and that layer) instead.
        let render = super::render::document(page, choice, self.direct.css.clone());
        match futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(render)).await {
            Ok(rendered) => rendered.map(|(shop, html)| (shop, html, read)),
            Err(_) => {
                tracing::error!(path = uri.path(), "storefront render from memory panicked");
                None
            }
        }
    }

    fn record_view(&self, req: &Request) {
        if req.method() == Method::GET {
            self.page_views
                .record(crate::analytics::ssr::PageView::of_request(
                    req.uri().path(),
                    req.headers(),
                ));
        }
    }
}

/// A page as it is kept and answered: nonce-free HTML, the headers worth replaying (with the
/// CSP naming the page's inline scripts by hash), its codings and tags.
async fn keep(identity: String, source: &HeaderMap) -> Arc<Page> {
    let hashes = inline_script_hashes(&identity);
    let mut kept = HeaderMap::new();
    for (name, value) in source.iter() {
        if replayable(name) {
            kept.append(name.clone(), value.clone());
        }
    }
    let csp = source
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("default-src 'self'");
    if let Ok(v) = HeaderValue::from_str(&csp_with_hashes(csp, &hashes)) {
        kept.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    let identity = Bytes::from(identity);
    let for_compression = identity.clone();
    let (br, gzip) = tokio::task::spawn_blocking(move || compress(&for_compression))
        .await
        .unwrap_or_default();
    let etag = hex::encode(&Sha256::digest(&identity)[..12]);
    let tag = |suffix: &str| {
        HeaderValue::from_str(&format!("\"{etag}{suffix}\"")).expect("hex is a valid header")
    };
    Arc::new(Page {
        etag_identity: tag(""),
        etag_br: tag("-br"),
        etag_gzip: tag("-gz"),
        etag,
        headers: kept,
        identity,
        br: Bytes::from(br),
        gzip: Bytes::from(gzip),
    })
}

/// A page rendered here when responses are not kept: its headers, the CSP by hash, no
/// validators (as the router's render of it would be answered); the layer outside compresses.
fn answer_unkept(html: String, direct: &Direct) -> Response {
    let hashes = inline_script_hashes(&html);
    let mut res = Response::new(Body::from(html));
    let h = res.headers_mut();
    for (name, value) in direct.headers.iter() {
        h.insert(name.clone(), value.clone());
    }
    let csp = direct
        .headers
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("default-src 'self'");
    if let Ok(v) = HeaderValue::from_str(&csp_with_hashes(csp, &hashes)) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert("x-cache", HeaderValue::from_static("off"));
    res
}

/// The layer in front of the router: answers cached storefront pages and records their views,
/// stores fresh ones, and after any other request invalidates the shops it changed.
pub async fn middleware(State(front): State<Front>, mut req: Request, next: Next) -> Response {
    let cache = &front.cache;
    let key = cache_key(req.method(), req.uri().path(), req.uri().query());
    let Some(key) = key else {
        if req.method() == Method::GET || req.method() == Method::HEAD {
            return next.run(req).await;
        }
        let (res, changed) = TOUCHED
            .scope(RefCell::new(Vec::new()), async move {
                let res = next.run(req).await;
                (res, TOUCHED.with(|t| t.take()))
            })
            .await;
        for shop in changed {
            cache.invalidate(shop);
        }
        return res;
    };
    if !cache.enabled() {
        // Nothing kept: every answer is rendered, here when the data is in memory.
        if let Some((_, html, _)) = front.rendered(req.uri().clone()).await {
            front.record_view(&req);
            return answer_unkept(html, &front.direct);
        }
        return next.run(req).await;
    }
    let answer_hit = |req: &Request, hit: &Page| {
        front.record_view(req);
        respond(hit, req.headers(), "hit")
    };
    if let Some(hit) = cache.get(&key) {
        return answer_hit(&req, &hit);
    }
    // Another request may be rendering this page: wait for it (twice at most, in case the
    // first render ended without storing, say its client left), then render if still missing.
    let mut _rendering = None;
    for _ in 0..2 {
        match cache.turn(&key) {
            Turn::Lead(r) => {
                _rendering = Some(r);
                break;
            }
            Turn::Follow(mut done) => {
                let _ = tokio::time::timeout(FOLLOW_WAIT, done.changed()).await;
                if let Some(hit) = cache.get(&key) {
                    return answer_hit(&req, &hit);
                }
            }
        }
    }
    let seen = cache.invalidations.load(Ordering::SeqCst);
    if let Some((shop, html, read)) = front.rendered(req.uri().clone()).await {
        front.record_view(&req);
        let page = keep(html, &front.direct.headers).await;
        // As from the router: a HEAD's answer is not kept, nor a page over the size limit.
        if req.method() == Method::GET && page.identity.len() <= MAX_PAGE_BYTES {
            store(cache, key, shop, page.clone(), seen, read);
        }
        return respond(&page, req.headers(), "miss");
    }
    let headers = req.headers().clone();
    let is_get = req.method() == Method::GET;
    // The render comes back uncompressed (the layers inside would otherwise compress it for
    // this client); the codings are made here, once, for everyone.
    req.headers_mut().remove(header::ACCEPT_ENCODING);
    // And whole: a conditional request must not turn the stored render into a 304.
    req.headers_mut().remove(header::IF_NONE_MATCH);
    let mut res = next.run(req).await;
    let shop = res
        .headers_mut()
        .remove(SHOP_HEADER)
        .and_then(|v| v.to_str().ok().and_then(|s| s.parse::<Uuid>().ok()));
    let html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let storable = is_get
        && res.status() == StatusCode::OK
        && html
        && !res.headers().contains_key(header::SET_COOKIE)
        && !res.headers().contains_key(header::CONTENT_ENCODING);
    let (Some(shop), true) = (shop, storable) else {
        return res;
    };
    let (parts, body) = res.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_PAGE_BYTES).await {
        Ok(b) => b,
        Err(e) => {
            // Over the size limit or a broken render: this answer is lost either way.
            tracing::warn!(error = %e, key, "storefront page not cached: body unreadable");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let page = keep(
        strip_nonces(&String::from_utf8_lossy(&bytes)),
        &parts.headers,
    )
    .await;
    store(cache, key, shop, page.clone(), seen, Instant::now());
    let mut out = respond(&page, &headers, "miss");
    // This answer's own request id, as the layers inside gave it.
    if let Some(id) = parts.headers.get("x-request-id") {
        out.headers_mut().insert("x-request-id", id.clone());
    }
    out
}

/// Keeps a page rendered from data read at `read`: it is served until [`MAX_AGE`] after that,
/// not after the render (data kept a while, then rendered, would otherwise outlive it).
fn store(
    cache: &ResponseCache,
    key: String,
    shop: Uuid,
    page: Arc<Page>,
    seen: u64,
    read: Instant,
) {
    let entry = Entry {
        shop,
        generation: 0,
        stored: read,
        page,
    };
    cache.put(key, entry, seen);
}

/// Keeps the cache in step with changes made outside this process (or by jobs): the `shops`
/// trigger's notifications. Runs until the application's pool closes.
pub async fn listen(pool: sqlx::PgPool, cache: std::sync::Arc<ResponseCache>) {
    // A connection of its own: LISTEN holds it for good, and the application's pool (sized
    // for requests and jobs) must not lose one to it.
    let own = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .connect_lazy_with((*pool.connect_options()).clone());
    let closed = pool.close_event();
    tokio::pin!(closed);
    loop {
        let connected = async {
            let mut l = sqlx::postgres::PgListener::connect_with(&own).await?;
            l.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(l)
        };
        let mut listener = tokio::select! {
            _ = &mut closed => return,
            l = connected => match l {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "storefront cache: cannot listen for changes; retrying");
                    cache.clear();
                    tokio::select! {
                        _ = &mut closed => return,
                        _ = tokio::time::sleep(Duration::from_secs(2)) => continue,
                    }
                }
            },
        };
        // Anything stored before the line was up may have missed a notification.
        cache.clear();
        loop {
            let next = tokio::select! {
                _ = &mut closed => return,
                n = listener.try_recv() => n,
            };
            match next {
                Ok(Some(n)) => match n.payload().parse::<Uuid>() {
                    Ok(shop) => cache.invalidate(shop),
                    Err(_) => cache.clear(),
                },
                // The connection dropped (and notifications with it); the next call reconnects.
                Ok(None) => cache.clear(),
                Err(e) => {
                    tracing::warn!(error = %e, "storefront cache: notification line lost");
                    cache.clear();
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_shop_pages_are_cached_and_only_their_own_parameters_count() {
        let get = Method::GET;
        assert_eq!(cache_key(&get, "/s/ada", None).as_deref(), Some("/s/ada"));
        assert_eq!(
            cache_key(&get, "/s/ada/p/scarf", Some("utm_source=wa&variant=v1")).as_deref(),
            Some("/s/ada/p/scarf?variant=v1")
        );
        assert_eq!(
            cache_key(&get, "/s/ada/search", Some("page=2&q=+red%09+")),
            cache_key(&get, "/s/ada/search", Some("q=red&page=2"))
        );
        assert_eq!(
            cache_key(&get, "/s/ada", Some("page=abc")),
            cache_key(&get, "/s/ada", Some("page=1"))
        );
        // Read as the page is rendered (decoded twice, the last of a repeated name), so no
        // address can file one page under another's key.
        let key = |q: &str| cache_key(&get, "/s/ada", Some(q)).unwrap();
        assert_eq!(key("page=%2532"), "/s/ada?page=2");
        assert_eq!(key("page=2&page=3"), "/s/ada?page=3");
        assert_eq!(
            key("page=%202"),
            "/s/ada",
            "the router reads \" 2\" as no number"
        );
        assert_eq!(
            key("variant=x&o1=Red"),
            "/s/ada",
            "a listing reads no variant"
        );
        assert_eq!(
            cache_key(&get, "/s/ada/p/scarf", Some("error=stock&o1=Red&o1=Blue")).as_deref(),
            Some("/s/ada/p/scarf?o1=Blue&error=stock")
        );
        for (path, query) in [
            ("/s/%61da", None),
            ("/s/ada/cart", None),
            ("/s/ada/order/1", None),
            ("/s/ada/sitemap.xml", None),
            ("/dashboard", None),
            ("/s/ada", Some("__err=abc")),
        ] {
            assert_eq!(cache_key(&get, path, query), None, "{path}");
        }
        assert_eq!(cache_key(&Method::POST, "/s/ada", None), None);
    }

    #[test]
    fn codings_follow_accept_encoding() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
            m
        };
        assert_eq!(coding(&h("gzip, deflate, br, zstd")), Coding::Brotli);
        assert_eq!(coding(&h("br;q=0, gzip")), Coding::Gzip);
        assert_eq!(coding(&h("identity")), Coding::Identity);
        assert_eq!(coding(&HeaderMap::new()), Coding::Identity);
    }

    #[test]
    fn nonces_are_removed_and_inline_scripts_hashed() {
        let html = r#"<script nonce="abc">let a=1;</script><script src="/x.js" nonce="abc"></script><script type="application/ld+json">{}</script>"#;
        let clean = strip_nonces(html);
        assert!(!clean.contains("nonce"), "{clean}");
        let hashes = inline_script_hashes(&clean);
        let expected =
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"let a=1;"));
        assert!(hashes.contains(&format!("'sha256-{expected}'")), "{hashes}");
        assert_eq!(
            hashes.split(' ').count(),
            2,
            "the external script is not hashed"
        );
    }

    #[test]
    fn the_csp_keeps_every_directive_but_script_src() {
        let csp = "default-src 'self'; script-src 'self' 'nonce-abc' 'wasm-unsafe-eval'; style-src 'self'";
        assert_eq!(
            csp_with_hashes(csp, "'sha256-x'"),
            "default-src 'self'; script-src 'self' 'sha256-x'; style-src 'self'"
        );
        assert_eq!(
            csp_with_hashes("default-src 'self'", ""),
            "default-src 'self'; script-src 'self'"
        );
        assert!(!replayable(&header::SET_COOKIE));
        assert!(replayable(&header::X_FRAME_OPTIONS));
    }

    #[test]
    fn if_none_match_compares_the_entity_whatever_the_coding() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::IF_NONE_MATCH, HeaderValue::from_str(v).unwrap());
            m
        };
        assert!(not_modified(&h("\"abc-br\""), "abc"));
        assert!(not_modified(&h("W/\"abc-gz\", \"x\""), "abc"));
        assert!(not_modified(&h("\"abc\""), "abc"));
        assert!(!not_modified(&h("\"abd\""), "abc"));
        assert!(!not_modified(&HeaderMap::new(), "abc"));
    }

    fn entry(shop: Uuid, size: usize) -> Entry {
        Entry {
            shop,
            generation: 0,
            stored: Instant::now(),
            page: Arc::new(Page {
                etag: "e".into(),
                etag_identity: HeaderValue::from_static("\"e\""),
                etag_br: HeaderValue::from_static("\"e-br\""),
                etag_gzip: HeaderValue::from_static("\"e-gz\""),
                headers: HeaderMap::new(),
                identity: Bytes::from(vec![b'a'; size]),
                br: Bytes::new(),
                gzip: Bytes::new(),
            }),
        }
    }

    #[test]
    fn a_change_to_a_shop_drops_its_pages_and_only_its_pages() {
        let cache = ResponseCache::new(100, 1 << 20);
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        cache.put("/s/a".into(), entry(a, 10), 0);
        cache.put("/s/b".into(), entry(b, 10), 0);
        assert!(cache.get("/s/a").is_some());
        cache.invalidate(a);
        assert!(cache.get("/s/a").is_none());
        assert!(cache.get("/s/b").is_some());
        // A render that began before the change is not stored: it may show the old data.
        let seen = cache.invalidations.load(Ordering::SeqCst) - 1;
        cache.put("/s/a".into(), entry(a, 10), seen);
        assert!(cache.get("/s/a").is_none());
        cache.clear();
        assert!(cache.is_empty());
    }

    #[test]
    fn the_cache_stays_within_its_limits() {
        let cache = ResponseCache::new(3, 1 << 20);
        let shop = Uuid::now_v7();
        for i in 0..10 {
            cache.put(format!("/s/a/p/{i}"), entry(shop, 10), 0);
        }
        assert_eq!(cache.len(), 3);
        assert!(cache.get("/s/a/p/9").is_some(), "newest kept");
        assert!(cache.get("/s/a/p/0").is_none(), "oldest gone");
        let small = ResponseCache::new(100, 2_000);
        for i in 0..10 {
            small.put(format!("/s/a/p/{i}"), entry(shop, 500), 0);
        }
        assert!(small.lock().bytes <= 2_000);
        assert!(!small.is_empty());
        let off = ResponseCache::new(0, 1 << 20);
        assert!(!off.enabled());
    }

    #[test]
    fn pages_of_every_size_are_stored_in_codings_that_read_back_whole() {
        use std::io::Read;
        // Page-like text that does not repeat exactly, from empty up to past the 64 KB line.
        let html = |len: usize| {
            let mut s = String::from("<!DOCTYPE html><html><body>");
            let mut i = 0u64;
            while s.len() < len {
                s.push_str(&format!(
                    "<li class=\"card\"><a href=\"/s/shop/p/item-{i}\">Item {i}</a> <b>NGN {}</b></li>",
                    i * 7919 % 100_000
                ));
                i += 1;
            }
            s.truncate(len);
            s.into_bytes()
        };
        for len in [0, 1, 900, 23_500, 65_536, 65_537, 300_000] {
            let page = html(len);
            let (br, gz) = compress(&page);
            let mut back = Vec::new();
            brotli::BrotliDecompress(&mut &br[..], &mut back).unwrap();
            assert_eq!(back, page, "brotli, {len} bytes");
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, page, "gzip, {len} bytes");
            if len >= 23_500 {
                assert!(br.len() * 3 < len, "brotli compresses a {len}-byte page");
            }
        }
        // The window follows the page from 128 KB up to brotli's 4 MB default.
        assert_eq!(brotli_settings(0), (5, 17));
        assert_eq!(brotli_settings(23_500), (5, 17));
        assert_eq!(brotli_settings(131_073), (5, 18));
        assert_eq!(brotli_settings(5 << 20), (5, 22));
    }

    #[tokio::test]
    async fn a_page_being_rendered_is_waited_for_not_rendered_again() {
        let cache = ResponseCache::new(10, 1 << 20);
        let Turn::Lead(lead) = cache.turn("/s/a") else {
            panic!("the first request renders");
        };
        let Turn::Follow(mut done) = cache.turn("/s/a") else {
            panic!("the second waits for it");
        };
        assert!(
            matches!(cache.turn("/s/b"), Turn::Lead(_)),
            "another page renders at once"
        );
        assert!(!done.has_changed().unwrap(), "still rendering");
        drop(lead);
        // The render is over (its sender is gone): the waiter wakes at once.
        tokio::time::timeout(Duration::from_secs(1), done.changed())
            .await
            .expect("the waiter wakes when the render ends")
            .expect_err("ended, not signalled");
        assert!(
            matches!(cache.turn("/s/a"), Turn::Lead(_)),
            "the next miss renders again"
        );
    }
}
