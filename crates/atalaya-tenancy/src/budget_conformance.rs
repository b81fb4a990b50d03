//! The conformance suite of [`Budgets`], generic over the backend: [`LocalBudgets`] passes it
//! (`meter.rs`' tests), and a shared backend (Redis) must. Days are passed in, so the suite
//! needs no control of a clock. Each case gets fresh, empty budgets from `make`; a failed
//! check is an `Err` naming the case.
//!
//! [`LocalBudgets`]: crate::local_budgets::LocalBudgets

use atalaya_conformance::{check, run_cases, Outcome};
use std::sync::Arc;

use atalaya_store::Limits;

use crate::{
    clock::month_start,
    meter::{Budgets, Scope},
    Error,
};

/// Runs every case; returns the failures (empty: the backend conforms).
pub async fn run_all<B: Budgets>(make: impl Fn() -> B) -> Vec<String> {
    run_cases!(make() =>
        a_daily_budget_admits_until_spent,
        reservations_are_all_or_nothing,
        settling_gives_back_and_charges,
        cost_budgets_count_micro_units,
        days_and_months_renew,
        scopes_without_budgets_are_still_counted,
    )
}

/// A day number well inside a month (the 10th).
const DAY: i64 = 20_797;

fn name(s: &str) -> Arc<str> {
    s.into()
}

/// A key's scope with `limits`.
fn key_scope<'a>(name: &'a Arc<str>, limits: &'a Limits) -> [Scope<'a>; 1] {
    [Scope {
        name,
        limits,
        who: "key",
    }]
}

fn refused(r: crate::Result<()>) -> bool {
    matches!(r, Err(Error::BudgetExceeded { .. }))
}

async fn a_daily_budget_admits_until_spent(b: &dyn Budgets) -> Outcome {
    let key = name("key:k1");
    let limits = Limits {
        tokens_per_day: Some(100),
        ..Limits::default()
    };
    let scope = key_scope(&key, &limits);
    for i in 0..4 {
        let r = b.reserve(&scope, DAY, 30, 0).await;
        check!(r.is_ok(), "reservation {} refused: {r:?}", i + 1);
    }
    // 120 reserved: the budget is spent (a reservation is refused once the total reaches it).
    let r = b.reserve(&scope, DAY, 1, 0).await;
    check!(refused(r), "a reservation past the budget was not refused");
    let spent = b.spent("key:k1", DAY);
    check!(spent.0 == 120 && spent.2 == 120, "spent {spent:?}");
    Ok(())
}

async fn reservations_are_all_or_nothing(b: &dyn Budgets) -> Outcome {
    let (key, tenant) = (name("key:k1"), name("tenant:t1"));
    let roomy = Limits {
        tokens_per_day: Some(1_000),
        ..Limits::default()
    };
    let tight = Limits {
        tokens_per_day: Some(50),
        ..Limits::default()
    };
    let both = [
        Scope {
            name: &key,
            limits: &roomy,
            who: "key",
        },
        Scope {
            name: &tenant,
            limits: &tight,
            who: "tenant",
        },
    ];
    check!(
        b.reserve(&both, DAY, 60, 0).await.is_ok(),
        "the first reservation"
    );
    let r = b.reserve(&both, DAY, 10, 0).await;
    match &r {
        Err(Error::BudgetExceeded { message, .. }) => {
            check!(message.contains("tenant"), "the refusal names {message:?}")
        }
        other => return Err(format!("the tenant's spent budget gave {other:?}")),
    }
    let key_spent = b.spent("key:k1", DAY).0;
    check!(
        key_spent == 60,
        "the refused reservation charged the key: {key_spent}"
    );
    Ok(())
}

