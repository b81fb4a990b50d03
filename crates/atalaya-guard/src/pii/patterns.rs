//! Pattern recognizers with validation: e-mail, phone, card, IBAN, Spanish and Brazilian ids,
//! US SSN, IP addresses. A regex finds candidates; a validator (checksum, ranges, shape,
//! context) decides. Regexes carry no `\b` (Unicode word boundaries would force the slow
//! engine); boundaries are checked on the match instead.

use std::net::Ipv6Addr;

use regex::Regex;

use super::{checksum, EntityType, Finding};
use crate::text::{boundary_after, boundary_before, next_char, prev_char, window_before};

pub(crate) struct Patterns {
    email: Regex,
    card: Regex,
    iban: Regex,
    dni: Regex,
    nie: Regex,
    cpf: Regex,
    cnpj: Regex,
    ssn: Regex,
    ipv4: Regex,
    ipv6: Regex,
    phone: Regex,
}

fn re(p: &str) -> Result<Regex, regex::Error> {
    Regex::new(p)
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
    pub(crate) fn new() -> Result<Self, regex::Error> {
        Ok(Patterns {
            email: re(
                r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}",
            )?,
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
        if text.contains('@') {
            self.emails(text, out);
        }
        if !text.bytes().any(|b| b.is_ascii_digit()) {
            return;
        }
        self.cards(text, out);
        self.ibans(text, out);
        self.spanish(text, out);
        self.brazilian(text, out);
        self.ssns(text, out);
        self.ips(text, out);
        self.phones(text, out);
    }

    fn emails(&self, text: &str, out: &mut Vec<Finding>) {
        for m in self.email.find_iter(text) {
            let (mut s, e) = (m.start(), m.end());
            // A leading dot or dash is punctuation, not part of the address.
            while s < e && matches!(text.as_bytes()[s], b'.' | b'-') {
                s += 1;
            }
            if prev_char(text, s).is_some_and(|c| c.is_alphanumeric()) {
                continue;
            }
            out.push(Finding::new(EntityType::Email, s, e, 0.99, "email"));
        }
    }

    fn cards(&self, text: &str, out: &mut Vec<Finding>) {
        for m in self.card.find_iter(text) {
            let (s, e) = (m.start(), m.end());
            if !boundary_before(text, s) || !boundary_after(text, e) {
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

    fn ibans(&self, text: &str, out: &mut Vec<Finding>) {
        for m in self.iban.find_iter(text) {
            let s = m.start();
            if !boundary_before(text, s) {
                continue;
            }
            let raw = m.as_str();
            let country = raw[..2].to_ascii_uppercase();
            let Some(len) = checksum::iban_length(&country) else {
                continue;
            };
            // Take exactly the country's length of alphanumerics (the regex may run into the
            // next word when groups are separated by spaces).
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
                continue;
            }
            if checksum::iban_valid(&compact) {
                out.push(Finding::new(EntityType::Iban, s, end, 0.99, "iban_mod97"));
            }
        }
    }

    fn spanish(&self, text: &str, out: &mut Vec<Finding>) {
        for m in self.dni.find_iter(text) {
            let (s, e) = (m.start(), m.end());
            if !boundary_before(text, s) || !boundary_after(text, e) {
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
        for m in self.nie.find_iter(text) {
            let (s, e) = (m.start(), m.end());
            if !boundary_before(text, s) || !boundary_after(text, e) {
                continue;
            }
            let b = m.as_str().as_bytes();
            let d = digits(m.as_str());
            if d.len() == 7 && checksum::nie_ok(b[0], number(&d), b[b.len() - 1]) {
                out.push(Finding::new(EntityType::EsNie, s, e, 0.95, "es_nie_letter"));
            }
        }
    }

    fn brazilian(&self, text: &str, out: &mut Vec<Finding>) {
        for m in self.cnpj.find_iter(text) {
            let (s, e) = (m.start(), m.end());
            if !boundary_before(text, s) || !boundary_after(text, e) {
                continue;
            }
            let d = digits(m.as_str());
            if checksum::cnpj_valid(&d) {
                let formatted = m.as_str().contains('/');
                let ctx = has_any(&window_before(text, s, 40), CNPJ_CUES);
                let score = if formatted || ctx { 0.99 } else { 0.8 };
                out.push(Finding::new(
                    EntityType::BrCnpj,
                    s,
                    e,
                    score,
                    "br_cnpj_check_digits",
                ));
            }
        }
        for m in self.cpf.find_iter(text) {
            let (s, e) = (m.start(), m.end());
            if !boundary_before(text, s) || !boundary_after(text, e) {
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
            let ctx = has_any(&window_before(text, s, 40), CPF_CUES);
            let score = if formatted || ctx { 0.99 } else { 0.75 };
            out.push(Finding::new(
                EntityType::BrCpf,
                s,
                e,
                score,
                "br_cpf_check_digits",
            ));
        }
    }

    fn ssns(&self, text: &str, out: &mut Vec<Finding>) {
        for m in self.ssn.find_iter(text) {
            let (s, e) = (m.start(), m.end());
            if !boundary_before(text, s) || !boundary_after(text, e) {
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

    fn ips(&self, text: &str, out: &mut Vec<Finding>) {
        for m in self.ipv4.find_iter(text) {
            let (s, e) = (m.start(), m.end());
            if !boundary_before(text, s) || !boundary_after(text, e) {
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
            let version = window_before(text, s, 12);
            if ok && !has_any(&version, &["version", "versión", "versão", "v.", "ver "]) {
                out.push(Finding::new(EntityType::IpAddress, s, e, 0.95, "ipv4"));
            }
        }
        if !text.contains(':') {
            return;
        }
        for m in self.ipv6.find_iter(text) {
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

    fn phones(&self, text: &str, out: &mut Vec<Finding>) {
        for m in self.phone.find_iter(text) {
            let (mut s, mut e) = (m.start(), m.end());
            let mut raw = m.as_str();
            // Trim separators and unbalanced parentheses at the edges.
            while raw.ends_with([' ', '-', '.']) || (raw.ends_with(')') && !raw.contains('(')) {
                raw = &raw[..raw.len() - 1];
                e -= 1;
            }
            if raw.starts_with('(') && !raw.contains(')') {
                raw = &raw[1..];
                s += 1;
            }
            if !boundary_before(text, s) || !boundary_after(text, e) {
                continue;
            }
            let prev = prev_char(text, s);
            let next = next_char(text, e);
            if matches!(
                prev,
                Some('.' | '/' | ',' | '#' | '$' | '€' | '£' | '-' | ':')
            ) || matches!(next, Some('/' | '%' | '€' | ','))
                || (matches!(next, Some('.' | ':'))
                    && text[e + 1..].starts_with(|c: char| c.is_ascii_digit()))
            {
                continue;
            }
            let d = digits(raw);
            let intl = raw.starts_with('+') || raw.starts_with("00");
            if d.len() < 7 || d.len() > 15 || (intl && d.len() < 9) {
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
            let cue = has_any(&before, PHONE_CUES);
            let anti = has_any(&before, NON_PHONE_CUES);
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
