//! The connection to Redis, its health, and the queue of operations the traits do not wait
//! for.

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, Weak,
    },
    time::Duration,
};

use redis::{aio::ConnectionManager, FromRedisValue, ScriptInvocation};

use crate::{scripts, Error};

/// What to do while Redis cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnUnavailable {
    /// Count in this process: rate limits and gates divided by the expected number of
    /// replicas, budgets checked against the last totals seen (plus this process's own).
    FailOpen,
    /// Refuse requests that need a limit or a budget (503, `coordination_unavailable`).
    FailClosed,
}

#[derive(Clone)]
pub struct Settings {
    /// `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS).
    pub url: String,
    /// How long one call may take before Redis counts as unreachable.
    pub timeout: Duration,
    pub on_unavailable: OnUnavailable,
    /// How many replicas share the limits (fail_open divides the limits by it).
    pub expected_replicas: u32,
    /// The hash tag every key carries (`{prefix}:…`), so that one deployment's keys share a
    /// Redis Cluster slot and several deployments can share a Redis.
    pub prefix: String,
    /// How long a concurrency slot outlives a holder that stopped renewing it (a crash).
    pub lease: Duration,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password.
        f.debug_struct("Settings")
            .field("url", &"<redacted>")
            .field("timeout", &self.timeout)
            .field("on_unavailable", &self.on_unavailable)
            .field("expected_replicas", &self.expected_replicas)
            .field("prefix", &self.prefix)
            .field("lease", &self.lease)
            .finish()
    }
}

/// The coordination's health, for metrics and `/readyz`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Status {
    /// The last call reached Redis.
    pub up: bool,
    /// Decisions taken in this process because Redis was unreachable (fail_open).
    pub fallbacks: u64,
    /// Requests refused because Redis was unreachable (fail_closed).
    pub refusals: u64,
    /// Times Redis became unreachable.
    pub outages: u64,
}

/// A decision made in Redis: the kind of [`scripts::CALL`], its keys and arguments.
#[derive(Debug, Clone)]
pub(crate) struct Decision {
    pub kind: &'static str,
    pub keys: Vec<String>,
    pub args: Vec<String>,
}

/// An operation queued until the next call (or the next flush, at most 100 ms away).
#[derive(Debug, Clone)]
pub(crate) struct Op {
    pub kind: &'static str,
    pub keys: Vec<String>,
    pub args: Vec<String>,
}

/// Operations kept while Redis is unreachable; beyond, the oldest are dropped (with a
/// warning): limits and budgets then undercount by what was dropped.
const MAX_QUEUED: usize = 100_000;
/// While Redis is down, how often a call tries it again.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// Decisions sent in one script call at most.
const MAX_DECISIONS: usize = 256;
/// Operations sent in one script call.
const BATCH: usize = 500;

/// A connection to Redis (reconnecting on its own), shared by the limiter and the budgets.
pub struct Redis {
    conn: ConnectionManager,
    settings: Settings,
    down: AtomicBool,
    fallbacks: AtomicU64,
    refusals: AtomicU64,
    outages: AtomicU64,
    ops: Mutex<VecDeque<Op>>,
    /// When a call last failed: while Redis is down, calls within a second of it fail at
    /// once instead of each waiting for the timeout (one call a second probes).
    failed_at: Mutex<Option<std::time::Instant>>,
    /// One flush at a time, so queued operations reach Redis in order.
    flushing: tokio::sync::Mutex<()>,
    /// Decisions waiting for the batcher, which sends those of concurrent requests together.
    jobs: tokio::sync::mpsc::UnboundedSender<Job>,
}

/// A decision and where its reply goes.
struct Job {
    decision: Decision,
    reply: tokio::sync::oneshot::Sender<Result<redis::Value, Error>>,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("prefix", &self.settings.prefix)
            .field("down", &self.down.load(Ordering::Relaxed))
            .finish()
    }
}

