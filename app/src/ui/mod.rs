//! Shared design components: page titles, form fields with their errors, notices.

use crate::error::ApiError;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;

/// Sets the document title as "<page> · Bizmaat".
#[component]
pub fn PageTitle(#[prop(into)] title: String) -> impl IntoView {
    view! { <SafeTitle text=format!("{title} · Bizmaat")/> }
}

/// Sets `<title>`; every title goes through here. leptos_meta 0.8.7 writes the title text into
/// the server's HTML without escaping it, so a search for `</title><meta http-equiv=refresh …>`
/// or a product named so would inject live markup into a public page. The server escapes the
/// text itself; in the browser `document.title` is plain text and takes it as it is.
#[component]
pub fn SafeTitle(#[prop(into)] text: String) -> impl IntoView {
    #[cfg(feature = "ssr")]
    let text = escape_html(&text);
    view! { <Title text=text/> }
}

/// Escapes text for an HTML text node or attribute. Hand-written: five replacements, and the
/// only place we build HTML outside the view macros.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The error of the last run of a form's server function, if it failed.
pub fn action_error<S>(action: ServerAction<S>) -> Signal<Option<ApiError>>
where
    S: ServerFn<Error = ApiError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    let error = Signal::derive(move || action.value().get().and_then(Result::err));
    // After a refused submit, focus goes to the first field to fix (its message is read with
    // it), as a keyboard or screen-reader user would otherwise have to hunt for it.
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if matches!(error.get(), Some(ApiError::Validation(_))) {
            request_animation_frame(focus_first_invalid);
        }
    });
    error
}

/// Focuses the first field marked invalid in the form just sent (the one holding the focused
/// submit button), or on the page when the browser did not focus the button.
#[cfg(feature = "hydrate")]
fn focus_first_invalid() {
    use wasm_bindgen::JsCast;
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    const INVALID: &str = "[aria-invalid=true]";
    let in_form = document
        .active_element()
        .and_then(|a| a.closest("form").ok().flatten())
        .and_then(|form| form.query_selector(INVALID).ok().flatten());
    let found = in_form.or_else(|| document.query_selector(INVALID).ok().flatten());
    if let Some(field) = found.and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok()) {
        let _ = field.focus();
    }
}

/// The success value of the last run of a form's server function.
pub fn action_ok<S>(action: ServerAction<S>) -> Signal<Option<S::Output>>
where
    S: ServerFn<Error = ApiError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    Signal::derive(move || action.value().get().and_then(Result::ok))
}

/// The message for one field of a failed form.
/// Errors that belong to no field of the form (validation errors show beside their fields).
pub fn general_error(err: Signal<Option<ApiError>>) -> Signal<Option<ApiError>> {
    Signal::derive(move || err.get().filter(|e| !matches!(e, ApiError::Validation(_))))
}

pub fn field_error(error: Signal<Option<ApiError>>, field: &'static str) -> Signal<Option<String>> {
    Signal::derive(move || error.get().and_then(|e| e.field(field)))
}

/// A labelled input with its error shown beside it (and announced to screen readers).
#[component]
pub fn Field(
    #[prop(into)] label: String,
    #[prop(into)] name: String,
    #[prop(optional, into)] kind: Option<String>,
    #[prop(optional, into)] autocomplete: Option<String>,
    #[prop(optional, into)] value: Option<String>,
    #[prop(optional, into)] hint: Option<String>,
    #[prop(into)] error: Signal<Option<String>>,
    #[prop(optional)] required: bool,
    /// For a page with two fields of one name (two forms): ids must stay unique, or a label
    /// focuses the other form's field.
    #[prop(optional, into)]
    id: Option<String>,
) -> impl IntoView {
    let id = id.unwrap_or_else(|| format!("f-{name}"));
    let err_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    // Screen readers announce the hint with the field, then the error when there is one.
    let has_hint = hint.is_some();
    let hint_ref = hint_id.clone();
    let described = move || {
        let mut ids = Vec::new();
        if has_hint {
            ids.push(hint_ref.clone());
        }
        if error.get().is_some() {
            ids.push(err_id.clone());
        }
        ids.join(" ")
    };
    let err_id2 = format!("{id}-error");
    view! {
        <div class="field" class:has-error=move || error.get().is_some()>
            <label for=id.clone()>{label}</label>
            {hint.map(|h| view! { <p class="hint" id=hint_id.clone()>{h}</p> })}
            <input
                id=id.clone()
                name=name
                type=kind.unwrap_or_else(|| "text".into())
                autocomplete=autocomplete
                value=value
                required=required
                aria-invalid=move || if error.get().is_some() { "true" } else { "false" }
                aria-describedby=described
            />
            <p class="field-error" id=err_id2 role="alert">{move || error.get()}</p>
        </div>
    }
}

