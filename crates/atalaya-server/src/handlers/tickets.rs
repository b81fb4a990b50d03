//! `/v1/tickets`: create (triage, draft, store), read, list, feedback.

use std::{collections::HashMap, sync::Arc};

use atalaya_api::pipeline as wire;
use atalaya_core::Error;
use atalaya_pipeline::tickets::Feedback;
use atalaya_service::{call::Facts, runs, wire as convert};
use axum::{
    extract::{Extension, Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};

use crate::{
    error::ApiError,
    extract::{ApiJson, Caller},
    respond::subject,
    state::AppState,
};

/// `POST /v1/tickets`: 201 with the ticket.
pub async fn create_ticket(
    State(state): State<Arc<AppState>>,
    Extension(facts): Extension<Facts>,
    Caller(ctx): Caller,
    headers: HeaderMap,
    ApiJson(w): ApiJson<wire::CreateTicket>,
) -> Result<Response, ApiError> {
    let data_subject = subject(&headers, w.customer_id.as_deref());
    let input = convert::ticket_input(w);
    let ticket = runs::create_ticket(&state.svc, &ctx, &facts, input, data_subject).await?;
    Ok((
        StatusCode::CREATED,
        Json(convert::ticket_wire(ticket, true)),
    )
        .into_response())
}

pub async fn get_ticket(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> Result<Json<wire::Ticket>, ApiError> {
    let t = runs::ticket(&state.svc, &ctx, id).await?;
    Ok(Json(convert::ticket_wire(t, true)))
}

/// `GET /v1/tickets?status=needs_human&limit=50&before=tkt_...`: newest first.
pub async fn list_tickets(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<wire::TicketList>, ApiError> {
    for k in q.keys() {
        if !["status", "limit", "before"].contains(&k.as_str()) {
            return Err(Error::invalid(
                format!("unknown query parameter '{k}' (status, limit, before)"),
                Some(k),
            )
            .into());
        }
    }
    let limit = match q.get("limit") {
        None => 50,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| Error::invalid("'limit' must be 1 to 500", Some("limit")))?,
    };
    let (status, before) = (q.get("status").cloned(), q.get("before").cloned());
    let (list, has_more) = runs::tickets(&state.svc, &ctx, status, limit, before).await?;
    Ok(Json(wire::TicketList {
        object: "list".into(),
        data: list
            .into_iter()
            .map(|t| convert::ticket_wire(t, false))
            .collect(),
        has_more,
    }))
}

/// `POST /v1/tickets/{id}/feedback`: what the agent did with the draft.
pub async fn ticket_feedback(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    ApiJson(w): ApiJson<wire::CreateFeedback>,
) -> Result<Json<wire::Ticket>, ApiError> {
    let f = Feedback {
        verdict: w.verdict,
        final_text: w.final_text,
        resolution_seconds: w.resolution_seconds,
        agent: w.agent,
        comment: w.comment,
        created_at: 0,
    };
    let t = runs::feedback(&state.svc, &ctx, id, f).await?;
    Ok(Json(convert::ticket_wire(t, false)))
}
