//! The audit log's hash chain. Each entry's hash is SHA-256 over the previous entry's hash
//! and the entry's fields (each length-prefixed, so no two different entries encode alike);
//! the first entry chains from 32 zero bytes. Anchors sign the head of the chain from time
//! to time, so that rewriting the whole chain, or cutting its end, is detected too.
//!
//! [`Verifier`] walks the entries in `seq` order and reports every entry that was modified,
//! deleted or moved, by `seq`. It holds one hash per entry (32 bytes; 32 MB for a million).

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::records::{AuditAnchor, AuditEvent, AuditRecord};

pub const GENESIS: [u8; 32] = [0; 32];

fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

fn opt(h: &mut Sha256, v: Option<&str>) {
    match v {
        None => h.update([0u8]),
        Some(s) => {
            h.update([1u8]);
            field(h, s.as_bytes());
        }
    }
}

/// The hash of `event` chained after `prev`.
pub fn chain_hash(prev: &[u8; 32], event: &AuditEvent) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"atalaya-audit-v1");
    h.update(prev);
    h.update(event.ts.to_be_bytes());
    field(&mut h, event.actor.as_bytes());
    field(&mut h, event.action.as_bytes());
    opt(&mut h, event.tenant_id.as_deref());
    opt(&mut h, event.target.as_deref());
    field(&mut h, event.outcome.as_bytes());
    opt(&mut h, event.source_ip.as_deref());
    // serde_json writes object keys in a fixed (sorted) order: the encoding is canonical.
    field(&mut h, event.details.to_string().as_bytes());
    h.finalize().into()
}

/// The bytes an anchor signs: the domain, the sequence number, the head hash, the time and,
/// for chained anchors, the link to the anchor before it.
pub fn anchor_message(seq: i64, hash: &[u8; 32], ts: i64, prev: Option<&[u8; 32]>) -> Vec<u8> {
    let mut m = match prev {
        Some(_) => b"atalaya-audit-anchor-v2".to_vec(),
        None => b"atalaya-audit-anchor-v1".to_vec(),
    };
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(hash);
    m.extend_from_slice(&ts.to_be_bytes());
    if let Some(p) = prev {
        m.extend_from_slice(p);
    }
    m
}

/// What the next anchor links to: a digest of this anchor's signature (which covers its own
/// link, so the links form a chain no one without the key can rebuild).
pub fn anchor_link(signature: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"atalaya-audit-anchor-link");
    h.update(signature);
    h.finalize().into()
}

/// When entries should have been anchored by: with a signing key, the server anchors the
/// head at least every `anchor_interval` (and at shutdown), so an entry older than
/// `max_age_ms` after the last anchor means anchors were removed (or the server was killed
/// before it could anchor).
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    pub now_ms: i64,
    pub max_age_ms: i64,
}

