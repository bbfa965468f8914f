//! `/healthz`: the process answers. `/readyz`: the database answers and every migration this
//! build knows is applied — what a load balancer should wait for.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;
use sqlx::PgPool;

pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(State(pool): State<PgPool>) -> impl IntoResponse {
    let expected = crate::db::MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .count() as i64;
    let applied: Result<i64, sqlx::Error> =
        sqlx::query_scalar("select count(*) from _sqlx_migrations where success")
            .fetch_one(&pool)
            .await;
    match applied {
        Ok(n) if n >= expected => (
            StatusCode::OK,
            Json(json!({ "status": "ready", "migrations": n })),
        ),
        Ok(n) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "migrations pending", "applied": n, "expected": expected })),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "database unavailable" })),
            )
        }
    }
}
