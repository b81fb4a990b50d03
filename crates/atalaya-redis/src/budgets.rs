//! [`RedisBudgets`]: budget reservations shared by every replica. Each scope (`key:ID`,
//! `tenant:ID`) has a counter per UTC day and per month in Redis (tokens and cost in
//! micro-units), in-flight reservations included; the durable usage store seeds them and
//! stays the record of truth.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
    time::Duration,
};

use atalaya_store::{Millis, Store};
use atalaya_tenancy::{
    clock::{day_of, month_start, now_millis},
    meter::{exceeded, has_budget, spent_budget, Budgets, Scope, Spent},
    Error as TenancyError, Result,
};

use crate::{
    conn::{Arg, Item, Kind, OnUnavailable, Reply},
    scripts, Error, Redis,
};

/// Day counters outlive their day by one; month counters by a month.
const DAY_TTL_S: u64 = 2 * 86_400;
const MONTH_TTL_S: u64 = 62 * 86_400;
/// How often a replica checks that Redis still holds the seeded counters (it lost its data
/// otherwise, and they are seeded again from the usage store).
const SEED_CHECK: Duration = Duration::from_secs(10);
const SEEDED: &str = "bud:seeded";

/// Totals seen: scope → ('d' or 'm', day or month start) → (tokens, cost).
type Seen = HashMap<String, Periods>;
type Periods = HashMap<(char, i64), (u64, u64)>;
/// Counter keys made: (scope, day) → (day counter, month counter).
type Names = HashMap<(Arc<str>, i64), (Arc<str>, Arc<str>)>;

/// Budgets shared through Redis (see the crate docs). `spent` answers from the totals this
/// process last saw (the traits' reads do not wait); while Redis is unreachable,
/// `fail_open` checks reservations against them.
pub struct RedisBudgets {
    redis: Arc<Redis>,
    store: Arc<dyn Store>,
    /// (scope, 'd' or 'm', day or month start) → (tokens, cost).
    seen: Mutex<Seen>,
    names: Mutex<Names>,
}

fn apply(v: u64, delta: i64) -> u64 {
    if delta >= 0 {
        v.saturating_add(delta.unsigned_abs())
    } else {
        v.saturating_sub(delta.unsigned_abs())
    }
}

#[allow(clippy::cast_possible_truncation)] // budgets far below 2^63 micro-units
fn micros(budget: Option<f64>) -> Arg {
    Arg::Int(budget.map_or(-1, |b| (b * 1e6).max(0.0).round() as i64))
}

fn budget(b: Option<u64>) -> Arg {
    b.map_or(Arg::Int(-1), Arg::from)
}

impl RedisBudgets {
    /// Seeds Redis from the usage store's current month (once per loss of Redis's data),
    /// then starts the check that seeds it again if Redis loses its data.
    pub async fn open(
        redis: Arc<Redis>,
        store: Arc<dyn Store>,
    ) -> std::result::Result<Arc<Self>, Error> {
        let b = Arc::new(RedisBudgets {
            redis,
            store,
            seen: Mutex::new(HashMap::new()),
            names: Mutex::new(HashMap::new()),
        });
        b.seed(now_millis()).await?;
        // Detached: it holds a weak reference and ends with the budgets; it writes nothing a
        // shutdown would lose (a seed is one atomic script).
        #[allow(clippy::disallowed_methods)]
        tokio::spawn(watch(Arc::downgrade(&b)));
        Ok(b)
    }

