//! Untrusted documents parsed in a child process under resource limits.
//!
//! The format parsers are third-party code (html5ever, pdf-extract, docx-rs, zip). A hostile
//! file can make one recurse until the stack overflows, allocate what a lying size header
//! claims, or loop: an abort, not a panic, which `catch_unwind` cannot contain and which would
//! take the whole server down (and again at every restart, since the task is durable). So the
//! server parses each document in a child process: the `atalaya` binary re-executed as a parse
//! worker (`atalaya parse-worker`), with
//! - no environment (no secret reaches it: provider keys and `env:` references stay behind);
//! - limits it sets on itself before reading the document: data segment (heap) size, CPU
//!   seconds, no core dumps, no files written;
//! - a wall-clock deadline the parent enforces (the child is killed by its pid);
//! - the document on stdin and the parsed document (JSON) on stdout, nothing else shared.
//!
//! The parent turns every way the child can end into a per-document error with a reason
//! (too slow, too much memory, nested too deeply, crashed), so the task goes on with the next
//! document. [`Parser::InProcess`] parses in the calling process (tests, tools that parse
//! trusted files).

use std::{
    io::{Read, Write},
    os::unix::process::CommandExt,
    path::PathBuf,
    process::{Command, Stdio},
    sync::OnceLock,
    time::Duration,
};

use serde::{Deserialize, Serialize};
use wait_timeout::ChildExt;

use crate::{
    doc::{Format, ParsedDocument},
    Error,
};

/// Limits on parsing one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time before the worker is killed.
    pub timeout: Duration,
    /// CPU seconds the worker may use (`RLIMIT_CPU`).
    pub cpu_seconds: u64,
    /// Heap the worker may allocate, in bytes (`RLIMIT_DATA`).
    pub memory_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(30),
            cpu_seconds: 20,
            memory_bytes: 1024 * 1024 * 1024,
        }
    }
}

/// How documents are parsed.
#[derive(Debug, Clone)]
pub enum Parser {
    /// In this process (trusted input; tests).
    InProcess,
    /// In a child process: `program args… --format F --cpu-seconds N --memory-bytes N`.
    Sandboxed {
        program: PathBuf,
        args: Vec<String>,
        limits: Limits,
    },
}

/// The program and arguments that run a parse worker, registered once by the binary that can
/// be one (`atalaya` registers itself with `parse-worker`). Libraries and tests that never
/// register one parse in-process.
static WORKER: OnceLock<(PathBuf, Vec<String>)> = OnceLock::new();

/// Registers the parse worker command (the first registration wins).
pub fn register_worker(program: PathBuf, args: Vec<String>) {
    let _ = WORKER.set((program, args));
}

impl Parser {
    /// The sandboxed parser when `sandbox` is on and a worker is registered, else in-process
    /// (with a warning when the sandbox was asked for).
    pub fn configured(sandbox: bool, limits: Limits) -> Parser {
        match (sandbox, WORKER.get()) {
            (true, Some((program, args))) => Parser::Sandboxed {
                program: program.clone(),
                args: args.clone(),
                limits,
            },
            (true, None) => {
                tracing::warn!(
                    "no parse worker registered: documents are parsed in this process, without \
                     the sandbox's limits"
                );
                Parser::InProcess
            }
            (false, _) => Parser::InProcess,
        }
    }

    pub fn parse(&self, format: Format, bytes: &[u8]) -> Result<ParsedDocument, Error> {
        match self {
            Parser::InProcess => super::parse(format, bytes),
            Parser::Sandboxed {
                program,
                args,
                limits,
            } => parse_in_child(program, args, *limits, format, bytes),
        }
    }
}

/// The worker's answer on stdout.
#[derive(Serialize, Deserialize)]
enum Reply {
    Parsed(ParsedDocument),
    /// [`Error::Parse`]'s reason.
    Invalid(String),
    /// [`Error::Empty`]: whether the PDF hint applies.
    Empty,
    Failed(String),
}

/// Runs in the worker process: sets its limits, reads the document from `input`, writes the
/// [`Reply`] to `output`.
pub fn serve_worker(
    format: &str,
    cpu_seconds: u64,
    memory_bytes: u64,
    input: impl Read,
    output: impl Write,
) -> Result<(), Error> {
    let format = Format::from_name(format).ok_or_else(|| Error::Unsupported(format.to_owned()))?;
    let limit = |what: &str, r: rlimit::Resource, soft: u64, hard: u64| {
        r.set(soft, hard)
            .map_err(|e| Error::Invalid(format!("the parse worker cannot limit its {what}: {e}")))
    };
    limit(
        "CPU time",
        rlimit::Resource::CPU,
        cpu_seconds,
        cpu_seconds + 1,
    )?;
    limit("heap", rlimit::Resource::DATA, memory_bytes, memory_bytes)?;
    limit("core dumps", rlimit::Resource::CORE, 0, 0)?;
    limit("file writes", rlimit::Resource::FSIZE, 0, 0)?;
    answer(format, input, output)
}

