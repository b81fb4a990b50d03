//! The conformance suite of [`ClassifierStore`], generic over the backend. Each case gets
//! a fresh, empty store from `make`; a failed check is an `Err` naming what differed.

use std::{future::Future, sync::Arc};

use atalaya_conformance::{check, ok, run_cases, Outcome};

use crate::store::ClassifierStore;
use crate::{Classifier, Error, Example, TrainOptions};

/// Runs every case; returns the failures (empty: the backend conforms).
pub async fn run_all<S, F, Fut>(make: F) -> Vec<String>
where
    S: ClassifierStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    run_cases!(make().await =>
        a_stored_classifier_comes_back_the_same_with_a_version,
        replacing_one_changes_its_version,
        classifiers_are_kept_to_their_tenant,
        names_that_are_paths_are_refused,
        deleting_one_or_a_tenant_removes_only_those,
    )
}

/// A small n-gram classifier of two labels, trained in microseconds.
pub fn tiny(labels: [&str; 2]) -> Result<Arc<Classifier>, String> {
    let texts = [
        ("refund my card please", 0),
        ("charged twice refund", 0),
        ("money back refund now", 0),
        ("where is my parcel", 1),
        ("parcel tracking late", 1),
        ("delivery parcel missing", 1),
    ];
    let examples: Vec<Example> = texts
        .iter()
        .map(|(t, l)| Example {
            text: (*t).to_owned(),
            label: labels[*l].to_owned(),
        })
        .collect();
    let options = TrainOptions {
        min_df: 1,
        ..TrainOptions::default()
    };
    Classifier::train("tiny", &examples, None, None, &options, vec![], |_| {})
        .map(Arc::new)
        .map_err(|e| format!("training: {e}"))
}

fn label(c: &Classifier, text: &str) -> Result<String, String> {
    c.predict(text, None)
        .map(|p| p.best)
        .map_err(|e| format!("predict: {e}"))
}

async fn a_stored_classifier_comes_back_the_same_with_a_version<S: ClassifierStore>(
    s: &S,
) -> Outcome {
    check!(
        ok("get", s.get("t1", "intents").await)?.is_none(),
        "a missing classifier is found"
    );
    check!(
        ok("version", s.version("t1", "intents").await)?.is_none(),
        "a missing classifier has a version"
    );
    let c = tiny(["billing", "shipping"])?;
    ok("put", s.put("t1", "intents", c.clone()).await)?;
    let Some((v, back)) = ok("get", s.get("t1", "intents").await)? else {
        return Err("the stored classifier is not found".into());
    };
    check!(
        ok("version", s.version("t1", "intents").await)? == Some(v),
        "get and version disagree"
    );
    check!(
        back.meta.labels == c.meta.labels,
        "labels {:?}",
        back.meta.labels
    );
    for text in ["I was charged twice", "my parcel is late"] {
        let (a, b) = (label(&c, text)?, label(&back, text)?);
        check!(a == b, "'{text}': {a} before, {b} after the round trip");
        let (pa, pb) = (
            c.predict(text, None).map_err(|e| e.to_string())?,
            back.predict(text, None).map_err(|e| e.to_string())?,
        );
        let same = (pa.confidence - pb.confidence).abs() < 1e-6;
        check!(
            same,
            "'{text}': confidence {} vs {}",
            pa.confidence,
            pb.confidence
        );
    }
    check!(
        ok("list", s.list("t1").await)? == ["intents"],
        "list after one put"
    );
    Ok(())
}

async fn replacing_one_changes_its_version<S: ClassifierStore>(s: &S) -> Outcome {
    ok("put", s.put("t1", "intents", tiny(["a", "b"])?).await)?;
    let v1 = ok("version", s.version("t1", "intents").await)?;
    // A classifier of other labels (and another size): the version must change.
    ok(
        "put",
        s.put("t1", "intents", tiny(["billing-x", "shipping-y"])?)
            .await,
    )?;
    let v2 = ok("version", s.version("t1", "intents").await)?;
    check!(v1.is_some() && v1 != v2, "version {v1:?} then {v2:?}");
    let Some((_, now)) = ok("get", s.get("t1", "intents").await)? else {
        return Err("gone after the replacement".into());
    };
    check!(
        now.meta.labels.contains(&"billing-x".to_owned()),
        "the old one is served: {:?}",
        now.meta.labels
    );
    Ok(())
}

async fn classifiers_are_kept_to_their_tenant<S: ClassifierStore>(s: &S) -> Outcome {
    ok("put", s.put("t1", "intents", tiny(["a", "b"])?).await)?;
    ok("put", s.put("t1", "priority", tiny(["low", "high"])?).await)?;
    check!(
        ok("get", s.get("t2", "intents").await)?.is_none(),
        "t2 reads t1's classifier"
    );
    check!(ok("list", s.list("t2").await)?.is_empty(), "t2 lists t1's");
    check!(
        ok("list", s.list("t1").await)? == ["intents", "priority"],
        "t1's, sorted"
    );
    Ok(())
}

async fn names_that_are_paths_are_refused<S: ClassifierStore>(s: &S) -> Outcome {
    let c = tiny(["a", "b"])?;
    for (tenant, name) in [
        ("t1", "../t2/intents"),
        ("t1", ""),
        ("..", "intents"),
        ("t1", "a/b"),
    ] {
        check!(
            matches!(s.put(tenant, name, c.clone()).await, Err(Error::Param(_))),
            "put {tenant:?} {name:?} is not refused"
        );
        check!(
            matches!(s.get(tenant, name).await, Err(Error::Param(_))),
            "get {tenant:?} {name:?} is not refused"
        );
    }
    Ok(())
}

async fn deleting_one_or_a_tenant_removes_only_those<S: ClassifierStore>(s: &S) -> Outcome {
    for (t, n) in [("t1", "intents"), ("t1", "priority"), ("t2", "intents")] {
        ok("put", s.put(t, n, tiny(["a", "b"])?).await)?;
    }
    check!(
        ok("delete", s.delete("t1", "intents").await)?,
        "delete says none"
    );
    check!(
        !ok("delete", s.delete("t1", "intents").await)?,
        "a second delete says there was one"
    );
    check!(
        ok("list", s.list("t1").await)? == ["priority"],
        "t1 after the delete"
    );
    check!(
        ok("delete_tenant", s.delete_tenant("t1").await)?,
        "delete_tenant says none"
    );
    check!(
        ok("list", s.list("t1").await)?.is_empty(),
        "t1 after delete_tenant"
    );
    check!(
        !ok("delete_tenant", s.delete_tenant("t1").await)?,
        "deleting an empty tenant says there were some"
    );
    check!(
        ok("get", s.get("t2", "intents").await)?.is_some(),
        "t2's classifier went with t1"
    );
    Ok(())
}
