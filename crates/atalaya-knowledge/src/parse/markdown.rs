//! Markdown (CommonMark with tables) via pulldown-cmark: headings, paragraphs, list items,
//! code blocks and whole tables become blocks; front matter and raw HTML are skipped.

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use crate::doc::{BlockKind, Builder, ParsedDocument};

pub(super) fn parse(text: &str) -> ParsedDocument {
    let opts = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_YAML_STYLE_METADATA_BLOCKS
        | Options::ENABLE_PLUSES_DELIMITED_METADATA_BLOCKS;
    let mut b = Builder::new();
    let mut buf = String::new();
    // Open list items: their text is flushed when a nested block starts.
    let mut items = 0usize;
    let mut in_table = false;
    let mut row: Vec<String> = Vec::new();
    let mut rows: Vec<String> = Vec::new();
    let mut skip = 0usize;
    for event in Parser::new_ext(text, opts) {
        match event {
            Event::Start(Tag::MetadataBlock(_)) => skip += 1,
            Event::End(TagEnd::MetadataBlock(_)) => skip = skip.saturating_sub(1),
            _ if skip > 0 => {}
            Event::Start(Tag::Heading { .. }) => flush_item(&mut b, &mut buf, items),
            Event::End(TagEnd::Heading(level)) => {
                b.push(
                    BlockKind::Heading {
                        level: level_num(level),
                    },
                    &buf,
                );
                buf.clear();
            }
            Event::Start(Tag::Item) => {
                flush_item(&mut b, &mut buf, items);
                items += 1;
            }
            Event::End(TagEnd::Item) => {
                b.push(BlockKind::ListItem, &buf);
                buf.clear();
                items = items.saturating_sub(1);
            }
            Event::Start(Tag::List(_)) => flush_item(&mut b, &mut buf, items),
            Event::End(TagEnd::Paragraph) if items == 0 && !in_table => {
                b.push(BlockKind::Paragraph, &buf);
                buf.clear();
            }
            Event::End(TagEnd::Paragraph) => buf.push(' '),
            Event::Start(Tag::CodeBlock(_)) => flush_item(&mut b, &mut buf, items),
            Event::End(TagEnd::CodeBlock) => {
                b.push(BlockKind::Code, &buf);
                buf.clear();
            }
            Event::Start(Tag::Table(_)) => {
                flush_item(&mut b, &mut buf, items);
                in_table = true;
            }
            Event::End(TagEnd::TableCell) => {
                row.push(crate::doc::normalize_inline(&buf));
                buf.clear();
            }
            Event::End(TagEnd::TableHead | TagEnd::TableRow) => {
                rows.push(row.join(" | "));
                row.clear();
            }
            Event::End(TagEnd::Table) => {
                b.push(BlockKind::Table, &rows.join("\n"));
                rows.clear();
                in_table = false;
            }
            Event::Text(t) | Event::Code(t) => buf.push_str(&t),
            Event::SoftBreak | Event::HardBreak => buf.push(if in_table { ' ' } else { '\n' }),
            _ => {}
        }
    }
    // Text outside any closed block (malformed input still yields its text).
    b.push(BlockKind::Paragraph, &buf);
    b.finish()
}

/// Text gathered for an open list item goes out before a nested block starts.
fn flush_item(b: &mut Builder, buf: &mut String, items: usize) {
    if items > 0 {
        b.push(BlockKind::ListItem, buf);
    } else {
        b.push(BlockKind::Paragraph, buf);
    }
    buf.clear();
}

fn level_num(level: HeadingLevel) -> u8 {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}
