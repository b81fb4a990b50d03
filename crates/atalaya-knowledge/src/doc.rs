//! What a parsed document is: its plain text and the structural blocks in it.
//!
//! Every format parser produces the same shape, so chunking and citations work the same for a
//! PDF and a Markdown file. Positions are character offsets (Unicode scalar values, the
//! indices a Python `str` uses) into [`ParsedDocument::text`], which is stored with the
//! document, so a citation can always show the passage it points to.

use serde::{Deserialize, Serialize};

/// Source formats the parsers understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Text,
    Markdown,
    Html,
    Pdf,
    Docx,
    /// Question/answer pairs, one per row (`question`,`answer` columns).
    Csv,
    /// Question/answer pairs, one JSON object per line (`question`, `answer`).
    Jsonl,
}

impl Format {
    /// The format a file name implies, by extension.
    pub fn from_path(path: &std::path::Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "txt" | "text" => Format::Text,
            "md" | "markdown" => Format::Markdown,
            "html" | "htm" | "xhtml" => Format::Html,
            "pdf" => Format::Pdf,
            "docx" => Format::Docx,
            "csv" => Format::Csv,
            "jsonl" | "ndjson" => Format::Jsonl,
            _ => return None,
        })
    }

    /// The format a MIME type names (uploads).
    pub fn from_mime(mime: &str) -> Option<Format> {
        let base = mime.split(';').next()?.trim().to_ascii_lowercase();
        Some(match base.as_str() {
            "text/plain" => Format::Text,
            "text/markdown" | "text/x-markdown" => Format::Markdown,
            "text/html" | "application/xhtml+xml" => Format::Html,
            "application/pdf" => Format::Pdf,
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => {
                Format::Docx
            }
            "text/csv" => Format::Csv,
            "application/jsonl" | "application/x-ndjson" | "application/ndjson" => Format::Jsonl,
            _ => return None,
        })
    }

    /// The format named by [`Format::as_str`] (or an extension, e.g. `md`).
    pub fn from_name(name: &str) -> Option<Format> {
        const ALL: [Format; 7] = [
            Format::Text,
            Format::Markdown,
            Format::Html,
            Format::Pdf,
            Format::Docx,
            Format::Csv,
            Format::Jsonl,
        ];
        let n = name.trim().to_ascii_lowercase();
        ALL.into_iter()
            .find(|f| f.as_str() == n)
            .or_else(|| Format::from_path(std::path::Path::new(&format!("x.{n}"))))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Markdown => "markdown",
            Format::Html => "html",
            Format::Pdf => "pdf",
            Format::Docx => "docx",
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
        }
    }
}

/// The kind of a structural block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockKind {
    /// A heading; its text also becomes part of the heading path of what follows.
    Heading {
        level: u8,
    },
    Paragraph,
    /// One item of a list (nested items are their own blocks).
    ListItem,
    /// A whole table, one line per row, cells separated by ` | `.
    Table,
    /// Preformatted text or code, kept verbatim.
    Code,
    /// A question/answer pair (FAQ files): always one chunk of its own.
    Faq,
}

/// A span of the document's text with its structural role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Block {
    pub kind: BlockKind,
    /// Start and end (exclusive) in characters of [`ParsedDocument::text`].
    pub start: usize,
    pub end: usize,
    /// The headings this block sits under, outermost first (a heading's own path excludes
    /// itself).
    pub heading_path: Vec<String>,
    /// 1-based page, where the format has pages (PDF).
    pub page: Option<u32>,
}

/// The output of a parser.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ParsedDocument {
    /// The document's title when the format carries one (HTML `<title>`, the first heading).
    pub title: Option<String>,
    /// The extracted plain text; blocks are separated by blank lines.
    pub text: String,
    pub blocks: Vec<Block>,
}

impl ParsedDocument {
    /// The text of `block`.
    pub fn block_text(&self, block: &Block) -> &str {
        slice_chars(&self.text, block.start, block.end)
    }
}

/// `text[start..end]` in characters (clamped to the text).
pub fn slice_chars(text: &str, start: usize, end: usize) -> &str {
    let mut idx = text.char_indices().map(|(i, _)| i);
    let from = idx.by_ref().nth(start).unwrap_or(text.len());
    let to = if end <= start {
        from
    } else {
        text[from..]
            .char_indices()
            .nth(end - start)
            .map_or(text.len(), |(i, _)| from + i)
    };
    &text[from..to]
}

/// Builds a [`ParsedDocument`] block by block, keeping character offsets and the heading path.
#[derive(Debug, Default)]
pub(crate) struct Builder {
    doc: ParsedDocument,
    chars: usize,
    /// (level, text) of the open headings.
    headings: Vec<(u8, String)>,
    page: Option<u32>,
}

