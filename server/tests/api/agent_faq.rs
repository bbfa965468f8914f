//! Saved answers (the agent's FAQ) and learning from the merchant: kept per shop, answered by
//! the shop assistant, read by the AI agent with their amounts grounded, and made from the
//! inbox by correcting an automated answer or keeping one of the merchant's own replies.

use crate::agent::{CUSTOMER, agent_app, body, choices, one, says};
use crate::fakes::llm::{FakeLlm, last_tool_result, text, tool};
use crate::helpers::{TestApp, call_with, json};
use crate::whatsapp::{
    conversation_of, merchant_with_number, queue_text, second_merchant, wa_app_with,
};
use app::platform::clock::Clock;
use serde_json::{Value, json};
use uuid::Uuid;

async fn save(app: &TestApp, question: &str, answer: &str) -> reqwest::Response {
    app.call(
        "agent/faq/save",
        &[("question", question), ("answer", answer)],
    )
    .await
}

async fn list(app: &TestApp) -> Vec<Value> {
    let res = app.call("agent/faq/list", &[]).await;
    assert_eq!(res.status(), 200);
    json(res).await.as_array().unwrap().clone()
}

async fn thread(app: &TestApp, conversation: Uuid) -> Vec<Value> {
    let t = json(
        app.call("inbox/get", &[("id", &conversation.to_string())])
            .await,
    )
    .await;
    t["messages"].as_array().unwrap().clone()
}

