//! [`LocalBudgets`]: the in-process backend of [`Budgets`]: each key's and tenant's spending
//! in the current day and month, in-flight reservations included, loaded from the usage
//! store's month at start-up.

use std::sync::{Arc, Mutex};

use atalaya_store::{Limits, Millis, Store};

use crate::{
    clock::{day_of, month_of, month_start},
    meter::{exceeded, has_budget, spent_budget, Budgets, Scope},
    Result,
};

/// Tokens and cost (micro-units) spent by one scope in the current day and month,
/// in-flight reservations included.
#[derive(Debug, Clone, Copy, Default)]
struct Spent {
    day: i64,
    month: (i64, u32),
    day_tokens: u64,
    day_cost: u64,
    month_tokens: u64,
    month_cost: u64,
}

impl Spent {
    /// Moves to `day` if it is later (a new day, perhaps a new month); never backwards.
    fn roll(&mut self, day: i64) {
        if day <= self.day {
            return;
        }
        self.day = day;
        self.day_tokens = 0;
        self.day_cost = 0;
        let m = month_of(day);
        if self.month != m {
            self.month = m;
            self.month_tokens = 0;
            self.month_cost = 0;
        }
    }

    /// Adds (or, negative, removes) spending that belongs to `day`: to the day's totals if
    /// it is the current day, to the month's if it is the current month. A request admitted
    /// yesterday and settled today changes only what is still current.
    fn add(&mut self, day: i64, tokens: i64, cost: i64) {
        self.roll(day);
        let f = |v: u64, d: i64| {
            if d >= 0 {
                v.saturating_add(d.unsigned_abs())
            } else {
                v.saturating_sub(d.unsigned_abs())
            }
        };
        if day == self.day {
            self.day_tokens = f(self.day_tokens, tokens);
            self.day_cost = f(self.day_cost, cost);
        }
        if month_of(day) == self.month {
            self.month_tokens = f(self.month_tokens, tokens);
            self.month_cost = f(self.month_cost, cost);
        }
    }
}

/// Budgets kept in this process.
#[derive(Default)]
pub struct LocalBudgets(Mutex<Meter>);

impl LocalBudgets {
    /// Starts from the current month's usage in the store (a restart keeps budgets).
    pub async fn load(store: &dyn Store, now: Millis) -> Result<Self> {
        Ok(LocalBudgets(Mutex::new(Meter::load(store, now).await?)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Meter> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl Budgets for LocalBudgets {
    async fn reserve(&self, scopes: &[Scope<'_>], day: i64, tokens: i64, cost: i64) -> Result<()> {
        let mut m = self.lock();
        for s in scopes {
            m.check(s.name, s.limits, day, s.who)?;
        }
        for s in scopes {
            m.add(s.name, day, tokens, cost);
        }
        Ok(())
    }

    fn settle(&self, scopes: &[&Arc<str>], day: i64, tokens: i64, cost: i64) {
        let mut m = self.lock();
        for s in scopes {
            m.add(s, day, tokens, cost);
        }
    }

    fn spent(&self, scope: &str, day: i64) -> (u64, u64, u64, u64) {
        self.lock().spent(scope, day)
    }
}

/// Budgets' spending per scope (`key:ID`, `tenant:ID`).
#[derive(Default)]
struct Meter {
    spent: crate::FastMap<Arc<str>, Spent>,
}

impl Meter {
    /// The current month's usage from the store (a restart keeps budgets).
    async fn load(store: &dyn Store, now: Millis) -> Result<Meter> {
        let today = day_of(now);
        let rows = store.usage_since(None, month_start(today)).await?;
        let mut m = Meter::default();
        for r in rows {
            let tokens = i64::try_from(r.prompt_tokens + r.completion_tokens).unwrap_or(i64::MAX);
            let cost = i64::try_from(r.cost_micros).unwrap_or(i64::MAX);
            for scope in [
                format!("key:{}", r.key_id),
                format!("tenant:{}", r.tenant_id),
            ] {
                let s = m.spent.entry(scope.into()).or_insert_with(|| Spent {
                    day: r.day,
                    month: month_of(r.day),
                    ..Spent::default()
                });
                s.roll(today);
                if r.day == today {
                    s.day_tokens += tokens.unsigned_abs();
                    s.day_cost += cost.unsigned_abs();
                }
                s.month_tokens += tokens.unsigned_abs();
                s.month_cost += cost.unsigned_abs();
            }
        }
        Ok(m)
    }

    /// The scope's spending, created on first use (the key is shared, not copied).
    fn scope(&mut self, scope: &Arc<str>) -> &mut Spent {
        self.spent.entry(scope.clone()).or_default()
    }

    fn check(&mut self, scope: &Arc<str>, limits: &Limits, day: i64, who: &str) -> Result<()> {
        if !has_budget(limits) {
            return Ok(());
        }
        let s = self.scope(scope);
        s.roll(day);
        match spent_budget(
            limits,
            (s.day_tokens, s.day_cost, s.month_tokens, s.month_cost),
        ) {
            Some((what, monthly)) => Err(exceeded(who, what, monthly, day)),
            None => Ok(()),
        }
    }

    fn add(&mut self, scope: &Arc<str>, day: i64, tokens: i64, cost: i64) {
        self.scope(scope).add(day, tokens, cost);
    }

    /// (day tokens, day cost, month tokens, month cost) of a scope, for reports.
    fn spent(&self, scope: &str, day: i64) -> (u64, u64, u64, u64) {
        match self.spent.get(scope) {
            None => (0, 0, 0, 0),
            Some(s) => {
                let mut s = *s;
                s.roll(day);
                (s.day_tokens, s.day_cost, s.month_tokens, s.month_cost)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{config::Price, meter::cost_micros};

    #[test]
    fn settling_yesterday_never_resets_today() {
        let mut s = Spent::default();
        s.add(20789, 100, 0); // admitted on 2 Dec
        s.add(20790, 500, 0); // another request on 3 Dec
        assert_eq!((s.day, s.day_tokens, s.month_tokens), (20790, 500, 600));
        // The 2 Dec request settles on 3 Dec, 40 tokens above its estimate: the month
        // takes it, today's total is untouched and nothing is reset.
        s.add(20789, 40, 0);
        assert_eq!((s.day, s.day_tokens, s.month_tokens), (20790, 500, 640));
        // Settled in the next month: only a new month's totals would change, so nothing.
        s.add(20819, 7, 0); // 1 Jan
        s.add(20790, -100, 0);
        assert_eq!((s.day, s.day_tokens, s.month_tokens), (20819, 7, 7));
    }

    #[tokio::test]
    async fn local_budgets_conform() {
        let failures = crate::budget_conformance::run_all(LocalBudgets::default).await;
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn costs() {
        let p = Price {
            input_per_million: 0.5,
            output_per_million: 1.5,
        };
        // 1000 prompt tokens at $0.5/M = $0.0005 = 500 micro-dollars.
        assert_eq!(cost_micros(Some(&p), 1000, 1000), 2000);
        assert_eq!(cost_micros(None, 1000, 1000), 0);
    }
}
