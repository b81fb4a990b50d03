//! Pattern recognizers with validation: e-mail, phone, card, IBAN, Spanish and Brazilian ids,
//! US SSN, IP addresses. A regex finds candidates; a validator (checksum, ranges, shape,
//! context) decides. Regexes carry no `\b` (Unicode word boundaries would force the slow
//! engine); boundaries are checked on the match instead.
//!
//! Every type but e-mail is led by digits, and most of a support message has none: one pass
//! finds the windows around digits ([`digit_windows`]) and the regexes run only inside them.

use std::net::Ipv6Addr;

use regex::Regex;
use regex_automata::{dfa, Input};

use super::{checksum, EntityType, Finding};
use crate::text::{
    boundary_after, boundary_before, next_char, prev_char, standalone, window_before,
};
use crate::GuardError;
use unicode_normalization::char::is_combining_mark;

pub(crate) struct Patterns {
    email: Regex,
    card: Dfa,
    iban: Dfa,
    dni: Dfa,
    nie: Dfa,
    cpf: Dfa,
    cnpj: Dfa,
    ssn: Dfa,
    ipv4: Dfa,
    ipv6: Dfa,
    phone: Dfa,
}

/// A digit-led pattern as a fully compiled DFA pair (forward for ends, reverse for starts):
/// inside a window nearly every byte is a candidate start, and these small patterns search
/// fastest with no prefilter, no lazy cache and no per-search set-up.
type Dfa = dfa::regex::Regex;

fn re(p: &str) -> Result<Dfa, GuardError> {
    dfa::regex::Regex::new(p).map_err(|e| bad(&e))
}

pub(super) fn bad(e: &dyn std::fmt::Display) -> GuardError {
    GuardError::Model {
        name: "pii patterns".into(),
        reason: e.to_string(),
    }
}

fn digits(s: &str) -> Vec<u8> {
    s.bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect()
}

fn number(d: &[u8]) -> u32 {
    d.iter()
        .fold(0u32, |a, &x| a.wrapping_mul(10).wrapping_add(u32::from(x)))
}

/// Separators used between digit groups (everything that is not an ASCII alphanumeric).
fn separators(s: &str) -> Vec<u8> {
    s.bytes().filter(|b| !b.is_ascii_alphanumeric()).collect()
}

fn has_any(window: &str, words: &[&str]) -> bool {
    words.iter().any(|w| window.contains(w))
}

/// A list of cue words, indexed for [`has_word`]: the cues made of letters and digits by their
/// first byte (compared with the window's words), the others searched in the window.
struct Cues {
    by_first: Vec<Vec<&'static str>>,
    other: Vec<&'static str>,
}

impl Cues {
    fn new(words: &[&'static str]) -> Self {
        let mut by_first = vec![Vec::new(); 256];
        let mut other = Vec::new();
        for w in words {
            match w.bytes().next() {
                Some(b) if w.chars().all(char::is_alphanumeric) => {
                    by_first[usize::from(b)].push(*w)
                }
                _ => other.push(*w),
            }
        }
        Cues { by_first, other }
    }
}

fn phone_cues() -> &'static Cues {
    static C: std::sync::OnceLock<Cues> = std::sync::OnceLock::new();
    C.get_or_init(|| Cues::new(PHONE_CUES))
}

fn non_phone_cues() -> &'static Cues {
    static C: std::sync::OnceLock<Cues> = std::sync::OnceLock::new();
    C.get_or_init(|| Cues::new(NON_PHONE_CUES))
}

/// Whether `window` holds one of the cues starting at a word boundary (a cue is a word or the
/// stem of one: "llam" in "llámame", "lig" in "ligue"); with `whole`, ending at one too, so
/// "id" is not found in "clinicavida" nor "no." in "antemano.".
fn has_word(window: &str, cues: &Cues, whole: bool) -> bool {
    let word_cue = window
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .any(|t| {
            cues.by_first[usize::from(t.as_bytes()[0])].iter().any(|w| {
                if whole {
                    t == *w
                } else {
                    t.starts_with(w)
                }
            })
        });
    if word_cue {
        return true;
    }
    let alnum_at = |i: usize, before: bool| {
        let c = if before {
            window[..i].chars().next_back()
        } else {
            window[i..].chars().next()
        };
        c.is_some_and(char::is_alphanumeric)
    };
    cues.other.iter().any(|w| {
        let word_like = w.ends_with(|c: char| c.is_alphanumeric());
        window.match_indices(w).any(|(i, _)| {
            let glued_after = whole && word_like && alnum_at(i + w.len(), false);
            !(alnum_at(i, true) || glued_after)
        })
    })
}

