//! PDF text layer via pdf-extract, page by page: paragraphs are separated by blank lines and
//! carry their page number. Scanned PDFs have no text layer (reported as empty).

use crate::{
    doc::{BlockKind, Builder, ParsedDocument},
    Error,
};

pub(super) fn parse(bytes: &[u8]) -> Result<ParsedDocument, Error> {
    if !bytes.starts_with(b"%PDF-") {
        return Err(Error::parse("pdf", "missing the %PDF- header"));
    }
    // pdf-extract panics on some malformed files instead of returning an error: a panic is
    // contained here and reported like any parse error.
    let pages = std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem_by_pages(bytes))
        .map_err(|_| Error::parse("pdf", "the file is malformed (the PDF reader gave up)"))?
        .map_err(|e| Error::parse("pdf", e))?;
    let mut b = Builder::new();
    for (i, page) in pages.iter().enumerate() {
        b.set_page(u32::try_from(i + 1).ok());
        let mut para = String::new();
        for line in page.lines() {
            if line.trim().is_empty() {
                b.push(BlockKind::Paragraph, &para);
                para.clear();
            } else {
                // Words hyphenated across lines are joined.
                if para.ends_with('-') && line.starts_with(char::is_lowercase) {
                    para.pop();
                } else if !para.is_empty() {
                    para.push(' ');
                }
                para.push_str(line.trim());
            }
        }
        b.push(BlockKind::Paragraph, &para);
    }
    Ok(b.finish())
}
