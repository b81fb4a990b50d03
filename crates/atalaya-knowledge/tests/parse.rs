//! Every format parses from committed fixtures (scripts/knowledge_fixtures.py made the binary
//! ones), with the structure the chunker relies on; bad files fail with their reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use atalaya_knowledge::{
    chunk::{chunk, estimate_tokens, ChunkConfig},
    doc::{BlockKind, Format, ParsedDocument},
    parse::parse,
    Error,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn parse_file(name: &str) -> Result<ParsedDocument, Error> {
    let p = fixture(name);
    let format = Format::from_path(Path::new(name)).unwrap();
    parse(format, &std::fs::read(p).unwrap())
}

fn texts(d: &ParsedDocument) -> Vec<(BlockKind, String)> {
    d.blocks
        .iter()
        .map(|b| (b.kind, d.block_text(b).to_owned()))
        .collect()
}

#[test]
fn markdown_keeps_headings_lists_tables_and_code() {
    let d = parse_file("reset-password.md").unwrap();
    let t = texts(&d);
    assert_eq!(d.title.as_deref(), Some("Reset your password"));
    // Front matter is not content.
    assert!(!d.text.contains("tags:"), "{}", d.text);
    assert!(t.contains(&(
        BlockKind::ListItem,
        "Open the sign-in page and click Forgot password.".into()
    )));
    assert!(t.contains(&(
        BlockKind::ListItem,
        "Check your spam folder if the email does not arrive.".into()
    )));
    assert!(t.contains(&(
        BlockKind::Table,
        "Attempt | Wait\n1–3 | none\n4+ | 15 minutes".into()
    )));
    assert!(t
        .iter()
        .any(|(k, s)| *k == BlockKind::Code && s.contains("curl -X POST")));
    let limits = d
        .blocks
        .iter()
        .find(|b| b.kind == BlockKind::Table)
        .unwrap();
    assert_eq!(limits.heading_path, ["Reset your password", "Limits"]);
}

#[test]
fn html_drops_boilerplate_and_keeps_structure() {
    let d = parse_file("envios.html").unwrap();
    assert_eq!(d.title.as_deref(), Some("Envios e entregas | Loja Exemplo"));
    for junk in [
        "do not index",
        "Promoção",
        "Início",
        "direitos reservados",
        "color: red",
    ] {
        assert!(!d.text.contains(junk), "{junk:?} leaked: {}", d.text);
    }
    let t = texts(&d);
    assert_eq!(
        t[0],
        (BlockKind::Heading { level: 1 }, "Envios e entregas".into())
    );
    assert!(t.contains(&(
        BlockKind::Paragraph,
        "Enviamos para todo o Brasil e para Portugal. O prazo depende da região.".into()
    )));
    assert!(t.contains(&(
        BlockKind::Table,
        "Região | Prazo\nSudeste | 3 dias úteis\nPortugal | 10 dias úteis".into()
    )));
    assert!(t.contains(&(
        BlockKind::ListItem,
        "O código funciona no site dos Correios.".into()
    )));
    assert!(t.contains(&(BlockKind::Paragraph, "Dúvidas? Fale com o suporte.".into())));
    let item = d
        .blocks
        .iter()
        .find(|b| b.kind == BlockKind::ListItem)
        .unwrap();
    assert_eq!(item.heading_path, ["Envios e entregas", "Rastreamento"]);
}

#[test]
fn plain_text_paragraphs() {
    let d = parse_file("hours.txt").unwrap();
    assert_eq!(
        texts(&d).into_iter().map(|(_, s)| s).collect::<Vec<_>>(),
        [
            "Opening hours",
            "Our support team answers from 9:00 to 18:00, Monday to Friday.",
            "On public holidays the chat is closed."
        ]
    );
}

#[test]
fn pdf_text_layer_with_pages() {
    let d = parse_file("router-guide.pdf").unwrap();
    assert!(d.text.contains("hold the reset button"), "{}", d.text);
    let warranty = d
        .blocks
        .iter()
        .find(|b| d.block_text(b).contains("two years"))
        .unwrap();
    assert_eq!(warranty.page, Some(2));
    let first = d
        .blocks
        .iter()
        .find(|b| d.block_text(b).contains("wall socket"))
        .unwrap();
    assert_eq!(first.page, Some(1));
}

#[test]
fn docx_headings_numbered_lists_and_tables() {
    let d = parse_file("devoluciones.docx").unwrap();
    let t = texts(&d);
    assert_eq!(
        t[0],
        (
            BlockKind::Heading { level: 1 },
            "Política de devoluciones".into()
        )
    );
    assert!(t.contains(&(BlockKind::Heading { level: 2 }, "Cómo devolver".into())));
    assert!(t.contains(&(BlockKind::ListItem, "Imprima la etiqueta de envío.".into())));
    assert!(t.contains(&(
        BlockKind::Table,
        "Producto | Plazo\nRopa | 30 días\nElectrónica | 15 días".into()
    )));
    let refund = d
        .blocks
        .iter()
        .find(|b| d.block_text(b).contains("5 días hábiles"))
        .unwrap();
    assert_eq!(
        refund.heading_path,
        ["Política de devoluciones", "Reembolsos"]
    );
}

