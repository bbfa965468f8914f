//! How the browser calls our server functions: the browser's `fetch` (server_fn's own client),
//! with one difference. A form the person only has to correct (422, "enter a price") is not a
//! failure of the page, yet Chrome prints "Failed to load resource: … 422" in the console for
//! any 4xx answer to `fetch`, and nothing in the page can stop it. So a script's request gets
//! such an answer as 200 with the real status in [`STATUS_HEADER`] (the server's
//! `quiet_validation` layer, keyed on the Fetch Metadata header `Sec-Fetch-Dest: empty` that only
//! script requests carry), and this client reads the status from that header before server_fn
//! decides between result and error. Forms posted without JavaScript, other HTTP clients and the
//! tests still see 422. server_fn has no hook for this, hence the small wrapper.

use server_fn::Bytes;
use server_fn::client::{Client, browser::BrowserClient};
use server_fn::error::FromServerFnError;
use server_fn::request::browser::BrowserRequest;
use server_fn::response::{ClientRes, browser::BrowserResponse};
use std::future::Future;

/// The answer's real status when the server sent a refused form as 200.
pub const STATUS_HEADER: &str = "x-bizmaat-status";

/// Every `#[server]` function names this client (`client = crate::api_client::ApiClient`).
pub struct ApiClient;

pub struct ApiResponse {
    inner: BrowserResponse,
    status: Option<u16>,
}

impl<E, IS, OS> Client<E, IS, OS> for ApiClient
where
    E: FromServerFnError,
    IS: FromServerFnError,
    OS: FromServerFnError,
{
    type Request = BrowserRequest;
    type Response = ApiResponse;

    // Spelled out: the trait promises a `Send` future, and this shows where it comes from.
    #[allow(clippy::manual_async_fn)]
    fn send(req: Self::Request) -> impl Future<Output = Result<Self::Response, E>> + Send {
        async move {
            let inner = <BrowserClient as Client<E, IS, OS>>::send(req).await?;
            let status = inner
                .generate_headers()
                .get(STATUS_HEADER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            Ok(ApiResponse { inner, status })
        }
    }

    #[allow(clippy::type_complexity)]
    fn open_websocket(
        path: &str,
    ) -> impl Future<
        Output = Result<
            (
                impl futures::Stream<Item = Result<Bytes, Bytes>> + Send + 'static,
                impl futures::Sink<Bytes> + Send + 'static,
            ),
            E,
        >,
    > + Send {
        <BrowserClient as Client<E, IS, OS>>::open_websocket(path)
    }

    fn spawn(future: impl Future<Output = ()> + Send + 'static) {
        <BrowserClient as Client<E, IS, OS>>::spawn(future)
    }
}

impl<E: FromServerFnError> ClientRes<E> for ApiResponse {
    fn try_into_string(self) -> impl Future<Output = Result<String, E>> + Send {
        ClientRes::<E>::try_into_string(self.inner)
    }

    fn try_into_bytes(self) -> impl Future<Output = Result<Bytes, E>> + Send {
        ClientRes::<E>::try_into_bytes(self.inner)
    }

    fn try_into_stream(
        self,
    ) -> Result<impl futures::Stream<Item = Result<Bytes, Bytes>> + Send + Sync + 'static, E> {
        ClientRes::<E>::try_into_stream(self.inner)
    }

    fn status(&self) -> u16 {
        self.status
            .unwrap_or_else(|| ClientRes::<E>::status(&self.inner))
    }

    fn status_text(&self) -> String {
        ClientRes::<E>::status_text(&self.inner)
    }

    fn location(&self) -> String {
        ClientRes::<E>::location(&self.inner)
    }

    fn has_redirect(&self) -> bool {
        ClientRes::<E>::has_redirect(&self.inner)
    }
}

#[cfg(test)]
mod tests {
    /// Every server function must name `ApiClient`: one that forgets falls back to server_fn's
    /// client, and its refused forms print console errors again. No lint can see that, so this
    /// reads the sources.
    #[test]
    fn every_server_function_uses_this_client() {
        fn visit(dir: &std::path::Path, found: &mut Vec<String>, checked: &mut usize) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    visit(&path, found, checked);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for (n, line) in text.lines().enumerate() {
                    let line = line.trim_start();
                    // The attribute on a function; `#[server(default)]` marks an argument.
                    if line.starts_with("#[server") && !line.starts_with("#[server(default") {
                        *checked += 1;
                        if !line.contains("client = crate::api_client::ApiClient") {
                            found.push(format!("{}:{}: {line}", path.display(), n + 1));
                        }
                    }
                }
            }
        }
        let (mut found, mut checked) = (Vec::new(), 0);
        visit(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut found,
            &mut checked,
        );
        assert!(checked > 50, "server functions found: {checked}");
        assert!(
            found.is_empty(),
            "server functions without `client = crate::api_client::ApiClient`:\n{}",
            found.join("\n")
        );
    }
}
