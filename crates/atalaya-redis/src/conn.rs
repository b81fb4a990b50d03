//! The connection to Redis, its health, and the queue of operations the traits do not wait
//! for.

use std::{
    collections::{HashMap, VecDeque},
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
    /// Decisions refused because Redis was unreachable (fail_closed); a request asks up to
    /// three (budget, gates, buckets).
    pub refusals: u64,
    /// Times Redis became unreachable.
    pub outages: u64,
}

/// What a decision or an operation does; the number is how [`scripts::CALL`] knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// Decisions.
    Take = 1,
    Enter = 2,
    Reserve = 3,
    /// Operations (queued, never refused).
    Adjust = 4,
    Leave = 5,
    Renew = 6,
    Settle = 7,
}

/// An argument of a decision or an operation, sent as a MessagePack number (the script reads
/// numbers without parsing text).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    Int(i64),
    Float(f64),
}

impl From<u64> for Arg {
    fn from(v: u64) -> Self {
        Arg::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<u32> for Arg {
    fn from(v: u32) -> Self {
        Arg::Int(i64::from(v))
    }
}

impl Arg {
    fn negated(&self) -> Arg {
        match self {
            Arg::Int(v) => Arg::Int(v.saturating_neg()),
            Arg::Float(v) => Arg::Float(-v),
        }
    }
}

/// A decision made in Redis, or an operation queued for it: its kind, keys and arguments.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub kind: Kind,
    pub keys: Vec<Arc<str>>,
    pub args: Vec<Arg>,
}

/// A decision's reply: a number (`enter`) or a list of numbers (`take`, `reserve`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    Int(i64),
    List(Vec<i64>),
}

impl Reply {
    /// Whether the decision granted something (to undo when its caller left).
    fn granted(&self) -> bool {
        match self {
            Reply::Int(n) => *n == 1,
            Reply::List(v) => v.first() == Some(&1),
        }
    }
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
/// Key names kept made (about six per API key, two per scope and day).
const MAX_NAMES: usize = 100_000;

/// A connection to Redis (reconnecting on its own), shared by the limiter and the budgets.
pub struct Redis {
    conn: ConnectionManager,
    settings: Settings,
    down: AtomicBool,
    fallbacks: AtomicU64,
    refusals: AtomicU64,
    outages: AtomicU64,
    ops: Mutex<VecDeque<Item>>,
    /// When a call last failed: while Redis is down, calls within a second of it fail at
    /// once instead of each waiting for the timeout (one call a second probes).
    failed_at: Mutex<Option<std::time::Instant>>,
    /// One call at a time (the batcher's and the flusher's), so queued operations reach
    /// Redis in the order they were queued, a failed call's put back first.
    sending: tokio::sync::Mutex<()>,
    /// Decisions waiting for the batcher, which sends those of concurrent requests together.
    jobs: tokio::sync::mpsc::UnboundedSender<Job>,
    /// This process, for the gates (which count slots per replica).
    instance: String,
    /// Redis key names already made, per kind and name (requests reuse a few).
    names: Mutex<HashMap<&'static str, HashMap<String, Arc<str>>>>,
}

/// A decision and where its reply goes.
struct Job {
    decision: Item,
    reply: tokio::sync::oneshot::Sender<Result<Reply, Error>>,
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
            sending: tokio::sync::Mutex::new(()),
            jobs,
            instance: format!("{}-{:x}", std::process::id(), rand::random::<u64>()),
            names: Mutex::new(HashMap::new()),
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

    /// The key of `kind:name`, made once and shared (an `Arc` clone per request instead of
    /// strings built per request). The cache is emptied past [`MAX_NAMES`].
    pub(crate) fn named(&self, kind: &'static str, name: &str) -> Arc<str> {
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = names.get(kind).and_then(|m| m.get(name)) {
            return k.clone();
        }
        if names.values().map(HashMap::len).sum::<usize>() >= MAX_NAMES {
            names.clear();
        }
        let k: Arc<str> = self.key(&format!("{kind}:{name}")).into();
        names
            .entry(kind)
            .or_default()
            .insert(name.to_owned(), k.clone());
        k
    }

    pub(crate) fn fell_back(&self) {
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn refused(&self) {
        self.refusals.fetch_add(1, Ordering::Relaxed);
    }

    /// Queues an operation for the next flush.
    pub(crate) fn queue(&self, op: Item) {
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
    pub(crate) async fn run(&self, decision: Item) -> Result<Reply, Error> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Job { decision, reply })
            .map_err(|_| Error::Unavailable("the connection is closed".into()))?;
        match tokio::time::timeout(self.settings.timeout * 2, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(Error::Unavailable("the connection is closed".into())),
            Err(_) => Err(Error::Unavailable(
                "no answer within coordination.timeout_ms".into(),
            )),
        }
    }

