//! `server`: runs Bizmaat. Reads configuration from the environment (and `.env`), migrates the
//! database, optionally seeds the demo shop, and serves until Ctrl-C or SIGTERM.

/// mimalloc instead of glibc's allocator: rendering a page is thousands of small allocations
/// made and freed across two worker threads, and glibc's `malloc`/`free` (with its arena
/// consolidation) were a quarter of the server's CPU time on an uncached storefront page
/// (perf under `make bench`'s load). The lib crate and tests keep the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let _ = dotenvy::dotenv();
    let config = match app::config::Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bizmaat: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    server::telemetry::init(config.log_format);
    match server::startup::run(config, server::startup::shutdown_signal()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = ?e, "server stopped with an error");
            eprintln!("bizmaat: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