const PHONE_CUES: &[&str] = &[
    "phone",
    "tel",
    "mobile",
    "cell",
    "call",
    "whatsapp",
    "fax",
    "contact",
    "número",
    "numero",
    "móvil",
    "movil",
    "celular",
    "teléfono",
    "telefone",
    "telemóvel",
    "telemovel",
    "llam",
    "lig",
    "contato",
    "contacto",
    "sms",
    "tlf",
    "tfno",
    "fone",
    "cel",
    "móv",
    "línea",
    "linea",
    "linha",
    "line",
    "ring",
    "text me",
];
const SSN_CUES: &[&str] = &["ssn", "social security", "seguro social"];
const CPF_CUES: &[&str] = &["cpf"];
const CNPJ_CUES: &[&str] = &["cnpj"];
const NON_PHONE_CUES: &[&str] = &[
    "order",
    "pedido",
    "encomenda",
    "tracking",
    "seguimiento",
    "rastreio",
    "rastreo",
    "invoice",
    "factura",
    "fatura",
    "nota fiscal",
    "ticket",
    "sku",
    "ref",
    "#",
    "nº",
    "n.º",
    "no.",
    "account",
    "cuenta",
    "conta",
    "id",
    "serial",
    "version",
    "versión",
    "versão",
    "protocolo",
    "código",
    "codigo",
    "code",
];

impl Patterns {
    pub(crate) fn new() -> Result<Self, GuardError> {
        Ok(Patterns {
            email: Regex::new(
                r"[\p{L}\p{M}\p{N}._%+\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}",
            )
            .map_err(|e| bad(&e))?,
            card: re(r"[0-9](?:[ \-]?[0-9]){11,18}")?,
            iban: re(r"(?i)[A-Z]{2}[0-9]{2}(?:[ \-]?[A-Z0-9]){11,32}")?,
            dni: re(r"[0-9]{1,2}\.?[0-9]{3}\.?[0-9]{3}[ \-]?[A-Za-z]")?,
            nie: re(r"[XYZxyz][ \-]?[0-9]{7}[ \-]?[A-Za-z]")?,
            cpf: re(r"[0-9]{3}\.?[0-9]{3}\.?[0-9]{3}[\-. ]?[0-9]{2}")?,
            cnpj: re(r"[0-9]{2}\.?[0-9]{3}\.?[0-9]{3}/?[0-9]{4}[\-.]?[0-9]{2}")?,
            ssn: re(r"[0-9]{3}[\- .]?[0-9]{2}[\- .]?[0-9]{4}")?,
            ipv4: re(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}")?,
            ipv6: re(r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:%[0-9A-Za-z]+)?")?,
            phone: re(r"(?:\+|00)?\(?[0-9]{1,4}\)?(?:[ \-.]{0,2}\(?[0-9]{1,5}\)?){1,6}")?,
        })
    }

    pub(crate) fn scan(&self, text: &str, out: &mut Vec<Finding>) {
        self.scan_in(text, out, false);
    }

    /// `whole`: search the whole text, every pattern, as if there were no windows (the
    /// reference the windowed search is tested against).
    fn scan_in(&self, text: &str, out: &mut Vec<Finding>, whole: bool) {
        if text.contains('@') {
            if whole {
                for m in self.email.find_iter(text) {
                    self.email_match(text, m, out);
                }
            } else {
                self.emails(text, out);
            }
        }
        let w = if whole {
            vec![Window::whole(text)]
        } else {
            digit_windows(text)
        };
        if w.is_empty() {
            return;
        }
        let c = Candidates { text, windows: &w };
        self.cards(c, out);
        self.ibans(c, out);
        self.spanish(c, out);
        self.brazilian(c, out);
        self.ssns(c, out);
        self.ips(c, out);
        self.phones(c, out);
    }