/// Reads a document from `input`, parses it, writes the [`Reply`] to `output`.
fn answer(format: Format, mut input: impl Read, mut output: impl Write) -> Result<(), Error> {
    let mut bytes = Vec::new();
    input
        .read_to_end(&mut bytes)
        .map_err(|e| Error::Invalid(format!("reading the document: {e}")))?;
    let reply = match super::parse(format, &bytes) {
        Ok(doc) => Reply::Parsed(doc),
        Err(Error::Parse { reason, .. }) => Reply::Invalid(reason),
        Err(Error::Empty { .. }) => Reply::Empty,
        Err(e) => Reply::Failed(e.to_string()),
    };
    serde_json::to_writer(&mut output, &reply)
        .map_err(|e| Error::Invalid(format!("writing the parsed document: {e}")))?;
    output
        .flush()
        .map_err(|e| Error::Invalid(format!("writing the parsed document: {e}")))
}

/// Largest reply read from a worker: the parsed text of a document is about its size, and the
/// JSON adds structure and escapes.
fn reply_cap(input: usize) -> u64 {
    (input as u64).saturating_mul(8).saturating_add(1 << 20)
}

/// The tail of the worker's stderr kept to explain a crash.
const STDERR_TAIL: u64 = 16 * 1024;

fn parse_in_child(
    program: &PathBuf,
    args: &[String],
    limits: Limits,
    format: Format,
    bytes: &[u8],
) -> Result<ParsedDocument, Error> {
    let name = format.as_str();
    // Its own process group: a deadline kills the worker and anything it started, so no
    // leftover process keeps the pipes (and this thread) waiting.
    let mut child = Command::new(program)
        .process_group(0)
        .args(args)
        .args(["--format", name])
        .args(["--cpu-seconds", &limits.cpu_seconds.to_string()])
        .args(["--memory-bytes", &limits.memory_bytes.to_string()])
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Error::Invalid(format!(
                "cannot start the parse worker {}: {e}",
                program.display()
            ))
        })?;
    let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let cap = reply_cap(bytes.len());
    let waited = std::thread::scope(|s| {
        // The document goes in, the reply and stderr come out, each on its own thread, so a
        // worker that stops reading or writing cannot block the deadline below.
        s.spawn(move || {
            if let Some(mut w) = stdin {
                // A worker that dies early closes the pipe: its exit status says why.
                let _ = w.write_all(bytes);
            }
        });
        let out = s.spawn(move || {
            let mut buf = Vec::new();
            if let Some(r) = stdout {
                let _ = r.take(cap + 1).read_to_end(&mut buf);
            }
            buf
        });
        let err = s.spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = stderr {
                // Keep the tail: the reason for an abort is the last thing written.
                let mut chunk = [0u8; 4096];
                while let Ok(n) = r.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if buf.len() as u64 > STDERR_TAIL * 2 {
                        buf.drain(..buf.len() - STDERR_TAIL as usize);
                    }
                }
            }
            buf
        });
        let status = match child.wait_timeout(limits.timeout) {
            Ok(Some(status)) => Ok(Some(status)),
            Ok(None) => {
                kill_group(&mut child);
                Ok(None)
            }
            Err(e) => {
                kill_group(&mut child);
                Err(e)
            }
        };
        (
            status,
            out.join().unwrap_or_default(),
            err.join().unwrap_or_default(),
        )
    });
    let (status, out, err) = waited;
    let status =
        status.map_err(|e| Error::Invalid(format!("waiting for the parse worker: {e}")))?;
    let limit = |reason: String| Error::Limit {
        format: name,
        reason,
    };
    let Some(status) = status else {
        return Err(limit(format!(
            "parsing took longer than {} s (knowledge.parse_timeout_ms)",
            limits.timeout.as_secs_f64()
        )));
    };
    let stderr = String::from_utf8_lossy(&err);
    if !status.success() {
        return Err(crash_reason(status, &stderr, limits, name));
    }
    if out.len() as u64 > cap {
        return Err(limit("the parsed text is far larger than the file".into()));
    }
    match serde_json::from_slice::<Reply>(&out) {
        Ok(Reply::Parsed(doc)) => Ok(doc),
        Ok(Reply::Invalid(reason)) => Err(Error::Parse {
            format: name,
            reason,
        }),
        Ok(Reply::Empty) => Err(Error::Empty {
            format: name,
            hint: if format == Format::Pdf {
                " (a scanned PDF has no text layer; run OCR first)"
            } else {
                ""
            },
        }),
        Ok(Reply::Failed(reason)) => Err(Error::Invalid(reason)),
        Err(e) => Err(Error::Invalid(format!(
            "the parse worker's reply is unreadable ({e}); stderr: {}",
            stderr.trim()
        ))),
    }
}

