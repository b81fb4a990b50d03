//! Knowledge queries and grounded answers as the transports call them: admission (a model
//! call counts against the tenant's models and budgets), retrieval, the guarded generation,
//! and the inference-log capture of a generated answer.

use atalaya_api::knowledge as kwire;
use atalaya_core::Error;
use atalaya_knowledge::service::{Hit, Mode, SearchParams};
use atalaya_tenancy::{Capture, Estimate};

use crate::context::RequestContext;
use crate::{
    call::{admit, estimate_tokens, Facts},
    knowledge::{Answer, AnswerInput},
    Services,
};

/// Admits a knowledge request: a model call (reranker, answer model) counts against the
/// tenant's models and budgets; otherwise only the request limits apply.
async fn admit_knowledge(
    svc: &Services,
    ctx: &RequestContext,
    facts: &Facts,
    model: Option<String>,
    prompt_chars: usize,
    completion_tokens: u64,
    capture: impl FnOnce() -> Capture + Send,
) -> Result<(), Error> {
    let estimate = Estimate {
        prompt_tokens: if model.is_some() {
            estimate_tokens(prompt_chars)
        } else {
            0
        },
        completion_tokens: if model.is_some() {
            completion_tokens
        } else {
            0
        },
        model,
    };
    admit(&svc.tenancy, ctx, facts, estimate, capture).await
}

/// Requests that call no model are not written to the inference log.
fn no_capture() -> Capture {
    Capture {
        subject: None,
        request: serde_json::Value::Null,
    }
}

/// `POST /v1/knowledge/{collection}/query`: the passages, reranked on request.
pub async fn query(
    svc: &Services,
    ctx: &RequestContext,
    facts: &Facts,
    collection: &str,
    query: String,
    params: SearchParams,
    rerank: bool,
) -> Result<(Vec<Hit>, Mode), Error> {
    let mode = params.mode;
    // A reranked query calls the reranker with every candidate. Admission comes first, as
    // for every request (a disabled knowledge base answers 503 after it).
    let reranker = rerank
        .then(|| svc.knowledge.as_ref().and_then(|k| k.rerank_model.clone()))
        .flatten();
    let candidates = svc.knowledge.as_ref().map_or(0, |k| k.rerank_candidates);
    admit_knowledge(
        svc,
        ctx,
        facts,
        reranker,
        query.len() * candidates.max(1) + candidates * 800,
        0,
        no_capture,
    )
    .await?;
    let hits = svc
        .knowledge()?
        .retrieve(&svc.gateway, ctx, collection, query, params, rerank)
        .await?;
    Ok((hits, mode))
}

/// `POST /v1/knowledge/{collection}/answer`: a grounded answer, generated (guarded by the
/// tenant's or the model route's policy, and logged as a model call) or extractive.
/// `subject` tags its inference-log row.
pub async fn answer(
    svc: &Services,
    ctx: &RequestContext,
    facts: &Facts,
    collection: &str,
    input: AnswerInput,
    subject: Option<String>,
) -> Result<kwire::AnswerResponse, Error> {
    let kb = svc.knowledge()?;
    // The generating model, when the answer is generated: the tenant must be allowed it and
    // have budget; sources (about 200 tokens each) are in the estimate.
    let model = (!input.extractive)
        .then(|| input.model.clone().or_else(|| kb.answer_model.clone()))
        .flatten();
    let completion = input
        .max_tokens
        .map(u64::from)
        .unwrap_or(svc.tenancy.settings().limits.estimate_completion_tokens);
    // A generated answer is a model call: logged as one (the question as the client sent
    // it, and the answer it got), and guarded by the tenant's or the model route's policy.
    let policy = model
        .as_deref()
        .and_then(|m| svc.guard.policy_of(&svc.tenancy, &ctx.principal.tenant, m));
    let logged = model.is_some();
    let request =
        serde_json::json!({"collection": collection, "query": input.query, "model": model});
    admit_knowledge(
        svc,
        ctx,
        facts,
        model,
        input.query.len() + kb.answer_sources * 800,
        completion,
        || match logged {
            true => Capture { subject, request },
            false => no_capture(),
        },
    )
    .await?;
    let guard = policy.map(|p| (svc.guard.as_ref(), p));
    let a: Answer = kb
        .answer(&svc.gateway, ctx, collection, input, guard)
        .await?;
    // The generation's usage settles the admission.
    if let Some(u) = a
        .usage
        .as_ref()
        .and_then(|u| serde_json::from_value::<atalaya_api::Usage>(u.clone()).ok())
    {
        facts.update(|f| f.usage = Some(u));
    }
    if let Some(g) = &a.guard {
        facts.update(|f| f.guard = Some(g.header.clone()));
    }
    let response = crate::wire::answer_response(a);
    if logged {
        if let Ok(v) = serde_json::to_value(&response) {
            facts.record_answer(v);
        }
    }
    Ok(response)
}