impl Redis {
    /// Connects (within the timeout) and starts the flusher. The URL never appears in an
    /// error (it may hold a password).
    pub async fn connect(settings: Settings) -> Result<Arc<Redis>, Error> {
        let client = redis::Client::open(settings.url.as_str()).map_err(|e| {
            Error::Config(format!(
                "coordination.redis_url is not a Redis URL ({})",
                describe(&e)
            ))
        })?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.timeout))
            .set_response_timeout(Some(settings.timeout))
            .set_number_of_retries(1);
        let conn = tokio::time::timeout(
            settings.timeout * 4,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| Error::Unavailable("cannot reach Redis: timed out".into()))?
        .map_err(|e| Error::Unavailable(format!("cannot reach Redis: {}", describe(&e))))?;
        let (jobs, rx) = tokio::sync::mpsc::unbounded_channel();
        let redis = Arc::new(Redis {
            conn,
            settings,
            down: AtomicBool::new(false),
            fallbacks: AtomicU64::new(0),
            refusals: AtomicU64::new(0),
            outages: AtomicU64::new(0),
            ops: Mutex::new(VecDeque::new()),
            failed_at: Mutex::new(None),
            flushing: tokio::sync::Mutex::new(()),
            jobs,
        });
        let weak = Arc::downgrade(&redis);
        // Detached: it ends when the connection (the jobs' only sender) is dropped; a job it
        // cannot answer (its caller left) is undone.
        #[allow(clippy::disallowed_methods)]
        tokio::spawn(batcher(weak.clone(), rx));
        // Detached: it holds a weak reference and ends with the connection. Operations still
        // queued at shutdown are lost (releases expire with their lease; give-backs and
        // settlements are then overcounted, never undercounted).
        #[allow(clippy::disallowed_methods)]
        tokio::spawn(flusher(weak));
        Ok(redis)
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn status(&self) -> Status {
        Status {
            up: !self.down.load(Ordering::Relaxed),
            fallbacks: self.fallbacks.load(Ordering::Relaxed),
            refusals: self.refusals.load(Ordering::Relaxed),
            outages: self.outages.load(Ordering::Relaxed),
        }
    }

    /// The key of `name`, under the deployment's hash tag.
    pub(crate) fn key(&self, name: &str) -> String {
        format!("{{{}}}:{name}", self.settings.prefix)
    }

    pub(crate) fn fell_back(&self) {
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn refused(&self) {
        self.refusals.fetch_add(1, Ordering::Relaxed);
    }

    /// Queues an operation for the next flush.
    pub(crate) fn queue(&self, op: Op) {
        let mut ops = self.ops.lock().unwrap_or_else(|p| p.into_inner());
        if ops.len() >= MAX_QUEUED {
            ops.pop_front();
            tracing::warn!(
                "coordination: {MAX_QUEUED} operations are waiting for Redis; the oldest is dropped"
            );
        }
        ops.push_back(op);
    }

    fn failed(&self, e: &Error) {
        if !self.down.swap(true, Ordering::Relaxed) {
            self.outages.fetch_add(1, Ordering::Relaxed);
            let policy = match self.settings.on_unavailable {
                OnUnavailable::FailOpen => "limits are counted per replica (fail_open)",
                OnUnavailable::FailClosed => "requests that need a limit are refused (fail_closed)",
            };
            tracing::warn!(error = %e, "coordination: Redis is unreachable; {policy} until it returns");
        }
    }

    fn succeeded(&self) {
        if self.down.swap(false, Ordering::Relaxed) {
            tracing::info!("coordination: Redis is reachable again; limits are shared again");
        }
    }

    /// Sends the queued operations (all of them, in batches); on failure they stay queued.
    pub(crate) async fn flush(&self) -> Result<(), Error> {
        let _one = self.flushing.lock().await;
        while !self
            .ops
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
        {
            self.send(&[]).await?;
        }
        Ok(())
    }

    /// Makes `decision` in Redis, in the same round trip as the decisions of concurrent
    /// requests and this process's queued operations (so its own releases and give-backs
    /// count first). If the caller leaves before the reply, the decision is undone.
    pub(crate) async fn run<T: FromRedisValue>(&self, decision: Decision) -> Result<T, Error> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Job { decision, reply })
            .map_err(|_| Error::Unavailable("the connection is closed".into()))?;
        let v = match tokio::time::timeout(self.settings.timeout * 2, rx).await {
            Ok(Ok(r)) => r?,
            Ok(Err(_)) => return Err(Error::Unavailable("the connection is closed".into())),
            Err(_) => {
                return Err(Error::Unavailable(
                    "no answer within coordination.timeout_ms".into(),
                ))
            }
        };
        T::from_redis_value(v).map_err(|e| Error::Protocol(e.to_string()))
    }

    /// One round trip: up to [`BATCH`] queued operations, then `decisions`; their replies in
    /// order. On failure the operations are queued again, first.
    async fn send(&self, decisions: &[&Decision]) -> Result<Vec<redis::Value>, Error> {
        let batch: Vec<Op> = {
            let mut ops = self.ops.lock().unwrap_or_else(|p| p.into_inner());
            let n = ops.len().min(BATCH);
            ops.drain(..n).collect()
        };
        let mut inv = scripts::CALL.prepare_invoke();
        inv.arg(batch.len());
        for op in &batch {
            inv.arg(op.kind).arg(op.keys.len()).arg(op.args.len());
            for a in &op.args {
                inv.arg(a);
            }
            for k in &op.keys {
                inv.key(k);
            }
        }
        inv.arg(decisions.len());
        for d in decisions {
            inv.arg(d.kind).arg(d.keys.len()).arg(d.args.len());
            for a in &d.args {
                inv.arg(a);
            }
            for k in &d.keys {
                inv.key(k);
            }
        }
        let r = self.invoke::<Vec<redis::Value>>(&inv).await;
        match &r {
            Ok(v) if v.len() != decisions.len() => {
                return Err(Error::Protocol(format!(
                    "{} replies to {} decisions",
                    v.len(),
                    decisions.len()
                )))
            }
            Err(_) if !batch.is_empty() => {
                let mut ops = self.ops.lock().unwrap_or_else(|p| p.into_inner());
                for op in batch.into_iter().rev() {
                    ops.push_front(op);
                }
            }
            _ => {}
        }
        r
    }

    /// Queues what takes back a decision whose caller left before its reply: units given
    /// back, leases released, reservations returned.
    fn undo(&self, d: &Decision, reply: &redis::Value) {
        let ok = match reply {
            redis::Value::Int(n) => *n == 1,
            redis::Value::Array(v) => matches!(v.first(), Some(redis::Value::Int(1))),
            _ => false,
        };
        if !ok {
            return;
        }
        match d.kind {
            "take" => {
                for (i, k) in d.keys.iter().enumerate() {
                    let (Some(interval), Some(cost)) = (d.args.get(3 * i), d.args.get(3 * i + 2))
                    else {
                        continue;
                    };
                    self.queue(Op {
                        kind: "adjust",
                        keys: vec![k.clone()],
                        args: vec![interval.clone(), format!("-{cost}")],
                    });
                }
            }
            "enter" => {
                if let Some(lease) = d.args.first() {
                    for k in &d.keys {
                        self.queue(Op {
                            kind: "leave",
                            keys: vec![k.clone()],
                            args: vec![lease.clone()],
                        });
                    }
                }
            }
            "reserve" if d.args.len() >= 4 => {
                let neg = |v: &str| {
                    v.parse::<i64>()
                        .map(|x| (-x).to_string())
                        .unwrap_or_default()
                };
                self.queue(Op {
                    kind: "settle",
                    keys: d.keys.clone(),
                    args: vec![
                        neg(&d.args[0]),
                        neg(&d.args[1]),
                        d.args[2].clone(),
                        d.args[3].clone(),
                    ],
                });
            }
            _ => {}
        }
    }

    /// Whether `name` exists (under the deployment's tag).
    pub(crate) async fn exists(&self, name: &str) -> Result<bool, Error> {
        let mut conn = self.conn.clone();
        let cmd = redis::cmd("EXISTS").arg(self.key(name)).clone();
        match tokio::time::timeout(self.settings.timeout, cmd.query_async::<i64>(&mut conn)).await {
            Ok(Ok(n)) => Ok(n > 0),
            Ok(Err(e)) => Err(Error::Unavailable(describe(&e))),
            Err(_) => Err(Error::Unavailable(
                "no answer within coordination.timeout_ms".into(),
            )),
        }
    }

    /// Runs another script (seeding), after the queued operations.
    pub(crate) async fn call<T: FromRedisValue>(
        &self,
        inv: &ScriptInvocation<'_>,
    ) -> Result<T, Error> {
        self.flush().await?;
        self.invoke(inv).await
    }

    async fn invoke<T: FromRedisValue>(&self, inv: &ScriptInvocation<'_>) -> Result<T, Error> {
        {
            let mut failed_at = self.failed_at.lock().unwrap_or_else(|p| p.into_inner());
            match *failed_at {
                Some(at) if self.down.load(Ordering::Relaxed) && at.elapsed() < PROBE_EVERY => {
                    return Err(Error::Unavailable(
                        "unreachable (probed again every second)".into(),
                    ));
                }
                // This call is the probe: others fail at once until it is answered.
                Some(_) => *failed_at = Some(std::time::Instant::now()),
                None => {}
            }
        }
        let mut r = self.attempt(inv).await;
        // A connection Redis dropped (a restart) fails its first call while the manager
        // reconnects: one more try, unless Redis was already known to be down.
        if matches!(r, Err(Error::Unavailable(_))) && !self.down.load(Ordering::Relaxed) {
            r = self.attempt(inv).await;
        }
        match &r {
            Ok(_) => {
                *self.failed_at.lock().unwrap_or_else(|p| p.into_inner()) = None;
                self.succeeded();
            }
            Err(e) => {
                *self.failed_at.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(std::time::Instant::now());
                self.failed(e);
            }
        }
        r
    }
}

