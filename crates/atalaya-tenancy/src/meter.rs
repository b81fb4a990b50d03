//! Budgets: the tokens and cost each key and tenant has spent in the current day and month,
//! in-flight reservations included (loaded from the store's usage at start-up).
//!
//! [`Budgets`] is the contract (its conformance suite: [`crate::budget_conformance`]);
//! [`crate::local_budgets::LocalBudgets`] keeps the spending in this process. A shared implementation (Redis) keeps
//! reservations across replicas; the durable totals stay in the usage store.

use std::sync::Arc;

use atalaya_store::Limits;

use crate::{config::Price, Result};

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

pub fn cost_micros(price: Option<&Price>, prompt: u64, completion: u64) -> u64 {
    price.map_or(0, |p| {
        (prompt as f64 * p.input_per_million + completion as f64 * p.output_per_million)
            .round()
            .max(0.0) as u64
    })
}