    fn emails(&self, text: &str, out: &mut Vec<Finding>) {
        // Each search starts where the last match ended, as one pass over the whole text
        // would (neighbouring windows may share a local part).
        let mut last_end = 0;
        for (s, e) in email_candidates(text) {
            if let Some(m) = self.email.find_at(&text[..e], s.max(last_end).min(e)) {
                last_end = m.end();
                self.email_match(text, m, out);
            }
        }
    }

    fn email_match(&self, text: &str, m: regex::Match<'_>, out: &mut Vec<Finding>) {
        let (mut s, e) = (m.start(), m.end());
        // A leading dot or dash is punctuation, not part of the address.
        while s < e && matches!(text.as_bytes()[s], b'.' | b'-') {
            s += 1;
        }
        // Nothing left of the local part ("-@example.com"), or glued to a word.
        if text[s..].starts_with('@') || !boundary_before(text, s) {
            return;
        }
        out.push(Finding::new(EntityType::Email, s, e, 0.99, "email"));
    }

    fn cards(&self, c: Candidates<'_>, out: &mut Vec<Finding>) {
        let text = c.text;
        for m in c.find_iter(&self.card, |w| w.chain >= 12) {
            let (s, e) = (m.start(), m.end());
            if !standalone(text, s, e) {
                continue;
            }
            let d = digits(m.as_str());
            let seps = separators(m.as_str());
            // One kind of separator, or none.
            if seps.windows(2).any(|w| w[0] != w[1]) {
                continue;
            }
            if checksum::luhn(&d) && checksum::card_issuer_ok(&d) {
                let score = if seps.is_empty() { 0.9 } else { 0.95 };
                out.push(Finding::new(
                    EntityType::CreditCard,
                    s,
                    e,
                    score,
                    "credit_card_luhn",
                ));
            }
        }
    }

    fn ibans(&self, c: Candidates<'_>, out: &mut Vec<Finding>) {
        let text = c.text;
        // A rejected candidate can hide a real IBAN that starts inside it ("ES00version tel
        // ES91 2100 …": the pattern runs from the first "ES00" over the real one): after a
        // rejection the search resumes one character further, not after the candidate.
        c.find_retrying(
            &self.iban,
            |w| w.iban_start && w.end - w.start >= 15,
            |m| {
                let s = m.start();
                if !boundary_before(text, s) {
                    return false;
                }
                let raw = m.as_str();
                let country = raw[..2].to_ascii_uppercase();
                let Some(len) = checksum::iban_length(&country) else {
                    return false;
                };
                // Take exactly the country's length of alphanumerics (the regex may run into
                // the next word when groups are separated by spaces).
                let mut compact = Vec::with_capacity(len);
                let mut end = s;
                for (i, b) in raw.bytes().enumerate() {
                    if b.is_ascii_alphanumeric() {
                        compact.push(b.to_ascii_uppercase());
                        if compact.len() == len {
                            end = s + i + 1;
                            break;
                        }
                    }
                }
                if compact.len() != len || !boundary_after(text, end) {
                    return false;
                }
                if checksum::iban_valid(&compact) {
                    out.push(Finding::new(EntityType::Iban, s, end, 0.99, "iban_mod97"));
                    return true;
                }
                false
            },
        );
    }

    fn spanish(&self, c: Candidates<'_>, out: &mut Vec<Finding>) {
        let text = c.text;
        for m in c.find_iter(&self.dni, |w| w.chain >= 8 && w.digit_letter) {
            let (s, e) = (m.start(), m.end());
            if !standalone(text, s, e) {
                continue;
            }
            let d = digits(m.as_str());
            if d.len() != 8 {
                continue;
            }
            let letter = m.as_str().as_bytes()[m.len() - 1];
            if checksum::dni_letter_ok(number(&d), letter) {
                out.push(Finding::new(EntityType::EsDni, s, e, 0.95, "es_dni_letter"));
            }
        }
        for m in c.find_iter(&self.nie, |w| w.chain >= 7 && w.nie_start) {
            let (s, e) = (m.start(), m.end());
            if !standalone(text, s, e) {
                continue;
            }
            let b = m.as_str().as_bytes();
            let d = digits(m.as_str());
            if d.len() == 7 && checksum::nie_ok(b[0], number(&d), b[b.len() - 1]) {
                out.push(Finding::new(EntityType::EsNie, s, e, 0.95, "es_nie_letter"));
            }
        }
    }

