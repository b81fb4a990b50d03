//! The service layer on its own: `Services` built from a configuration and called directly,
//! with no HTTP server, against the fake upstream. What a transport would do is only to
//! extract these inputs and frame these replies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::Path;

use atalaya_config::{CliOverrides, Config};

use atalaya_api::ChatCompletionRequest;
use atalaya_service::context::RequestContext;
use atalaya_service::{
    call::{ChatReply, Facts},
    chat::{self, ChatCall},
    runs,
    subjects::{self, DataStores},
    wire, Services,
};
use atalaya_store::{Limits, Role};
use atalaya_tenancy::{Principal, DEFAULT_TENANT};
use atalaya_testkit::{FakeUpstream, Reply};
use futures::StreamExt;
use serde_json::{json, Value};

fn config(dir: &Path, upstream: &str) -> Config {
    config_with(dir, upstream, "")
}

fn config_with(dir: &Path, upstream: &str, extra: &str) -> Config {
    let text = format!(
        r#"
[auth]
enabled = false

[upstreams.fake]
base_url = "{upstream}"

[models.assistant]
targets = [{{ upstream = "fake" }}]
retry = {{ attempts = 1 }}
guard = "strict"

[guard.policies.strict.pii.entities]
CREDIT_CARD = "block"
{extra}"#
    );
    let path = dir.join("atalaya.toml");
    std::fs::write(&path, text).unwrap();
    let cli = CliOverrides {
        data_dir: Some(dir.join("data")),
        ..CliOverrides::default()
    };
    Config::load(Some(&path), &[], &cli).unwrap()
}

/// The fake upstream, the data directory (kept for the test's length) and the services.
async fn start() -> (FakeUpstream, tempfile::TempDir, std::sync::Arc<Services>) {
    let fake = FakeUpstream::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let svc = Services::build(&config(dir.path(), &fake.base_url()), &|_| None)
        .await
        .unwrap();
    (fake, dir, svc)
}

fn caller() -> RequestContext {
    RequestContext::new(
        "svc-test".into(),
        Principal {
            key_id: "test".into(),
            display: "test".into(),
            tenant: DEFAULT_TENANT.into(),
            role: Role::Member,
            limits: Limits::default(),
        },
        tokio::time::Instant::now(),
    )
}

fn request(body: Value) -> ChatCompletionRequest {
    serde_json::from_value(body).unwrap()
}

#[tokio::test]
async fn a_guarded_chat_is_served_without_http() {
    let (fake, _dir, svc) = start().await;
    let ctx = caller();

    // Plain: personal data leaves as placeholders and comes back restored.
    fake.push(Reply::chat("We will write to [EMAIL_1] today."));
    let facts = Facts::default();
    let call = ChatCall {
        request: request(json!({"model": "assistant", "messages": [
            {"role": "user", "content": "My e-mail is ana.souza@example.com, where is my order?"}]})),
        subject: Some("customer-7".into()),
    };
    let ChatReply::Json {
        body,
        served,
        guard,
    } = chat::chat(&svc, &ctx, &facts, call).await.unwrap()
    else {
        panic!("a JSON reply was expected");
    };
    let sent = fake.requests().last().unwrap().body.to_string();
    assert!(!sent.contains("ana.souza@example.com"), "{sent}");
    assert!(sent.contains("[EMAIL_1]"), "{sent}");
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "We will write to ana.souza@example.com today."
    );
    assert_eq!(served.unwrap().attempts, 1);
    assert!(guard.unwrap().starts_with("policy=strict"));
    // The call's record: the model and where it was served, for the transport's log line.
    facts.update(|f| {
        assert_eq!(f.model.as_deref(), Some("assistant"));
        assert!(f.target.as_deref().unwrap().starts_with("fake"));
        assert!(f.lease.is_some(), "admitted");
    });

    // Streamed: the same, chunk by chunk.
    fake.push(Reply::stream(&["Writing to ", "[EMAIL", "_1] now."]));
    let call = ChatCall {
        request: request(json!({"model": "assistant", "stream": true, "messages": [
            {"role": "user", "content": "Reach me at ana.souza@example.com"}]})),
        subject: None,
    };
    let ChatReply::Stream { mut stream, .. } = chat::chat(&svc, &ctx, &Facts::default(), call)
        .await
        .unwrap()
    else {
        panic!("a stream was expected");
    };
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        let v: Value = serde_json::from_slice(&chunk.unwrap().data).unwrap();
        if let Some(t) = v["choices"][0]["delta"]["content"].as_str() {
            text.push_str(t);
        }
    }
    assert_eq!(text, "Writing to ana.souza@example.com now.");

    // An unknown model is the service's error, not a transport's.
    let call = ChatCall {
        request: request(json!({"model": "nope", "messages": [{"role": "user", "content": "hi"}]})),
        subject: None,
    };
    let e = chat::chat(&svc, &ctx, &Facts::default(), call)
        .await
        .err()
        .unwrap();
    assert_eq!(e.code().as_str(), "model_not_found");
    fake.stop().await;
}