#[test]
fn faq_files_give_one_chunk_per_pair() {
    for name in ["faq.csv", "faq.jsonl"] {
        let d = parse_file(name).unwrap();
        let faqs: Vec<_> = d
            .blocks
            .iter()
            .filter(|b| b.kind == BlockKind::Faq)
            .collect();
        assert_eq!(faqs.len(), if name == "faq.csv" { 3 } else { 2 }, "{name}");
        let chunks = chunk(&d, &ChunkConfig::default(), &estimate_tokens);
        let faq_chunks: Vec<_> = chunks
            .iter()
            .filter(|c| c.text.contains('\n') && c.text.contains('?'))
            .collect();
        assert_eq!(faq_chunks.len(), faqs.len(), "{name}: {chunks:?}");
    }
    let d = parse_file("faq.csv").unwrap();
    let b = d.blocks.iter().find(|b| b.kind == BlockKind::Faq).unwrap();
    assert_eq!(
        d.block_text(b),
        "¿Qué tarjetas aceptan?\nAceptamos Visa, Mastercard y American Express."
    );
    assert_eq!(b.heading_path, ["Pagos"]);
    // Portuguese column names work too.
    let d = parse_file("faq.jsonl").unwrap();
    assert!(d
        .text
        .contains("Posso mudar de plano?\nSim, a qualquer momento."));
}

#[test]
fn bad_files_fail_with_their_reason() {
    let cases = [
        ("bad-columns.csv", "question"),
        ("bad-line.jsonl", "line 2"),
        ("broken.pdf", "pdf"),
        ("latin1.txt", "not UTF-8"),
    ];
    for (name, want) in cases {
        let e = parse_file(name).unwrap_err().to_string();
        assert!(e.contains(want), "{name}: {e}");
    }
    // A DOCX that is not a ZIP, an empty text file.
    let e = parse(Format::Docx, b"hello").unwrap_err().to_string();
    assert!(e.contains("ZIP"), "{e}");
    let e = parse(Format::Text, b"  \n\n ").unwrap_err();
    assert!(matches!(e, Error::Empty { .. }), "{e}");
}

#[test]
fn every_fixture_chunks_into_exact_ranges() {
    for name in [
        "reset-password.md",
        "envios.html",
        "hours.txt",
        "router-guide.pdf",
        "devoluciones.docx",
        "faq.csv",
        "faq.jsonl",
    ] {
        let d = parse_file(name).unwrap();
        let cfg = ChunkConfig {
            max_tokens: 24,
            overlap_tokens: 6,
        };
        let chunks = chunk(&d, &cfg, &estimate_tokens);
        assert!(!chunks.is_empty(), "{name}");
        for c in &chunks {
            assert_eq!(
                atalaya_knowledge::doc::slice_chars(&d.text, c.start, c.end),
                c.text,
                "{name}"
            );
        }
        // Every block's text is in some chunk.
        for b in &d.blocks {
            assert!(
                chunks.iter().any(|c| c.start <= b.start && c.end >= b.end)
                    || chunks.iter().any(|c| c.start < b.end && c.end > b.start),
                "{name}: block {:?} not covered",
                d.block_text(b)
            );
        }
    }
}

/// Hostile files that the parsers can refuse in this process: each fails alone, with a reason
/// that says which limit or defect.
#[test]
fn hostile_files_fail_alone_with_their_reason() {
    for (name, limit, says) in [
        ("hostile/bomb.docx", true, "ratio 200:1"),
        ("hostile/lying-size.docx", true, "declares 4294967280 bytes"),
        ("hostile/truncated.docx", false, "ZIP"),
        ("hostile/garbage.pdf", false, "PDF"),
        ("hostile/invalid-utf8.md", false, "not UTF-8"),
    ] {
        let e = parse_file(name).unwrap_err();
        match (&e, limit) {
            (Error::Limit { .. }, true) | (Error::Parse { .. }, false) => {}
            _ => panic!("{name}: {e:?}"),
        }
        assert!(e.to_string().contains(says), "{name}: {e}");
    }
}

/// The HTML walk is iterative: a page nested 4,000 elements deep parses on a thread with a
/// 256 KiB stack (the recursive walk it replaced aborted the process with a stack overflow).
#[test]
fn deeply_nested_html_does_not_overflow_the_stack() {
    let depth = 4_000;
    let page = format!(
        "<html><body>{}<p>deep text</p>{}<b>{}bold</b></body></html>",
        "<div>".repeat(depth),
        "</div>".repeat(depth),
        "<i>".repeat(depth)
    );
    let d = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || parse(Format::Html, page.as_bytes()))
        .unwrap()
        .join()
        .unwrap()
        .unwrap();
    assert!(d.text.contains("deep text"), "{}", d.text);
    assert!(d.text.contains("bold"), "{}", d.text);
}
