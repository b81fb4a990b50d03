//! The conformance suite of [`TicketRecords`], generic over the backend: the SQLite backend
//! passes it (`tickets.rs`' tests), and every other backend must. Each case gets a fresh,
//! empty store from `make`; a failed check is an `Err` naming the case and what differed.

use atalaya_conformance::{check, ok, run_cases, Outcome};
use std::future::Future;

use crate::{
    tickets::{new_id, Citation, Feedback, Ticket, TicketRecords},
    PipelineError,
};

/// Runs every case; returns the failures (empty: the backend conforms).
pub async fn run_all<S, F, Fut>(make: F) -> Vec<String>
where
    S: TicketRecords,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    run_cases!(make().await =>
        tickets_round_trip_and_stay_with_their_tenant,
        lists_page_newest_first_by_status,
        feedback_moves_the_status_and_is_kept,
        a_subjects_tickets_are_exported_and_erased_with_their_feedback,
        deleting_a_tenant_removes_only_its_tickets,
    )
}

/// A ticket of `tenant` created at `at`.
pub fn ticket(tenant: &str, at: i64, status: &str) -> Ticket {
    Ticket {
        id: new_id(),
        tenant: tenant.into(),
        created_at: at,
        updated_at: at,
        subject: Some("Where is my order?".into()),
        body: "It has not arrived.".into(),
        customer_id: Some("c-1".into()),
        channel: Some("email".into()),
        status: status.into(),
        reason: None,
        language: Some("en".into()),
        intent: Some("delivery".into()),
        priority: Some("normal".into()),
        confidence: Some(0.8),
        draft: Some("It ships in 2 days [1].".into()),
        citations: vec![Citation {
            doc: "shipping.md".into(),
            chunk: 3,
            score: 0.7,
        }],
        pipeline: "support".into(),
        pipeline_version: 1,
        trace: serde_json::json!([{"step": "language"}]),
        feedback: vec![],
    }
}

fn feedback(verdict: &str, text: Option<&str>, at: i64) -> Feedback {
    Feedback {
        verdict: verdict.into(),
        final_text: text.map(Into::into),
        resolution_seconds: Some(95.0),
        agent: Some("ana".into()),
        comment: None,
        created_at: at,
    }
}

fn ids(list: &[Ticket]) -> Vec<String> {
    list.iter().map(|t| t.id.clone()).collect()
}

async fn tickets_round_trip_and_stay_with_their_tenant(s: &impl TicketRecords) -> Outcome {
    let a = ticket("acme", 100, "drafted");
    ok("insert", s.insert(a.clone(), None).await)?;
    check!(
        ok("get", s.get("acme", &a.id).await)? == a,
        "not read back as written"
    );
    let other = s.get("globex", &a.id).await;
    check!(
        matches!(other, Err(PipelineError::NotFound(_))),
        "another tenant read it: {other:?}"
    );
    let missing = s.get("acme", "tkt_missing").await;
    check!(
        matches!(missing, Err(PipelineError::NotFound(_))),
        "a missing ticket gave {missing:?}"
    );
    let dup = s.insert(a.clone(), None).await;
    check!(dup.is_err(), "a duplicate id was stored");
    Ok(())
}

async fn lists_page_newest_first_by_status(s: &impl TicketRecords) -> Outcome {
    let a = ticket("acme", 100, "drafted");
    let b = ticket("acme", 200, "needs_human");
    let c = ticket("acme", 300, "drafted");
    let other = ticket("globex", 400, "drafted");
    for t in [&a, &b, &c, &other] {
        ok("insert", s.insert(t.clone(), None).await)?;
    }
    let all = ids(&ok("list", s.list("acme", None, 10, None).await)?);
    check!(
        all == [c.id.clone(), b.id.clone(), a.id.clone()],
        "newest first: {all:?}"
    );
    let drafted = ids(&ok(
        "list",
        s.list("acme", Some("drafted"), 10, None).await,
    )?);
    check!(
        drafted == [c.id.clone(), a.id.clone()],
        "drafted: {drafted:?}"
    );
    let page = ids(&ok("list", s.list("acme", None, 1, Some(&c.id)).await)?);
    check!(
        page == [b.id.clone()],
        "the page after the newest: {page:?}"
    );
    let bad = s.list("acme", Some("lost"), 10, None).await;
    check!(
        matches!(bad, Err(PipelineError::Invalid { .. })),
        "an unknown status gave {bad:?}"
    );
    let foreign = s.list("acme", None, 10, Some(&other.id)).await;
    check!(
        foreign.is_err(),
        "paging after another tenant's ticket was accepted"
    );
    Ok(())
}

