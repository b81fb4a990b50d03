//! The conformance suite of [`Limiter`], generic over the backend: [`LocalLimiter`] passes
//! it (`limiter.rs`' tests), and a shared backend (Redis) must. Every case uses quotas slow
//! enough (one unit a minute) that no unit refills while it runs, so the suite needs no
//! control of the backend's clock. Each case gets a fresh limiter from `make`; a failed check
//! is an `Err` naming the case.
//!
//! [`LocalLimiter`]: crate::local_limiter::LocalLimiter

use atalaya_conformance::{check, run_cases, Outcome};
use std::sync::Arc;

use crate::limiter::{Decision, Entry, Limiter, Quota, Take};

/// Runs every case; returns the failures (empty: the backend conforms).
pub async fn run_all<L: Limiter>(make: impl Fn() -> L) -> Vec<String> {
    run_cases!(make() =>
        a_burst_is_admitted_exactly,
        takes_are_all_or_nothing_across_buckets,
        a_cost_over_the_burst_is_never_admitted,
        adjustments_give_back_and_charge,
        gates_count_requests_in_flight,
        buckets_and_gates_are_independent_by_name,
    )
}

/// `burst` units at once, then one a minute (the slowest quota): no unit refills during a
/// case, which takes well under a second.
fn slow(burst: u64) -> Quota {
    Quota {
        per_minute: 1,
        burst,
    }
}

fn take(bucket: &str, quota: Quota, cost: u64) -> Take {
    Take {
        bucket: bucket.into(),
        quota,
        cost,
    }
}

fn entered(e: Entry) -> bool {
    e == Entry::Entered
}

fn admitted(d: &Decision) -> bool {
    matches!(d, Decision::Admitted(_))
}

async fn a_burst_is_admitted_exactly(l: &dyn Limiter) -> Outcome {
    let q = slow(5);
    for i in 0..5 {
        let d = l.take(&[take("key:a", q, 1)]).await;
        check!(
            admitted(&d),
            "unit {} of a burst of 5 refused: {d:?}",
            i + 1
        );
        if let Decision::Admitted(states) = &d {
            check!(
                states.len() == 1 && states[0].limit == 5 && states[0].remaining == 4 - i,
                "after {} units the state is {states:?}",
                i + 1
            );
        }
    }
    let d = l.take(&[take("key:a", q, 1)]).await;
    match d {
        Decision::Refused {
            index: 0,
            retry_after,
            never: false,
        } => check!(
            retry_after > std::time::Duration::ZERO,
            "a refusal without a wait"
        ),
        other => return Err(format!("the sixth unit gave {other:?}")),
    }
    Ok(())
}

async fn takes_are_all_or_nothing_across_buckets(l: &dyn Limiter) -> Outcome {
    let key = slow(10);
    let tenant = slow(1);
    check!(
        admitted(&l.take(&[take("tenant:t", tenant, 1)]).await),
        "the tenant's first unit was refused"
    );
    // The key bucket would admit; the tenant bucket refuses: the key loses nothing.
    let d = l
        .take(&[take("key:k", key, 1), take("tenant:t", tenant, 1)])
        .await;
    check!(
        matches!(d, Decision::Refused { index: 1, .. }),
        "expected the second bucket to refuse, got {d:?}"
    );
    for i in 0..10 {
        check!(
            admitted(&l.take(&[take("key:k", key, 1)]).await),
            "the key lost unit {} to a refused take",
            i + 1
        );
    }
    Ok(())
}

async fn a_cost_over_the_burst_is_never_admitted(l: &dyn Limiter) -> Outcome {
    let d = l.take(&[take("tokens:k", slow(100), 101)]).await;
    check!(
        matches!(d, Decision::Refused { never: true, .. }),
        "a cost over the burst gave {d:?}"
    );
    check!(
        admitted(&l.take(&[take("tokens:k", slow(100), 100)]).await),
        "a cost of exactly the burst was refused (the refusal took units)"
    );
    Ok(())
}

async fn adjustments_give_back_and_charge(l: &dyn Limiter) -> Outcome {
    let q = slow(100);
    check!(
        admitted(&l.take(&[take("tokens:k", q, 80)]).await),
        "80 of 100 refused"
    );
    // The estimate was 80; the answer used 30: 50 come back.
    l.adjust("tokens:k", q, -50);
    check!(
        admitted(&l.take(&[take("tokens:k", q, 70)]).await),
        "units given back were not available"
    );
    check!(
        !admitted(&l.take(&[take("tokens:k", q, 1)]).await),
        "more than the burst was admitted after a give-back"
    );
    // Charging after the fact is never refused, and takes from what is left.
    l.adjust("tokens:other", q, 60);
    check!(
        !admitted(&l.take(&[take("tokens:other", q, 41)]).await),
        "a charge of 60 left more than 40"
    );
    check!(
        admitted(&l.take(&[take("tokens:other", q, 40)]).await),
        "a charge of 60 left less than 40"
    );
    Ok(())
}

async fn gates_count_requests_in_flight(l: &dyn Limiter) -> Outcome {
    let key: Arc<str> = "gate:key".into();
    let tenant: Arc<str> = "gate:tenant".into();
    // The gate that fills first is listed last: a refusal must give back the ones before it.
    let both = [(tenant.clone(), 3), (key.clone(), 2)];
    check!(entered(l.enter(&both).await), "first entry refused");
    check!(entered(l.enter(&both).await), "second entry refused");
    // The key's gate is full: the tenant's must not stay entered either.
    check!(
        !entered(l.enter(&both).await),
        "a third entry past a gate of 2"
    );
    check!(
        entered(l.enter(&[(tenant.clone(), 3)]).await),
        "a refused entry still held the tenant's gate"
    );
    check!(
        !entered(l.enter(&[(tenant.clone(), 3)]).await),
        "a fourth in a gate of 3"
    );
    l.leave(&[key.clone(), tenant.clone()]);
    check!(
        entered(l.enter(&both).await),
        "leaving did not free the slots"
    );
    Ok(())
}

async fn buckets_and_gates_are_independent_by_name(l: &dyn Limiter) -> Outcome {
    let q = slow(1);
    check!(admitted(&l.take(&[take("key:a", q, 1)]).await), "a refused");
    check!(
        admitted(&l.take(&[take("key:b", q, 1)]).await),
        "another bucket's take was refused"
    );
    let g: Arc<str> = "gate:a".into();
    let h: Arc<str> = "gate:b".into();
    check!(entered(l.enter(&[(g.clone(), 1)]).await), "gate a refused");
    check!(
        entered(l.enter(&[(h.clone(), 1)]).await),
        "another gate was full"
    );
    Ok(())
}