#[tokio::test]
async fn saved_answers_are_checked_kept_per_shop_and_another_shops_entry_is_not_found() {
    let app = agent_app().await;
    let (_, _, _) = merchant_with_number(&app).await;

    // What a merchant can act on, field by field; nothing stored.
    let res = save(&app, "  ", "").await;
    assert_eq!(res.status(), 422);
    let err = json(res).await.to_string();
    assert!(err.contains("Write the question"), "{err}");
    assert!(err.contains("Write the answer"), "{err}");
    let res = save(&app, "Do you deliver?", &"x".repeat(1001)).await;
    assert_eq!(res.status(), 422);
    assert!(json(res).await.to_string().contains("under 1,000"));
    assert!(list(&app).await.is_empty());

    let res = save(&app, " Do you deliver to Abuja? ", "Yes, in two days.").await;
    assert_eq!(res.status(), 200);
    let id: String = res.json().await.unwrap();
    let entries = list(&app).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0]["question"], "Do you deliver to Abuja?",
        "trimmed"
    );
    assert_eq!(entries[0]["source"], "merchant");

    // Another merchant sees none of it and cannot change or delete it.
    let (other, _) = second_merchant(&app, "Other").await;
    let res = call_with(&other, &app.url("/api/agent/faq/list"), &[]).await;
    assert_eq!(json(res).await, json!([]));
    let res = call_with(
        &other,
        &app.url("/api/agent/faq/save"),
        &[("id", &id), ("question", "Hijacked?"), ("answer", "Yes")],
    )
    .await;
    assert_eq!(res.status(), 404);
    let res = call_with(&other, &app.url("/api/agent/faq/delete"), &[("id", &id)]).await;
    assert_eq!(res.status(), 404);
    assert_eq!(list(&app).await[0]["question"], "Do you deliver to Abuja?");

    // The owner edits and deletes it.
    let res = app
        .call(
            "agent/faq/save",
            &[
                ("id", &id),
                ("question", "Do you deliver to Abuja?"),
                ("answer", "Yes, in three days."),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(list(&app).await[0]["answer"], "Yes, in three days.");
    let res = app.call("agent/faq/delete", &[("id", &id)]).await;
    assert_eq!(res.status(), 200);
    assert!(list(&app).await.is_empty());
    let res = app.call("agent/faq/delete", &[("id", &id)]).await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn the_assistant_answers_a_saved_question_with_the_merchants_answer() {
    let app = agent_app().await;
    let (number, shop, _) = merchant_with_number(&app).await;
    crate::agent::scarf(&app, "5").await;
    let res = save(
        &app,
        "Do you deliver to Abuja?",
        "Yes: Abuja in 2 days, ₦1,500 delivery.",
    )
    .await;
    assert_eq!(res.status(), 200);
    one(says(&app, &number, &["hi"]).await);

    let reply = one(says(&app, &number, &["do you deliver to abuja"]).await);
    assert_eq!(body(&reply), "Yes: Abuja in 2 days, ₦1,500 delivery.");
    assert_eq!(choices(&reply), ["browse", "orders", "human"]);
    // A product question still finds products, not the saved answer.
    let reply = one(says(&app, &number, &["do you have indigo scarf"]).await);
    assert!(!body(&reply).contains("Abuja"), "{}", body(&reply));
    assert!(choices(&reply)[0].starts_with("p:"), "{reply}");

    // The inbox says where the answer came from.
    let conversation = conversation_of(&app, shop, CUSTOMER).await;
    let messages = thread(&app, conversation).await;
    let answered = messages
        .iter()
        .find(|m| {
            m["body"]
                .as_str()
                .unwrap_or_default()
                .contains("Abuja in 2 days")
        })
        .unwrap();
    let why = answered["why"].to_string();
    assert!(
        why.contains("saved answer to \\\"Do you deliver to Abuja?\\\""),
        "{why}"
    );
}

#[tokio::test]
async fn a_corrected_answer_and_a_kept_reply_become_saved_answers_the_agent_uses() {
    let app = agent_app().await;
    let (number, shop, _) = merchant_with_number(&app).await;
    one(says(&app, &number, &["hi"]).await);
    // The assistant cannot answer this yet.
    let wrong = one(says(&app, &number, &["Can I pay on delivery?"]).await);
    assert!(!body(&wrong).contains("cash"), "{}", body(&wrong));

    // In the inbox, the automated answer offers a correction, prefilled with the question.
    let conversation = conversation_of(&app, shop, CUSTOMER).await;
    let messages = thread(&app, conversation).await;
    let answer = messages.iter().rfind(|m| m["sent_by"] == "agent").unwrap();
    assert_eq!(answer["can_save_answer"], true);
    assert_eq!(answer["saved_answer"], false);
    assert_eq!(answer["question"], "Can I pay on delivery?");
    let customer = messages.iter().find(|m| m["direction"] == "in").unwrap();
    assert_eq!(
        customer["can_save_answer"], false,
        "the customer's own words"
    );
    let message_id = answer["id"].as_str().unwrap().to_string();
    for _ in 0..2 {
        // Twice (a double submit): one entry.
        let res = app
            .call(
                "agent/faq/from-message",
                &[
                    ("message_id", &message_id),
                    ("question", "Can I pay on delivery?"),
                    ("answer", "Yes: cash or transfer when it arrives."),
                ],
            )
            .await;
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    }
    let entries = list(&app).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["source"], "correction");
    assert_eq!(entries[0]["conversation_id"], conversation.to_string());
    let messages = thread(&app, conversation).await;
    let answer = messages
        .iter()
        .find(|m| m["id"] == message_id.as_str())
        .unwrap();
    assert_eq!(answer["saved_answer"], true);

    // From now on the agent gives the right answer.
    let right = one(says(&app, &number, &["can i pay on delivery"]).await);
    assert_eq!(body(&right), "Yes: cash or transfer when it arrives.");

    // A reply the merchant typed is kept the same way (it also takes the chat over).
    let mine = queue_text(&app, conversation, "We open at 9 every weekday.", "k-hours").await;
    app.run_jobs().await;
    let res = app
        .call(
            "agent/faq/from-message",
            &[
                ("message_id", &mine.to_string()),
                ("question", "When do you open?"),
                ("answer", "We open at 9 every weekday."),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let sources: Vec<Value> = list(&app)
        .await
        .iter()
        .map(|e| e["source"].clone())
        .collect();
    assert_eq!(sources, [json!("chat"), json!("correction")]);

    // The customer's own message, and another shop's message, cannot become one.
    let customer_id = customer["id"].as_str().unwrap().to_string();
    let (other, _) = second_merchant(&app, "Other").await;
    for (client, id, status) in [
        (&app.client, customer_id.as_str(), 404),
        (&other, message_id.as_str(), 404),
    ] {
        let res = call_with(
            client,
            &app.url("/api/agent/faq/from-message"),
            &[("message_id", id), ("question", "Q?"), ("answer", "A.")],
        )
        .await;
        assert_eq!(res.status(), status);
    }
    assert_eq!(list(&app).await.len(), 2);
}

#[tokio::test]
async fn the_ai_agent_reads_saved_answers_and_may_repeat_the_merchants_amounts() {
    let llm = FakeLlm::start().await;
    let app = wa_app_with(
        vec![
            ("LLM_BASE_URL", llm.base_url.clone()),
            ("LLM_MODEL", "shop-model-1".into()),
            ("AGENT_DEFAULT_MODE", "ai".into()),
            ("AGENT_GATHER_MS", "0".into()),
            ("WHATSAPP_PAIR_BURST", "1000".into()),
        ],
        Clock::system(),
    )
    .await;
    let (number, _, _) = merchant_with_number(&app).await;
    let res = save(
        &app,
        "How much is delivery to Abuja?",
        "Delivery to Abuja costs ₦1,500 and takes 2 days.",
    )
    .await;
    assert_eq!(res.status(), 200);
    // Shop facts with an amount of their own, saved through the settings form.
    let res = app
        .call(
            "agent/settings",
            &[("mode", "ai"), ("facts", "Delivery in Lagos costs ₦1,000.")],
        )
        .await;
    assert_eq!(res.status(), 200);

    llm.then(tool(
        "shop_info",
        json!({"question": "delivery to abuja price"}),
    ))
    .then(text(
        "Delivery to Abuja is ₦1,500 (2 days); in Lagos ₦1,000.",
    ));
    let reply = one(says(&app, &number, &["How much to deliver to Abuja?"]).await);
    assert!(
        body(&reply).ends_with("Delivery to Abuja is ₦1,500 (2 days); in Lagos ₦1,000."),
        "sent as written, not regenerated: {}",
        body(&reply)
    );
    let requests = llm.requests();
    assert_eq!(requests.len(), 2, "no regeneration");
    let info = last_tool_result(&requests[1]);
    assert_eq!(
        info["saved_answers"][0]["answer"],
        "Delivery to Abuja costs ₦1,500 and takes 2 days."
    );
    assert_eq!(info["facts"], "Delivery in Lagos costs ₦1,000.");

    // An amount nobody wrote is still caught.
    llm.then(tool("shop_info", json!({})))
        .then(text("Delivery to Kano is ₦4,000."))
        .then(text("Delivery to Kano is ₦4,000."));
    let reply = one(says(&app, &number, &["And to Kano?"]).await);
    assert!(!body(&reply).contains("4,000"), "{}", body(&reply));
}
