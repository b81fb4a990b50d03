//! Plain text: paragraphs are separated by blank lines.

use crate::doc::{BlockKind, Builder, ParsedDocument};

pub(super) fn parse(text: &str) -> ParsedDocument {
    let mut b = Builder::new();
    let mut para = String::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            b.push(BlockKind::Paragraph, &para);
            para.clear();
        } else {
            para.push_str(line);
            para.push('\n');
        }
    }
    b.push(BlockKind::Paragraph, &para);
    b.finish()
}