    fn brazilian(&self, c: Candidates<'_>, out: &mut Vec<Finding>) {
        let text = c.text;
        for m in c.find_iter(&self.cnpj, |w| w.chain >= 14) {
            let (s, e) = (m.start(), m.end());
            if !standalone(text, s, e) {
                continue;
            }
            let d = digits(m.as_str());
            if checksum::cnpj_valid(&d) {
                // Formatted, or a cue before it (looked for only when not formatted).
                let formatted = m.as_str().contains('/');
                let score = if formatted || has_any(&window_before(text, s, 40), CNPJ_CUES) {
                    0.99
                } else {
                    0.8
                };
                out.push(Finding::new(
                    EntityType::BrCnpj,
                    s,
                    e,
                    score,
                    "br_cnpj_check_digits",
                ));
            }
        }
        for m in c.find_iter(&self.cpf, |w| w.chain >= 11) {
            let (s, e) = (m.start(), m.end());
            if !standalone(text, s, e) {
                continue;
            }
            // Part of a longer dotted number (a CNPJ, an amount)?
            if matches!(next_char(text, e), Some('.' | '/' | ','))
                && text[e + 1..].starts_with(|c: char| c.is_ascii_digit())
            {
                continue;
            }
            let d = digits(m.as_str());
            if !checksum::cpf_valid(&d) {
                continue;
            }
            let formatted = m.as_str().contains('.') && m.as_str().contains('-');
            let score = if formatted || has_any(&window_before(text, s, 40), CPF_CUES) {
                0.99
            } else {
                0.75
            };
            out.push(Finding::new(
                EntityType::BrCpf,
                s,
                e,
                score,
                "br_cpf_check_digits",
            ));
        }
    }

    fn ssns(&self, c: Candidates<'_>, out: &mut Vec<Finding>) {
        let text = c.text;
        for m in c.find_iter(&self.ssn, |w| w.chain >= 9) {
            let (s, e) = (m.start(), m.end());
            if !standalone(text, s, e) {
                continue;
            }
            if matches!(prev_char(text, s), Some('-' | '.' | '/' | '+'))
                || matches!(next_char(text, e), Some('-' | '/'))
            {
                continue;
            }
            let raw = m.as_str();
            let seps = separators(raw);
            let d = digits(raw);
            let (area, group, serial) = (number(&d[..3]), number(&d[3..5]), number(&d[5..]));
            if !checksum::ssn_valid(area, group, serial) {
                continue;
            }
            let ctx = has_any(&window_before(text, s, 40), SSN_CUES);
            // Formatted 3-2-4 with one separator kind, or bare digits with an SSN cue.
            let shaped = seps.len() == 2 && seps[0] == seps[1] && seps[0] != b'.';
            if shaped || ctx {
                let score = if ctx { 0.95 } else { 0.85 };
                out.push(Finding::new(
                    EntityType::UsSsn,
                    s,
                    e,
                    score,
                    "us_ssn_ranges",
                ));
            }
        }
    }

    fn ips(&self, c: Candidates<'_>, out: &mut Vec<Finding>) {
        let text = c.text;
        for m in c.find_iter(&self.ipv4, |w| w.digits >= 4 && w.dots >= 3) {
            let (s, e) = (m.start(), m.end());
            if !standalone(text, s, e) {
                continue;
            }
            // Part of a longer dotted run (a version like 1.2.3.4.5), or after "v".
            if matches!(prev_char(text, s), Some('.'))
                || (matches!(next_char(text, e), Some('.'))
                    && text[e + 1..].starts_with(|c: char| c.is_ascii_digit()))
            {
                continue;
            }
            let ok = m.as_str().split('.').all(|p| {
                p.parse::<u16>().is_ok_and(|v| v <= 255) && (p.len() == 1 || !p.starts_with('0'))
            });
            let version = ["version", "versión", "versão", "v.", "ver "];
            if ok && !has_any(&window_before(text, s, 12), &version) {
                out.push(Finding::new(EntityType::IpAddress, s, e, 0.95, "ipv4"));
            }
        }
        for m in c.find_iter(&self.ipv6, |w| w.colons >= 2) {
            let (s, mut e) = (m.start(), m.end());
            if !boundary_before(text, s) || prev_char(text, s) == Some(':') {
                continue;
            }
            let mut cand = m.as_str();
            // A trailing ':' is punctuation ("IP fe80::1:").
            while cand.ends_with(':') && !cand.ends_with("::") {
                cand = &cand[..cand.len() - 1];
                e -= 1;
            }
            if !boundary_after(text, e) {
                continue;
            }
            let addr = cand.split('%').next().unwrap_or(cand);
            if addr.matches(':').count() >= 2 && addr.parse::<Ipv6Addr>().is_ok() && addr.len() >= 3
            {
                out.push(Finding::new(EntityType::IpAddress, s, e, 0.95, "ipv6"));
            }
        }
    }

