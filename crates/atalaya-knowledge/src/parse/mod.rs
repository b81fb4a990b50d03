//! Format parsers. Each turns a file's bytes into a [`ParsedDocument`]; none is hand-written
//! where a maintained crate exists (pulldown-cmark, scraper/html5ever, pdf-extract, docx-rs,
//! csv, serde_json).

use crate::{
    doc::{Format, ParsedDocument},
    Error,
};

mod docx;
mod faq;
mod html;
mod markdown;
mod pdf;
mod sandbox;
mod text;

pub use sandbox::{register_worker, serve_worker, Limits, Parser};

/// Parses `bytes` as `format`. A document without any text is an error (nothing to index).
pub fn parse(format: Format, bytes: &[u8]) -> Result<ParsedDocument, Error> {
    let doc = match format {
        Format::Text => text::parse(utf8(format, bytes)?),
        Format::Markdown => markdown::parse(utf8(format, bytes)?),
        Format::Html => html::parse(&String::from_utf8_lossy(strip_bom(bytes))),
        Format::Pdf => pdf::parse(bytes)?,
        Format::Docx => docx::parse(bytes)?,
        Format::Csv => faq::parse_csv(strip_bom(bytes))?,
        Format::Jsonl => faq::parse_jsonl(utf8(format, bytes)?)?,
    };
    if doc.blocks.is_empty() {
        return Err(Error::Empty {
            format: format.as_str(),
            hint: if format == Format::Pdf {
                " (a scanned PDF has no text layer; run OCR first)"
            } else {
                ""
            },
        });
    }
    Ok(doc)
}

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// Text formats must be UTF-8: a wrong guess at another encoding would index garbage.
fn utf8(format: Format, bytes: &[u8]) -> Result<&str, Error> {
    std::str::from_utf8(strip_bom(bytes)).map_err(|e| {
        Error::parse(
            format.as_str(),
            format!(
                "not UTF-8 (invalid byte at offset {}); convert the file to UTF-8",
                e.valid_up_to()
            ),
        )
    })
}
