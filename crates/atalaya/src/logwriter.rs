//! The server's log output: a buffer that request threads append finished lines to (a lock
//! and a copy, no system call), written to stderr by a thread of its own every
//! [`FLUSH_EVERY`] or as soon as [`FLUSH_AT`] bytes wait. While the process runs nothing is
//! dropped: when the output cannot keep up and [`HOLD_AT`] bytes wait, a logging thread waits
//! for the flush (backpressure). Dropping the [`LogGuard`] writes what is left (at exit), and
//! lines logged after it go straight to stderr, after everything before them. As with nginx's
//! buffered access log, a process that is killed (SIGKILL, an abort) loses the lines of its
//! last [`FLUSH_EVERY`] at most. A failed write to stderr itself has nowhere to be reported:
//! that batch is lost, and the next one is tried.

use std::{
    io::Write,
    sync::{Arc, Condvar, Mutex, MutexGuard},
    thread::JoinHandle,
    time::Duration,
};

/// How long a line may wait before it is written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// Waiting bytes that wake the writer thread early.
pub const FLUSH_AT: usize = 256 * 1024;
/// Waiting bytes at which a logging thread waits for the writer thread.
pub const HOLD_AT: usize = 8 * 1024 * 1024;

#[derive(Default)]
struct State {
    buf: Vec<u8>,
    /// The guard was dropped: write what is left, then close.
    stop: bool,
    /// The writer thread has written its last batch: lines go straight to stderr.
    closed: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the writer thread (a full buffer, or stop).
    wake: Condvar,
    /// Wakes logging threads held at [`HOLD_AT`].
    drained: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The `MakeWriter` of the log subscriber.
#[derive(Clone)]
pub struct BatchedStderr(Arc<Shared>);

/// Writes what waits when dropped, then stops the writer thread.
pub struct LogGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// The writer and its guard; the thread starts here.
pub fn batched_stderr() -> std::io::Result<(BatchedStderr, LogGuard)> {
    let shared = Arc::new(Shared::default());
    let s = shared.clone();
    let thread = std::thread::Builder::new()
        .name("atalaya-log".into())
        .spawn(move || run(&s))?;
    Ok((
        BatchedStderr(shared.clone()),
        LogGuard {
            shared,
            thread: Some(thread),
        },
    ))
}

fn run(shared: &Shared) {
    let mut out = std::io::stderr();
    let mut spare = Vec::new();
    loop {
        {
            let mut st = shared.lock();
            if !st.stop && st.buf.len() < FLUSH_AT {
                st = shared
                    .wake
                    .wait_timeout(st, FLUSH_EVERY)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
            }
            if st.stop && st.buf.is_empty() {
                // Everything appended so far is written: later lines go straight out, in
                // order after these.
                st.closed = true;
                shared.drained.notify_all();
                return;
            }
            std::mem::swap(&mut st.buf, &mut spare);
            shared.drained.notify_all();
        }
        if !spare.is_empty() {
            let _ = out.write_all(&spare);
            let _ = out.flush();
            spare.clear();
        }
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Write for BatchedStderr {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut st = self.0.lock();
        while st.buf.len() >= HOLD_AT && !st.closed {
            self.0.wake.notify_all();
            st = self.0.drained.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        if st.closed {
            // The writer thread is gone: straight to stderr (under the lock, so lines keep
            // their order).
            return std::io::stderr().write_all(bytes).map(|()| bytes.len());
        }
        st.buf.extend_from_slice(bytes);
        if st.buf.len() >= FLUSH_AT || st.stop {
            self.0.wake.notify_all();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchedStderr {
    type Writer = BatchedStderr;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_reach_the_buffer_whole_and_in_order() {
        let shared = Arc::new(Shared::default());
        let mut w = BatchedStderr(shared.clone());
        for i in 0..1000 {
            w.write_all(format!("line {i}\n").as_bytes()).unwrap();
        }
        let text = String::from_utf8(shared.lock().buf.clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1000);
        assert_eq!(lines[999], "line 999");
    }

    #[test]
    fn the_writer_thread_writes_everything_before_it_closes() {
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let t = std::thread::spawn(move || run(&s));
        let mut w = BatchedStderr(shared.clone());
        w.write_all(b"").unwrap();
        shared.lock().buf.extend_from_slice(b"pending\n");
        shared.lock().stop = true;
        shared.wake.notify_all();
        t.join().unwrap();
        let st = shared.lock();
        assert!(st.closed && st.buf.is_empty(), "closed with lines left");
    }

    #[test]
    fn a_full_buffer_holds_the_writer_until_it_drains() {
        let shared = Arc::new(Shared::default());
        shared.lock().buf = vec![b'x'; HOLD_AT];
        let mut w = BatchedStderr(shared.clone());
        let t = std::thread::spawn(move || w.write_all(b"late\n").unwrap());
        std::thread::sleep(Duration::from_millis(50));
        assert!(!t.is_finished(), "the writer did not wait");
        let drained = std::mem::take(&mut shared.lock().buf);
        assert_eq!(drained.len(), HOLD_AT);
        shared.drained.notify_all();
        t.join().unwrap();
        assert_eq!(shared.lock().buf, b"late\n");
    }
}