    fn phones(&self, c: Candidates<'_>, out: &mut Vec<Finding>) {
        let text = c.text;
        for m in c.find_iter(&self.phone, |w| w.digits >= 7) {
            let (mut s, mut e) = (m.start(), m.end());
            let mut raw = m.as_str();
            // Trim unbalanced parentheses at the edges (a match ends in a digit or `)`).
            if raw.ends_with(')') && !raw.contains('(') {
                raw = &raw[..raw.len() - 1];
                e -= 1;
            }
            if raw.starts_with('(') && !raw.contains(')') {
                raw = &raw[1..];
                s += 1;
            }
            // A whole number in parentheses: "(0034713645986)", "(00351 931 309 456)".
            if raw.len() > 2
                && raw.starts_with('(')
                && raw.ends_with(')')
                && !raw[1..raw.len() - 1].contains(['(', ')'])
            {
                raw = &raw[1..raw.len() - 1];
                s += 1;
                e -= 1;
            }
            if !standalone(text, s, e) {
                continue;
            }
            if !phone_edges(text, s, e) {
                continue;
            }
            let d = digits(raw);
            let intl = raw.starts_with('+') || raw.starts_with("00");
            // National numbers have at most 12 digits (Brazil's 0 + area + 9 digits); longer
            // runs without a country prefix are cards, accounts and ids.
            if d.len() < 7 || d.len() > 15 || (intl && d.len() < 9) || (!intl && d.len() > 12) {
                continue;
            }
            // The shapes of SSNs (3-2-4) and CPFs (3.3.3-2) that failed their checks are not
            // phones either.
            let group_lens: Vec<usize> = raw
                .split(|c: char| !c.is_ascii_digit())
                .filter(|g| !g.is_empty())
                .map(str::len)
                .collect();
            if !intl
                && (group_lens == [3, 2, 4] || (group_lens == [3, 3, 3, 2] && raw.contains('.')))
            {
                continue;
            }
            let seps = separators(raw);
            let groups = raw
                .split(|c: char| !c.is_ascii_digit())
                .filter(|g| !g.is_empty())
                .count();
            // Dates and times, amounts, versions.
            if looks_like_date(raw)
                || raw.matches('.').count() >= 2
                    && !intl
                    && seps.iter().all(|&b| b == b'.')
                    && d.len() < 9
            {
                continue;
            }
            let before = window_before(text, s, 32);
            let cue = has_word(&before, phone_cues(), false);
            let anti = !intl && has_word(&before, non_phone_cues(), true);
            let paren_area = raw.contains('(') && raw.contains(')');
            let grouped = groups >= 2 && !seps.is_empty();
            let score = if intl && (grouped || d.len() >= 10) {
                0.95
            } else if cue && (grouped || (9..=11).contains(&d.len())) {
                0.9
            } else if paren_area && groups >= 2 {
                0.85
            } else if grouped && groups <= 5 && !anti && d.len() >= 9 {
                0.7
            } else {
                continue;
            };
            if anti && !cue && !intl {
                continue;
            }
            out.push(Finding::new(EntityType::Phone, s, e, score, "phone"));
        }
    }
}

