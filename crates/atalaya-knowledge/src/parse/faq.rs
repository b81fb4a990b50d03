//! FAQ files: CSV (with a header row) or JSON Lines, one question/answer pair per row, each a
//! block of its own (and so a chunk of its own). Column names: `question`/`answer`, or their
//! Spanish and Portuguese equivalents; an optional `section`/`category` column becomes the
//! heading path.

use serde_json::Value;

use crate::{
    doc::{BlockKind, Builder, ParsedDocument},
    Error,
};

const QUESTION: &[&str] = &["question", "q", "pregunta", "pergunta"];
const ANSWER: &[&str] = &["answer", "a", "respuesta", "resposta"];
const SECTION: &[&str] = &[
    "section",
    "category",
    "topic",
    "categoria",
    "categoría",
    "seção",
    "sección",
];

fn find(names: &[String], wanted: &[&str]) -> Option<usize> {
    names
        .iter()
        .position(|n| wanted.contains(&n.trim().to_lowercase().as_str()))
}

struct Pairs {
    b: Builder,
    section: Option<String>,
}

impl Pairs {
    fn add(&mut self, section: Option<&str>, q: &str, a: &str) {
        let section = section.map(str::trim).filter(|s| !s.is_empty());
        if section != self.section.as_deref() {
            if let Some(s) = section {
                self.b.push(BlockKind::Heading { level: 1 }, s);
            }
            self.section = section.map(str::to_owned);
        }
        let (q, a) = (q.trim(), a.trim());
        if q.is_empty() && a.is_empty() {
            return;
        }
        self.b.push(BlockKind::Faq, &format!("{q}\n{a}"));
    }
}

pub(super) fn parse_csv(bytes: &[u8]) -> Result<ParsedDocument, Error> {
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| Error::parse("csv", e))?
        .iter()
        .map(str::to_owned)
        .collect();
    let (Some(qi), Some(ai)) = (find(&headers, QUESTION), find(&headers, ANSWER)) else {
        return Err(Error::parse(
            "csv",
            format!("the header row needs `question` and `answer` columns, found {headers:?}"),
        ));
    };
    let si = find(&headers, SECTION);
    let mut pairs = Pairs {
        b: Builder::new(),
        section: None,
    };
    for (n, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| Error::parse("csv", format!("row {}: {e}", n + 2)))?;
        pairs.add(
            si.and_then(|i| rec.get(i)),
            rec.get(qi).unwrap_or(""),
            rec.get(ai).unwrap_or(""),
        );
    }
    Ok(pairs.b.finish())
}

pub(super) fn parse_jsonl(text: &str) -> Result<ParsedDocument, Error> {
    let mut pairs = Pairs {
        b: Builder::new(),
        section: None,
    };
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line)
            .map_err(|e| Error::parse("jsonl", format!("line {}: {e}", n + 1)))?;
        let Some(obj) = v.as_object() else {
            return Err(Error::parse(
                "jsonl",
                format!(
                    "line {}: expected an object with question and answer",
                    n + 1
                ),
            ));
        };
        let field = |names: &[&str]| {
            obj.iter()
                .find(|(k, _)| names.contains(&k.to_lowercase().as_str()))
                .and_then(|(_, v)| v.as_str())
        };
        let (Some(q), Some(a)) = (field(QUESTION), field(ANSWER)) else {
            return Err(Error::parse(
                "jsonl",
                format!(
                    "line {}: needs string fields `question` and `answer`",
                    n + 1
                ),
            ));
        };
        pairs.add(field(SECTION), q, a);
    }
    Ok(pairs.b.finish())
}
