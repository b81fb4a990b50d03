//! DOCX via docx-rs: paragraphs with a heading style (Heading1…9, Title; also localized ids
//! such as "Ttulo1") become headings, numbered or list-styled paragraphs list items, tables
//! whole tables.

use docx_rs::{
    DocumentChild, InsertChild, Paragraph, ParagraphChild, Run, RunChild, Table, TableCellContent,
    TableChild, TableRowChild,
};

use crate::{
    doc::{BlockKind, Builder, ParsedDocument},
    Error,
};

pub(super) fn parse(bytes: &[u8]) -> Result<ParsedDocument, Error> {
    if !bytes.starts_with(b"PK") {
        return Err(Error::parse("docx", "not a ZIP container"));
    }
    check_container(bytes)?;
    let docx = std::panic::catch_unwind(|| docx_rs::read_docx(bytes))
        .map_err(|_| Error::parse("docx", "the file is malformed (the DOCX reader gave up)"))?
        .map_err(|e| Error::parse("docx", e))?;
    let mut b = Builder::new();
    for child in &docx.document.children {
        match child {
            DocumentChild::Paragraph(p) => {
                let text = paragraph_text(p);
                let style = p.property.style.as_ref().map(|s| s.val.as_str());
                let kind = match style.and_then(heading_level) {
                    Some(level) => BlockKind::Heading { level },
                    // Numbered paragraphs, and the list styles (ListBullet, ListNumber…)
                    // whose numbering lives in the style.
                    None if p.property.numbering_property.is_some()
                        || style.is_some_and(|s| s.starts_with("List")) =>
                    {
                        BlockKind::ListItem
                    }
                    None => BlockKind::Paragraph,
                };
                b.push(kind, &text);
            }
            DocumentChild::Table(t) => b.push(BlockKind::Table, &table_text(t)),
            _ => {}
        }
    }
    Ok(b.finish())
}

/// "Heading2" → 2, "Title" → 1; localized Word styles ("Ttulo1", "Titre2", "Überschrift3")
/// end in their level too.
fn heading_level(style: &str) -> Option<u8> {
    let lower = style.to_lowercase();
    if lower == "title" {
        return Some(1);
    }
    let digits: String = lower
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect();
    let stem = &lower[..lower.len() - digits.len()];
    let known = [
        "heading",
        "ttulo",
        "titulo",
        "título",
        "titre",
        "berschrift",
        "überschrift",
    ];
    if digits.is_empty() || !known.iter().any(|k| stem.ends_with(k)) {
        return None;
    }
    digits
        .chars()
        .rev()
        .collect::<String>()
        .parse::<u8>()
        .ok()
        .filter(|l| (1..=9).contains(l))
}

/// Largest uncompressed size of one part, and of all parts together, that a DOCX may declare.
const MAX_PART: u64 = 256 * 1024 * 1024;
const MAX_TOTAL: u64 = 512 * 1024 * 1024;
/// Largest compression ratio of a part above 1 MiB (text XML compresses about 10:1; bombs
/// reach 1000:1).
const MAX_RATIO: u64 = 200;

/// Reads the ZIP directory before the DOCX reader does: it allocates what a part's header
/// claims, so a bomb or a lying header is refused here, with the part's name.
fn check_container(bytes: &[u8]) -> Result<(), Error> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| Error::parse("docx", format!("not a readable ZIP container: {e}")))?;
    let mut total: u64 = 0;
    for i in 0..zip.len() {
        let part = zip
            .by_index_raw(i)
            .map_err(|e| Error::parse("docx", format!("ZIP entry {i}: {e}")))?;
        let (size, packed) = (part.size(), part.compressed_size().max(1));
        total = total.saturating_add(size);
        let bomb = size > 1024 * 1024 && size / packed > MAX_RATIO;
        if size > MAX_PART || total > MAX_TOTAL || bomb {
            return Err(Error::Limit {
                format: "docx",
                reason: format!(
                    "part '{}' declares {} bytes from {} compressed (limits: {} MiB a part, {} MiB in all, ratio {}:1)",
                    part.name(),
                    size,
                    packed,
                    MAX_PART >> 20,
                    MAX_TOTAL >> 20,
                    MAX_RATIO
                ),
            });
        }
    }
    Ok(())
}

fn paragraph_text(p: &Paragraph) -> String {
    let mut out = String::new();
    children_text(&p.children, &mut out);
    out
}

fn children_text(children: &[ParagraphChild], out: &mut String) {
    for c in children {
        match c {
            ParagraphChild::Run(run) => run_text(run, out),
            ParagraphChild::Hyperlink(h) => children_text(&h.children, out),
            // Tracked insertions are current text; tracked deletions are not.
            ParagraphChild::Insert(ins) => {
                for ic in &ins.children {
                    if let InsertChild::Run(run) = ic {
                        run_text(run, out);
                    }
                }
            }
            _ => {}
        }
    }
}

fn run_text(run: &Run, out: &mut String) {
    for rc in &run.children {
        match rc {
            RunChild::Text(t) => out.push_str(&t.text),
            RunChild::Tab(_) | RunChild::PTab(_) => out.push(' '),
            RunChild::Break(_) => out.push('\n'),
            _ => {}
        }
    }
}

fn table_text(t: &Table) -> String {
    let mut rows = Vec::new();
    for TableChild::TableRow(row) in &t.rows {
        let cells: Vec<String> = row
            .cells
            .iter()
            .map(|TableRowChild::TableCell(cell)| {
                cell.children
                    .iter()
                    .filter_map(|c| match c {
                        TableCellContent::Paragraph(p) => Some(paragraph_text(p)),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        if cells.iter().any(|c| !c.is_empty()) {
            rows.push(cells.join(" | "));
        }
    }
    rows.join("\n")
}

#[cfg(test)]
mod tests {
    use super::{heading_level, parse};

    #[test]
    fn tracked_insertions_count_and_deletions_do_not() {
        use docx_rs::{Delete, Docx, Insert, Paragraph, Run};
        let mut buf = std::io::Cursor::new(Vec::new());
        Docx::new()
            .add_paragraph(
                Paragraph::new()
                    .add_run(Run::new().add_text("Refunds take "))
                    .add_insert(Insert::new(Run::new().add_text("five")))
                    .add_delete(Delete::new().add_run(Run::new().add_delete_text("seven")))
                    .add_run(Run::new().add_text(" days.")),
            )
            .build()
            .pack(&mut buf)
            .unwrap();
        let d = parse(&buf.into_inner()).unwrap();
        assert_eq!(d.text, "Refunds take five days.");
    }

    #[test]
    fn heading_styles_in_several_languages() {
        assert_eq!(heading_level("Heading1"), Some(1));
        assert_eq!(heading_level("heading 3"), None);
        assert_eq!(heading_level("Ttulo2"), Some(2));
        assert_eq!(heading_level("Title"), Some(1));
        assert_eq!(heading_level("Normal"), None);
        assert_eq!(heading_level("ListParagraph"), None);
    }
}