/// One problem found by verification.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// The entry's content no longer matches its hash.
    Modified { seq: i64 },
    /// Entries with these sequence numbers are missing.
    Deleted { from_seq: i64, to_seq: i64 },
    /// The entry's predecessor in the chain is the entry now at `follows_seq`: entries were
    /// moved.
    Reordered { seq: i64, follows_seq: i64 },
    /// The entry does not follow the one before it and its recorded predecessor is nowhere
    /// in the log: the entry before it was rewritten (with a recomputed hash) or removed.
    ChainBroken { seq: i64 },
    /// An anchor's signature is invalid (the anchor was forged or altered).
    BadSignature { seq: i64 },
    /// An anchor names an entry whose hash differs from the one it signed.
    AnchorMismatch { seq: i64 },
    /// An anchor names an entry beyond the end of the log: the end was cut off.
    Truncated { last_seq: i64, anchored_seq: i64 },
    /// An anchor does not link to the anchor before it: an anchor between them was removed,
    /// or one was replaced.
    AnchorChainBroken { seq: i64 },
    /// Entries older than the anchoring deadline are not covered by any anchor: the anchors
    /// above them were removed (or the server was killed before anchoring them).
    Unanchored { from_seq: i64, to_seq: i64 },
    /// An anchor exported outside the database is missing from it or differs: the database's
    /// anchors (and the entries they covered) were cut or rewritten.
    ExportedAnchorMissing { seq: i64 },
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Modified { seq } => write!(f, "entry {seq} was modified"),
            Finding::Deleted { from_seq, to_seq } if from_seq == to_seq => {
                write!(f, "entry {from_seq} was deleted")
            }
            Finding::Deleted { from_seq, to_seq } => {
                write!(f, "entries {from_seq}..={to_seq} were deleted")
            }
            Finding::Reordered { seq, follows_seq } => write!(
                f,
                "entry {seq} is out of order: it was written after the entry now at {follows_seq}"
            ),
            Finding::ChainBroken { seq } => write!(
                f,
                "the chain breaks before entry {seq}: the entry before it was rewritten or removed"
            ),
            Finding::BadSignature { seq } => write!(f, "the anchor at entry {seq} has an invalid signature"),
            Finding::AnchorMismatch { seq } => write!(
                f,
                "entry {seq} differs from the one its anchor signed"
            ),
            Finding::Truncated { last_seq, anchored_seq } => write!(
                f,
                "the log ends at entry {last_seq} but entry {anchored_seq} was anchored: its end was cut off"
            ),
            Finding::AnchorChainBroken { seq } => write!(
                f,
                "the anchor at entry {seq} does not link to the anchor before it: an anchor was removed or replaced"
            ),
            Finding::Unanchored { from_seq, to_seq } => write!(
                f,
                "entries {from_seq}..={to_seq} are older than the anchoring deadline but no anchor covers them: anchors were removed (or the server was killed before anchoring)"
            ),
            Finding::ExportedAnchorMissing { seq } => write!(
                f,
                "the exported anchor at entry {seq} is missing from the database or differs: the log's anchors were cut or rewritten"
            ),
        }
    }
}

/// The result of verifying the whole log.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub entries: u64,
    pub anchors: u64,
    pub last_seq: i64,
    /// Entries after the last anchor (their deletion from the end would go unnoticed until
    /// the next anchor).
    pub unanchored: u64,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Verifies entries fed in `seq` order, then the anchors.
#[derive(Default)]
pub struct Verifier {
    /// Stored hash → seq of every entry, to tell a moved entry from a lost one.
    by_hash: HashMap<[u8; 32], i64>,
    /// (seq, stored prev_hash, stored hash, content intact) in order.
    rows: Vec<(i64, [u8; 32], [u8; 32], bool)>,
    /// Each entry's time, by position in `rows`.
    times: Vec<i64>,
}

impl Verifier {
    pub fn new() -> Self {
        Verifier::default()
    }

    pub fn push(&mut self, r: &AuditRecord) {
        let intact = chain_hash(&r.prev_hash, &r.event) == r.hash;
        self.by_hash.insert(r.hash, r.seq);
        self.rows.push((r.seq, r.prev_hash, r.hash, intact));
        self.times.push(r.event.ts);
    }

