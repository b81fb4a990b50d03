//! Structure-aware chunking. A chunk is a contiguous character range of the document's text,
//! so a citation points at exactly what was embedded.
//!
//! Rules, in order:
//! 1. A heading starts a new chunk; a chunk's heading path is that of its section (a heading
//!    directly followed by a sub-heading stays with it).
//! 2. Blocks (paragraphs, list items, tables, code) are kept whole when they fit the token
//!    budget; larger ones are split at sentence boundaries (en/es/pt), tables and code at line
//!    boundaries, and a single over-long sentence at word boundaries.
//! 3. Units are packed greedily up to `max_tokens`; when a chunk closes for lack of room (not
//!    at a heading), the next one repeats its last sentences up to `overlap_tokens`.
//! 4. FAQ pairs are always one chunk each.

use serde::{Deserialize, Serialize};

use crate::{
    doc::{BlockKind, ParsedDocument},
    sentences,
};

/// Counts tokens the way the embedding model will (the tokenizer of the collection's model);
/// tests and estimates may use a word count.
pub trait TokenCounter {
    fn count(&self, text: &str) -> usize;
}

impl<F: Fn(&str) -> usize> TokenCounter for F {
    fn count(&self, text: &str) -> usize {
        self(text)
    }
}

/// A rough counter for when no tokenizer is at hand: ~1.3 tokens per word for WordPiece/BPE
/// vocabularies on en/es/pt text.
pub fn estimate_tokens(text: &str) -> usize {
    let words = text.split_whitespace().count();
    (words * 13).div_ceil(10)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChunkConfig {
    /// Token budget of one chunk (the heading path, added when embedding, is not counted).
    pub max_tokens: usize,
    /// Tokens of trailing sentences repeated at the start of the next chunk of a section.
    pub overlap_tokens: usize,
}

impl Default for ChunkConfig {
    fn default() -> Self {
        ChunkConfig {
            max_tokens: 200,
            overlap_tokens: 32,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    /// Position of the chunk in its document, from 0.
    pub index: usize,
    pub text: String,
    /// Character range in the document's text.
    pub start: usize,
    pub end: usize,
    pub heading_path: Vec<String>,
    /// Page of the chunk's first character (PDF).
    pub page: Option<u32>,
    pub tokens: usize,
}

/// A piece that is never split further: a whole block, a sentence, a table row, a word run.
#[derive(Debug, Clone)]
struct Unit {
    start: usize,
    end: usize,
    tokens: usize,
    section: usize,
    heading: bool,
    faq: bool,
    /// A sentence (or word run) of a split prose block: overlap may repeat it.
    sentence: bool,
    page: Option<u32>,
}

pub fn chunk(doc: &ParsedDocument, cfg: &ChunkConfig, counter: &dyn TokenCounter) -> Vec<Chunk> {
    let max = cfg.max_tokens.max(8);
    let overlap = cfg.overlap_tokens.min(max / 2);
    let char_starts = char_byte_offsets(&doc.text);
    let units = units(doc, max, counter, &char_starts);
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut tokens = 0usize;
    let emit = |chunks: &mut Vec<Chunk>, members: &[usize]| {
        let (Some(&first), Some(&last)) = (members.first(), members.last()) else {
            return;
        };
        let (start, end) = (units[first].start, units[last].end);
        let text = doc.text[char_starts[start]..char_starts[end]].to_owned();
        let section = units[last].section;
        chunks.push(Chunk {
            index: chunks.len(),
            tokens: counter.count(&text),
            text,
            start,
            end,
            heading_path: section_path(doc, section),
            page: units[first].page,
        });
    };
    for (k, u) in units.iter().enumerate() {
        let only_headings = current.iter().all(|&i| units[i].heading);
        let new_section = current
            .last()
            .is_some_and(|&i| units[i].section != u.section);
        // A FAQ pair is a chunk of its own (with the section heading right before it).
        let faq = (u.faq && !only_headings) || current.last().is_some_and(|&i| units[i].faq);
        if !current.is_empty() && ((new_section && !only_headings) || faq) {
            emit(&mut chunks, &current);
            current.clear();
            tokens = 0;
        } else if !current.is_empty() && tokens + u.tokens > max {
            emit(&mut chunks, &current);
            // Overlap: trailing sentence units of the same section, within the budget.
            let mut carried = Vec::new();
            let mut carried_tokens = 0;
            for &i in current.iter().rev() {
                let c = &units[i];
                if !c.sentence || c.section != u.section || carried_tokens + c.tokens > overlap {
                    break;
                }
                carried_tokens += c.tokens;
                carried.push(i);
            }
            carried.reverse();
            if carried_tokens + u.tokens > max {
                carried.clear();
                carried_tokens = 0;
            }
            current = carried;
            tokens = carried_tokens;
        }
        current.push(k);
        tokens += u.tokens;
    }
    emit(&mut chunks, &current);
    chunks
}

/// Byte offset of every character, plus the text's length at the end.
fn char_byte_offsets(text: &str) -> Vec<usize> {
    let mut v: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    v.push(text.len());
    v
}

/// The heading path of a section: the block's path plus the heading itself.
fn section_path(doc: &ParsedDocument, section: usize) -> Vec<String> {
    let Some(b) = doc.blocks.get(section) else {
        return Vec::new();
    };
    let mut path = b.heading_path.clone();
    if matches!(b.kind, BlockKind::Heading { .. }) {
        path.push(doc.block_text(b).to_owned());
    }
    path
}

fn units(
    doc: &ParsedDocument,
    max: usize,
    counter: &dyn TokenCounter,
    char_starts: &[usize],
) -> Vec<Unit> {
    let mut out = Vec::new();
    // The section of a block is the index of the heading it sits under (or of the first block).
    let mut section = 0usize;
    for (bi, b) in doc.blocks.iter().enumerate() {
        let heading = matches!(b.kind, BlockKind::Heading { .. });
        if heading {
            section = bi;
        }
        let text = &doc.text[char_starts[b.start]..char_starts[b.end]];
        let tokens = counter.count(text);
        let unit = |start: usize, end: usize, tokens: usize, sentence: bool| Unit {
            start,
            end,
            tokens,
            section,
            heading,
            faq: b.kind == BlockKind::Faq,
            sentence,
            page: b.page,
        };
        if tokens <= max || heading || b.kind == BlockKind::Faq {
            out.push(unit(b.start, b.end, tokens, false));
            continue;
        }
        // Split a long block: sentences, or lines for tables and code.
        let pieces: Vec<(usize, usize)> = match b.kind {
            BlockKind::Table | BlockKind::Code => line_ranges(text),
            _ => sentences::split(text),
        };
        let base = char_starts[b.start];
        let to_char = |byte: usize| char_starts.partition_point(|&o| o < base + byte);
        for (s, e) in pieces {
            let piece = &text[s..e];
            let t = counter.count(piece);
            if t <= max {
                let prose = !matches!(b.kind, BlockKind::Table | BlockKind::Code);
                out.push(unit(to_char(s), to_char(e), t, prose));
                continue;
            }
            // A sentence longer than the budget: runs of words.
            let mut run_start = s;
            let mut last_end = s;
            for (ws, w) in piece.split_word_bound_indices_ws() {
                let (ws, we) = (s + ws, s + ws + w.len());
                if last_end > run_start && counter.count(&text[run_start..we]) > max {
                    let t = counter.count(&text[run_start..last_end]);
                    out.push(unit(to_char(run_start), to_char(last_end), t, true));
                    run_start = ws;
                }
                last_end = we;
            }
            if last_end > run_start {
                let t = counter.count(&text[run_start..last_end]);
                out.push(unit(to_char(run_start), to_char(last_end), t, true));
            }
        }
    }
    out
}

/// Byte ranges of lines, newline included.
fn line_ranges(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if c == '\n' {
            out.push((start, i + 1));
            start = i + 1;
        }
    }
    if start < text.len() {
        out.push((start, text.len()));
    }
    out
}

/// Whitespace-separated words with their byte offsets (trailing whitespace included).
trait WordRuns {
    fn split_word_bound_indices_ws(&self) -> Vec<(usize, &str)>;
}

impl WordRuns for str {
    fn split_word_bound_indices_ws(&self) -> Vec<(usize, &str)> {
        let mut out = Vec::new();
        let mut start: Option<usize> = None;
        let mut in_space = false;
        for (i, c) in self.char_indices() {
            match (start, c.is_whitespace()) {
                (None, _) => {
                    start = Some(i);
                    in_space = c.is_whitespace();
                }
                (Some(s), false) if in_space => {
                    out.push((s, &self[s..i]));
                    start = Some(i);
                    in_space = false;
                }
                (Some(_), true) => in_space = true,
                _ => {}
            }
        }
        if let Some(s) = start {
            out.push((s, &self[s..]));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::{Builder, ParsedDocument};

    fn words(t: &str) -> usize {
        t.split_whitespace().count()
    }

    fn doc(blocks: &[(BlockKind, &str)]) -> ParsedDocument {
        let mut b = Builder::new();
        for (k, t) in blocks {
            b.push(*k, t);
        }
        b.finish()
    }

    fn cfg(max: usize, overlap: usize) -> ChunkConfig {
        ChunkConfig {
            max_tokens: max,
            overlap_tokens: overlap,
        }
    }

    #[test]
    fn headings_start_chunks_and_name_them() {
        let d = doc(&[
            (BlockKind::Heading { level: 1 }, "Billing"),
            (BlockKind::Heading { level: 2 }, "Refunds"),
            (BlockKind::Paragraph, "Refunds take five days."),
            (BlockKind::Heading { level: 2 }, "Invoices"),
            (BlockKind::Paragraph, "Invoices are monthly."),
        ]);
        let c = chunk(&d, &cfg(50, 0), &words);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].text, "Billing\n\nRefunds\n\nRefunds take five days.");
        assert_eq!(c[0].heading_path, ["Billing", "Refunds"]);
        assert_eq!(c[1].text, "Invoices\n\nInvoices are monthly.");
        assert_eq!(c[1].heading_path, ["Billing", "Invoices"]);
        // Chunks are exact ranges of the document text.
        for ch in &c {
            assert_eq!(crate::doc::slice_chars(&d.text, ch.start, ch.end), ch.text);
        }
    }

    #[test]
    fn long_sections_split_at_sentences_with_overlap() {
        let para =
            "Alpha one two three. Beta one two three. Gamma one two three. Delta one two three.";
        let d = doc(&[
            (BlockKind::Heading { level: 1 }, "Guide"),
            (BlockKind::Paragraph, para),
        ]);
        let c = chunk(&d, &cfg(10, 4), &words);
        assert!(c.len() >= 2, "{c:?}");
        for ch in &c {
            assert!(ch.tokens <= 10, "{ch:?}");
            assert_eq!(ch.heading_path, ["Guide"]);
            // Every chunk ends at a sentence end.
            assert!(ch.text.trim_end().ends_with('.'), "{:?}", ch.text);
        }
        // The second chunk repeats the first one's last sentence.
        let last_of_first = c[0].text.trim_end().rsplit(". ").next().unwrap_or("");
        assert!(
            c[1].text.contains(last_of_first.trim_end_matches('.')),
            "{c:?}"
        );
        assert!(c[1].start < c[0].end, "overlap expected: {c:?}");
    }

    #[test]
    fn tables_and_lists_stay_whole_when_they_fit() {
        let table = "Plan | Price\nBasic | 5\nPro | 9";
        let d = doc(&[
            (BlockKind::Paragraph, "Our plans:"),
            (BlockKind::Table, table),
            (BlockKind::ListItem, "Cancel any time."),
        ]);
        let c = chunk(&d, &cfg(40, 8), &words);
        assert_eq!(c.len(), 1);
        assert!(c[0].text.contains(table));
        // With a tight budget (8, the floor) the table splits at rows, never inside one.
        let c = chunk(&d, &cfg(8, 0), &words);
        assert!(c.len() >= 2, "{c:?}");
        let rows: Vec<&str> = table.lines().collect();
        for ch in &c {
            for line in ch.text.lines().filter(|l| l.contains('|')) {
                assert!(rows.contains(&line), "{line:?} is not a whole row: {c:?}");
            }
        }
    }

    #[test]
    fn faq_pairs_are_single_chunks_and_huge_sentences_split_at_words() {
        let d = doc(&[
            (BlockKind::Faq, "How do I pay?\nBy card."),
            (BlockKind::Faq, "Can I get a refund?\nYes, within 14 days."),
        ]);
        let c = chunk(&d, &cfg(200, 0), &words);
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].text, "Can I get a refund?\nYes, within 14 days.");

        let long = "word ".repeat(25);
        let d = doc(&[(BlockKind::Paragraph, &long)]);
        let c = chunk(&d, &cfg(10, 0), &words);
        assert_eq!(c.len(), 3, "{c:?}");
        assert!(c.iter().all(|ch| ch.tokens <= 10));
    }

    #[test]
    fn offsets_are_characters_in_accented_text() {
        let d = doc(&[
            (BlockKind::Heading { level: 1 }, "Devoluções"),
            (
                BlockKind::Paragraph,
                "Não há custo. A devolução é grátis. Você recebe o reembolso.",
            ),
        ]);
        let c = chunk(&d, &cfg(6, 0), &words);
        for ch in &c {
            assert_eq!(crate::doc::slice_chars(&d.text, ch.start, ch.end), ch.text);
        }
    }
}
