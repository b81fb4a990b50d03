//! PII detection. [`PiiDetector::scan`] runs every recognizer and keeps, where findings
//! overlap, the most specific (validated types before PHONE before PERSON).

pub mod checksum;
mod patterns;
mod person;
mod secret;

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::GuardError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EntityType {
    Email,
    Phone,
    CreditCard,
    Iban,
    EsDni,
    EsNie,
    BrCpf,
    BrCnpj,
    UsSsn,
    IpAddress,
    Person,
    Secret,
}

impl EntityType {
    pub const ALL: [EntityType; 12] = [
        EntityType::Email,
        EntityType::Phone,
        EntityType::CreditCard,
        EntityType::Iban,
        EntityType::EsDni,
        EntityType::EsNie,
        EntityType::BrCpf,
        EntityType::BrCnpj,
        EntityType::UsSsn,
        EntityType::IpAddress,
        EntityType::Person,
        EntityType::Secret,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntityType::Email => "EMAIL",
            EntityType::Phone => "PHONE",
            EntityType::CreditCard => "CREDIT_CARD",
            EntityType::Iban => "IBAN",
            EntityType::EsDni => "ES_DNI",
            EntityType::EsNie => "ES_NIE",
            EntityType::BrCpf => "BR_CPF",
            EntityType::BrCnpj => "BR_CNPJ",
            EntityType::UsSsn => "US_SSN",
            EntityType::IpAddress => "IP_ADDRESS",
            EntityType::Person => "PERSON",
            EntityType::Secret => "SECRET",
        }
    }

    /// What an irreversible mask writes in place of a value: `[EMAIL]`.
    pub fn mask(self) -> String {
        format!("[{}]", self.as_str())
    }

    /// Which finding wins when two overlap.
    fn priority(self) -> u8 {
        match self {
            EntityType::Secret => 10,
            EntityType::Email => 9,
            EntityType::Iban | EntityType::CreditCard | EntityType::BrCnpj => 8,
            EntityType::BrCpf | EntityType::EsNie | EntityType::EsDni => 7,
            EntityType::UsSsn | EntityType::IpAddress => 6,
            EntityType::Phone => 4,
            EntityType::Person => 3,
        }
    }
}

impl fmt::Display for EntityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EntityType {
    type Err = GuardError;

    fn from_str(s: &str) -> Result<Self, GuardError> {
        EntityType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                GuardError::Policy(format!(
                    "unknown entity type '{s}' (known: {})",
                    EntityType::ALL.map(|t| t.as_str()).join(", ")
                ))
            })
    }
}

/// One detected entity: a byte span of the scanned text.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub kind: EntityType,
    pub start: usize,
    pub end: usize,
    pub score: f32,
    /// The recognizer that fired (e.g. `iban_mod97`, `person`).
    pub rule: &'static str,
}

impl Finding {
    pub fn new(kind: EntityType, start: usize, end: usize, score: f32, rule: &'static str) -> Self {
        Finding {
            kind,
            start,
            end,
            score,
            rule,
        }
    }
}

/// All PII recognizers, compiled once and shared (`Send + Sync`).
pub struct PiiDetector {
    patterns: patterns::Patterns,
    secrets: secret::Secrets,
    names: person::Names,
}

impl PiiDetector {
    pub fn new() -> Result<Self, GuardError> {
        Ok(PiiDetector {
            patterns: patterns::Patterns::new()?,
            secrets: secret::Secrets::new().map_err(|e| patterns::bad(&e))?,
            names: person::Names::new(),
        })
    }

    /// Every entity in `text`, non-overlapping, in text order.
    pub fn scan(&self, text: &str) -> Vec<Finding> {
        let mut all = Vec::new();
        self.secrets.scan(text, &mut all);
        self.patterns.scan(text, &mut all);
        self.names.scan(text, &mut all);
        resolve(all)
    }
}

