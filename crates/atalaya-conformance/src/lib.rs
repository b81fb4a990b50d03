//! What every conformance suite shares. A suite is a set of async cases generic over a
//! trait (the platform store, tickets, the limiter, budgets, the knowledge base and its task
//! queue, classifier storage); each case gets a fresh, empty backend and returns an
//! [`Outcome`], whose `Err` says what the backend did wrong. [`run_cases!`] runs them and
//! collects the failures (empty: the backend conforms).

/// The result of one case: `Err` says what the backend did wrong.
pub type Outcome = Result<(), String>;

/// `Ok` of a backend call, or the case's failure naming the call.
pub fn ok<T, E: std::fmt::Display>(what: &str, r: Result<T, E>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e}"))
}

/// Fails the case with a message (`format!` arguments) unless the condition holds.
#[macro_export]
macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// Runs each case against its own backend, made by the expression `$make` (evaluated once
/// per case, e.g. `make().await`), and gives the failures as `"case: why"`.
#[macro_export]
macro_rules! run_cases {
    ($make:expr => $($case:ident),+ $(,)?) => {{
        let mut failures: Vec<String> = Vec::new();
        $(
            if let Err(e) = $case(&$make).await {
                failures.push(format!("{}: {e}", stringify!($case)));
            }
        )+
        failures
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn passes(_: &u8) -> Outcome {
        Ok(())
    }

    async fn fails(n: &u8) -> Outcome {
        check!(*n > 1, "n is {n}");
        Ok(())
    }

    #[test]
    fn failures_name_their_case() {
        let failures = block_on(async { run_cases!(1u8 => passes, fails) });
        assert_eq!(failures, vec!["fails: n is 1".to_owned()]);
        assert_eq!(
            ok::<(), _>("call", Err("boom")).unwrap_err(),
            "call: boom".to_owned()
        );
    }

    /// Polls a future that never waits (the cases above) to completion.
    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        use std::task::{Context, Poll, Waker};
        let mut f = std::pin::pin!(f);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }
}