/// Kills the worker's process group (its pid is the group's id: we started it so), then reaps
/// the worker.
fn kill_group(child: &mut std::process::Child) {
    if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Why a worker that did not exit cleanly ended, from its signal and the end of its stderr.
fn crash_reason(
    status: std::process::ExitStatus,
    stderr: &str,
    limits: Limits,
    format: &'static str,
) -> Error {
    use std::os::unix::process::ExitStatusExt;
    const SIGKILL: i32 = 9;
    const SIGXCPU: i32 = 24;
    let reason = if stderr.contains("has overflowed its stack") {
        "the document nests too deeply (the parser ran out of stack)".to_owned()
    } else if stderr.contains("memory allocation of") || stderr.contains("out of memory") {
        format!(
            "parsing needed more than {} MiB of memory (knowledge.parse_memory_mb)",
            limits.memory_bytes / (1024 * 1024)
        )
    } else if matches!(status.signal(), Some(SIGXCPU | SIGKILL)) {
        format!(
            "parsing used more than {} s of CPU time (knowledge.parse_cpu_seconds)",
            limits.cpu_seconds
        )
    } else {
        let how = match (status.code(), status.signal()) {
            (Some(code), _) => format!("exit status {code}"),
            (_, Some(sig)) => format!("signal {sig}"),
            _ => "no status".to_owned(),
        };
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
        match last {
            Some(l) => format!(
                "the parser crashed ({how}): {}",
                l.trim().chars().take(300).collect::<String>()
            ),
            None => format!("the parser crashed ({how})"),
        }
    };
    Error::Limit { format, reason }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    /// A stand-in worker: `sh -c SCRIPT` (the parser's arguments follow as `$1`…).
    fn worker(script: &str, timeout_ms: u64) -> Parser {
        Parser::Sandboxed {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into(), "sh".into()],
            limits: Limits {
                timeout: Duration::from_millis(timeout_ms),
                cpu_seconds: 5,
                memory_bytes: 256 << 20,
            },
        }
    }

    fn reason(p: &Parser) -> String {
        match p.parse(Format::Text, b"hello") {
            Err(Error::Limit { reason, .. }) => reason,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_worker_past_its_deadline_is_killed_and_the_document_fails() {
        let t = std::time::Instant::now();
        let r = reason(&worker("cat >/dev/null; sleep 30", 300));
        assert!(r.contains("took longer than 0.3 s"), "{r}");
        assert!(t.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_worker_that_stops_reading_cannot_block_the_parent() {
        // It never reads stdin: a large document fills the pipe, and the deadline still holds.
        let p = worker("sleep 30", 300);
        let big = vec![b'a'; 8 << 20];
        match p.parse(Format::Text, &big) {
            Err(Error::Limit { reason, .. }) => assert!(reason.contains("took longer"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn crashes_are_explained_by_their_cause() {
        let overflow =
            "cat >/dev/null; echo \"thread 'main' has overflowed its stack\" >&2; kill -ABRT $$";
        assert!(reason(&worker(overflow, 5000)).contains("nests too deeply"));
        let oom = "cat >/dev/null; echo 'memory allocation of 4294967296 bytes failed' >&2; kill -ABRT $$";
        assert!(reason(&worker(oom, 5000)).contains("more than 256 MiB of memory"));
        let cpu = "cat >/dev/null; kill -XCPU $$";
        assert!(reason(&worker(cpu, 5000)).contains("more than 5 s of CPU time"));
        let segv = "cat >/dev/null; echo 'boom' >&2; kill -SEGV $$";
        let r = reason(&worker(segv, 5000));
        assert!(r.contains("crashed (signal 11): boom"), "{r}");
        let exit = "cat >/dev/null; exit 3";
        assert!(reason(&worker(exit, 5000)).contains("exit status 3"));
    }

    #[test]
    fn the_worker_gets_the_document_its_arguments_and_no_environment() {
        // The reply echoes what the worker saw: its arguments, its environment, its input.
        let script = r#"body=$(cat); printf '{"Invalid":"%s|%s|%s"}' "$body" "$*" "$(env | grep -c SECRET_FOR_TEST)""#;
        std::env::set_var("SECRET_FOR_TEST", "x");
        let e = worker(script, 5000)
            .parse(Format::Text, b"hello")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "not a valid text file: hello|--format text --cpu-seconds 5 --memory-bytes {}|0",
                256 << 20
            )
        );
    }

    #[test]
    fn an_unreadable_reply_is_an_error_not_a_document() {
        let e = worker("cat >/dev/null; echo not-json", 5000)
            .parse(Format::Text, b"x")
            .unwrap_err();
        assert!(e.to_string().contains("unreadable"), "{e}");
    }

    #[test]
    fn a_worker_parses_and_replies() {
        let mut out = Vec::new();
        // (Not serve_worker: its limits would apply to the test process.)
        answer(Format::Markdown, &b"# Title\n\nBody text."[..], &mut out).unwrap();
        let Reply::Parsed(d) = serde_json::from_slice(&out).unwrap() else {
            panic!("{}", String::from_utf8_lossy(&out));
        };
        assert_eq!(d.title.as_deref(), Some("Title"));
    }
}
