//! Budgets: the tokens and cost each key and tenant has spent in the current day and month,
//! in-flight reservations included (loaded from the store's usage at start-up).
//!
//! [`Budgets`] is the contract (its conformance suite: [`crate::budget_conformance`]);
//! [`crate::local_budgets::LocalBudgets`] keeps the spending in this process; `atalaya-redis`
//! keeps reservations across replicas (the durable totals stay in the usage store).

use std::sync::Arc;

use atalaya_store::Limits;

use crate::{
    clock::{next_month_start, now_millis, DAY_MS},
    config::Price,
    Error, Result,
};

/// One scope a reservation is charged to, with its budget.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// `key:ID` or `tenant:ID` (shared names: nothing is allocated per request).
    pub name: &'a Arc<str>,
    pub limits: &'a Limits,
    /// Who the budget belongs to, for the refusal's message (`key`, `tenant`).
    pub who: &'a str,
}

/// Spending against budgets. Days are UTC day numbers, passed in: the caller's clock decides
/// the period, so that every replica charges the same day. A `reserve` whose future is dropped
/// unfinished must leave nothing reserved (one atomic step on a shared store).
#[async_trait::async_trait]
pub trait Budgets: Send + Sync {
    /// Checks every scope's budgets for `day` and, when none is spent, adds `tokens` and
    /// `cost` (micro-units) to each: all or nothing. A scope whose budget is spent refuses
    /// with [`Error::BudgetExceeded`], naming it.
    async fn reserve(&self, scopes: &[Scope<'_>], day: i64, tokens: i64, cost: i64) -> Result<()>;
    /// Adds (positive) or gives back (negative) spending of `day` to every scope, when the
    /// answer's usage replaces the estimate. Never refused.
    fn settle(&self, scopes: &[&Arc<str>], day: i64, tokens: i64, cost: i64);
    /// (day tokens, day cost, month tokens, month cost) of a scope on `day`.
    fn spent(&self, scope: &str, day: i64) -> (u64, u64, u64, u64);
}

/// Spending of one scope: (day tokens, day cost, month tokens, month cost), cost in
/// micro-units.
pub type Spent = (u64, u64, u64, u64);

/// Whether `limits` has any budget.
pub fn has_budget(limits: &Limits) -> bool {
    limits.tokens_per_day.is_some()
        || limits.tokens_per_month.is_some()
        || limits.cost_per_day.is_some()
        || limits.cost_per_month.is_some()
}

/// The first budget of `limits` that `spent` has reached, as (what, monthly): a reservation
/// is refused once the total reaches the budget. Every backend decides with this.
pub fn spent_budget(limits: &Limits, spent: Spent) -> Option<(&'static str, bool)> {
    let (day_tokens, day_cost, month_tokens, month_cost) = spent;
    let cost = |micros: u64| micros as f64 / 1e6;
    if limits.tokens_per_day.is_some_and(|b| day_tokens >= b) {
        return Some(("tokens per day", false));
    }
    if limits.tokens_per_month.is_some_and(|b| month_tokens >= b) {
        return Some(("tokens per month", true));
    }
    if limits.cost_per_day.is_some_and(|b| cost(day_cost) >= b) {
        return Some(("cost per day", false));
    }
    if limits.cost_per_month.is_some_and(|b| cost(month_cost) >= b) {
        return Some(("cost per month", true));
    }
    None
}

/// The refusal of a spent budget: `who`'s budget of `what`, renewing at the next UTC day or
/// month after `day`.
pub fn exceeded(who: &str, what: &str, monthly: bool, day: i64) -> Error {
    let renews = if monthly {
        next_month_start(day)
    } else {
        day + 1
    };
    let retry_after = std::time::Duration::from_millis(
        u64::try_from(renews * DAY_MS - now_millis()).unwrap_or(0),
    );
    Error::BudgetExceeded {
        message: format!(
            "the {who}'s budget of {what} is spent; it renews at the start of the next UTC period"
        ),
        retry_after,
    }
}

pub fn cost_micros(price: Option<&Price>, prompt: u64, completion: u64) -> u64 {
    price.map_or(0, |p| {
        (prompt as f64 * p.input_per_million + completion as f64 * p.output_per_million)
            .round()
            .max(0.0) as u64
    })
}