impl Redis {
    async fn attempt<T: FromRedisValue>(&self, inv: &ScriptInvocation<'_>) -> Result<T, Error> {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(self.settings.timeout, inv.invoke_async(&mut conn)).await {
            Err(_) => Err(Error::Unavailable(
                "no answer within coordination.timeout_ms".into(),
            )),
            Ok(Err(e))
                if e.is_io_error()
                    || e.is_timeout()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal() =>
            {
                Err(Error::Unavailable(describe(&e)))
            }
            Ok(Err(e)) => Err(Error::Protocol(e.to_string())),
            Ok(Ok(v)) => Ok(v),
        }
    }
}

/// What went wrong, without the error's detail (which may quote the URL, and a password).
fn describe(e: &redis::RedisError) -> String {
    let kind = format!("{:?}", e.kind()).to_lowercase();
    if e.is_connection_refusal() {
        format!("connection refused ({kind})")
    } else if e.is_timeout() {
        format!("timed out ({kind})")
    } else {
        kind
    }
}

/// Sends the decisions waiting, together: while one call is in flight, the next batch forms.
async fn batcher(redis: Weak<Redis>, mut rx: tokio::sync::mpsc::UnboundedReceiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_DECISIONS {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let Some(r) = redis.upgrade() else { return };
        let decisions: Vec<&Decision> = jobs.iter().map(|j| &j.decision).collect();
        match r.send(&decisions).await {
            Ok(replies) => {
                for (job, reply) in jobs.into_iter().zip(replies) {
                    if let Err(Ok(reply)) = job.reply.send(Ok(reply)) {
                        r.undo(&job.decision, &reply);
                    }
                }
            }
            Err(e) => {
                for job in jobs {
                    let _ = job.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Sends queued operations at least every 100 ms, until the connection is dropped.
async fn flusher(redis: Weak<Redis>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(r) = redis.upgrade() else { return };
        // A failure is logged once by `failed`; the operations wait for the next tick.
        let _ = r.flush().await;
    }
}
