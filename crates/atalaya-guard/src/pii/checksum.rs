//! Check digits: a number that fails its checksum is not reported as that type.

/// Luhn (credit cards). `digits` are 0..=9 values.
pub fn luhn(digits: &[u8]) -> bool {
    if digits.len() < 2 {
        return false;
    }
    let mut sum = 0u32;
    for (i, &d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// Issuer prefixes of the card networks (Visa, Mastercard, Amex, Discover, JCB, Diners,
/// Maestro, UnionPay, Elo, Hipercard, Mir) and their lengths.
pub fn card_issuer_ok(digits: &[u8]) -> bool {
    let n = digits.len();
    let p = |k: usize| -> u32 {
        digits
            .iter()
            .take(k)
            .fold(0u32, |a, &d| a * 10 + u32::from(d))
    };
    let (p1, p2, p3, p4) = (p(1), p(2), p(3), p(4));
    match p1 {
        4 => matches!(n, 13 | 16 | 19),
        5 => {
            (51..=55).contains(&p2) && n == 16
                || (p2 == 50 || (56..=59).contains(&p2)) && (12..=19).contains(&n)
        }
        2 => {
            ((2221..=2720).contains(&p4) && n == 16)
                || (p4 == 2131 && n == 15)
                || (p4 == 2200 || p4 == 2201 || (2202..=2204).contains(&p4)) && n == 16
        }
        3 => {
            ((p2 == 34 || p2 == 37) && n == 15)
                || (p2 == 35 && (16..=19).contains(&n))
                || ((300..=305).contains(&p3) || p2 == 36 || p2 == 38 || p2 == 39)
                    && (14..=19).contains(&n)
        }
        6 => (12..=19).contains(&n),
        1 => p4 == 1800 && n == 15,
        _ => false,
    }
}

/// IBAN lengths by country (ISO 13616 registry).
pub fn iban_length(country: &str) -> Option<usize> {
    Some(match country {
        "AD" => 24,
        "AE" => 23,
        "AL" => 28,
        "AT" => 20,
        "AZ" => 28,
        "BA" => 20,
        "BE" => 16,
        "BG" => 22,
        "BH" => 22,
        "BR" => 29,
        "BY" => 28,
        "CH" => 21,
        "CR" => 22,
        "CY" => 28,
        "CZ" => 24,
        "DE" => 22,
        "DK" => 18,
        "DO" => 28,
        "EE" => 20,
        "EG" => 29,
        "ES" => 24,
        "FI" => 18,
        "FO" => 18,
        "FR" => 27,
        "GB" => 22,
        "GE" => 22,
        "GI" => 23,
        "GL" => 18,
        "GR" => 27,
        "GT" => 28,
        "HR" => 21,
        "HU" => 28,
        "IE" => 22,
        "IL" => 23,
        "IQ" => 23,
        "IS" => 26,
        "IT" => 27,
        "JO" => 30,
        "KW" => 30,
        "KZ" => 20,
        "LB" => 28,
        "LC" => 32,
        "LI" => 21,
        "LT" => 20,
        "LU" => 20,
        "LV" => 21,
        "MC" => 27,
        "MD" => 24,
        "ME" => 22,
        "MK" => 19,
        "MR" => 27,
        "MT" => 31,
        "MU" => 30,
        "NL" => 18,
        "NO" => 15,
        "PK" => 24,
        "PL" => 28,
        "PS" => 29,
        "PT" => 25,
        "QA" => 29,
        "RO" => 24,
        "RS" => 22,
        "SA" => 24,
        "SC" => 31,
        "SE" => 24,
        "SI" => 19,
        "SK" => 24,
        "SM" => 27,
        "ST" => 25,
        "SV" => 28,
        "TL" => 23,
        "TN" => 24,
        "TR" => 26,
        "UA" => 29,
        "VA" => 22,
        "VG" => 24,
        "XK" => 20,
        _ => return None,
    })
}

/// ISO 7064 mod-97-10 over an uppercase alphanumeric IBAN without spaces.
pub fn iban_valid(iban: &[u8]) -> bool {
    if iban.len() < 15 || iban.len() > 34 {
        return false;
    }
    let mut rem: u32 = 0;
    for &c in iban[4..].iter().chain(&iban[..4]) {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

const DNI_LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";

/// Spanish DNI (8 digits + control letter) and NIE (X/Y/Z + 7 digits + letter): the letter is
/// `TRWAGMYFPDXBNJZSQVHLCKE[n mod 23]`.
pub fn dni_letter_ok(number: u32, letter: u8) -> bool {
    DNI_LETTERS[(number % 23) as usize] == letter.to_ascii_uppercase()
}

/// NIE: X=0, Y=1, Z=2 prefix the seven digits.
pub fn nie_ok(prefix: u8, digits7: u32, letter: u8) -> bool {
    let p = match prefix.to_ascii_uppercase() {
        b'X' => 0,
        b'Y' => 1,
        b'Z' => 2,
        _ => return false,
    };
    dni_letter_ok(p * 10_000_000 + digits7, letter)
}

/// Brazilian CPF: 11 digits, two mod-11 check digits; repeated digits are invalid.
pub fn cpf_valid(d: &[u8]) -> bool {
    if d.len() != 11 || d.iter().all(|&x| x == d[0]) {
        return false;
    }
    let check = |n: usize| -> u8 {
        let s: u32 = (0..n)
            .map(|i| u32::from(d[i]) * (n as u32 + 1 - i as u32))
            .sum();
        let r = (s * 10) % 11;
        if r == 10 {
            0
        } else {
            r as u8
        }
    };
    check(9) == d[9] && check(10) == d[10]
}

/// Brazilian CNPJ: 14 digits, two mod-11 check digits with weights 5..2,9..2 / 6..2,9..2.
pub fn cnpj_valid(d: &[u8]) -> bool {
    if d.len() != 14 || d.iter().all(|&x| x == d[0]) {
        return false;
    }
    const W1: [u32; 12] = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2];
    const W2: [u32; 13] = [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2];
    let dv = |w: &[u32]| -> u8 {
        let s: u32 = w.iter().zip(d).map(|(w, &x)| w * u32::from(x)).sum();
        let r = s % 11;
        if r < 2 {
            0
        } else {
            (11 - r) as u8
        }
    };
    dv(&W1) == d[12] && dv(&W2) == d[13]
}

/// US SSN: area not 000, 666 or 900–999; group not 00; serial not 0000.
pub fn ssn_valid(area: u32, group: u32, serial: u32) -> bool {
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits(s: &str) -> Vec<u8> {
        s.bytes()
            .filter(u8::is_ascii_digit)
            .map(|b| b - b'0')
            .collect()
    }

    #[test]
    fn luhn_and_issuers() {
        assert!(luhn(&digits("4111 1111 1111 1111")));
        assert!(!luhn(&digits("4111 1111 1111 1112")));
        assert!(card_issuer_ok(&digits("4111111111111111")));
        assert!(card_issuer_ok(&digits("378282246310005")));
        assert!(card_issuer_ok(&digits("5555555555554444")));
        assert!(!card_issuer_ok(&digits("9111111111111111")));
    }

    #[test]
    fn iban_mod97() {
        assert!(iban_valid(b"ES9121000418450200051332"));
        assert!(iban_valid(b"GB82WEST12345698765432"));
        assert!(iban_valid(b"PT50000201231234567890154"));
        assert!(!iban_valid(b"ES9221000418450200051332"));
        assert_eq!(iban_length("ES"), Some(24));
    }

    #[test]
    fn spanish_ids() {
        assert!(dni_letter_ok(12345678, b'Z'));
        assert!(!dni_letter_ok(12345678, b'A'));
        assert!(nie_ok(b'X', 1234567, b'L'));
        assert!(!nie_ok(b'X', 1234567, b'A'));
    }

    #[test]
    fn brazilian_ids() {
        assert!(cpf_valid(&digits("529.982.247-25")));
        assert!(!cpf_valid(&digits("529.982.247-26")));
        assert!(!cpf_valid(&digits("111.111.111-11")));
        assert!(cnpj_valid(&digits("11.222.333/0001-81")));
        assert!(!cnpj_valid(&digits("11.222.333/0001-82")));
    }

    #[test]
    fn ssn_ranges() {
        assert!(ssn_valid(123, 45, 6789));
        assert!(!ssn_valid(666, 45, 6789));
        assert!(!ssn_valid(900, 45, 6789));
        assert!(!ssn_valid(123, 0, 6789));
        assert!(!ssn_valid(123, 45, 0));
    }
}