async fn settling_gives_back_and_charges(b: &dyn Budgets) -> Outcome {
    let key = name("key:k1");
    let limits = Limits {
        tokens_per_day: Some(100),
        ..Limits::default()
    };
    let scope = key_scope(&key, &limits);
    check!(b.reserve(&scope, DAY, 100, 0).await.is_ok(), "reserve 100");
    check!(
        refused(b.reserve(&scope, DAY, 1, 0).await),
        "over the budget"
    );
    // The answer used 40 of the 100 estimated: 60 come back.
    b.settle(&[&key], DAY, -60, 0);
    check!(b.spent("key:k1", DAY).0 == 40, "after the give-back");
    check!(
        b.reserve(&scope, DAY, 50, 0).await.is_ok(),
        "room after the give-back"
    );
    // A charge after the fact is never refused, even past the budget.
    b.settle(&[&key], DAY, 500, 0);
    check!(b.spent("key:k1", DAY).0 == 590, "after the charge");
    // Giving back never goes below zero.
    b.settle(&[&key], DAY, -10_000, 0);
    check!(b.spent("key:k1", DAY).0 == 0, "below zero");
    Ok(())
}

async fn cost_budgets_count_micro_units(b: &dyn Budgets) -> Outcome {
    let key = name("key:k1");
    let limits = Limits {
        cost_per_day: Some(1.0),
        ..Limits::default()
    };
    let scope = key_scope(&key, &limits);
    check!(
        b.reserve(&scope, DAY, 10, 999_999).await.is_ok(),
        "just under 1.0"
    );
    check!(b.reserve(&scope, DAY, 10, 1).await.is_ok(), "reaching 1.0");
    check!(refused(b.reserve(&scope, DAY, 10, 1).await), "past 1.0");
    check!(b.spent("key:k1", DAY).1 == 1_000_000, "cost spent");
    Ok(())
}

async fn days_and_months_renew(b: &dyn Budgets) -> Outcome {
    let key = name("key:k1");
    let limits = Limits {
        tokens_per_day: Some(100),
        tokens_per_month: Some(250),
        ..Limits::default()
    };
    let scope = key_scope(&key, &limits);
    check!(b.reserve(&scope, DAY, 100, 0).await.is_ok(), "day 1");
    check!(
        refused(b.reserve(&scope, DAY, 1, 0).await),
        "day 1 is spent"
    );
    check!(
        b.reserve(&scope, DAY + 1, 100, 0).await.is_ok(),
        "a new day renews"
    );
    check!(b.reserve(&scope, DAY + 2, 50, 0).await.is_ok(), "day 3");
    let r = b.reserve(&scope, DAY + 3, 10, 0).await;
    check!(refused(r), "the month's 250 are spent");
    let next_month = month_start(DAY + 40);
    check!(next_month > DAY + 3, "the test's calendar");
    check!(
        b.reserve(&scope, next_month, 100, 0).await.is_ok(),
        "a new month renews"
    );
    // Settling a reservation of an earlier day changes only what is still current.
    b.settle(&[&key], DAY, -100, 0);
    let spent = b.spent("key:k1", next_month);
    check!(
        spent.0 == 100 && spent.2 == 100,
        "last month's give-back moved this month: {spent:?}"
    );
    Ok(())
}

async fn scopes_without_budgets_are_still_counted(b: &dyn Budgets) -> Outcome {
    let a = name("key:a");
    let none = Limits::default();
    let scope = key_scope(&a, &none);
    for _ in 0..3 {
        check!(
            b.reserve(&scope, DAY, 1_000_000, 5).await.is_ok(),
            "no budget refuses nothing"
        );
    }
    check!(
        b.spent("key:a", DAY) == (3_000_000, 15, 3_000_000, 15),
        "not counted"
    );
    let c = name("key:c");
    let other = key_scope(&c, &none);
    check!(b.reserve(&other, DAY, 7, 1).await.is_ok(), "key:c refused");
    check!(
        b.spent("key:c", DAY) == (7, 1, 7, 1) && b.spent("key:a", DAY).0 == 3_000_000,
        "scopes share spending"
    );
    // Settling charges every scope it names.
    b.settle(&[&a, &c], DAY, 3, 0);
    check!(
        b.spent("key:a", DAY).0 == 3_000_003 && b.spent("key:c", DAY).0 == 10,
        "a settlement skipped a scope"
    );
    Ok(())
}