/// A labelled multi-line text field with its error.
#[component]
pub fn TextArea(
    #[prop(into)] label: String,
    #[prop(into)] name: String,
    #[prop(optional, into)] value: Option<String>,
    #[prop(optional, into)] hint: Option<String>,
    #[prop(into)] error: Signal<Option<String>>,
) -> impl IntoView {
    let id = format!("f-{name}");
    let err_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    // The hint is read with the field, then the error.
    let described_by = if hint.is_some() {
        format!("{hint_id} {err_id}")
    } else {
        err_id.clone()
    };
    view! {
        <div class="field" class:has-error=move || error.get().is_some()>
            <label for=id.clone()>{label}</label>
            {hint.map(|h| view! { <p class="hint" id=hint_id>{h}</p> })}
            <textarea id=id name=name aria-describedby=described_by
                aria-invalid=move || if error.get().is_some() { "true" } else { "false" }>{value.unwrap_or_default()}</textarea>
            <p class="field-error" id=err_id role="alert">{move || error.get()}</p>
        </div>
    }
}

/// A required checkbox with its error.
#[component]
pub fn CheckField(
    #[prop(into)] name: String,
    #[prop(into)] error: Signal<Option<String>>,
    children: Children,
) -> impl IntoView {
    let id = format!("f-{name}");
    let err_id = format!("{id}-error");
    view! {
        <div class="field check" class:has-error=move || error.get().is_some()>
            <input type="checkbox" id=id.clone() name=name aria-describedby=err_id.clone()/>
            <label for=id>{children()}</label>
            <p class="field-error" id=err_id role="alert">{move || error.get()}</p>
        </div>
    }
}

/// A banner for errors that belong to no single field (rate limits, outages).
#[component]
pub fn FormError(error: Signal<Option<ApiError>>) -> impl IntoView {
    view! {
        {move || error.get().map(|e| view! { <div class="notice error" role="alert">{e.to_string()}</div> })}
    }
}

/// A success banner.
#[component]
pub fn FormOk(message: Signal<Option<String>>) -> impl IntoView {
    view! {
        {move || message.get().map(|m| view! { <div class="notice ok" role="status">{m}</div> })}
    }
}

/// Plain text with its web links made clickable; everything else stays escaped text.
#[component]
pub fn Linkify(#[prop(into)] text: String) -> impl IntoView {
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    view! {
        <div class="linkify">
            {lines.into_iter().map(|line| {
                let parts = line.split(' ').map(|word| {
                    if word.starts_with("http://") || word.starts_with("https://") {
                        view! { <a href=word.to_string()>{word.to_string()}</a>" " }.into_any()
                    } else {
                        view! { {format!("{word} ")} }.into_any()
                    }
                }).collect_view();
                view! { <p>{parts}</p> }
            }).collect_view()}
        </div>
    }
}

/// The 404 page. On the server it also sets the status, so crawlers see a real 404.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <PageTitle title="Page not found"/>
        <main class="page narrow" id="main">
            <h1>"We could not find that page"</h1>
            <p>"The link may be old or mistyped."</p>
            <p><a href="/">"Go to the home page"</a></p>
        </main>
    }
}

/// "Page N of M" with previous/next links (plain links: works without JavaScript).
#[component]
pub fn Pagination(
    page: i64,
    pages: i64,
    prev: Option<String>,
    next: Option<String>,
) -> impl IntoView {
    (pages > 1).then(|| {
        view! {
            <nav class="pagination" aria-label="Pages">
                {prev.map(|href| view! { <a rel="prev" href=href>"← Previous"</a> })}
                <span>{format!("Page {page} of {pages}")}</span>
                {next.map(|href| view! { <a rel="next" href=href>"Next →"</a> })}
            </nav>
        }
    })
}

/// A destructive button that asks first: the first press shows the question with "Yes" (the
/// real submit of the surrounding form) and "Keep" (back, nothing sent). Keyboard users land on
/// "Yes"; Escape is "Keep".
#[component]
pub fn ConfirmSubmit(
    /// The button as first shown ("Delete product").
    #[prop(into)]
    label: String,
    /// What the press will do, asked plainly ("Delete this product? …").
    #[prop(into)]
    question: String,
    /// The confirming button ("Yes, delete").
    #[prop(into)]
    confirm: String,
    /// A fuller name for screen readers when the label is short ("Delete Scarves").
    #[prop(optional, into)]
    aria_label: Option<String>,
) -> impl IntoView {
    let asking = RwSignal::new(false);
    let yes = NodeRef::<leptos::html::Button>::new();
    Effect::new(move |_| {
        if asking.get()
            && let Some(b) = yes.get()
        {
            let _ = b.focus();
        }
    });
    let aria = aria_label.clone().unwrap_or_else(|| label.clone());
    view! {
        <Show
            when=move || asking.get()
            fallback=move || {
                let aria = aria.clone();
                let label = label.clone();
                view! {
                    <button type="button" class="button danger" aria-label=aria
                        on:click=move |_| asking.set(true)>{label}</button>
                }
            }
        >
            <span class="confirm" role="group" aria-label=question.clone()
                on:keydown=move |ev| if ev.key() == "Escape" { asking.set(false) }>
                <span class="confirm-question">{question.clone()}</span>
                <button type="submit" class="button danger" node_ref=yes>{confirm.clone()}</button>
                <button type="button" class="button" on:click=move |_| asking.set(false)>"Keep"</button>
            </span>
        </Show>
    }
}
