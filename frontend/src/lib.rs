#![recursion_limit = "512"]
//! The browser entry point: hydrates the server-rendered HTML.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Pages are lazy routes (their code is fetched when first opened): hydration waits for the
    // current page's chunk, so it is asynchronous (what `hydrate_lazy` does, plus the marker).
    wasm_bindgen_futures::spawn_local(async {
        let owner = leptos::mount::hydrate_from_async(
            leptos::prelude::document().body().expect("a body"),
            app::App,
        )
        .await;
        owner.forget();
        // A marker for end-to-end tests (and curious people): the page is now interactive.
        if let Some(body) = leptos::prelude::document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
}