/// Whether the characters around a phone-shaped match `[s, e)` let it be a phone number.
/// A number glued to a path, amount, id or decimal is not one: `/`, `#`, `$`, `€`, `£`, `-`
/// before it; `/`, `%`, `€` after it; `.` `,` `:` followed by a digit after it ("1234,56",
/// "12:30"). Punctuation that only ends or opens a clause is fine: "+34 646 227 694, solicita",
/// "(415) 555-2671.", "Tel.:646 227 694", "Madrid,646 22 76 94" — but not `.` `,` `:` before
/// it after a digit ("1.234.567", "10:30", "3,5").
fn phone_edges(text: &str, s: usize, e: usize) -> bool {
    let prev = prev_char(text, s);
    let next = next_char(text, e);
    if matches!(prev, Some('/' | '#' | '$' | '€' | '£' | '-')) {
        return false;
    }
    if matches!(prev, Some('.' | ',' | ':'))
        && prev_char(text, s - 1).is_some_and(|c| c.is_ascii_digit())
    {
        return false;
    }
    if matches!(next, Some('/' | '%' | '€')) {
        return false;
    }
    let digit_after = text
        .get(e + 1..)
        .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()));
    !(matches!(next, Some('.' | ',' | ':')) && digit_after)
}

/// For each `@`, the run of e-mail chars around it (local part before, back to the previous
/// `@` at most; domain after): a match holds exactly one `@`, so it lies inside one of these.
fn email_candidates(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let b = text.as_bytes();
    // The local part may hold any letter (joão, maría: RFC 6531), the domain ASCII only.
    let local = |c: char| {
        c.is_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-') || is_combining_mark(c)
    };
    let domain = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-');
    let mut from = 0;
    std::iter::from_fn(move || {
        let at = from + b.get(from..)?.iter().position(|&c| c == b'@')?;
        let prev = from;
        let s = text[prev..at]
            .char_indices()
            .rev()
            .take_while(|&(_, c)| local(c))
            .last()
            .map_or(at, |(i, _)| prev + i);
        let mut e = at + 1;
        while e < b.len() && domain(b[e]) {
            e += 1;
        }
        from = at + 1;
        Some((s, e))
    })
}

/// How far around a digit an entity may reach before its next digit: the widest gap in the
/// digit-led patterns is a phone's `) - (` (four bytes), and a match may start up to two
/// bytes before its first digit (`+(`, `X-`, `ES`).
const REACH: usize = 6;

/// True for the bytes a digit-led entity is made of, past its digits: letters (IBAN groups,
/// DNI letters), hex and `:` `%` (IPv6).
fn token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b':' | b'%')
}

/// A byte range of the text that can hold digit-led entities, with what it contains: a
/// pattern whose matches need more digits (or colons) than its window has is not run there.
struct Window {
    start: usize,
    end: usize,
    digits: usize,
    colons: usize,
    dots: usize,
    /// The most digits joined by single separators (` ` `.` `-` `/`): the longest number a
    /// card, CPF, CNPJ, SSN, DNI or NIE pattern can match here.
    chain: usize,
    /// A digit followed by a letter (directly or after ` ` / `-`): a DNI's control letter.
    digit_letter: bool,
    /// X, Y or Z followed by a digit (directly or after ` ` / `-`): an NIE's start.
    nie_start: bool,
    /// Two letters then two digits: an IBAN's start.
    iban_start: bool,
}

impl Window {
    /// The whole text as one window that every pattern may search (the reference the
    /// windowed search is tested against).
    fn whole(text: &str) -> Self {
        Window {
            digits: usize::MAX,
            colons: usize::MAX,
            dots: usize::MAX,
            chain: usize::MAX,
            digit_letter: true,
            nie_start: true,
            iban_start: true,
            ..Window::span(0, text.len())
        }
    }

    /// A window with its counts still to be taken.
    fn span(start: usize, end: usize) -> Self {
        Window {
            start,
            end,
            digits: 0,
            colons: 0,
            dots: 0,
            chain: 0,
            digit_letter: false,
            nie_start: false,
            iban_start: false,
        }
    }
}