    /// Finishes with the anchors; `signature_ok` checks one anchor's signature; `deadline`
    /// (when a signing key is set) flags entries that should have been anchored by now;
    /// `exported` are anchors kept outside the database, each of which must be in it.
    pub fn finish(
        self,
        anchors: &[AuditAnchor],
        signature_ok: &dyn Fn(&AuditAnchor) -> bool,
        deadline: Option<Deadline>,
        exported: &[AuditAnchor],
    ) -> Report {
        let mut findings = Vec::new();
        let mut prev: Option<(i64, [u8; 32])> = None;
        for &(seq, prev_hash, hash, intact) in &self.rows {
            if !intact {
                findings.push(Finding::Modified { seq });
            }
            let expected_seq = prev.map_or(1, |(s, _)| s + 1);
            let expected_prev = prev.map_or(crate::audit::GENESIS, |(_, h)| h);
            let gap = seq > expected_seq;
            if gap {
                findings.push(Finding::Deleted {
                    from_seq: expected_seq,
                    to_seq: seq - 1,
                });
            }
            if prev_hash != expected_prev && !gap {
                match self.by_hash.get(&prev_hash) {
                    Some(&s) if s != seq => findings.push(Finding::Reordered {
                        seq,
                        follows_seq: s,
                    }),
                    _ if prev_hash == GENESIS => findings.push(Finding::Reordered {
                        seq,
                        follows_seq: 0,
                    }),
                    _ => findings.push(Finding::ChainBroken { seq }),
                }
            }
            prev = Some((seq, hash));
        }
        let last_seq = prev.map_or(0, |(s, _)| s);
        let by_seq: HashMap<i64, [u8; 32]> = self.rows.iter().map(|&(s, _, h, _)| (s, h)).collect();
        let mut last_anchor = 0;
        // The link the next chained anchor must carry (from the previous anchor, valid or not:
        // a forged one is reported on its own).
        let mut link: Option<[u8; 32]> = None;
        for a in anchors {
            let expected = link.unwrap_or(GENESIS);
            link = Some(anchor_link(&a.signature));
            if !signature_ok(a) {
                findings.push(Finding::BadSignature { seq: a.seq });
                continue;
            }
            if a.prev.is_some_and(|p| p != expected) {
                findings.push(Finding::AnchorChainBroken { seq: a.seq });
            }
            last_anchor = last_anchor.max(a.seq);
            match by_seq.get(&a.seq) {
                Some(h) if *h == a.hash => {}
                Some(_) => findings.push(Finding::AnchorMismatch { seq: a.seq }),
                None if a.seq > last_seq => findings.push(Finding::Truncated {
                    last_seq,
                    anchored_seq: a.seq,
                }),
                // Inside the log: the missing entry is already reported as deleted.
                None => {}
            }
        }
        let unanchored = self.rows.iter().filter(|r| r.0 > last_anchor).count() as u64;
        if let Some(d) = deadline {
            let overdue: Vec<i64> = self
                .rows
                .iter()
                .zip(&self.times)
                .filter(|(r, &ts)| r.0 > last_anchor && ts < d.now_ms - d.max_age_ms)
                .map(|(r, _)| r.0)
                .collect();
            if let (Some(&from_seq), Some(&to_seq)) = (overdue.first(), overdue.last()) {
                findings.push(Finding::Unanchored { from_seq, to_seq });
            }
        }
        let stored: HashMap<i64, &AuditAnchor> = anchors.iter().map(|a| (a.seq, a)).collect();
        for e in exported {
            let same = stored
                .get(&e.seq)
                .is_some_and(|a| a.hash == e.hash && a.signature == e.signature && a.ts == e.ts);
            if !same {
                findings.push(Finding::ExportedAnchorMissing { seq: e.seq });
                if e.seq > last_seq && signature_ok(e) {
                    findings.push(Finding::Truncated {
                        last_seq,
                        anchored_seq: e.seq,
                    });
                }
            }
        }
        Report {
            entries: self.rows.len() as u64,
            anchors: anchors.len() as u64,
            last_seq,
            unanchored,
            findings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(i: i64) -> AuditEvent {
        AuditEvent {
            ts: 1_700_000_000_000 + i,
            actor: "atl_abcdefgh".into(),
            action: "key.create".into(),
            tenant_id: Some("acme".into()),
            target: Some(format!("key-{i}")),
            outcome: "success".into(),
            source_ip: None,
            details: serde_json::json!({"n": i}),
        }
    }

    fn chain(n: i64) -> Vec<AuditRecord> {
        let mut prev = GENESIS;
        (1..=n)
            .map(|seq| {
                let e = event(seq);
                let hash = chain_hash(&prev, &e);
                let r = AuditRecord {
                    seq,
                    event: e,
                    prev_hash: prev,
                    hash,
                };
                prev = hash;
                r
            })
            .collect()
    }

    fn verify(rows: &[AuditRecord], anchors: &[AuditAnchor]) -> Report {
        let mut v = Verifier::new();
        for r in rows {
            v.push(r);
        }
        v.finish(anchors, &|a| a.signature == b"ok", None, &[])
    }

    fn anchor(r: &AuditRecord) -> AuditAnchor {
        AuditAnchor {
            seq: r.seq,
            hash: r.hash,
            ts: 0,
            prev: None,
            algorithm: "test".into(),
            key_id: "k".into(),
            signature: b"ok".to_vec(),
        }
    }

    #[test]
    fn intact_chain_verifies() {
        let rows = chain(10);
        let r = verify(&rows, &[anchor(&rows[4])]);
        assert!(r.ok(), "{:?}", r.findings);
        assert_eq!((r.entries, r.last_seq, r.unanchored), (10, 10, 5));
    }

    #[test]
    fn encoding_is_unambiguous() {
        let mut a = event(1);
        let mut b = event(1);
        a.actor = "ab".into();
        a.action = "c".into();
        b.actor = "a".into();
        b.action = "bc".into();
        assert_ne!(chain_hash(&GENESIS, &a), chain_hash(&GENESIS, &b));
        a.target = None;
        b = a.clone();
        b.target = Some(String::new());
        assert_ne!(chain_hash(&GENESIS, &a), chain_hash(&GENESIS, &b));
    }

    #[test]
    fn finds_modified_deleted_reordered() {
        let mut rows = chain(8);
        rows[2].event.details = serde_json::json!({"n": 999});
        assert_eq!(
            verify(&rows, &[]).findings,
            vec![Finding::Modified { seq: 3 }]
        );

        let mut rows = chain(8);
        rows.remove(4);
        assert_eq!(
            verify(&rows, &[]).findings,
            vec![Finding::Deleted {
                from_seq: 5,
                to_seq: 5
            }]
        );

        // Two entries swap places (their sequence numbers swapped).
        let mut rows = chain(8);
        rows.swap(3, 4);
        rows[3].seq = 4;
        rows[4].seq = 5;
        let f = verify(&rows, &[]).findings;
        assert_eq!(
            f,
            vec![
                Finding::Reordered {
                    seq: 4,
                    follows_seq: 5
                },
                Finding::Reordered {
                    seq: 5,
                    follows_seq: 3
                },
                Finding::Reordered {
                    seq: 6,
                    follows_seq: 4
                },
            ]
        );
    }

    #[test]
    fn rewritten_entry_with_recomputed_hash_breaks_the_chain() {
        let mut rows = chain(6);
        rows[1].event.outcome = "failure".into();
        rows[1].hash = chain_hash(&rows[1].prev_hash, &rows[1].event);
        let f = verify(&rows, &[]).findings;
        assert_eq!(f, vec![Finding::ChainBroken { seq: 3 }]);
    }

    #[test]
    fn anchors_catch_truncation_and_forgery() {
        let rows = chain(6);
        let a = anchor(&rows[5]);
        let f = verify(&rows[..4], std::slice::from_ref(&a)).findings;
        assert_eq!(
            f,
            vec![Finding::Truncated {
                last_seq: 4,
                anchored_seq: 6
            }]
        );
        let mut forged = a.clone();
        forged.signature = b"no".to_vec();
        assert_eq!(
            verify(&rows, &[forged]).findings,
            vec![Finding::BadSignature { seq: 6 }]
        );
        // The whole chain rewritten from entry 2 on: consistent hashes, but the anchor
        // signed the old head.
        let mut rows2 = chain(6);
        rows2[1].event.actor = "intruder".into();
        let mut prev = rows2[0].hash;
        for r in rows2.iter_mut().skip(1) {
            r.prev_hash = prev;
            r.hash = chain_hash(&prev, &r.event);
            prev = r.hash;
        }
        assert_eq!(
            verify(&rows2, &[a]).findings,
            vec![Finding::AnchorMismatch { seq: 6 }]
        );
    }

    /// Chained anchors of the entries at `seqs` (signature "ok<seq>": valid for
    /// [`check_chained`]).
    fn chained(rows: &[AuditRecord], seqs: &[i64]) -> Vec<AuditAnchor> {
        let mut prev = GENESIS;
        seqs.iter()
            .map(|&seq| {
                let r = &rows[(seq - 1) as usize];
                let a = AuditAnchor {
                    seq,
                    hash: r.hash,
                    ts: r.event.ts,
                    prev: Some(prev),
                    algorithm: "test".into(),
                    key_id: "k".into(),
                    signature: format!("ok{seq}").into_bytes(),
                };
                prev = anchor_link(&a.signature);
                a
            })
            .collect()
    }

    fn check_chained(
        rows: &[AuditRecord],
        anchors: &[AuditAnchor],
        deadline: Option<Deadline>,
        exported: &[AuditAnchor],
    ) -> Vec<Finding> {
        let mut v = Verifier::new();
        for r in rows {
            v.push(r);
        }
        v.finish(
            anchors,
            &|a| a.signature.starts_with(b"ok"),
            deadline,
            exported,
        )
        .findings
    }

    /// Late enough that every entry of [`chain`] is past the anchoring deadline.
    const LATE: Option<Deadline> = Some(Deadline {
        now_ms: 1_700_000_000_000 + 10_000_000,
        max_age_ms: 120_000,
    });

    #[test]
    fn intact_chained_anchors_verify() {
        let rows = chain(6);
        let anchors = chained(&rows, &[2, 4, 6]);
        assert_eq!(check_chained(&rows, &anchors, LATE, &anchors), vec![]);
    }

    #[test]
    fn an_anchor_removed_from_the_middle_breaks_the_next_link() {
        let rows = chain(6);
        let mut anchors = chained(&rows, &[2, 4, 6]);
        anchors.remove(1);
        assert_eq!(
            check_chained(&rows, &anchors, LATE, &[]),
            vec![Finding::AnchorChainBroken { seq: 6 }]
        );
    }

    #[test]
    fn every_anchor_deleted_and_the_chain_rewritten_leaves_overdue_entries() {
        let mut rows = chain(6);
        rows[2].event.actor = "intruder".into();
        let mut prev = rows[1].hash;
        for r in rows.iter_mut().skip(2) {
            r.prev_hash = prev;
            r.hash = chain_hash(&prev, &r.event);
            prev = r.hash;
        }
        assert_eq!(
            check_chained(&rows, &[], LATE, &[]),
            vec![Finding::Unanchored {
                from_seq: 1,
                to_seq: 6
            }]
        );
        // Without a signing key (no deadline), the rewrite is undetectable: it is consistent.
        assert_eq!(check_chained(&rows, &[], None, &[]), vec![]);
    }

    #[test]
    fn the_end_cut_with_its_anchors_is_caught_by_the_exported_copies() {
        let rows = chain(6);
        let anchors = chained(&rows, &[2, 4, 6]);
        // Entries 5 and 6 and the anchors at 4 and 6 removed: what is left is consistent.
        let left = &rows[..3];
        assert_eq!(check_chained(left, &anchors[..1], None, &[]), vec![]);
        // With entry 3 overdue, the deadline catches it even without the exported copies.
        assert_eq!(
            check_chained(left, &anchors[..1], LATE, &[]),
            vec![Finding::Unanchored {
                from_seq: 3,
                to_seq: 3
            }]
        );
        // Cut exactly at an anchor: only the exported anchors tell.
        let left = &rows[..2];
        assert_eq!(check_chained(left, &anchors[..1], LATE, &[]), vec![]);
        assert_eq!(
            check_chained(left, &anchors[..1], LATE, &anchors),
            vec![
                Finding::ExportedAnchorMissing { seq: 4 },
                Finding::Truncated {
                    last_seq: 2,
                    anchored_seq: 4
                },
                Finding::ExportedAnchorMissing { seq: 6 },
                Finding::Truncated {
                    last_seq: 2,
                    anchored_seq: 6
                },
            ]
        );
    }
}