    /// One round trip: up to [`BATCH`] queued operations, then `decisions`; their replies in
    /// order. On failure the operations are queued again, first.
    async fn send(&self, decisions: &[&Item]) -> Result<Vec<Reply>, Error> {
        let _one = self.sending.lock().await;
        let batch: Vec<Item> = {
            let mut ops = self.ops.lock().unwrap_or_else(|p| p.into_inner());
            let n = ops.len().min(BATCH);
            ops.drain(..n).collect()
        };
        if batch.is_empty() && decisions.is_empty() {
            // Another call sent what a flush came for.
            return Ok(Vec::new());
        }
        let ops = coalesce(&batch);
        let (body, keys) = encode(&self.instance, &ops, decisions)?;
        let mut inv = scripts::CALL.prepare_invoke();
        inv.arg(body);
        for k in keys {
            inv.key(k);
        }
        let r = self
            .invoke::<Vec<u8>>(&inv)
            .await
            .and_then(|v| decode(&v, decisions));
        if r.is_err() && !batch.is_empty() {
            let mut ops = self.ops.lock().unwrap_or_else(|p| p.into_inner());
            for op in batch.into_iter().rev() {
                ops.push_front(op);
            }
        }
        r
    }

    /// Queues what takes back a decision whose caller left before its reply: units given
    /// back, leases released, reservations returned.
    fn undo(&self, d: &Item, reply: &Reply) {
        if !reply.granted() {
            return;
        }
        match d.kind {
            Kind::Take => {
                for (i, k) in d.keys.iter().enumerate() {
                    let (Some(interval), Some(cost)) = (d.args.get(3 * i), d.args.get(3 * i + 2))
                    else {
                        continue;
                    };
                    self.queue(Item {
                        kind: Kind::Adjust,
                        keys: vec![k.clone()],
                        args: vec![interval.clone(), cost.negated()],
                    });
                }
            }
            Kind::Enter => {
                if let Some(lease) = d.args.first() {
                    for k in &d.keys {
                        self.queue(Item {
                            kind: Kind::Leave,
                            keys: vec![k.clone()],
                            args: vec![Arg::Int(1), lease.clone()],
                        });
                    }
                }
            }
            Kind::Reserve if d.args.len() >= 4 => {
                self.queue(Item {
                    kind: Kind::Settle,
                    keys: d.keys.clone(),
                    args: vec![
                        d.args[0].negated(),
                        d.args[1].negated(),
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

/// The body of a [`scripts::CALL`]: one flat MessagePack array, `replica, n, operation…, m,
/// decision…`, each item `kind, key count, key index…, argument count, argument…`, with
/// every distinct key named once (in KEYS, so that Redis Cluster sees them; indices are
/// 1-based).
fn encode<'a>(
    replica: &str,
    ops: &'a [Item],
    decisions: &[&'a Item],
) -> Result<(Vec<u8>, Vec<&'a str>), Error> {
    let bad = |e: rmp::encode::ValueWriteError| Error::Protocol(format!("encoding a call: {e}"));
    let all = || ops.iter().chain(decisions.iter().copied());
    let len: usize = 3 + all()
        .map(|i| 3 + i.keys.len() + i.args.len())
        .sum::<usize>();
    let len = u32::try_from(len).map_err(|_| Error::Protocol("a call too large".into()))?;
    let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    let mut keys: Vec<&str> = Vec::new();
    let mut index: HashMap<&str, i64> = HashMap::new();
    let mut buf = Vec::with_capacity(8 * len as usize + 16);
    rmp::encode::write_array_len(&mut buf, len).map_err(bad)?;
    rmp::encode::write_str(&mut buf, replica).map_err(bad)?;
    rmp::encode::write_sint(&mut buf, count(ops.len())).map_err(bad)?;
    for (n, item) in all().enumerate() {
        if n == ops.len() {
            rmp::encode::write_sint(&mut buf, count(decisions.len())).map_err(bad)?;
        }
        rmp::encode::write_sint(&mut buf, item.kind as i64).map_err(bad)?;
        rmp::encode::write_sint(&mut buf, count(item.keys.len())).map_err(bad)?;
        for k in &item.keys {
            let next = count(keys.len() + 1);
            let i = *index.entry(k.as_ref()).or_insert_with(|| {
                keys.push(k.as_ref());
                next
            });
            rmp::encode::write_sint(&mut buf, i).map_err(bad)?;
        }
        rmp::encode::write_sint(&mut buf, count(item.args.len())).map_err(bad)?;
        for a in &item.args {
            match a {
                Arg::Int(v) => {
                    rmp::encode::write_sint(&mut buf, *v).map_err(bad)?;
                }
                Arg::Float(v) => rmp::encode::write_f64(&mut buf, *v).map_err(bad)?,
            }
        }
    }
    if decisions.is_empty() {
        rmp::encode::write_sint(&mut buf, 0).map_err(bad)?;
    }
    Ok((buf, keys))
}

/// Queued operations with runs of the same direction on the same key merged, so that a call
/// carries one operation per key rather than one per finished request. Merging keeps each
/// key's order: a give-back is never moved before a charge, or the reverse, since both clamp
/// (a bucket is never fuller than full, a counter never below zero).
fn coalesce(ops: &[Item]) -> Vec<Item> {
    // (kind, keys) → the run being merged: its index in `out`, direction and fixed arguments.
    type Run = (usize, i8, Vec<u64>);
    let mut runs: HashMap<(Kind, &[Arc<str>]), Run> = HashMap::new();
    let mut out: Vec<Item> = Vec::with_capacity(ops.len());
    for op in ops {
        // Which arguments add up, and which must be equal to merge.
        let (summed, fixed): (&[usize], Vec<u64>) = match (op.kind, op.args.as_slice()) {
            (Kind::Adjust, [Arg::Float(interval), Arg::Int(_)]) => (&[1], vec![interval.to_bits()]),
            (Kind::Settle, [Arg::Int(_), Arg::Int(_), Arg::Int(d), Arg::Int(m)]) => {
                (&[0, 1], vec![d.unsigned_abs(), m.unsigned_abs()])
            }
            (Kind::Leave, [Arg::Int(_), Arg::Int(lease)]) => (&[0], vec![lease.unsigned_abs()]),
            // A renewal carries an absolute count: the last one stands.
            (Kind::Renew, [Arg::Int(lease), Arg::Int(_)]) => (&[], vec![lease.unsigned_abs()]),
            _ => {
                out.push(op.clone());
                continue;
            }
        };
        let value = |i: usize| match op.args.get(i) {
            Some(Arg::Int(v)) => *v,
            _ => 0,
        };
        let up = summed.iter().all(|i| value(*i) >= 0);
        let down = summed.iter().all(|i| value(*i) <= 0);
        let direction = match (up, down) {
            (true, _) => 1,
            (_, true) => -1,
            _ => 0,
        };
        let run = (op.kind, op.keys.as_slice());
        match runs.get(&run) {
            Some((i, d, f)) if *d == direction && direction != 0 && *f == fixed => {
                let merged = &mut out[*i];
                if summed.is_empty() {
                    merged.args.clone_from(&op.args);
                }
                for j in summed {
                    if let Some(Arg::Int(v)) = merged.args.get_mut(*j) {
                        *v = v.saturating_add(value(*j));
                    }
                }
            }
            _ => {
                out.push(op.clone());
                runs.insert(run, (out.len() - 1, direction, fixed));
            }
        }
    }
    out
}

/// The reply of a [`scripts::CALL`]: one flat MessagePack array with, per decision, its
/// length and its numbers; `enter` replies a number, the others a list.
fn decode(body: &[u8], decisions: &[&Item]) -> Result<Vec<Reply>, Error> {
    let mut rd = body;
    let total = rmp::decode::read_array_len(&mut rd).map_err(|e| bad_reply(&e))?;
    let mut seen = 0u32;
    let mut out = Vec::with_capacity(decisions.len());
    for d in decisions {
        let n = number(&mut rd)?;
        let n = u32::try_from(n).map_err(|_| bad_reply(&format!("a length of {n}")))?;
        seen = seen.saturating_add(n + 1);
        if seen > total {
            return Err(bad_reply(&"fewer replies than decisions"));
        }
        let mut v = Vec::with_capacity(n as usize);
        for _ in 0..n {
            v.push(number(&mut rd)?);
        }
        out.push(match (d.kind, v.as_slice()) {
            (Kind::Enter, [x]) => Reply::Int(*x),
            (_, [-1]) => Reply::Int(-1),
            _ => Reply::List(v),
        });
    }
    if seen != total {
        return Err(bad_reply(&"more replies than decisions"));
    }
    Ok(out)
}

/// A MessagePack number. Lua numbers that are not integers come as doubles; they are
/// truncated, as Redis truncates a Lua number a script returns.
fn number(rd: &mut &[u8]) -> Result<i64, Error> {
    match rd.first() {
        #[allow(clippy::cast_possible_truncation)]
        Some(0xcb) => rmp::decode::read_f64(rd)
            .map(|v| v as i64)
            .map_err(|e| bad_reply(&e)),
        #[allow(clippy::cast_possible_truncation)]
        Some(0xca) => rmp::decode::read_f32(rd)
            .map(|v| v as i64)
            .map_err(|e| bad_reply(&e)),
        _ => rmp::decode::read_int::<i64, _>(rd).map_err(|e| bad_reply(&e)),
    }
}

fn bad_reply(e: &dyn std::fmt::Display) -> Error {
    Error::Protocol(format!(
        "the call's reply is not what the script returns: {e}"
    ))
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
        let decisions: Vec<&Item> = jobs.iter().map(|j| &j.decision).collect();
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

#[cfg(test)]
#[allow(clippy::unwrap_used)] // test code
mod tests {
    use super::*;

    fn item(kind: Kind, key: &str, args: Vec<Arg>) -> Item {
        Item {
            kind,
            keys: vec![key.into()],
            args,
        }
    }

    #[test]
    fn runs_of_one_direction_merge_and_each_keys_order_is_kept() {
        let i = Arg::Float(60.0);
        let ops = vec![
            item(Kind::Adjust, "a", vec![i.clone(), Arg::Int(-3)]),
            item(Kind::Adjust, "b", vec![i.clone(), Arg::Int(-1)]),
            item(Kind::Adjust, "a", vec![i.clone(), Arg::Int(-4)]),
            // A charge after give-backs starts a run of its own, after them.
            item(Kind::Adjust, "a", vec![i.clone(), Arg::Int(5)]),
            item(Kind::Adjust, "a", vec![i.clone(), Arg::Int(-2)]),
            // Another quota (interval) is another run.
            item(Kind::Adjust, "b", vec![Arg::Float(30.0), Arg::Int(-1)]),
            item(Kind::Leave, "g", vec![Arg::Int(1), Arg::Int(600)]),
            item(Kind::Leave, "g", vec![Arg::Int(1), Arg::Int(600)]),
            item(Kind::Renew, "g", vec![Arg::Int(600), Arg::Int(4)]),
            item(Kind::Renew, "g", vec![Arg::Int(600), Arg::Int(2)]),
        ];
        let out = coalesce(&ops);
        let got: Vec<(Kind, &str, Vec<Arg>)> = out
            .iter()
            .map(|o| (o.kind, o.keys[0].as_ref(), o.args.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (Kind::Adjust, "a", vec![i.clone(), Arg::Int(-7)]),
                (Kind::Adjust, "b", vec![i.clone(), Arg::Int(-1)]),
                (Kind::Adjust, "a", vec![i.clone(), Arg::Int(5)]),
                (Kind::Adjust, "a", vec![i.clone(), Arg::Int(-2)]),
                (Kind::Adjust, "b", vec![Arg::Float(30.0), Arg::Int(-1)]),
                (Kind::Leave, "g", vec![Arg::Int(2), Arg::Int(600)]),
                (Kind::Renew, "g", vec![Arg::Int(600), Arg::Int(2)]),
            ]
        );
    }

    #[test]
    fn settlements_merge_only_when_tokens_and_cost_go_the_same_way() {
        let settle = |t: i64, c: i64| Item {
            kind: Kind::Settle,
            keys: vec!["d".into(), "m".into()],
            args: vec![Arg::Int(t), Arg::Int(c), Arg::Int(10), Arg::Int(20)],
        };
        let out = coalesce(&[settle(-5, -1), settle(-3, 0), settle(-2, 4), settle(-1, 1)]);
        let sums: Vec<(i64, i64)> = out
            .iter()
            .map(|o| match (&o.args[0], &o.args[1]) {
                (Arg::Int(t), Arg::Int(c)) => (*t, *c),
                _ => (0, 0),
            })
            .collect();
        // (-2, +4) goes both ways: never merged, and it ends the run before it.
        assert_eq!(sums, vec![(-8, -1), (-2, 4), (-1, 1)]);
    }

    #[test]
    fn replies_decode_from_what_the_script_packs() {
        let d = |kind: Kind| Item {
            kind,
            keys: Vec::new(),
            args: Vec::new(),
        };
        let (take, enter, reserve) = (d(Kind::Take), d(Kind::Enter), d(Kind::Reserve));
        // [1, 1 | 3, 1, 9, 6000000 | 1, 0 | 3, 0, 2, 2.5] as Lua's cmsgpack packs them.
        let mut b = vec![0x9c, 0x01, 0x01, 0x03, 0x01, 0x09, 0xce];
        b.extend_from_slice(&6_000_000u32.to_be_bytes());
        b.extend_from_slice(&[0x01, 0x00, 0x03, 0x00, 0x02, 0xcb]);
        b.extend_from_slice(&2.5f64.to_be_bytes());
        assert_eq!(
            decode(&b, &[&enter, &take, &enter, &reserve]).unwrap(),
            vec![
                Reply::Int(1),
                Reply::List(vec![1, 9, 6_000_000]),
                Reply::Int(0),
                Reply::List(vec![0, 2, 2]),
            ]
        );
        assert!(
            decode(&b, &[&enter, &take, &enter]).is_err(),
            "a reply per decision"
        );
        assert!(decode(&b[..8], &[&enter, &take]).is_err(), "truncated");
    }
}