/// The byte ranges of `text` that can hold a digit-led entity: `REACH` bytes around each
/// digit (or IPv6 colon), merged, and grown to whole tokens on both sides (so a regex inside a window sees
/// exactly what it would see in the whole text). In text order, disjoint, on char
/// boundaries.
fn digit_windows(text: &str) -> Vec<Window> {
    let b = text.as_bytes();
    // A seed: a digit, or a colon next to a hex digit or another colon (an IPv6 address
    // may have no decimal digit: "fe::a", "dead:beef::1" has one, "abcd::ef" none).
    let seed = |k: usize| {
        b[k].is_ascii_digit()
            || (b[k] == b':'
                && [k.checked_sub(1), Some(k + 1)]
                    .into_iter()
                    .flatten()
                    .any(|n| {
                        b.get(n)
                            .is_some_and(|&c| c == b':' || c.is_ascii_hexdigit())
                    }))
    };
    let mut out: Vec<Window> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !seed(i) {
            i += 1;
            continue;
        }
        let mut s = i.saturating_sub(REACH);
        while s > 0 && token_byte(b[s - 1]) {
            s -= 1;
        }
        // Past this digit, further digits within REACH keep the window open.
        let mut last = i;
        let mut j = i + 1;
        while j < b.len() && j <= last + REACH {
            if seed(j) {
                last = j;
            }
            j += 1;
        }
        let mut e = (last + 1 + REACH).min(b.len());
        while e < b.len() && token_byte(b[e]) {
            e += 1;
        }
        while !text.is_char_boundary(s) {
            s -= 1;
        }
        while !text.is_char_boundary(e) {
            e += 1;
        }
        match out.last_mut() {
            Some(prev) if s <= prev.end => prev.end = prev.end.max(e),
            _ => out.push(Window::span(s, e)),
        }
        i = last + 1;
    }
    for w in &mut out {
        let win = &b[w.start..w.end];
        let mut chain = 0;
        for (k, &c) in win.iter().enumerate() {
            let next = win.get(k + 1).copied().unwrap_or(0);
            let after_sep = if matches!(next, b' ' | b'-') {
                win.get(k + 2).copied().unwrap_or(0)
            } else {
                next
            };
            if c.is_ascii_digit() {
                w.digits += 1;
                chain += 1;
                w.chain = w.chain.max(chain);
                w.digit_letter |= after_sep.is_ascii_alphabetic();
            } else if !(matches!(c, b' ' | b'.' | b'-' | b'/')
                && next.is_ascii_digit()
                && k > 0
                && win[k - 1].is_ascii_digit())
            {
                chain = 0;
            }
            w.colons += usize::from(c == b':');
            w.dots += usize::from(c == b'.');
            w.nie_start |=
                matches!(c, b'X' | b'Y' | b'Z' | b'x' | b'y' | b'z') && after_sep.is_ascii_digit();
            w.iban_start |= c.is_ascii_alphabetic()
                && next.is_ascii_alphabetic()
                && win.get(k + 2).is_some_and(u8::is_ascii_digit)
                && win.get(k + 3).is_some_and(u8::is_ascii_digit);
        }
    }
    out
}

/// The text and its digit windows: each regex runs on the windows only, with offsets into
/// the whole text (so validators read the context around a match as before).
#[derive(Clone, Copy)]
struct Candidates<'t> {
    text: &'t str,
    windows: &'t [Window],
}

impl<'t> Candidates<'t> {
    /// Like [`Candidates::find_iter`], but `take` says whether it took a match: after one it
    /// did not take, the search resumes at the next character instead of after the match, so
    /// a shorter match starting inside a rejected one is still found.
    fn find_retrying(
        self,
        re: &Dfa,
        keep: impl Fn(&Window) -> bool,
        mut take: impl FnMut(Found<'t>) -> bool,
    ) {
        let text = self.text;
        for w in self.windows.iter().filter(|w| keep(w)) {
            let mut at = w.start;
            while at < w.end {
                let Some(m) = re.find(Input::new(text).span(at..w.end)) else {
                    break;
                };
                let found = Found {
                    text,
                    start: m.start(),
                    end: m.end(),
                };
                at = if take(found) {
                    m.end().max(at + 1)
                } else {
                    // The next character boundary after the rejected match's start.
                    let mut next = m.start() + 1;
                    while next < text.len() && !text.is_char_boundary(next) {
                        next += 1;
                    }
                    next
                };
            }
        }
    }

    /// The matches of `re` inside the windows that `keep` lets through (a necessary
    /// condition of a match), with offsets into the whole text.
    fn find_iter<'r>(
        self,
        re: &'r Dfa,
        keep: impl Fn(&Window) -> bool + 'r,
    ) -> impl Iterator<Item = Found<'t>> + 'r
    where
        't: 'r,
    {
        let text = self.text;
        self.windows
            .iter()
            .filter(move |w| keep(w))
            .flat_map(move |w| {
                // No pattern looks around, so searching the span equals searching the window.
                re.find_iter(Input::new(text).span(w.start..w.end))
                    .map(move |m| Found {
                        text,
                        start: m.start(),
                        end: m.end(),
                    })
            })
    }
}