impl Builder {
    pub(crate) fn new() -> Builder {
        Builder::default()
    }

    pub(crate) fn set_page(&mut self, page: Option<u32>) {
        self.page = page;
    }

    pub(crate) fn set_title(&mut self, title: &str) {
        let t = normalize_inline(title);
        if !t.is_empty() {
            self.doc.title = Some(t);
        }
    }

    /// Adds a block; inline whitespace is collapsed except in code and tables. Empty text adds
    /// nothing.
    pub(crate) fn push(&mut self, kind: BlockKind, text: &str) {
        let text = match kind {
            BlockKind::Code | BlockKind::Table | BlockKind::Faq => trim_lines(text),
            _ => normalize_inline(text),
        };
        if text.is_empty() {
            return;
        }
        if let BlockKind::Heading { level } = kind {
            while self.headings.last().is_some_and(|(l, _)| *l >= level) {
                self.headings.pop();
            }
        }
        if !self.doc.text.is_empty() {
            self.doc.text.push_str("\n\n");
            self.chars += 2;
        }
        let len = text.chars().count();
        self.doc.blocks.push(Block {
            kind,
            start: self.chars,
            end: self.chars + len,
            heading_path: self.headings.iter().map(|(_, t)| t.clone()).collect(),
            page: self.page,
        });
        self.doc.text.push_str(&text);
        self.chars += len;
        if let BlockKind::Heading { level } = kind {
            if self.doc.title.is_none() {
                self.doc.title = Some(text.clone());
            }
            self.headings.push((level, text));
        }
    }

    pub(crate) fn finish(self) -> ParsedDocument {
        self.doc
    }
}

/// Collapses runs of whitespace (newlines included) to one space and trims.
pub(crate) fn normalize_inline(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Trims trailing whitespace of each line and blank lines at both ends; keeps the rest.
fn trim_lines(s: &str) -> String {
    let lines: Vec<&str> = s.lines().map(str::trim_end).collect();
    let first = lines.iter().position(|l| !l.trim().is_empty());
    let last = lines.iter().rposition(|l| !l.trim().is_empty());
    match (first, last) {
        (Some(a), Some(b)) => lines[a..=b].join("\n"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_carry_char_offsets_and_heading_paths() {
        let mut b = Builder::new();
        b.push(BlockKind::Heading { level: 1 }, "Refunds");
        b.push(BlockKind::Paragraph, "  Money   back\nin 14 days. ");
        b.push(BlockKind::Heading { level: 2 }, "Cartões");
        b.push(BlockKind::ListItem, "Visa ✓");
        b.push(BlockKind::Heading { level: 2 }, "Transfers");
        b.push(BlockKind::Paragraph, "");
        b.push(BlockKind::Heading { level: 1 }, "Shipping");
        let d = b.finish();
        assert_eq!(d.title.as_deref(), Some("Refunds"));
        let texts: Vec<&str> = d.blocks.iter().map(|bl| d.block_text(bl)).collect();
        assert_eq!(
            texts,
            [
                "Refunds",
                "Money back in 14 days.",
                "Cartões",
                "Visa ✓",
                "Transfers",
                "Shipping"
            ]
        );
        assert_eq!(d.blocks[3].heading_path, ["Refunds", "Cartões"]);
        assert_eq!(d.blocks[4].heading_path, ["Refunds"]);
        assert!(d.blocks[5].heading_path.is_empty());
        assert_eq!(d.text.chars().count(), d.blocks[5].end);
    }

    #[test]
    fn slicing_counts_characters_not_bytes() {
        assert_eq!(slice_chars("ação rápida", 5, 11), "rápida");
        assert_eq!(slice_chars("abc", 2, 10), "c");
        assert_eq!(slice_chars("abc", 5, 6), "");
    }

    #[test]
    fn formats_from_names_and_mime_types() {
        use std::path::Path;
        assert_eq!(
            Format::from_path(Path::new("a/B.MD")),
            Some(Format::Markdown)
        );
        assert_eq!(
            Format::from_path(Path::new("faq.jsonl")),
            Some(Format::Jsonl)
        );
        assert_eq!(Format::from_path(Path::new("x.exe")), None);
        assert_eq!(
            Format::from_mime("text/html; charset=utf-8"),
            Some(Format::Html)
        );
    }
}

/// Metadata given with a document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DocumentMeta {
    pub language: Option<String>,
    pub tags: Vec<String>,
    pub labels: Vec<String>,
}