#[tokio::test]
async fn tickets_and_a_subjects_erasure_go_through_the_services() {
    let (fake, _dir, svc) = start().await;
    let ctx = caller();
    let input = wire::ticket_input(
        serde_json::from_value(json!({
            "body": "Hola, quiero devolver el pedido 4411. Gracias, Ana",
            "customer_id": "c-42",
        }))
        .unwrap(),
    );
    // An empty knowledge base: nothing answers it, so the ticket is escalated, and stored.
    let t = runs::create_ticket(&svc, &ctx, &Facts::default(), input, Some("c-42".into()))
        .await
        .unwrap();
    assert_eq!(t.tenant, DEFAULT_TENANT);
    assert_eq!(t.status, "needs_human", "{:?}", t.reason);
    assert_eq!(t.language.as_deref(), Some("es"));
    let (list, more) = runs::tickets(&svc, &ctx, None, 10, None).await.unwrap();
    assert_eq!((list.len(), more), (1, false));
    assert_eq!(
        runs::ticket(&svc, &ctx, t.id.clone()).await.unwrap().id,
        t.id
    );

    let operator = Principal::operator("test");
    let stores = DataStores::Process(&svc);
    let export = subjects::export_subject(&svc.tenancy, &stores, &operator, "c-42", None)
        .await
        .unwrap();
    assert_eq!(export["tickets"].as_array().unwrap().len(), 1);
    let erased = subjects::erase_subject(&svc.tenancy, &stores, &operator, "c-42", None)
        .await
        .unwrap();
    assert_eq!(erased["tickets"], 1);
    let (list, _) = runs::tickets(&svc, &ctx, None, 10, None).await.unwrap();
    assert!(list.is_empty(), "the subject's ticket survived its erasure");
    fake.stop().await;
}

#[tokio::test]
async fn a_subjects_tickets_are_sealed_and_unreadable_once_erased() {
    let fake = FakeUpstream::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("master.key");
    std::fs::write(&key, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
    let extra = format!("\n[encryption]\nmaster_key = \"file:{}\"\n", key.display());
    let cfg = config_with(dir.path(), &fake.base_url(), &extra);
    let svc = Services::build(&cfg, &|_| None).await.unwrap();
    let ctx = caller();
    let create = |body: &str, customer: Option<&str>| {
        wire::ticket_input(
            serde_json::from_value(json!({
                "subject": "Devolución SUBJECT-LINE",
                "body": body,
                "customer_id": customer,
            }))
            .unwrap(),
        )
    };
    let t = runs::create_ticket(
        &svc,
        &ctx,
        &Facts::default(),
        create(
            "Hola, soy Ana, BODY-SECRET-4411, gracias",
            Some("ana@example.com"),
        ),
        None,
    )
    .await
    .unwrap();
    // Someone without a subject, who types what looks like a sealed text.
    let lookalike = "atalaya-sealed:v1:0123:AAAA hola";
    let plain = runs::create_ticket(&svc, &ctx, &Facts::default(), create(lookalike, None), None)
        .await
        .unwrap();
    let f: atalaya_pipeline::tickets::Feedback = serde_json::from_value(json!({
        "verdict": "edited", "final_text": "FINAL-REPLY-SECRET", "comment": "COMMENT-SECRET",
        "created_at": 0,
    }))
    .unwrap();
    let after = runs::feedback(&svc, &ctx, t.id.clone(), f).await.unwrap();
    assert_eq!(
        after.feedback[0].final_text.as_deref(),
        Some("FINAL-REPLY-SECRET")
    );

    // Through the services: in clear.
    let read = runs::ticket(&svc, &ctx, t.id.clone()).await.unwrap();
    assert_eq!(read.body, "Hola, soy Ana, BODY-SECRET-4411, gracias");
    assert_eq!(read.subject.as_deref(), Some("Devolución SUBJECT-LINE"));
    assert_eq!(read.customer_id.as_deref(), Some("ana@example.com"));
    assert_eq!(read.feedback[0].comment.as_deref(), Some("COMMENT-SECRET"));
    assert_eq!(read.trace, t.trace);
    assert_eq!(
        runs::ticket(&svc, &ctx, plain.id.clone())
            .await
            .unwrap()
            .body,
        lookalike
    );
    let (list, _) = runs::tickets(&svc, &ctx, None, 10, None).await.unwrap();
    assert!(list.iter().any(|x| x.body.contains("BODY-SECRET")));

    // As stored: sealed, and the customer filed under a pseudonym.
    let raw_store = svc.pipelines.ticket_records().unwrap();
    let raw = raw_store.get(DEFAULT_TENANT, &t.id).await.unwrap();
    let stored = serde_json::to_string(&raw).unwrap();
    for secret in [
        "BODY-SECRET",
        "SUBJECT-LINE",
        "ana@example.com",
        "FINAL-REPLY-SECRET",
        "COMMENT-SECRET",
    ] {
        assert!(
            !stored.contains(secret),
            "{secret} is stored in clear: {stored}"
        );
    }
    assert!(raw.body.starts_with("atalaya-sealed:v1:"));
    assert!(raw.customer_id.as_deref().unwrap().starts_with("sh:"));
    assert_eq!(
        raw_store.get(DEFAULT_TENANT, &plain.id).await.unwrap().body,
        lookalike,
        "a ticket without a data subject is stored as it came"
    );

    let operator = Principal::operator("test");
    let stores = DataStores::Process(&svc);
    let export =
        subjects::export_subject(&svc.tenancy, &stores, &operator, "ana@example.com", None)
            .await
            .unwrap();
    assert_eq!(export["tickets"].as_array().unwrap().len(), 1);
    assert!(export.to_string().contains("BODY-SECRET-4411"));
    let erased = subjects::erase_subject(&svc.tenancy, &stores, &operator, "ana@example.com", None)
        .await
        .unwrap();
    assert_eq!(erased["tickets"], 1);
    assert_eq!(erased["ticket_feedback"], 1);

    // A backup from before the erasure is restored: the ticket is back, unreadable.
    raw_store.insert(raw.clone(), None).await.unwrap();
    let restored = runs::ticket(&svc, &ctx, t.id.clone()).await.unwrap();
    assert_eq!(restored.body, raw.body, "the restored ticket opened");
    assert!(!serde_json::to_string(&restored)
        .unwrap()
        .contains("BODY-SECRET"));
    fake.stop().await;
}