/// One match of a digit-led pattern.
struct Found<'t> {
    text: &'t str,
    start: usize,
    end: usize,
}

impl<'t> Found<'t> {
    fn start(&self) -> usize {
        self.start
    }

    fn end(&self) -> usize {
        self.end
    }

    fn len(&self) -> usize {
        self.end - self.start
    }

    fn as_str(&self) -> &'t str {
        &self.text[self.start..self.end]
    }
}

/// 2024-03-12, 12-03-2024, 12.03.2024, 2024.03.12 (phones never use these shapes).
fn looks_like_date(raw: &str) -> bool {
    let parts: Vec<&str> = raw
        .split(['-', '.', ' '])
        .filter(|p| !p.is_empty())
        .collect();
    if parts.len() != 3 || !parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    let n: Vec<u32> = parts.iter().map(|p| p.parse().unwrap_or(0)).collect();
    let ymd = parts[0].len() == 4 && (1..=12).contains(&n[1]) && (1..=31).contains(&n[2]);
    let dmy = parts[2].len() == 4
        && (1..=31).contains(&n[0])
        && (1..=31).contains(&n[1])
        && (1900..=2100).contains(&n[2]);
    ymd || dmy
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn piece() -> impl Strategy<Value = String> {
        prop_oneof![
            "[0-9]{1,5}",
            "[ .\\-/()+:,#]{1,3}",
            "[A-Za-z]{1,6}",
            "(ES|DE|GB|PT|BR|NL|es)[0-9]{2}",
            "[XYZxyz][ -]?[0-9]{7}[A-Za-z]",
            "[a-zñ.]{1,8}@[a-z]{2,6}\\.[a-z]{2,3}",
            "(tel|phone|CPF|cnpj|SSN|version|order|nº|móvil|v\\.) ",
            "[ñáç€é😀\u{200B}\n]",
            "[0-9a-f]{1,4}::?[0-9a-f]{0,4}",
            Just("4111 1111 1111 1111".to_string()),
            Just("529.982.247-25".to_string()),
            Just("11.222.333/0001-81".to_string()),
            Just("12345678Z".to_string()),
            Just("+34 612 345 678".to_string()),
            Just("(11) 98765-4321".to_string()),
            Just("ES91 2100 0418 4502 0005 1332".to_string()),
            Just("078-05-1120".to_string()),
            Just("192.168.1.20".to_string()),
        ]
    }

    /// Found by the property below: a rejected IBAN candidate ("ES00version…", which the
    /// pattern runs on from) hid the real IBAN after it from the whole-text search.
    #[test]
    fn a_rejected_candidate_does_not_hide_an_iban_inside_it() {
        let p = Patterns::new().unwrap_or_else(|e| unreachable!("{e}"));
        let text = "ES00version tel ES91 2100 0418 4502 0005 1332 ";
        for whole in [false, true] {
            let mut found = Vec::new();
            p.scan_in(text, &mut found, whole);
            let ibans: Vec<(usize, usize)> = found
                .iter()
                .filter(|f| f.kind == EntityType::Iban)
                .map(|f| (f.start, f.end))
                .collect();
            assert_eq!(ibans, [(16, 45)], "whole = {whole}: {found:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The windows find exactly what searching the whole text with every pattern finds.
        #[test]
        fn windowed_search_equals_whole_text_search(parts in prop::collection::vec(piece(), 0..24)) {
            static P: std::sync::OnceLock<Patterns> = std::sync::OnceLock::new();
            let p = P.get_or_init(|| Patterns::new().unwrap_or_else(|e| unreachable!("{e}")));
            let text = parts.concat();
            let (mut windowed, mut reference) = (Vec::new(), Vec::new());
            p.scan(&text, &mut windowed);
            p.scan_in(&text, &mut reference, true);
            prop_assert_eq!(windowed, reference, "{:?}", text);
        }
    }
}
