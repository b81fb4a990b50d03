//! HTML via scraper (html5ever): boilerplate (navigation, headers, footers, sidebars, forms,
//! scripts, styles) is dropped; headings, paragraphs, list items, preformatted text and whole
//! tables become blocks. `<main>` or `<article>`, when present, is the content.

use ego_tree::{iter::Edge, NodeRef};
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

    /// Walks the subtree in document order without recursion (html5ever builds trees of any
    /// depth; a recursive walk would overflow the stack on a hostile page).
    fn walk(&mut self, root: NodeRef<'_, Node>) {
        // The root of a subtree being skipped (boilerplate, or taken whole as a heading,
        // `<pre>` or table).
        let mut skipping: Option<ego_tree::NodeId> = None;
        for edge in root.traverse() {
            match edge {
                Edge::Open(node) => {
                    if skipping.is_some() {
                        continue;
                    }
                    if self.open(node) {
                        skipping = Some(node.id());
                    }
                }
                Edge::Close(node) => {
                    if let Some(id) = skipping {
                        if id == node.id() {
                            skipping = None;
                        }
                        continue;
                    }
                    self.close(node);
                }
            }
        }
    }

    /// Entering a node; `true` when its subtree is done (skipped or taken whole).
    fn open(&mut self, node: NodeRef<'_, Node>) -> bool {
        match node.value() {
            Node::Text(t) => {
                self.buf.push_str(t);
                false
            }
            Node::Element(e) => {
                let name = e.name();
                if SKIP.contains(&name) || (name == "header" && self.skip_header) {
                    return true;
                }
                if let Some(level) = heading_level(name) {
                    self.flush(BlockKind::Paragraph);
                    self.buf = text_of(node);
                    self.flush(BlockKind::Heading { level });
                    return true;
                }
                match name {
                    "pre" => {
                        self.flush(BlockKind::Paragraph);
                        self.buf = raw_text_of(node);
                        self.flush(BlockKind::Code);
                        true
                    }
                    "table" => {
                        self.flush(BlockKind::Paragraph);
                        self.buf = table_text(node);
                        self.flush(BlockKind::Table);
                        true
                    }
                    _ => {
                        if name == "li" || BLOCKS.contains(&name) {
                            self.flush(BlockKind::Paragraph);
                        }
                        false
                    }
                }
            }
            _ => false,
        }
    }

    /// Leaving an element whose children were walked.
    fn close(&mut self, node: NodeRef<'_, Node>) {
        let Node::Element(e) = node.value() else {
            return;
        };
        match e.name() {
            "li" => self.flush(BlockKind::ListItem),
            name if BLOCKS.contains(&name) => self.flush(BlockKind::Paragraph),
            // Inline elements: their words must not run into the neighbours'.
            "td" | "th" | "img" => self.buf.push(' '),
            _ => {}
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
    // Iterative, like [`Walker::walk`].
    let mut skipping: Option<ego_tree::NodeId> = None;
    for edge in node.traverse() {
        match edge {
            Edge::Open(n) if n.id() == node.id() || skipping.is_some() => {}
            Edge::Open(n) => match n.value() {
                Node::Text(t) => out.push_str(t),
                Node::Element(e) if SKIP.contains(&e.name()) => skipping = Some(n.id()),
                _ => {}
            },
            Edge::Close(n) => {
                if skipping == Some(n.id()) {
                    skipping = None;
                } else if skipping.is_none() && n.id() != node.id() {
                    if let Node::Element(e) = n.value() {
                        if BLOCKS.contains(&e.name()) || e.name() == "li" {
                            out.push(' ');
                        }
                    }
                }
            }
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
