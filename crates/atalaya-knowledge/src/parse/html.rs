//! HTML via scraper (html5ever): boilerplate (navigation, headers, footers, sidebars, forms,
//! scripts, styles) is dropped; headings, paragraphs, list items, preformatted text and whole
//! tables become blocks. `<main>` or `<article>`, when present, is the content.

use ego_tree::NodeRef;
use scraper::{Html, Node, Selector};

use crate::doc::{normalize_inline, BlockKind, Builder, ParsedDocument};

/// Subtrees that are never content. (`<form>` is walked: whole pages are often wrapped in
/// one; its controls are skipped. `<header>` is skipped only outside `<main>`/`<article>`,
/// where it is the site's banner rather than the article's heading.)
const SKIP: &[&str] = &[
    "script", "style", "noscript", "template", "nav", "footer", "aside", "button", "select",
    "input", "textarea", "option", "svg", "iframe", "head",
];

/// Elements that end the running paragraph.
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "main",
    "blockquote",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "figure",
    "figcaption",
    "address",
    "details",
    "summary",
    "hr",
    "br",
    "body",
];

pub(super) fn parse(source: &str) -> ParsedDocument {
    let html = Html::parse_document(source);
    let mut w = Walker {
        b: Builder::new(),
        buf: String::new(),
        skip_header: true,
    };
    if let Some(title) = Selector::parse("title")
        .ok()
        .and_then(|s| html.select(&s).next())
    {
        w.b.set_title(&title.text().collect::<String>());
    }
    let content = ["main", "article"]
        .iter()
        .filter_map(|tag| Selector::parse(tag).ok())
        .find_map(|s| html.select(&s).next().map(|e| *e));
    w.skip_header = content.is_none();
    let root = content
        .or_else(|| {
            Selector::parse("body")
                .ok()
                .and_then(|s| html.select(&s).next().map(|e| *e))
        })
        .unwrap_or_else(|| html.tree.root());
    w.walk(root);
    w.flush(BlockKind::Paragraph);
    w.b.finish()
}

struct Walker {
    b: Builder,
    buf: String,
    skip_header: bool,
}

impl Walker {
    fn flush(&mut self, kind: BlockKind) {
        self.b.push(kind, &self.buf);
        self.buf.clear();
    }

    fn walk(&mut self, node: NodeRef<'_, Node>) {
        match node.value() {
            Node::Text(t) => self.buf.push_str(t),
            Node::Element(e) => {
                let name = e.name();
                if SKIP.contains(&name) || (name == "header" && self.skip_header) {
                    return;
                }
                if let Some(level) = heading_level(name) {
                    self.flush(BlockKind::Paragraph);
                    self.buf = text_of(node);
                    self.flush(BlockKind::Heading { level });
                    return;
                }
                match name {
                    "li" => {
                        self.flush(BlockKind::Paragraph);
                        self.walk_children(node);
                        self.flush(BlockKind::ListItem);
                    }
                    "pre" => {
                        self.flush(BlockKind::Paragraph);
                        self.buf = raw_text_of(node);
                        self.flush(BlockKind::Code);
                    }
                    "table" => {
                        self.flush(BlockKind::Paragraph);
                        self.buf = table_text(node);
                        self.flush(BlockKind::Table);
                    }
                    _ if BLOCKS.contains(&name) => {
                        self.flush(BlockKind::Paragraph);
                        self.walk_children(node);
                        self.flush(BlockKind::Paragraph);
                    }
                    _ => {
                        // Inline elements: their words must not run into the neighbours'.
                        self.walk_children(node);
                        if matches!(name, "td" | "th" | "img") {
                            self.buf.push(' ');
                        }
                    }
                }
            }
            Node::Document | Node::Fragment => self.walk_children(node),
            _ => {}
        }
    }

    fn walk_children(&mut self, node: NodeRef<'_, Node>) {
        for child in node.children() {
            self.walk(child);
        }
    }
}

fn heading_level(name: &str) -> Option<u8> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

/// Visible text of a subtree (skipping boilerplate elements), whitespace collapsed.
fn text_of(node: NodeRef<'_, Node>) -> String {
    let mut out = String::new();
    collect(node, &mut out);
    normalize_inline(&out)
}

fn collect(node: NodeRef<'_, Node>, out: &mut String) {
    for child in node.children() {
        match child.value() {
            Node::Text(t) => out.push_str(t),
            Node::Element(e) if SKIP.contains(&e.name()) => {}
            Node::Element(e) => {
                collect(child, out);
                if BLOCKS.contains(&e.name()) || e.name() == "li" {
                    out.push(' ');
                }
            }
            _ => {}
        }
    }
}

/// Text of `<pre>`, verbatim.
fn raw_text_of(node: NodeRef<'_, Node>) -> String {
    let mut out = String::new();
    for d in node.descendants() {
        if let Node::Text(t) = d.value() {
            out.push_str(t);
        }
    }
    out
}

/// One line per row, cells joined by ` | ` (nested tables flattened into their cell).
fn table_text(table: NodeRef<'_, Node>) -> String {
    let mut rows = Vec::new();
    for d in table.descendants() {
        let Node::Element(e) = d.value() else {
            continue;
        };
        if e.name() != "tr" {
            continue;
        }
        let cells: Vec<String> = d
            .children()
            .filter(|c| matches!(c.value(), Node::Element(e) if matches!(e.name(), "td" | "th")))
            .map(text_of)
            .collect();
        if cells.iter().any(|c| !c.is_empty()) {
            rows.push(cells.join(" | "));
        }
    }
    rows.join("\n")
}
