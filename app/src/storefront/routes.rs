//! Crawler files: robots.txt, the sitemap index of shops and each shop's sitemap. Only active
//! products appear; drafts and archived products never do.

use crate::error::AppError;
use crate::state::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use time::format_description::well_known::Rfc3339;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/robots.txt", get(robots))
        .route("/sitemap.xml", get(sitemap_index))
        .route("/s/{slug}/sitemap.xml", get(shop_sitemap))
}

async fn robots(State(state): State<AppState>) -> Response {
    let body = format!(
        "User-agent: *\nAllow: /\nDisallow: /dashboard\nDisallow: /api/\nDisallow: /dev/\n\nSitemap: {}/sitemap.xml\n",
        state.config.public_url
    );
    ([(CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

fn xml(body: String) -> Response {
    ([(CONTENT_TYPE, "application/xml; charset=utf-8")], body).into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

async fn sitemap_index(State(state): State<AppState>) -> Result<Response, AppError> {
    let shops: Vec<(String, time::OffsetDateTime)> = sqlx::query_as(
        "select s.slug, greatest(s.updated_at, coalesce(max(p.updated_at), s.updated_at))
         from shops s join products p on p.shop_id = s.id and p.status = 'active'
         group by s.id order by s.slug",
    )
    .fetch_all(&state.pool)
    .await?;
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    for (slug, updated) in shops {
        out.push_str(&format!(
            "  <sitemap><loc>{}</loc><lastmod>{}</lastmod></sitemap>\n",
            escape(&format!("{}/s/{slug}/sitemap.xml", state.config.public_url)),
            updated.format(&Rfc3339).unwrap_or_default()
        ));
    }
    out.push_str("</sitemapindex>\n");
    Ok(xml(out))
}

async fn shop_sitemap(
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let rows: Vec<(String, String, Option<time::OffsetDateTime>)> = sqlx::query_as(
        "select 'shop', '', s.updated_at from shops s where s.slug = $1
         union all
         select 'category', c.slug, null from categories c join shops s on s.id = c.shop_id
          where s.slug = $1 and exists (select 1 from product_categories pc join products p on p.id = pc.product_id
                                          where pc.category_id = c.id and p.status = 'active')
         union all
         select 'product', p.slug, p.updated_at from products p join shops s on s.id = p.shop_id
          where s.slug = $1 and p.status = 'active'",
    )
    .bind(&slug)
    .fetch_all(&state.pool)
    .await?;
    if rows.is_empty() {
        return Err(AppError::NotFound);
    }
    let base = format!("{}/s/{slug}", state.config.public_url);
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    for (kind, key, updated) in rows {
        let loc = match kind.as_str() {
            "shop" => base.clone(),
            "category" => format!("{base}/c/{key}"),
            _ => format!("{base}/p/{key}"),
        };
        let lastmod = updated
            .map(|u| {
                format!(
                    "<lastmod>{}</lastmod>",
                    u.format(&Rfc3339).unwrap_or_default()
                )
            })
            .unwrap_or_default();
        out.push_str(&format!(
            "  <url><loc>{}</loc>{lastmod}</url>\n",
            escape(&loc)
        ));
    }
    out.push_str("</urlset>\n");
    Ok(xml(out))
}