async fn feedback_moves_the_status_and_is_kept(s: &impl TicketRecords) -> Outcome {
    let t = ticket("acme", 1, "drafted");
    ok("insert", s.insert(t.clone(), None).await)?;
    let edited = s
        .add_feedback("acme", &t.id, feedback("edited", None, 10))
        .await;
    check!(
        edited.is_err(),
        "`edited` without a final text was accepted"
    );
    let liked = s
        .add_feedback("acme", &t.id, feedback("liked", None, 10))
        .await;
    check!(liked.is_err(), "an unknown verdict was accepted");
    let other = s
        .add_feedback("globex", &t.id, feedback("accepted", None, 10))
        .await;
    check!(
        matches!(other, Err(PipelineError::NotFound(_))),
        "another tenant gave feedback: {other:?}"
    );
    let r = ok(
        "reject",
        s.add_feedback("acme", &t.id, feedback("rejected", None, 10))
            .await,
    )?;
    check!(r.status == "needs_human", "after `rejected`: {}", r.status);
    let r = ok(
        "accept",
        s.add_feedback("acme", &t.id, feedback("accepted", None, 10))
            .await,
    )?;
    check!(r.status == "answered", "after `accepted`: {}", r.status);
    check!(
        r.feedback.len() == 2,
        "{} feedback entries",
        r.feedback.len()
    );
    check!(
        r.feedback[1].final_text == t.draft,
        "an accepted draft is its final text"
    );
    check!(r.updated_at == 10, "updated_at {}", r.updated_at);
    let read = ok("get", s.get("acme", &t.id).await)?;
    check!(read.feedback.len() == 2, "feedback not read back");
    Ok(())
}

async fn a_subjects_tickets_are_exported_and_erased_with_their_feedback(
    s: &impl TicketRecords,
) -> Outcome {
    let a = ticket("acme", 100, "drafted");
    let b = ticket("globex", 200, "drafted");
    let mut other = ticket("acme", 300, "drafted");
    other.customer_id = Some("c-2".into());
    let mut tagged = ticket("acme", 400, "drafted");
    tagged.customer_id = None;
    for t in [&a, &b, &other] {
        ok("insert", s.insert(t.clone(), None).await)?;
    }
    ok("insert", s.insert(tagged.clone(), Some("c-1".into())).await)?;
    ok(
        "feedback",
        s.add_feedback("acme", &a.id, feedback("accepted", None, 5))
            .await,
    )?;
    let mine = ok("by subject", s.by_subject(Some("acme"), "c-1").await)?;
    check!(
        ids(&mine) == [a.id.clone(), tagged.id.clone()],
        "acme's tickets of c-1: {:?}",
        ids(&mine)
    );
    check!(mine[0].feedback.len() == 1, "the export lacks feedback");
    let everywhere = ok("by subject", s.by_subject(None, "c-1").await)?;
    check!(
        everywhere.len() == 3,
        "c-1's tickets everywhere: {}",
        everywhere.len()
    );
    let erased = ok("erase", s.erase_subject(Some("acme"), "c-1").await)?;
    check!(erased == (2, 1), "erased (tickets, feedback) {erased:?}");
    check!(
        ok("by subject", s.by_subject(Some("acme"), "c-1").await)?.is_empty(),
        "acme still has c-1's tickets"
    );
    check!(
        ok("by subject", s.by_subject(None, "c-1").await)?.len() == 1,
        "globex's ticket went too"
    );
    check!(
        s.get("acme", &other.id).await.is_ok(),
        "another customer's ticket went"
    );
    check!(
        ok("erase", s.erase_subject(None, "c-1").await)? == (1, 0),
        "erasing everywhere"
    );
    check!(
        ok("erase", s.erase_subject(None, "c-1").await)? == (0, 0),
        "a second erasure found tickets"
    );
    Ok(())
}

async fn deleting_a_tenant_removes_only_its_tickets(s: &impl TicketRecords) -> Outcome {
    let a = ticket("acme", 1, "drafted");
    let b = ticket("acme", 2, "drafted");
    let c = ticket("globex", 3, "drafted");
    for t in [&a, &b, &c] {
        ok("insert", s.insert(t.clone(), None).await)?;
    }
    ok(
        "feedback",
        s.add_feedback("acme", &a.id, feedback("rejected", None, 5))
            .await,
    )?;
    let n = ok("delete", s.delete_tenant("acme").await)?;
    check!(n == 2, "deleted {n} tickets");
    check!(
        ok("list", s.list("acme", None, 10, None).await)?.is_empty(),
        "acme's tickets remain"
    );
    check!(
        ok("get", s.get("globex", &c.id).await)? == c,
        "globex's ticket changed"
    );
    check!(
        ok("delete", s.delete_tenant("acme").await)? == 0,
        "a second deletion found tickets"
    );
    // Nothing of acme's stays findable by subject (its feedback went with it).
    let left = ok("by subject", s.by_subject(None, "c-1").await)?;
    check!(
        ids(&left) == [c.id.clone()],
        "by subject after the deletion: {:?}",
        ids(&left)
    );
    Ok(())
}