    /// The day's and the month's counters of `scope` (made once per scope and day).
    fn counters(&self, scope: &Arc<str>, day: i64) -> (Arc<str>, Arc<str>) {
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        names
            .entry((scope.clone(), day))
            .or_insert_with(|| {
                (
                    self.redis.key(&format!("bud:{scope}:d:{day}")).into(),
                    self.redis
                        .key(&format!("bud:{scope}:m:{}", month_start(day)))
                        .into(),
                )
            })
            .clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn spent_seen(&self, scope: &str, day: i64) -> Spent {
        let seen = self.lock();
        let Some(periods) = seen.get(scope) else {
            return Spent::default();
        };
        let d = periods.get(&('d', day)).copied().unwrap_or_default();
        let m = periods
            .get(&('m', month_start(day)))
            .copied()
            .unwrap_or_default();
        (d.0, d.1, m.0, m.1)
    }

    /// The totals of `scope` (allocating its name only the first time).
    fn periods<'a>(seen: &'a mut Seen, scope: &str) -> Option<&'a mut Periods> {
        if !seen.contains_key(scope) {
            seen.insert(scope.to_owned(), HashMap::new());
        }
        seen.get_mut(scope)
    }

    fn add_seen(&self, scope: &str, day: i64, tokens: i64, cost: i64) {
        let mut seen = self.lock();
        if let Some(periods) = Self::periods(&mut seen, scope) {
            for k in [('d', day), ('m', month_start(day))] {
                let e = periods.entry(k).or_default();
                *e = (apply(e.0, tokens), apply(e.1, cost));
            }
        }
    }

    /// Drops the totals of days before yesterday and of months before this one (nothing
    /// reads them), so the totals seen stay bounded by the scopes in use.
    fn forget_past(&self, today: i64) {
        let month = month_start(today);
        let mut seen = self.lock();
        for periods in seen.values_mut() {
            periods.retain(|(kind, period), _| match kind {
                'd' => *period >= today - 1,
                _ => *period >= month,
            });
        }
        seen.retain(|_, periods| !periods.is_empty());
        drop(seen);
        self.names
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(_, day), _| *day >= today - 1);
    }

    /// The current month's usage as counters, added to Redis if it does not hold them yet.
    async fn seed(&self, now: Millis) -> std::result::Result<bool, Error> {
        let today = day_of(now);
        let rows = self
            .store
            .usage_since(None, month_start(today))
            .await
            .map_err(|e| Error::Unavailable(format!("reading usage to seed budgets: {e}")))?;
        let mut totals: HashMap<(String, char, i64), (u64, u64)> = HashMap::new();
        for r in rows {
            let tokens = r.prompt_tokens + r.completion_tokens;
            for scope in [
                format!("key:{}", r.key_id),
                format!("tenant:{}", r.tenant_id),
            ] {
                let mut periods = vec![('m', month_start(today))];
                if r.day == today {
                    periods.push(('d', today));
                }
                for (kind, period) in periods {
                    let e = totals.entry((scope.clone(), kind, period)).or_default();
                    e.0 += tokens;
                    e.1 += r.cost_micros;
                }
            }
        }
        let mut inv = scripts::SEED.prepare_invoke();
        inv.key(self.redis.key(SEEDED));
        for ((scope, kind, period), (t, c)) in &totals {
            inv.key(self.redis.key(&format!("bud:{scope}:{kind}:{period}")));
            inv.arg(t)
                .arg(c)
                .arg(if *kind == 'd' { DAY_TTL_S } else { MONTH_TTL_S });
        }
        let seeded = self.redis.call::<i64>(&inv).await? == 1;
        if seeded {
            tracing::info!(
                counters = totals.len(),
                "coordination: budgets seeded in Redis from the usage store"
            );
            let mut seen = self.lock();
            seen.clear();
            for ((scope, kind, period), v) in totals {
                seen.entry(scope).or_default().insert((kind, period), v);
            }
        }
        Ok(seeded)
    }

    fn refuse_or_fall_back(
        &self,
        e: &Error,
        scopes: &[Scope<'_>],
        day: i64,
        tokens: i64,
        cost: i64,
    ) -> Result<()> {
        if self.redis.settings().on_unavailable == OnUnavailable::FailClosed {
            self.redis.refused();
            return Err(TenancyError::CoordinationUnavailable(e.to_string()));
        }
        self.redis.fell_back();
        for s in scopes {
            if has_budget(s.limits) {
                if let Some((what, monthly)) = spent_budget(s.limits, self.spent_seen(s.name, day))
                {
                    return Err(exceeded(s.who, what, monthly, day));
                }
            }
        }
        // Admitted on what this process knows; Redis gets the reservation when it returns.
        let names: Vec<&Arc<str>> = scopes.iter().map(|s| s.name).collect();
        self.settle(&names, day, tokens, cost);
        Ok(())
    }
}

