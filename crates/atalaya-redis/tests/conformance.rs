//! The limiter's and the budgets' conformance suites on Redis (a throwaway server), each
//! case on keys of its own; then what only a shared backend must do: two "replicas" share
//! one limit, a crashed holder's slots come back, and the failure policies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)] // test code

use std::{
    sync::{
        atomic::{AtomicU32, Ordering},
        Arc,
    },
    time::Duration,
};

use atalaya_redis::{testing::Server, OnUnavailable, Redis, RedisBudgets, RedisLimiter, Settings};
use atalaya_store::{Limits, SqliteStore};
use atalaya_tenancy::{
    limiter::{Decision, Entry, Quota, Take},
    meter::{Budgets, Scope},
    Limiter,
};

static NEXT: AtomicU32 = AtomicU32::new(0);

fn settings(url: &str, policy: OnUnavailable) -> Settings {
    Settings {
        url: url.into(),
        timeout: Duration::from_millis(300),
        on_unavailable: policy,
        expected_replicas: 2,
        // A prefix per connection: every case starts from empty keys.
        prefix: format!("t{}", NEXT.fetch_add(1, Ordering::Relaxed)),
        lease: Duration::from_millis(600),
    }
}

async fn redis(url: &str, policy: OnUnavailable) -> Arc<Redis> {
    Redis::connect(settings(url, policy)).await.unwrap()
}