/// Keeps the best of overlapping findings: higher priority, then higher score, then longer.
fn resolve(mut all: Vec<Finding>) -> Vec<Finding> {
    if all.len() <= 1 {
        return all;
    }
    all.sort_by(|a, b| {
        b.kind
            .priority()
            .cmp(&a.kind.priority())
            .then(b.score.total_cmp(&a.score))
            .then((b.end - b.start).cmp(&(a.end - a.start)))
            .then(a.start.cmp(&b.start))
    });
    let mut kept: Vec<Finding> = Vec::with_capacity(all.len());
    for f in all {
        if kept.iter().all(|k| f.end <= k.start || f.start >= k.end) {
            kept.push(f);
        }
    }
    kept.sort_by_key(|f| f.start);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(EntityType, String)> {
        let d = PiiDetector::new().unwrap_or_else(|e| unreachable!("{e}"));
        d.scan(text)
            .into_iter()
            .map(|f| (f.kind, text[f.start..f.end].to_string()))
            .collect()
    }

    fn has(text: &str, kind: EntityType, value: &str) {
        let f = found(text);
        assert!(
            f.iter().any(|(k, v)| *k == kind && v == value),
            "{kind} '{value}' not found in {text:?}: {f:?}"
        );
    }

    fn none_of(text: &str, kind: EntityType) {
        let f = found(text);
        assert!(
            !f.iter().any(|(k, _)| *k == kind),
            "unexpected {kind} in {text:?}: {f:?}"
        );
    }

    #[test]
    fn emails() {
        has(
            "write to ana.lopez+soporte@correo.example.es, thanks",
            EntityType::Email,
            "ana.lopez+soporte@correo.example.es",
        );
        none_of("the @mention feature and user@localhost", EntityType::Email);
        // Local parts with accents (RFC 6531), common in Spanish and Portuguese addresses.
        has(
            "escreva para joão.conceição@exemplo.com.br, por favor",
            EntityType::Email,
            "joão.conceição@exemplo.com.br",
        );
        has(
            "mi correo: María.Núñez@correo.es.",
            EntityType::Email,
            "María.Núñez@correo.es",
        );
    }

    #[test]
    fn cards_need_luhn_and_issuer() {
        has(
            "card 4111 1111 1111 1111 please",
            EntityType::CreditCard,
            "4111 1111 1111 1111",
        );
        has(
            "amex 3782-822463-10005",
            EntityType::CreditCard,
            "3782-822463-10005",
        );
        has(
            "tarjeta 5555555555554444.",
            EntityType::CreditCard,
            "5555555555554444",
        );
        none_of("card 4111 1111 1111 1112", EntityType::CreditCard);
        none_of("tracking 1Z999AA10123456784", EntityType::CreditCard);
        none_of("pedido 4000123456781234", EntityType::CreditCard);
    }

    #[test]
    fn ibans_with_and_without_spaces() {
        has(
            "IBAN: ES91 2100 0418 4502 0005 1332 gracias",
            EntityType::Iban,
            "ES91 2100 0418 4502 0005 1332",
        );
        has(
            "PT50000201231234567890154",
            EntityType::Iban,
            "PT50000201231234567890154",
        );
        has(
            "conta BR1800360305000010009795493C1",
            EntityType::Iban,
            "BR1800360305000010009795493C1",
        );
        none_of("ES92 2100 0418 4502 0005 1332", EntityType::Iban);
    }

    #[test]
    fn spanish_and_brazilian_ids() {
        has("mi DNI es 12345678Z", EntityType::EsDni, "12345678Z");
        has("DNI 12.345.678-Z", EntityType::EsDni, "12.345.678-Z");
        none_of("mi DNI es 12345678A", EntityType::EsDni);
        has("NIE X1234567L", EntityType::EsNie, "X1234567L");
        none_of("NIE X1234567A", EntityType::EsNie);
        has(
            "Meu CPF é 529.982.247-25",
            EntityType::BrCpf,
            "529.982.247-25",
        );
        has("cpf 52998224725", EntityType::BrCpf, "52998224725");
        none_of("CPF 529.982.247-26", EntityType::BrCpf);
        has(
            "CNPJ 11.222.333/0001-81",
            EntityType::BrCnpj,
            "11.222.333/0001-81",
        );
        none_of("CNPJ 11.222.333/0001-82", EntityType::BrCnpj);
    }

    #[test]
    fn ssn_and_ips() {
        has("SSN 123-45-6789", EntityType::UsSsn, "123-45-6789");
        none_of("SSN 666-45-6789", EntityType::UsSsn);
        none_of("build 123456789", EntityType::UsSsn);
        has(
            "from 192.168.10.254 today",
            EntityType::IpAddress,
            "192.168.10.254",
        );
        has(
            "ip 2001:db8::8a2e:370:7334",
            EntityType::IpAddress,
            "2001:db8::8a2e:370:7334",
        );
        none_of(
            "version 10.0.19045.3693 and 999.1.1.1",
            EntityType::IpAddress,
        );
        none_of(
            "at 10:30:00 and mac 00:1a:2b:3c:4d:5e",
            EntityType::IpAddress,
        );
    }

    #[test]
    fn phones_in_four_countries() {
        has(
            "call me at (415) 555-2671",
            EntityType::Phone,
            "(415) 555-2671",
        );
        has(
            "mi móvil es +34 612 345 678",
            EntityType::Phone,
            "+34 612 345 678",
        );
        has("teléfono 612 34 56 78", EntityType::Phone, "612 34 56 78");
        has(
            "ligue +351 912 345 678",
            EntityType::Phone,
            "+351 912 345 678",
        );
        has(
            "celular (11) 98765-4321",
            EntityType::Phone,
            "(11) 98765-4321",
        );
        has(
            "whatsapp +55 21 3456-7890",
            EntityType::Phone,
            "+55 21 3456-7890",
        );
    }

    /// Issue 18's leaks: a phone followed by a comma was dropped; Brazilian and US numbers
    /// with punctuation on either side in running text.
    #[test]
    fn phones_with_punctuation_around_them() {
        for (text, value) in [
            (
                "teléfono +34 646 227 694, solicita la baja",
                "+34 646 227 694",
            ),
            (
                "teléfono +34 646 227 694 solicita la baja",
                "+34 646 227 694",
            ),
            (
                "Por favor ligue para +55 (31) 3453-8184, obrigado.",
                "+55 (31) 3453-8184",
            ),
            ("meu número é +55 (31) 3453-8184.", "+55 (31) 3453-8184"),
            ("call me at (415) 555-2671!", "(415) 555-2671"),
            ("(tel. 415-555-2671)", "415-555-2671"),
            ("Tel.:646 227 694; gracias", "646 227 694"),
            ("Contacto: 91 123 45 67.", "91 123 45 67"),
            ("telemóvel 912 345 678, disponível à tarde", "912 345 678"),
            ("WhatsApp: (11) 98765-4321?", "(11) 98765-4321"),
        ] {
            has(text, EntityType::Phone, value);
        }
        // Decimals, times and amounts right after a number stay numbers.
        for t in [
            "el total es 1234567,50 €",
            "llegó a las 10:30 del 12.03.2024",
            "balance 1.234.567,89",
        ] {
            none_of(t, EntityType::Phone);
        }
    }

    /// Issue 18's leaks: compound Iberian surnames and names after contact or family cues.
    #[test]
    fn compound_surnames_and_cued_names() {
        for (text, value) in [
            (
                "Soy Lucía Núñez de Arce de la Fuente, titular de la línea.",
                "Lucía Núñez de Arce de la Fuente",
            ),
            (
                "Contato: Nogueira dos Santos Esteves",
                "Nogueira dos Santos Esteves",
            ),
            ("Contact: Ngozi Okafor-Bright", "Ngozi Okafor-Bright"),
            ("Mi compañero Joaquín lo llamó ayer.", "Joaquín"),
            ("minha esposa Ana Paula vai ligar", "Ana Paula"),
            (
                "Ayer hablé con el técnico y luego con Pedro Alves.",
                "Pedro Alves",
            ),
            (
                "Atenciosamente,\nMaria Da Silva Pereira",
                "Maria Da Silva Pereira",
            ),
            (
                "Me llamo María José García y Pérez",
                "María José García y Pérez",
            ),
        ] {
            has(text, EntityType::Person, value);
        }
        // Two people, not one: "y" between given names.
        has("Ana y Pedro llamaron", EntityType::Person, "Ana");
        // Places with particles, without a cue, are not one name.
        for t in [
            "I flew to Reguengos de Monsaraz on Tuesday.",
            "Vivo en Villafranca del Cid desde 2019.",
        ] {
            let f = found(t);
            assert!(
                !f.iter()
                    .any(|(k, v)| *k == EntityType::Person && v.contains(" de")),
                "{t:?}: {f:?}"
            );
        }
    }

    #[test]
    fn hard_negatives_are_not_pii() {
        for t in [
            "Order #A-10023 shipped on 2024-03-12 for $45.00",
            "pedido 4000123456 entregue em 12/03/2024, total R$ 1.234,56",
            "actualiza a la versión 10.0.19045 y el SKU-88412-BL cuesta 1.299,00 €",
            "tracking LX123456789BR arrives 12.03.2024 at 10:30",
            "invoice 2024-000123 for 3 items, ref 55512",
        ] {
            let f = found(t);
            assert!(f.is_empty(), "{t:?}: {f:?}");
        }
    }

    #[test]
    fn secrets() {
        has(
            "key sk-proj-abcdEFGH1234ijklMNOP5678qrst",
            EntityType::Secret,
            "sk-proj-abcdEFGH1234ijklMNOP5678qrst",
        );
        has(
            "AKIAIOSFODNN7EXAMPLE is the id",
            EntityType::Secret,
            "AKIAIOSFODNN7EXAMPLE",
        );
        has("password=Tr0ub4dor&3x", EntityType::Secret, "Tr0ub4dor&3x");
        none_of(
            "I forgot my password, can you reset it?",
            EntityType::Secret,
        );
        none_of(
            "id 550e8400-e29b-41d4-a716-446655440000",
            EntityType::Secret,
        );
    }
}