#[async_trait::async_trait]
impl Budgets for RedisBudgets {
    async fn reserve(&self, scopes: &[Scope<'_>], day: i64, tokens: i64, cost: i64) -> Result<()> {
        let mut keys = Vec::with_capacity(scopes.len() * 2);
        let mut args = vec![
            Arg::Int(tokens),
            Arg::Int(cost),
            Arg::from(DAY_TTL_S),
            Arg::from(MONTH_TTL_S),
        ];
        for s in scopes {
            let (d, m) = self.counters(s.name, day);
            keys.push(d);
            keys.push(m);
            let l = s.limits;
            args.push(budget(l.tokens_per_day));
            args.push(budget(l.tokens_per_month));
            args.push(micros(l.cost_per_day));
            args.push(micros(l.cost_per_month));
        }
        let call = Item {
            kind: Kind::Reserve,
            keys,
            args,
        };
        let v = match self.redis.run(call).await {
            Ok(Reply::List(v)) => v,
            Ok(r) => {
                let e = Error::Protocol(format!("reserve returned {r:?}"));
                return self.refuse_or_fall_back(&e, scopes, day, tokens, cost);
            }
            Err(e) => return self.refuse_or_fall_back(&e, scopes, day, tokens, cost),
        };
        let u = |x: i64| u64::try_from(x).unwrap_or(0);
        match v.first() {
            Some(1) if v.len() == 1 + 4 * scopes.len() => {
                let mut seen = self.lock();
                for (i, s) in scopes.iter().enumerate() {
                    let b = 1 + 4 * i;
                    if let Some(periods) = Self::periods(&mut seen, s.name) {
                        periods.insert(('d', day), (u(v[b]), u(v[b + 1])));
                        periods.insert(('m', month_start(day)), (u(v[b + 2]), u(v[b + 3])));
                    }
                }
                Ok(())
            }
            Some(0) if v.len() == 3 => {
                let s = usize::try_from(v[1])
                    .ok()
                    .and_then(|i| scopes.get(i))
                    .ok_or_else(|| {
                        TenancyError::Unavailable(format!("coordination: reserve returned {v:?}"))
                    })?;
                let (what, monthly) = match v[2] {
                    1 => ("tokens per day", false),
                    2 => ("tokens per month", true),
                    3 => ("cost per day", false),
                    _ => ("cost per month", true),
                };
                Err(exceeded(s.who, what, monthly, day))
            }
            _ => Err(TenancyError::Unavailable(format!(
                "coordination: reserve returned {v:?}"
            ))),
        }
    }

    fn settle(&self, scopes: &[&Arc<str>], day: i64, tokens: i64, cost: i64) {
        let mut keys = Vec::with_capacity(scopes.len() * 2);
        for s in scopes {
            let (d, m) = self.counters(s, day);
            keys.push(d);
            keys.push(m);
            self.add_seen(s, day, tokens, cost);
        }
        self.redis.queue(Item {
            kind: Kind::Settle,
            keys,
            args: vec![
                Arg::Int(tokens),
                Arg::Int(cost),
                Arg::from(DAY_TTL_S),
                Arg::from(MONTH_TTL_S),
            ],
        });
    }

    fn spent(&self, scope: &str, day: i64) -> Spent {
        self.spent_seen(scope, day)
    }
}

/// Seeds Redis again when it lost its data (a restart without persistence).
async fn watch(budgets: Weak<RedisBudgets>) {
    let mut tick = tokio::time::interval(SEED_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(b) = budgets.upgrade() else { return };
        b.forget_past(day_of(now_millis()));
        if b.redis.exists(SEEDED).await.unwrap_or(true) {
            continue;
        }
        if let Ok(true) = b.seed(now_millis()).await {
            tracing::warn!(
                "coordination: Redis had lost the budget counters; seeded again from the usage store (reservations in flight during the loss are not counted)"
            );
        }
    }
}