fn empty_store() -> (tempfile::TempDir, Arc<SqliteStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open_dir(dir.path()).unwrap());
    (dir, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_limiter_conforms() {
    let server = Server::start().expect("redis-server (run scripts/setup.sh)");
    let url = server.url();
    let mut made = Vec::new();
    for _ in 0..6 {
        made.push(RedisLimiter::new(
            redis(&url, OnUnavailable::FailClosed).await,
        ));
    }
    let made = std::sync::Mutex::new(made);
    let failures = atalaya_tenancy::limiter_conformance::run_all(|| {
        Wrapper(made.lock().unwrap().pop().unwrap())
    })
    .await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_budgets_conform() {
    let server = Server::start().expect("redis-server (run scripts/setup.sh)");
    let url = server.url();
    let (_dir, store) = empty_store();
    let mut made = Vec::new();
    for _ in 0..6 {
        made.push(
            RedisBudgets::open(redis(&url, OnUnavailable::FailClosed).await, store.clone())
                .await
                .unwrap(),
        );
    }
    let made = std::sync::Mutex::new(made);
    let failures = atalaya_tenancy::budget_conformance::run_all(|| {
        BudgetWrapper(made.lock().unwrap().pop().unwrap())
    })
    .await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The suites take a backend by value.
struct Wrapper(Arc<RedisLimiter>);

#[async_trait::async_trait]
impl Limiter for Wrapper {
    async fn take(&self, takes: &[Take]) -> Decision {
        self.0.take(takes).await
    }
    fn adjust(&self, bucket: &str, quota: Quota, delta: i64) {
        self.0.adjust(bucket, quota, delta)
    }
    async fn enter(&self, gates: &[(Arc<str>, u32)]) -> Entry {
        self.0.enter(gates).await
    }
    fn leave(&self, gates: &[Arc<str>]) {
        self.0.leave(gates)
    }
}

struct BudgetWrapper(Arc<RedisBudgets>);

#[async_trait::async_trait]
impl Budgets for BudgetWrapper {
    async fn reserve(
        &self,
        scopes: &[Scope<'_>],
        day: i64,
        tokens: i64,
        cost: i64,
    ) -> atalaya_tenancy::Result<()> {
        self.0.reserve(scopes, day, tokens, cost).await
    }
    fn settle(&self, scopes: &[&Arc<str>], day: i64, tokens: i64, cost: i64) {
        self.0.settle(scopes, day, tokens, cost)
    }
    fn spent(&self, scope: &str, day: i64) -> atalaya_tenancy::meter::Spent {
        self.0.spent(scope, day)
    }
}

fn take(bucket: &str, per_minute: u64, cost: u64) -> Take {
    Take {
        bucket: bucket.into(),
        quota: Quota::per_minute(per_minute),
        cost,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_one_limit_exactly() {
    let server = Server::start().expect("redis-server (run scripts/setup.sh)");
    let s = settings(&server.url(), OnUnavailable::FailClosed);
    // Three "replicas": three connections, one prefix.
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(RedisLimiter::new(Redis::connect(s.clone()).await.unwrap()));
    }
    let mut tasks = Vec::new();
    for i in 0..40 {
        let l = replicas[i % 3].clone();
        tasks.push(tokio::spawn(async move {
            matches!(l.take(&[take("key:k", 10, 1)]).await, Decision::Admitted(_))
        }));
    }
    let mut admitted = 0;
    for t in tasks {
        admitted += usize::from(t.await.unwrap());
    }
    assert_eq!(
        admitted, 10,
        "40 concurrent requests against 10/min over 3 replicas"
    );
}

/// `n` concurrent entries into `gate` (of `max`), spread over the replicas in turn; the
/// replica of each entry that got in.
async fn enter_concurrently(
    limiters: &[Arc<RedisLimiter>],
    gate: &Arc<str>,
    max: u32,
    n: usize,
) -> Vec<usize> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let replica = i % limiters.len();
        let l = limiters[replica].clone();
        let g = gate.clone();
        tasks.push(tokio::spawn(async move {
            (replica, l.enter(&[(g, max)]).await == Entry::Entered)
        }));
    }
    let mut holders = Vec::new();
    for t in tasks {
        let (replica, entered) = t.await.unwrap();
        if entered {
            holders.push(replica);
        }
    }
    holders
}

/// Concurrent requests of one replica are decided in one script call that reads each key
/// once: gates and budgets must still count every decision of the call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_gates_and_budgets_stay_exact_across_replicas() {
    let server = Server::start().expect("redis-server (run scripts/setup.sh)");
    let s = settings(&server.url(), OnUnavailable::FailClosed);
    let (_dir, store) = empty_store();
    let mut limiters = Vec::new();
    let mut budgets = Vec::new();
    for _ in 0..3 {
        let r = Redis::connect(s.clone()).await.unwrap();
        limiters.push(RedisLimiter::new(r.clone()));
        budgets.push(RedisBudgets::open(r, store.clone()).await.unwrap());
    }
    let gate: Arc<str> = "gate:key:g".into();
    let holders = enter_concurrently(&limiters, &gate, 7, 60).await;
    assert_eq!(
        holders.len(),
        7,
        "60 concurrent entries into a gate of 7 over 3 replicas"
    );
    // Two releases (queued, sent with their replica's next call) make room for exactly two.
    for r in &holders[..2] {
        limiters[*r].leave(std::slice::from_ref(&gate));
    }
    let mut again = enter_concurrently(&limiters, &gate, 7, 20).await.len();
    // A release reaches Redis with its replica's next call (or its flush within 100 ms); the
    // other replicas' entries may come first and find the gate full.
    assert!(again <= 2, "{again} entered after two releases");
    tokio::time::sleep(Duration::from_millis(250)).await;
    again += enter_concurrently(&limiters, &gate, 7, 20).await.len();
    assert_eq!(again, 2, "two releases make room for exactly two entries");

    // A budget of 95 tokens a day, reserved 10 at a time by 40 concurrent requests: a
    // reservation is refused once the total reaches the budget, so exactly 10 pass.
    let key: Arc<str> = "key:b".into();
    let limits = Limits {
        tokens_per_day: Some(95),
        ..Limits::default()
    };
    let mut tasks = Vec::new();
    for i in 0..40 {
        let b = budgets[i % 3].clone();
        let key = key.clone();
        let limits = limits.clone();
        tasks.push(tokio::spawn(async move {
            let scope = [Scope {
                name: &key,
                limits: &limits,
                who: "key",
            }];
            b.reserve(&scope, 20_000, 10, 0).await.is_ok()
        }));
    }
    let mut reserved = 0;
    for t in tasks {
        reserved += usize::from(t.await.unwrap());
    }
    assert_eq!(reserved, 10, "40 concurrent reservations of 10 against 95");
    // Settlements of all three replicas count: 100 reserved, 60 given back.
    for b in &budgets {
        b.settle(&[&key], 20_000, -20, 0);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let scope = [Scope {
        name: &key,
        limits: &limits,
        who: "key",
    }];
    assert!(budgets[1].reserve(&scope, 20_000, 50, 0).await.is_ok());
    let after = budgets[1].spent("key:b", 20_000);
    assert_eq!(after.0, 90, "100 reserved - 60 settled + 50: {after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_holders_slots_come_back_after_the_lease() {
    let server = Server::start().expect("redis-server (run scripts/setup.sh)");
    let s = settings(&server.url(), OnUnavailable::FailClosed);
    let gate: Arc<str> = "gate:key:k".into();
    {
        let crashed = RedisLimiter::new(Redis::connect(s.clone()).await.unwrap());
        assert_eq!(crashed.enter(&[(gate.clone(), 1)]).await, Entry::Entered);
        // Dropped without leaving: it stops renewing, as a killed replica would.
    }
    let other = RedisLimiter::new(Redis::connect(s.clone()).await.unwrap());
    assert_eq!(other.enter(&[(gate.clone(), 1)]).await, Entry::Full);
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(
        other.enter(&[(gate.clone(), 1)]).await,
        Entry::Entered,
        "the crashed holder's slot did not come back after its lease"
    );
    // A live holder keeps its slot past the lease (it renews).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let third = RedisLimiter::new(Redis::connect(s).await.unwrap());
    assert_eq!(third.enter(&[(gate.clone(), 1)]).await, Entry::Full);
    other.leave(std::slice::from_ref(&gate));
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(third.enter(&[(gate, 1)]).await, Entry::Entered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_closed_refuses_while_redis_is_down_and_recovers() {
    let mut server = Server::start().expect("redis-server (run scripts/setup.sh)");
    let r = redis(&server.url(), OnUnavailable::FailClosed).await;
    let l = RedisLimiter::new(r.clone());
    assert!(matches!(
        l.take(&[take("key:k", 600, 1)]).await,
        Decision::Admitted(_)
    ));
    server.stop();
    let started = std::time::Instant::now();
    let d = l.take(&[take("key:k", 600, 1)]).await;
    assert!(matches!(d, Decision::Unavailable(_)), "{d:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a refusal waited {:?}",
        started.elapsed()
    );
    assert!(matches!(
        l.enter(&[("gate:g".into(), 5)]).await,
        Entry::Unavailable(_)
    ));
    assert!(!r.status().up);
    assert!(r.status().refusals >= 2);
    server.start_again().unwrap();
    let back = std::time::Instant::now();
    loop {
        if matches!(
            l.take(&[take("key:k", 600, 1)]).await,
            Decision::Admitted(_)
        ) {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "no recovery after Redis returned"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(r.status().up);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_open_counts_this_replicas_share_while_redis_is_down() {
    let mut server = Server::start().expect("redis-server (run scripts/setup.sh)");
    let r = redis(&server.url(), OnUnavailable::FailOpen).await;
    let l = RedisLimiter::new(r.clone());
    let (_dir, store) = empty_store();
    let b = RedisBudgets::open(r.clone(), store).await.unwrap();
    let scope: Arc<str> = "key:k".into();
    let limits = Limits {
        tokens_per_day: Some(100),
        ..Limits::default()
    };
    let scopes = [Scope {
        name: &scope,
        limits: &limits,
        who: "key",
    }];
    let day = atalaya_tenancy::clock::day_of(atalaya_tenancy::clock::now_millis());
    b.reserve(&scopes, day, 60, 0).await.unwrap();
    server.stop();
    // 10 a minute over 2 expected replicas: this one admits 5 on its own.
    let mut admitted = 0;
    for _ in 0..8 {
        if matches!(l.take(&[take("key:k", 10, 1)]).await, Decision::Admitted(_)) {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 5);
    assert!(r.status().fallbacks >= 8);
    // Budgets: checked against the last totals seen (60 of 100), plus this replica's own.
    b.reserve(&scopes, day, 30, 0).await.unwrap();
    b.reserve(&scopes, day, 30, 0).await.unwrap();
    assert!(
        b.reserve(&scopes, day, 1, 0).await.is_err(),
        "the budget held no more"
    );
    // Redis returns (empty, as after a crash): shared counting resumes, and what was
    // reserved meanwhile reaches it.
    server.start_again().unwrap();
    let back = std::time::Instant::now();
    while !(matches!(
        l.take(&[take("key:probe", 600, 1)]).await,
        Decision::Admitted(_)
    ) && r.status().up)
    {
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "no recovery after Redis returned"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The reservations made meanwhile were replayed into Redis (which came back empty).
    b.reserve(&scopes, day, 1, 0).await.unwrap();
    assert_eq!(b.spent("key:k", day).0, 61);
    assert!(r.status().outages >= 1);
}

/// Polls a future once (so its decision is on its way to Redis), then drops it, as a client
/// that hangs up does.
async fn start_and_abandon<F: std::future::Future>(f: F) {
    let mut f = Box::pin(f);
    std::future::poll_fn(|cx| {
        let _ = f.as_mut().poll(cx);
        std::task::Poll::Ready(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_whose_caller_left_is_undone() {
    let server = Server::start().expect("redis-server (run scripts/setup.sh)");
    let r = redis(&server.url(), OnUnavailable::FailClosed).await;
    let l = RedisLimiter::new(r.clone());
    let one = Quota {
        per_minute: 1,
        burst: 1,
    };
    let t = |b: &str| Take {
        bucket: b.into(),
        quota: one,
        cost: 1,
    };
    start_and_abandon(l.take(&[t("key:left")])).await;
    let gate: Arc<str> = "gate:left".into();
    start_and_abandon(l.enter(&[(gate.clone(), 1)])).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    // The abandoned take's unit and the abandoned entry's slot came back.
    assert!(matches!(
        l.take(&[t("key:left")]).await,
        Decision::Admitted(_)
    ));
    assert_eq!(l.enter(&[(gate, 1)]).await, Entry::Entered);
}
