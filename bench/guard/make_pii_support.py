#!/usr/bin/env python3
"""Generate the `support` PII datasets of the guard benchmark:

    bench/guard/data/pii_support_heldout.json   held-out TEST set (never tune on it)
    bench/guard/data/pii_support_dev.json       dev set, for tuning

Realistic customer-support messages (e-mails, chats, forms, forwarded threads, agent notes,
signatures, mixed languages) in English, Spanish and Portuguese (Brazil and Portugal), written by
hand as skeletons with placeholders and filled with generated values. The two splits share no
skeleton, no greeting/signature snippet and no name token (given names and surnames are split
between them by a stable hash of each token).

Format (same as data/pii_multilingual.json):

    [{"full_text": str,
      "spans": [{"entity_type", "start_position", "end_position", "entity_value"}],
      "lang": "en"|"es"|"pt-BR"|"pt-PT", "template_id": "support-heldout-es-012",
      "metadata": {"split", "locale", "distractors": [...], "persons": [{"value", "origin"}], ...}}]

Offsets are Python str indices (code points), end exclusive. Types: EMAIL PHONE CREDIT_CARD IBAN
ES_DNI ES_NIE BR_CPF BR_CNPJ US_SSN IP_ADDRESS PERSON SECRET. Every checksummed value is valid
(Luhn; IBAN mod-97 with the country's length and, for ES/PT/FR, valid national check digits;
DNI/NIE letter; CPF/CNPJ digits; SSN area not 000/666/9xx, group not 00, serial not 0000).
PERSON spans cover the name only (never Sr./Dña./Dr./Mr.). Every e-mail address and every phone
number is gold, whoever it belongs to (company mailboxes, toll-free and 0800 numbers included).
Distractors carry no span: order/tracking/invoice/ticket numbers, amounts, dates, times, versions,
SKUs, postal codes, street addresses (house numbers are not PII), BIC codes, IMEIs, plates,
company tax ids, Portuguese NIF, Brazilian RG, masked or partial cards, values that FAIL their
checksum, and capitalised non-names (companies, cities, streets, products, weekdays, months).

    python3 bench/guard/make_pii_support.py [--seed 20250611] [--heldout PATH] [--dev PATH]

Standard library only; the same seed gives byte-identical files. The script self-checks every
span (text == entity_value, no overlaps, checksums) and rejects any message in which a
checksum-valid look-alike appears outside a gold span of its type.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import re
import string
import sys
import unicodedata
import zlib
from collections import Counter, defaultdict
from pathlib import Path

SEED = 20250611
HERE = Path(__file__).resolve().parent
OUT_HELDOUT = HERE / "data" / "pii_support_heldout.json"
OUT_DEV = HERE / "data" / "pii_support_dev.json"
TYPES = ["EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "ES_DNI", "ES_NIE", "BR_CPF", "BR_CNPJ", "US_SSN",
         "IP_ADDRESS", "PERSON", "SECRET"]
LANG_OF_LOC = {"es": "es", "br": "pt-BR", "pt": "pt-PT", "us": "en", "uk": "en"}
# messages per split and language group (pt = pt-BR + pt-PT skeletons together)
TARGETS = {"heldout": {"en": 222, "es": 222, "pt": 224}, "dev": {"en": 80, "es": 80, "pt": 82}}


def strip_accents(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", s) if not unicodedata.combining(c))


def fold(s: str) -> str:
    return strip_accents(s).casefold()


# ----------------------------------------------------------------------------------------------
# checksums (used both to generate and to verify)

def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def luhn_complete(partial: str) -> str:
    for c in "0123456789":
        if luhn_ok(partial + c):
            return partial + c
    raise AssertionError


IBAN_LEN = {"ES": 24, "PT": 25, "BR": 29, "DE": 22, "FR": 27, "GB": 22}


def iban_numeric(s: str) -> int:
    return int("".join(str(int(c, 36)) for c in s))


def iban_make(country: str, bban: str) -> str:
    cd = 98 - iban_numeric(bban + country + "00") % 97
    return f"{country}{cd:02d}{bban}"


def iban_ok(iban: str) -> bool:
    s = iban.replace(" ", "").upper()
    if len(s) < 4 or IBAN_LEN.get(s[:2]) != len(s) or not s.isalnum():
        return False
    return iban_numeric(s[4:] + s[:4]) % 97 == 1


def es_ccc_dc(ten: str) -> str:
    w = [1, 2, 4, 8, 5, 10, 9, 7, 3, 6]
    r = 11 - sum(int(d) * k for d, k in zip(ten, w)) % 11
    return str({11: 0, 10: 1}.get(r, r))


DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def dni_letter(n: int) -> str:
    return DNI_LETTERS[n % 23]


def dni_ok(s: str) -> bool:
    m = re.fullmatch(r"(\d{2})\.?(\d{3})\.?(\d{3})[- ]?([A-Z])", s)
    if not m:
        return False
    return dni_letter(int("".join(m.groups()[:3]))) == m.group(4)


def nie_ok(s: str) -> bool:
    m = re.fullmatch(r"([XYZ])[- ]?(\d{7})[- ]?([A-Z])", s)
    if not m:
        return False
    return dni_letter(int(str("XYZ".index(m.group(1))) + m.group(2))) == m.group(3)


def cpf_dv(base: str) -> str:
    d = [int(c) for c in base]
    for _ in range(2):
        n = len(d) + 1
        r = sum(v * (n - i) for i, v in enumerate(d)) * 10 % 11
        d.append(0 if r == 10 else r)
    return "".join(map(str, d[-2:]))


def cpf_ok(s: str) -> bool:
    d = re.sub(r"[.\-]", "", s)
    return len(d) == 11 and d.isdigit() and len(set(d)) > 1 and cpf_dv(d[:9]) == d[9:]


def cnpj_dv(base: str) -> str:
    d = [int(c) for c in base]
    for w in ([5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2], [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]):
        r = sum(a * b for a, b in zip(d, w)) % 11
        d.append(0 if r < 2 else 11 - r)
    return "".join(map(str, d[-2:]))


def cnpj_ok(s: str) -> bool:
    d = re.sub(r"[./\-]", "", s)
    return len(d) == 14 and d.isdigit() and len(set(d)) > 1 and cnpj_dv(d[:12]) == d[12:]


def ssn_ok(s: str) -> bool:
    d = re.sub(r"[ \-]", "", s)
    if len(d) != 9 or not d.isdigit():
        return False
    a, g, n = d[:3], d[3:5], d[5:]
    return a not in ("000", "666") and a[0] != "9" and g != "00" and n != "0000"


def pt_nif_ok(s: str) -> bool:
    if len(s) != 9 or not s.isdigit():
        return False
    r = 11 - sum(int(c) * (9 - i) for i, c in enumerate(s[:8])) % 11
    return int(s[8]) == (0 if r >= 10 else r)


CARD_PREFIXES = ("4", "51", "52", "53", "54", "55", "34", "37", "6011", "65", "636368", "606282") + tuple(
    str(x) for x in range(2221, 2721))


def card_like(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and digits.startswith(CARD_PREFIXES) and luhn_ok(digits)


CHECKERS = {"CREDIT_CARD": lambda v: card_like(re.sub(r"[ \-]", "", v)), "IBAN": iban_ok, "ES_DNI": dni_ok,
            "ES_NIE": nie_ok, "BR_CPF": cpf_ok, "BR_CNPJ": cnpj_ok, "US_SSN": ssn_ok}


# ----------------------------------------------------------------------------------------------
# value generators (r: random.Random)

def digits(r: random.Random, n: int) -> str:
    return "".join(r.choice("0123456789") for _ in range(n))


def alnum(r: random.Random, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(r.choice(alphabet) for _ in range(n))


US_AREAS = ["212", "213", "214", "206", "303", "305", "312", "404", "415", "480", "503", "512", "602", "617",
            "619", "646", "702", "713", "718", "773", "786", "801", "817", "832", "858", "904", "917", "919", "972"]
BR_DDD = ["11", "12", "13", "15", "16", "19", "21", "22", "24", "27", "31", "32", "34", "35", "41", "43", "44",
          "47", "48", "51", "53", "54", "61", "62", "65", "67", "71", "73", "75", "79", "81", "82", "83", "84",
          "85", "86", "91", "92", "95", "98"]
ES_FIX3 = ["954", "955", "963", "961", "944", "952", "976", "981", "985", "968", "922", "928", "983", "987", "942",
           "974", "956", "958", "965", "971"]
PT_FIX3 = ["239", "253", "289", "234", "266", "291", "258", "232", "244", "252", "255", "262", "296"]


def phone_us(r, fmt=None):
    a = r.choice(US_AREAS)
    e = f"{r.randint(2, 9)}{r.randint(0, 9)}{r.randint(0, 9)}"
    if e[1:] == "11":
        e = e[0] + "21"
    l = digits(r, 4)
    fmts = ["({a}) {e}-{l}"] * 5 + ["{a}-{e}-{l}"] * 4 + ["{a}.{e}.{l}"] * 2 + ["+1 {a} {e} {l}"] * 2 + \
           ["+1 ({a}) {e}-{l}", "1-{a}-{e}-{l}", "+1-{a}-{e}-{l}", "{a} {e} {l}", "({a}){e}-{l}"]
    if fmt == "intl":
        fmts = ["+1 {a} {e} {l}", "+1 ({a}) {e}-{l}", "+1-{a}-{e}-{l}"]
    return r.choice(fmts).format(a=a, e=e, l=l)


def phone_us_tf(r, fmt=None):
    a = r.choice(["800", "888", "877", "866", "855"])
    e, l = f"{r.randint(2, 9)}{digits(r, 2)}", digits(r, 4)
    return r.choice(["1-{a}-{e}-{l}", "({a}) {e}-{l}", "{a}-{e}-{l}", "1 ({a}) {e}-{l}"]).format(a=a, e=e, l=l)


def phone_uk(r, fmt=None):
    if r.random() < 0.7:
        n = "7" + r.choice("4579") + digits(r, 8)
        fmts = ["+44 {a} {b}", "0{a} {b}", "+44 (0){a} {b}", "0{a}{b}"]
        a, b = n[:4], n[4:]
    else:
        n = "20" + r.choice("378") + digits(r, 7)
        fmts = ["+44 {a} {b} {c}", "0{a} {b} {c}"]
        a, b, c = n[:2], n[2:6], n[6:]
        return r.choice(fmts).format(a=a, b=b, c=c)
    if fmt == "intl":
        fmts = fmts[:1]
    return r.choice(fmts).format(a=a, b=b)


def phone_es_mob(r, fmt=None):
    n = ("6" + digits(r, 8)) if r.random() < 0.8 else ("7" + r.choice("1234") + digits(r, 7))
    a, b, c = n[:3], n[3:6], n[6:]
    p = [n[:3], n[3:5], n[5:7], n[7:]]
    nat = [f"{a} {b} {c}"] * 4 + [f"{p[0]} {p[1]} {p[2]} {p[3]}"] * 3 + [n] * 2 + [f"{a}-{b}-{c}", f"{a}.{b}.{c}"]
    intl = [f"+34 {a} {b} {c}"] * 4 + [f"+34 {n}", f"+34{n}", f"+34 {p[0]} {p[1]} {p[2]} {p[3]}",
                                        f"0034 {a} {b} {c}", f"0034{n}", f"(+34) {a} {b} {c}", f"+34-{a}-{b}-{c}"]
    if fmt == "intl":
        return r.choice(intl)
    if fmt == "nat":
        return r.choice(nat)
    return r.choice(nat + intl)


def phone_es_fix(r, fmt=None):
    if r.random() < 0.55:
        pre = r.choice(["91", "93"])
        rest = digits(r, 7)
        nat = [f"{pre} {rest[:3]} {rest[3:5]} {rest[5:]}"] * 3 + [f"{pre}{rest[0]} {rest[1:4]} {rest[4:]}",
                                                                   f"{pre}{rest}", f"{pre} {rest[:3]} {rest[3:]}"]
    else:
        pre = r.choice(ES_FIX3)
        rest = digits(r, 6)
        nat = [f"{pre} {rest[:2]} {rest[2:4]} {rest[4:]}"] * 2 + [f"{pre} {rest[:3]} {rest[3:]}", f"{pre}{rest}"]
    intl = ["+34 " + x for x in nat[:3]] + ["0034 " + nat[0], "(+34) " + nat[0]]
    if fmt == "intl":
        return r.choice(intl)
    if fmt == "nat":
        return r.choice(nat)
    return r.choice(nat * 2 + intl)


def phone_es_tf(r, fmt=None):
    pre = r.choice(["900", "800", "901", "902"])
    rest = digits(r, 6)
    return r.choice([f"{pre} {rest[:3]} {rest[3:]}", f"{pre} {rest[:2]} {rest[2:4]} {rest[4:]}", f"{pre}{rest}"])


def phone_pt_mob(r, fmt=None):
    n = r.choice(["91", "92", "93", "96"]) + digits(r, 7)
    a, b, c = n[:3], n[3:6], n[6:]
    nat = [f"{a} {b} {c}"] * 4 + [n] * 2 + [f"{n[:2]} {n[2:5]} {n[5:7]} {n[7:]}", f"{a}-{b}-{c}"]
    intl = [f"+351 {a} {b} {c}"] * 4 + [f"+351 {n}", f"+351{n}", f"00351 {a} {b} {c}", f"(+351) {a} {b} {c}"]
    if fmt == "intl":
        return r.choice(intl)
    if fmt == "nat":
        return r.choice(nat)
    return r.choice(nat + intl)


def phone_pt_fix(r, fmt=None):
    if r.random() < 0.6:
        pre = r.choice(["21", "22"])
        rest = digits(r, 7)
        nat = [f"{pre} {rest[:3]} {rest[3:]}"] * 2 + [f"{pre}{rest[0]} {rest[1:4]} {rest[4:]}"] * 2 + [pre + rest]
    else:
        pre = r.choice(PT_FIX3)
        rest = digits(r, 6)
        nat = [f"{pre} {rest[:3]} {rest[3:]}"] * 3 + [pre + rest]
    intl = ["+351 " + nat[0], "+351 " + nat[2], "00351 " + nat[0]]
    if fmt == "intl":
        return r.choice(intl)
    if fmt == "nat":
        return r.choice(nat)
    return r.choice(nat * 2 + intl)


def phone_pt_tf(r, fmt=None):
    pre = r.choice(["800", "808", "707"])
    rest = digits(r, 6)
    return r.choice([f"{pre} {rest[:3]} {rest[3:]}", f"{pre} {rest[:2]} {rest[2:4]} {rest[4:]}"])


def phone_br_mob(r, fmt=None):
    ddd = r.choice(BR_DDD)
    n = "9" + r.choice("6789") + digits(r, 7)
    a, b = n[:5], n[5:]
    nat = [f"({ddd}) {a}-{b}"] * 5 + [f"{ddd} {a}-{b}"] * 3 + [f"({ddd}) {n[0]} {n[1:5]}-{b}", f"({ddd}){a}-{b}",
                                                                f"{ddd}{n}", f"{ddd} {n[0]} {n[1:5]} {b}", f"0{ddd} {a}-{b}"]
    intl = [f"+55 ({ddd}) {a}-{b}"] * 3 + [f"+55 {ddd} {a} {b}"] * 2 + [f"+55 {ddd} {a}-{b}", f"+55{ddd}{n}",
                                                                        f"+55 ({ddd}) {n[0]} {n[1:5]}-{b}"]
    if fmt == "intl":
        return r.choice(intl)
    if fmt == "nat":
        return r.choice(nat)
    return r.choice(nat * 2 + intl)


def phone_br_fix(r, fmt=None):
    ddd = r.choice(BR_DDD)
    n = r.choice("2345") + digits(r, 7)
    a, b = n[:4], n[4:]
    nat = [f"({ddd}) {a}-{b}"] * 4 + [f"{ddd} {a}-{b}", f"({ddd}){a}-{b}", f"{ddd} {a} {b}"]
    intl = [f"+55 ({ddd}) {a}-{b}"] * 2 + [f"+55 {ddd} {a} {b}", f"+55 {ddd} {a}-{b}"]
    if fmt == "intl":
        return r.choice(intl)
    if fmt == "nat":
        return r.choice(nat)
    return r.choice(nat * 2 + intl)


def phone_br_0800(r, fmt=None):
    rest = f"{r.randint(2, 9)}{digits(r, 6)}"
    return r.choice([f"0800 {rest[:3]} {rest[3:]}", f"0800-{rest[:3]}-{rest[3:]}", f"0800 {rest}", f"0800-{rest}"])


PHONES = {"us": phone_us, "us_tf": phone_us_tf, "uk": phone_uk, "es_mob": phone_es_mob, "es_fix": phone_es_fix,
          "es_tf": phone_es_tf, "pt_mob": phone_pt_mob, "pt_fix": phone_pt_fix, "pt_tf": phone_pt_tf,
          "br_mob": phone_br_mob, "br_fix": phone_br_fix, "br_0800": phone_br_0800}


def phone(r, variant: str, loc: str, fmt: str | None = None) -> str:
    if not variant:
        variant = {"us": "us", "uk": "uk"}.get(loc) or (loc + ("_mob" if r.random() < 0.7 else "_fix"))
    elif variant in ("es", "pt", "br"):
        variant = variant + ("_mob" if r.random() < 0.7 else "_fix")
    return PHONES[variant](r, fmt)


def card(r, variant: str = "", loc: str = "us") -> str:
    kind = variant if variant in ("visa", "mc", "amex", "disc", "elo", "hiper") else None
    if kind is None:
        kinds, w = ["visa", "mc", "amex", "disc"], [50, 35, 11, 4]
        if loc == "br":
            kinds, w = ["visa", "mc", "amex", "elo", "hiper"], [40, 36, 6, 14, 4]
        kind = r.choices(kinds, w)[0]
    if kind == "visa":
        pre, n = "4", 16
    elif kind == "mc":
        pre, n = (r.choice(["51", "52", "53", "54", "55"]) if r.random() < 0.75 else str(r.randint(2221, 2720))), 16
    elif kind == "amex":
        pre, n = r.choice(["34", "37"]), 15
    elif kind == "disc":
        pre, n = r.choice(["6011", "65"]), 16
    elif kind == "elo":
        pre, n = "636368", 16
    else:
        pre, n = "606282", 16
    d = luhn_complete(pre + digits(r, n - len(pre) - 1))
    style = variant if variant in ("compact", "spaced", "dashed") else r.choices(["spaced", "dashed", "compact"],
                                                                              [55, 15, 30])[0]
    if style == "compact":
        return d
    sep = " " if style == "spaced" else "-"
    if n == 15:
        return sep.join([d[:4], d[4:10], d[10:]])
    return sep.join(d[i:i + 4] for i in range(0, 16, 4))


ES_BANKS = ["0049", "2100", "0182", "0081", "2085", "0128", "1465", "0075", "2080", "3058", "0487", "0239"]
PT_BANKS = ["0035", "0033", "0010", "0007", "0036", "0018", "0045", "0269"]
BR_ISPB = ["00000000", "00360305", "60701190", "60746948", "90400888", "18236120", "00416968", "31872495"]
DE_BLZ = ["10070000", "20040000", "37040044", "50010517", "70150000", "12030000", "76026000"]
FR_BANKS = ["30004", "30003", "20041", "10278", "30002", "16958"]
GB_BANKS = ["NWBK", "BARC", "LOYD", "HBUK", "MIDL", "MONZ"]


def iban(r, country: str) -> str:
    if country == "ES":
        bank, branch, acc = r.choice(ES_BANKS), digits(r, 4), digits(r, 10)
        bban = bank + branch + es_ccc_dc("00" + bank + branch) + es_ccc_dc(acc) + acc
    elif country == "PT":
        core = r.choice(PT_BANKS) + digits(r, 4) + digits(r, 11)
        bban = core + f"{98 - int(core + '00') % 97:02d}"
    elif country == "BR":
        bban = r.choice(BR_ISPB) + digits(r, 5) + digits(r, 10) + r.choice("CP") + r.choice("12")
    elif country == "DE":
        bban = r.choice(DE_BLZ) + digits(r, 10)
    elif country == "FR":
        bank, branch, acc = r.choice(FR_BANKS), digits(r, 5), digits(r, 11)
        key = 97 - (89 * int(bank) + 15 * int(branch) + 3 * int(acc)) % 97
        bban = f"{bank}{branch}{acc}{key:02d}"
    elif country == "GB":
        bban = r.choice(GB_BANKS) + digits(r, 6) + digits(r, 8)
    else:
        raise ValueError(country)
    s = iban_make(country, bban)
    assert iban_ok(s)
    return s


def iban_fmt(r, s: str, style: str = "") -> str:
    style = style or r.choices(["grouped", "compact"], [62, 38])[0]
    if style == "compact":
        return s
    return " ".join(s[i:i + 4] for i in range(0, len(s), 4))


def dni(r) -> str:
    n = r.randint(1000000, 99999999)
    body, L = f"{n:08d}", dni_letter(n)
    f = r.choices(["plain", "dash", "dots", "space"], [62, 24, 9, 5])[0]
    return {"plain": body + L, "dash": f"{body}-{L}", "dots": f"{body[:2]}.{body[2:5]}.{body[5:]}-{L}",
            "space": f"{body} {L}"}[f]


def nie(r) -> str:
    p = r.choices("XYZ", [30, 55, 15])[0]
    body = digits(r, 7)
    L = dni_letter(int(str("XYZ".index(p)) + body))
    f = r.choices(["plain", "dash2", "dash1"], [65, 15, 20])[0]
    return {"plain": f"{p}{body}{L}", "dash2": f"{p}-{body}-{L}", "dash1": f"{p}{body}-{L}"}[f]


def cpf(r, style: str = "") -> str:
    while True:
        base = digits(r, 9)
        if len(set(base)) > 1:
            break
    d = base + cpf_dv(base)
    if (style or r.choices(["fmt", "bare"], [72, 28])[0]) == "bare":
        return d
    return f"{d[:3]}.{d[3:6]}.{d[6:9]}-{d[9:]}"


def cnpj(r, style: str = "") -> str:
    base = digits(r, 8) + r.choices(["0001", "0002", "0003", "0010"], [80, 10, 6, 4])[0]
    d = base + cnpj_dv(base)
    if (style or r.choices(["fmt", "bare"], [78, 22])[0]) == "bare":
        return d
    return f"{d[:2]}.{d[2:5]}.{d[5:8]}/{d[8:12]}-{d[12:]}"


def ssn(r) -> str:
    while True:
        a = r.randint(1, 899)
        if a != 666:
            break
    g, s = r.randint(1, 99), r.randint(1, 9999)
    f = r.choices(["dash", "space", "bare"], [76, 14, 10])[0]
    sep = {"dash": "-", "space": " ", "bare": ""}[f]
    return f"{a:03d}{sep}{g:02d}{sep}{s:04d}"


V4_FIRST = [2, 5, 24, 31, 37, 45, 46, 47, 62, 64, 66, 68, 71, 73, 76, 77, 79, 80, 81, 83, 84, 85, 88, 89, 90, 91,
            95, 96, 98, 104, 107, 109, 142, 148, 162, 173, 176, 177, 179, 181, 186, 187, 189, 191, 193, 200, 201, 213]


def ip(r, variant: str = "") -> str:
    if variant == "v6" or (not variant and r.random() < 0.12):
        pre = r.choice(["2001:818", "2804:14c", "2a02:2e0", "2a01:cb19", "2600:1700", "2607:fb90", "2001:8a0",
                        "2804:7f0", "2a0c:5a80", "2601:647"])
        g = [format(r.randint(0, 0xffff), "x") for _ in range(6)]
        if r.random() < 0.6:
            return f"{pre}:{g[0]}:{g[1]}::{g[2]}" + (f":{g[3]}" if r.random() < 0.5 else "")
        return f"{pre}:" + ":".join(g)
    if variant == "priv":
        return r.choice([f"192.168.{r.randint(0, 5)}.{r.randint(2, 254)}",
                         f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(2, 254)}",
                         f"172.{r.randint(16, 31)}.{r.randint(0, 255)}.{r.randint(2, 254)}"])
    return f"{r.choice(V4_FIRST)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"


B64URL = string.ascii_letters + string.digits + "-_"


def tail_alnum(r, n: int, alphabet: str) -> str:
    return alnum(r, n - 1, alphabet) + alnum(r, 1)


def b64url(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode().rstrip("=")


def secret(r, variant: str = "") -> str:
    kinds = ["openai", "openai_proj", "gh", "aws", "stripe", "google", "slack", "gitlab", "anthropic", "sendgrid",
             "gh_pat"]
    v = variant or r.choices(kinds, [16, 12, 14, 14, 10, 10, 8, 5, 6, 3, 2])[0]
    if v == "openai":
        return "sk-" + alnum(r, 48)
    if v == "openai_proj":
        return "sk-proj-" + tail_alnum(r, r.randint(56, 74), B64URL)
    if v == "anthropic":
        return "sk-ant-api03-" + tail_alnum(r, 93, B64URL) + "AA"
    if v == "gh":
        return "ghp_" + alnum(r, 36)
    if v == "gh_pat":
        return "github_pat_11" + alnum(r, 20, string.ascii_uppercase + string.digits) + "_" + alnum(r, 59)
    if v == "aws":
        return "AKIA" + alnum(r, 16, string.ascii_uppercase + "234567")
    if v == "awssecret":
        return alnum(r, 39, string.ascii_letters + string.digits + "/+") + alnum(r, 1)
    if v == "stripe":
        return r.choice(["sk_live_", "rk_live_"]) + alnum(r, r.choice([24, 34, 99]))
    if v == "google":
        return "AIza" + tail_alnum(r, 35, B64URL)
    if v == "slack":
        return r.choice(["xoxb-", "xoxp-"]) + digits(r, 12) + "-" + digits(r, 13) + "-" + alnum(r, 24)
    if v == "gitlab":
        return "glpat-" + tail_alnum(r, 20, B64URL)
    if v == "sendgrid":
        return "SG." + tail_alnum(r, 22, B64URL) + "." + tail_alnum(r, 43, B64URL)
    if v == "jwt":
        head = b64url({"alg": "HS256", "typ": "JWT"})
        body = b64url({"sub": digits(r, 8), "iat": 1700000000 + r.randint(0, 40000000), "scope": "admin"})
        return f"{head}.{body}.{tail_alnum(r, 43, B64URL)}"
    if v == "pem":
        raw = bytes(r.randrange(256) for _ in range(r.choice([180, 228])))
        b = base64.b64encode(raw).decode()
        lines = [b[i:i + 64] for i in range(0, len(b), 64)]
        return "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END RSA PRIVATE KEY-----"
    raise ValueError(v)


# ----------------------------------------------------------------------------------------------
# distractors (no span)

MONTHS = {"es": ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
                 "noviembre", "diciembre"],
          "pt": ["janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro", "outubro",
                 "novembro", "dezembro"],
          "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
                 "November", "December"]}
WEEKDAYS = {"es": ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"],
            "pt": ["segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira", "sábado", "domingo"],
            "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]}
CITIES = {"es": ["Madrid", "Valencia", "Sevilla", "Zaragoza", "Málaga", "Bilbao", "Alicante", "Córdoba", "Valladolid",
                 "Vigo", "Gijón", "Granada", "Santander", "Murcia", "León", "Toledo", "Salamanca", "Getafe",
                 "Alcalá de Henares", "Jerez de la Frontera", "Hospitalet de Llobregat", "Las Palmas"],
          "br": ["São Paulo", "Rio de Janeiro", "Belo Horizonte", "Salvador", "Fortaleza", "Curitiba", "Recife",
                 "Porto Alegre", "Santos", "Vitória", "Florianópolis", "Campinas", "Goiânia", "Natal", "Londrina",
                 "São José dos Campos", "Ribeirão Preto", "Juiz de Fora", "Niterói", "Belém"],
          "pt": ["Lisboa", "Porto", "Braga", "Coimbra", "Faro", "Aveiro", "Setúbal", "Viseu", "Leiria", "Guimarães",
                 "Évora", "Funchal", "Amadora", "Matosinhos", "Almada", "Vila Nova de Gaia", "Sintra", "Cascais"],
          "us": ["Austin", "Denver", "Phoenix", "Seattle", "Portland", "Charlotte", "Jackson", "Madison", "Orlando",
                 "Tucson", "Raleigh", "Savannah", "Columbus", "Lincoln", "Boise", "Tampa", "Sacramento", "Houston"]}
COMPANIES = {"es": ["Banco Santander", "BBVA", "CaixaBank", "Movistar", "Vodafone", "Orange", "Iberdrola", "Endesa",
                    "Naturgy", "Correos", "SEUR", "MRW", "El Corte Inglés", "Mercadona", "Renfe", "Iberia", "Mapfre",
                    "Bizum", "Glovo", "Wallapop", "Cofidis", "Unicaja", "Kutxabank", "Securitas Direct"],
             "br": ["Banco do Brasil", "Itaú", "Bradesco", "Nubank", "Caixa", "Mercado Livre", "Magazine Luiza",
                    "Correios", "Vivo", "Claro", "TIM", "Americanas", "Casas Bahia", "Loggi", "iFood", "PicPay",
                    "Serasa", "Sedex", "Jadlog", "Shopee", "Banco Inter", "Enel", "Sabesp", "Cemig"],
             "pt": ["CTT", "MEO", "NOS", "Vodafone", "Millennium BCP", "Caixa Geral de Depósitos", "EDP", "Galp",
                    "Worten", "Continente", "Fnac", "Via Verde", "Multibanco", "MB Way", "Novo Banco", "Banco BPI",
                    "Galp Energia", "Pingo Doce", "Endesa", "DPD"],
             "us": ["Chase", "Wells Fargo", "Bank of America", "Comcast", "Verizon", "AT&T", "UPS", "FedEx", "USPS",
                    "Best Buy", "Costco", "Walmart", "PayPal", "Venmo", "Zelle", "Capital One", "T-Mobile",
                    "American Express", "Stripe", "Shopify"]}
FIRMS = {"es": ["Distribuciones Levante", "Construcciones Atlántico", "Reformas Sol y Mar", "Transportes Meseta",
                "Papelería El Faro", "Bodegas Altozano", "Climatizaciones Norte", "Frutas La Huerta"],
         "br": ["Distribuidora Horizonte", "Mercadinho Bom Preço", "Construtora Nova Era", "AgroVale",
                "Padaria Pão Dourado", "Auto Peças Rota 66", "Farmácia Vida Nova", "Gráfica Arco-Íris"],
         "pt": ["Tipografia Atlântico", "Cafetaria Ribeirinha", "Construções Douro Norte", "Mobiliário Estrela",
                "Oficina Auto Minho", "Vinhos Encosta Alta", "Pastelaria Bela Vista"],
         "us": ["Northwind Supply", "Blue Ridge Roofing", "Pinecrest Dental", "Harbor Freight Lines", "Brightlane Labs",
                "Maple Leaf Realty", "Summit Outdoor Co.", "Golden Gate Bakery"]}
PRODUCTS = ["iPhone 15 Pro", "Galaxy S24 Ultra", "Redmi Note 13", "MacBook Air M2", "AirPods Pro", "Kindle Paperwhite",
            "PlayStation 5", "Nintendo Switch OLED", "Thermomix TM6", "Roomba j7+", "Apple Watch SE", "Pixel 8a",
            "Dyson V15", "Moto G84", "Echo Dot", "Fire TV Stick 4K", "ThinkPad X1 Carbon", "Xbox Series S"]
EVENTS = {"es": ["Black Friday", "Cyber Monday", "Navidad", "Reyes", "Semana Santa", "Prime Day", "rebajas de enero"],
          "br": ["Black Friday", "Natal", "Dia das Mães", "Dia dos Namorados", "Carnaval", "Dia do Cliente"],
          "pt": ["Black Friday", "Natal", "Páscoa", "Santos Populares", "saldos de janeiro"],
          "us": ["Black Friday", "Cyber Monday", "Prime Day", "Memorial Day", "Thanksgiving", "Labor Day", "Christmas"]}
STREETS = {"es": ["Calle Mayor {n}, {p}º {l}", "Avda. de la Constitución {n}, {p}º{l}", "C/ Alcalá {n}, bajo {l}",
                  "Calle de Alfonso XII {n}", "Paseo de la Castellana {n}, {p}ª planta", "Plaza de España {n}",
                  "C/ Sierpes {n}, {p}º {l}", "Ronda de Segovia {n}", "Gran Vía {n}, {p}º dcha.",
                  "Avenida Diagonal {n}, {p}-{q}", "Calle Doctor Fleming {n}, portal {q}"],
          "br": ["Rua Augusta, {n}, apto {a}", "Av. Paulista, {n} - Bela Vista", "Rua Oscar Freire {n}",
                 "Av. Presidente Vargas, {n}, sala {a}", "Rua XV de Novembro, {n}", "Av. Brasil {n}, bloco {q}",
                 "Rua das Flores, {n}, casa {q}", "Av. Getúlio Vargas, {n}", "Rua Sete de Setembro {n}, ap. {a}"],
          "pt": ["Rua Augusta {n}, {p}º Esq.", "Av. da Liberdade {n}, {p}º Dto.", "Rua Garrett {n}",
                 "Rua de Santa Catarina {n}, {p}º", "Praça do Comércio {n}", "Av. dos Aliados {n}, {p}º Frente",
                 "Rua do Almada {n}, r/c", "Largo do Rato {n}, {p}º B"],
          "us": ["{n} Oak Ridge Dr, Apt {a}", "{n} W Main St", "{n} Maple Ave, Unit {q}", "{n} Martin Luther King Jr Blvd",
                 "{n} Washington St, Suite {a}", "{n} Lincoln Ave", "{n} Elm Street"]}
BICS = {"es": ["CAIXESBBXXX", "BSCHESMMXXX", "BBVAESMMXXX", "BSABESBB", "INGDESMMXXX"],
        "pt": ["CGDIPTPL", "BCOMPTPL", "BBPIPTPL", "TOTAPTPL"],
        "br": ["BRASBRRJXXX", "ITAUBRSP", "BBDEBRSPSPO", "NUPGBRSP"],
        "us": ["CHASUS33", "BOFAUS3N", "WFBIUS6S"]}
BAD_TYPES = ("bad_cc", "bad_iban", "bad_cpf", "bad_cnpj", "bad_dni", "bad_nie", "bad_ssn")


def lang_key(loc: str) -> str:
    return {"es": "es", "br": "pt", "pt": "pt", "us": "en", "uk": "en"}[loc]


def cloc(loc: str) -> str:
    return "us" if loc == "uk" else loc


def distractor(r, kind: str, loc: str) -> str:
    L, C = lang_key(loc), cloc(loc)
    y = r.choice([2023, 2024, 2025])
    if kind == "order":
        return r.choice([f"#{digits(r, 4)}-{digits(r, 4)}", f"{y}-{r.randint(10000, 99999)}", f"PED-{digits(r, 6)}",
                         f"{r.randint(1000000, 9999999)}-{digits(r, 2)}", f"#{r.randint(100000, 999999)}",
                         f"W{digits(r, 9)}", f"ORD-{y}-{digits(r, 5)}"])
    if kind == "amzorder":
        return f"{r.randint(111, 114)}-{digits(r, 7)}-{digits(r, 7)}"
    if kind == "tracking":
        c = r.random()
        if c < 0.3:
            return "1Z" + alnum(r, 6, string.ascii_uppercase + string.digits) + r.choice(["03", "01", "42"]) + digits(r, 8)
        if c < 0.5:
            return alnum(r, 2, string.ascii_uppercase) + digits(r, 9) + {"br": "BR", "pt": "PT", "es": "ES"}.get(C, "US")
        if c < 0.7:
            return "94001" + digits(r, 17)
        if c < 0.85:
            return "PQ" + alnum(r, 4, string.ascii_uppercase + string.digits) + digits(r, 14) + alnum(r, 1, string.ascii_uppercase)
        return "LP" + digits(r, 14) + "CN"
    if kind == "invoice":
        return r.choice({"es": [f"FAC-{y}-{digits(r, 6)}", f"F{y}/{digits(r, 5)}", f"A-{digits(r, 7)}"],
                         "pt": [f"FT {y}/{r.randint(100, 9999)}", f"FR A/{y}/{r.randint(1, 999)}", f"FT A{y}/{r.randint(1, 9999)}"],
                         "br": [f"NF-e {digits(r, 3)}.{digits(r, 3)}.{digits(r, 3)}", f"NF {r.randint(1000, 999999)}", f"nº {digits(r, 6)}"],
                         "us": [f"INV-{y}{digits(r, 4)}-{digits(r, 4)}", f"INV-{digits(r, 6)}", f"#{y}-{digits(r, 5)}"]}[C])
    if kind == "amount":
        a, c = r.randint(5, 2999), r.randint(0, 99)
        if C == "us":
            return r.choice([f"${a:,}.{c:02d}", f"${a}", f"USD {a:,}.{c:02d}", f"£{a}.{c:02d}" if loc == "uk" else f"${a}.{c:02d}"])
        if C == "br":
            return r.choice([f"R$ {a:,}".replace(",", ".") + f",{c:02d}", f"R${a},{c:02d}", f"R$ {a},00"])
        s = f"{a:,}".replace(",", ".")
        return r.choice([f"{s},{c:02d} €", f"{s},{c:02d}€", f"€{s},{c:02d}", f"{a} euros", f"{s},{c:02d} EUR"])
    if kind == "date":
        d, m = r.randint(1, 28), r.randint(1, 12)
        if C == "us":
            return r.choice([f"{m:02d}/{d:02d}/{y}", f"{m}/{d}/{str(y)[2:]}", f"{y}-{m:02d}-{d:02d}",
                             f"{MONTHS['en'][m - 1][:3]} {d}, {y}", f"{MONTHS['en'][m - 1]} {d}"])
        return r.choice([f"{d:02d}/{m:02d}/{y}", f"{d}/{m}/{str(y)[2:]}", f"{y}-{m:02d}-{d:02d}", f"{d:02d}-{m:02d}-{y}",
                         f"{d} de {MONTHS[L][m - 1]}", f"{d:02d}.{m:02d}.{y}"])
    if kind == "dob":
        d, m, yy = r.randint(1, 28), r.randint(1, 12), r.randint(1941, 2004)
        if C == "us":
            return r.choice([f"{m:02d}/{d:02d}/{yy}", f"{m}/{d}/{yy}", f"{MONTHS['en'][m - 1]} {d}, {yy}"])
        return r.choice([f"{d:02d}/{m:02d}/{yy}", f"{d}/{m}/{yy}", f"{d:02d}-{m:02d}-{yy}"])
    if kind == "itin":
        return f"9{digits(r, 2)}-{r.choice([70, 71, 72, 75, 78, 80, 83, 88])}-{r.randint(1, 9999):04d}"
    if kind == "time":
        h, mi = r.randint(7, 22), r.choice([0, 5, 12, 15, 20, 30, 41, 45, 52])
        if C == "us":
            return r.choice([f"{(h - 1) % 12 + 1}:{mi:02d} {'AM' if h < 12 else 'PM'}", f"{h}:{mi:02d}",
                             f"{(h - 1) % 12 + 1}:{mi:02d}{'am' if h < 12 else 'pm'}"])
        if C == "br":
            return r.choice([f"{h}h{mi:02d}", f"{h:02d}:{mi:02d}", f"{h}h"])
        return r.choice([f"{h:02d}:{mi:02d}", f"{h}:{mi:02d}", f"{h}h{mi:02d}"])
    if kind == "version":
        return r.choice([f"v{r.randint(1, 5)}.{r.randint(0, 20)}.{r.randint(0, 9)}",
                         f"iOS {r.randint(15, 18)}.{r.randint(0, 6)}.{r.randint(1, 3)}", f"Android {r.randint(11, 15)}",
                         f"{r.randint(2, 9)}.{r.randint(0, 40)}.{r.randint(0, 9)} (build {r.randint(1000, 9999)})",
                         f"Windows 11 {r.choice(['22H2', '23H2', '24H2'])}", f"firmware {r.randint(1, 3)}.{r.randint(0, 9)}.{r.randint(0, 20)}"])
    if kind == "sku":
        return r.choice([f"{digits(r, 2)}-{digits(r, 4)}-{digits(r, 2)}", f"SKU-{digits(r, 4)}-{r.choice(['BLK', 'WHT', 'RED', 'AZL'])}-{r.choice('SML')}",
                         f"REF {digits(r, 7)}", f"MLB{digits(r, 10)}", f"B0{alnum(r, 8, string.ascii_uppercase + string.digits)}"])
    if kind == "cp":
        if C == "es":
            return f"{r.randint(1, 52):02d}{digits(r, 3)}"
        if C == "br":
            return f"{digits(r, 5)}-{digits(r, 3)}"
        if C == "pt":
            return f"{r.randint(1000, 9999)}-{digits(r, 3)}"
        return r.choice([f"{r.randint(10000, 99899)}", f"{r.randint(10000, 99899)}-{digits(r, 4)}"])
    if kind == "city":
        return r.choice(CITIES[C])
    if kind == "company":
        return r.choice(COMPANIES[C])
    if kind == "phone_model":
        return r.choice(["iPhone 13", "iPhone 15 Pro", "Galaxy A54", "Galaxy S24 Ultra", "Moto G84", "Redmi Note 13",
                         "Pixel 8a", "Xiaomi 13T", "Galaxy A15"])
    if kind == "firm":
        return r.choice(FIRMS[C])
    if kind == "product":
        return r.choice(PRODUCTS)
    if kind == "weekday":
        return r.choice(WEEKDAYS[L]).capitalize() if r.random() < 0.5 else r.choice(WEEKDAYS[L])
    if kind == "month":
        m = r.choice(MONTHS[L])
        return m.capitalize() if r.random() < 0.6 else m
    if kind == "event":
        return r.choice(EVENTS[C])
    if kind == "street":
        return r.choice(STREETS[C]).format(n=r.randint(1, 250), p=r.randint(1, 9), l=r.choice("ABCDI"),
                                           q=r.randint(1, 6), a=r.randint(11, 904))
    if kind == "ticket":
        return r.choice([f"INC{digits(r, 7)}", f"#{r.randint(10000, 99999)}", f"CS-{r.randint(10000, 99999)}",
                         f"SR-{y}-{digits(r, 4)}", f"TCK-{digits(r, 6)}", f"{y}{digits(r, 6)}"])
    if kind == "customer":
        return r.choice([f"CL-{digits(r, 7)}", f"{r.randint(1000000, 9999999)}-{r.randint(0, 9)}", f"C{digits(r, 8)}",
                         f"{r.randint(10000, 99999)}"])
    if kind == "contract":
        return r.choice([f"CTR-{y}-{digits(r, 4)}", f"{alnum(r, 3, string.ascii_uppercase)}-{digits(r, 8)}"])
    if kind == "protocol":
        return f"{y}{digits(r, 9)}"
    if kind == "last4":
        return digits(r, 4)
    if kind == "masked_cc":
        l4 = digits(r, 4)
        return r.choice([f"**** **** **** {l4}", f"XXXX-XXXX-XXXX-{l4}", f"•••• {l4}", f"{r.choice(['4', '5'])}{digits(r, 3)} **** **** {l4}",
                         f"************{l4}"])
    if kind == "masked_cpf":
        return f"***.{digits(r, 3)}.{digits(r, 3)}-**"
    if kind == "exp":
        return f"{r.randint(1, 12):02d}/{r.randint(25, 31)}"
    if kind == "bic":
        return r.choice(BICS[C])
    if kind == "cif":
        b = r.choice("ABBBBBG") + digits(r, 8)
        return r.choice([b, f"{b[0]}-{b[1:]}", f"{b[0]}{b[1:3]}.{b[3:6]}.{b[6:]}"])
    if kind == "pt_nif":
        while True:
            base = r.choice("125") + digits(r, 7)
            rr = 11 - sum(int(c) * (9 - i) for i, c in enumerate(base)) % 11
            v = base + str(0 if rr >= 10 else rr)
            if pt_nif_ok(v):
                return v
    if kind == "rg":
        return r.choice([f"{digits(r, 2)}.{digits(r, 3)}.{digits(r, 3)}-{r.choice('0123456789X')}",
                         f"MG-{digits(r, 2)}.{digits(r, 3)}.{digits(r, 3)}"])
    if kind == "cups":
        return "ES0" + r.choice(["021", "031", "022", "026"]) + digits(r, 12) + alnum(r, 2, string.ascii_uppercase) + r.choice(["", "0F", "1P"])
    if kind == "imei":
        return luhn_complete(r.choice(["35", "86", "01"]) + digits(r, 12))
    if kind == "plate":
        return {"es": f"{digits(r, 4)} {alnum(r, 3, 'BCDFGHJKLMNPRSTVWXYZ')}",
                "br": f"{alnum(r, 3, string.ascii_uppercase)}{digits(r, 1)}{alnum(r, 1, string.ascii_uppercase)}{digits(r, 2)}",
                "pt": f"{alnum(r, 2, string.ascii_uppercase)}-{digits(r, 2)}-{alnum(r, 2, string.ascii_uppercase)}",
                "us": f"{digits(r, 1)}{alnum(r, 3, string.ascii_uppercase)}{digits(r, 3)}"}[C]
    if kind == "passport":
        return {"es": f"PA{alnum(r, 1, 'ABCDEFGHJK')}{digits(r, 6)}", "br": f"F{alnum(r, 1, string.ascii_uppercase)}{digits(r, 6)}",
                "pt": f"C{alnum(r, 1, string.ascii_uppercase)}{digits(r, 6)}", "us": f"{digits(r, 9)}"}[C]
    if kind == "asset":
        return f"LT-{digits(r, 5)}"
    if kind == "num":
        return str(r.randint(1000, 99999))
    if kind == "percent":
        return f"{r.randint(5, 70)}%"
    if kind == "qty":
        return str(r.randint(2, 24))
    if kind == "bad_cc":
        v = card(r, "", C)
        d = re.sub(r"\D", "", v)
        last = str((int(d[-1]) + r.randint(1, 9)) % 10)
        return v[:-1] + last
    if kind == "bad_iban":
        country = {"es": "ES", "pt": "PT", "br": "BR"}.get(C, r.choice(["DE", "GB", "FR"]))
        s = iban(r, country)
        i = r.randint(6, len(s) - 3)
        while not s[i].isdigit():
            i += 1
        s = s[:i] + str((int(s[i]) + r.randint(1, 9)) % 10) + s[i + 1:]
        return iban_fmt(r, s)
    if kind == "bad_cpf":
        v = cpf(r, "fmt")
        return v[:-1] + str((int(v[-1]) + r.randint(1, 9)) % 10)
    if kind == "bad_cnpj":
        v = cnpj(r, "fmt")
        return v[:-1] + str((int(v[-1]) + r.randint(1, 9)) % 10)
    if kind == "bad_dni":
        n = r.randint(1000000, 99999999)
        good = dni_letter(n)
        return f"{n:08d}" + r.choice([c for c in DNI_LETTERS if c != good])
    if kind == "bad_nie":
        p, body = r.choice("XY"), digits(r, 7)
        good = dni_letter(int(str("XYZ".index(p)) + body))
        return f"{p}{body}" + r.choice([c for c in DNI_LETTERS if c != good])
    if kind == "bad_ssn":
        a = r.choice(["000", "666", f"9{digits(r, 2)}"])
        g = r.choice(["00", f"{r.randint(1, 99):02d}"]) if a[0] == "9" else f"{r.randint(1, 99):02d}"
        return f"{a}-{g}-{r.randint(1, 9999):04d}"
    raise ValueError(kind)


# ----------------------------------------------------------------------------------------------
# names. Each pool: m / f given names, s surnames ("|"-separated; entries may be compound or carry
# particles), style. Tokens are split between held-out and dev by a stable hash (see split_pool).

def _l(s: str) -> list[str]:
    return [x.strip() for x in s.split("|") if x.strip()]


NAME_POOLS = {
    "es": dict(style="es", origin="common", m=_l(
        "Antonio|Manuel|José|Francisco|David|Juan|Javier|Daniel|Carlos|Jesús|Alejandro|Miguel|Rafael|Pablo|Sergio|"
        "Fernando|Jorge|Luis|Alberto|Álvaro|Adrián|Diego|Raúl|Enrique|Ramón|Vicente|Ignacio|Rubén|Óscar|Andrés|"
        "Joaquín|Santiago|Eduardo|Víctor|Mario|Roberto|Marcos|Hugo|Gonzalo|Iván|Julián|Emilio|Tomás|Agustín|Borja|"
        "Nicolás|Felipe|Lorenzo|Salvador|Gregorio|Esteban|Cristóbal|Rodrigo|Ismael|Jacinto|Fermín|Matías|Teodoro|"
        "José Luis|Juan Carlos|José Antonio|Juan Manuel|Francisco Javier|Miguel Ángel|José María|Luis Miguel|"
        "Juan José|José Ignacio|Pedro Pablo|Juan Antonio"), f=_l(
        "María|Carmen|Ana|Isabel|Laura|Lucía|Cristina|Marta|Elena|Paula|Raquel|Sara|Pilar|Rosa|Beatriz|Silvia|"
        "Patricia|Nuria|Julia|Irene|Alba|Andrea|Sonia|Rocío|Inmaculada|Montserrat|Mercedes|Teresa|Consuelo|Eva|"
        "Noelia|Lorena|Verónica|Susana|Yolanda|Encarnación|Amparo|Macarena|Almudena|Esperanza|Remedios|Marina|"
        "Claudia|Natalia|Celia|Rebeca|Soledad|Guadalupe|Milagros|Adela|Olga|Victoria|Fátima|Araceli|Lidia|Vanesa|"
        "María José|Ana Belén|María del Carmen|María Dolores|Ana Isabel|María Pilar|María Ángeles|Rosa María|"
        "María Teresa|María Jesús|Ana María|María Luisa"), s=_l(
        "García|Rodríguez|González|Fernández|López|Martínez|Sánchez|Pérez|Gómez|Martín|Jiménez|Ruiz|Hernández|Díaz|"
        "Moreno|Muñoz|Álvarez|Romero|Alonso|Gutiérrez|Navarro|Torres|Domínguez|Vázquez|Ramos|Gil|Ramírez|Serrano|"
        "Blanco|Molina|Morales|Suárez|Ortega|Delgado|Castro|Ortiz|Rubio|Marín|Sanz|Núñez|Iglesias|Medina|Garrido|"
        "Cortés|Castillo|Lozano|Guerrero|Cano|Prieto|Méndez|Calvo|Gallego|Vidal|Márquez|Herrera|Peña|Flores|"
        "Cabrera|Campos|Vega|Fuentes|Carrasco|Caballero|Nieto|Aguilar|Pascual|Santana|Herrero|Montero|Hidalgo|"
        "Giménez|Ibáñez|Ferrer|Durán|Benítez|Mora|Vargas|Arias|Carmona|Crespo|Román|Pastor|Soto|Sáez|Velasco|Moya|"
        "Parra|Esteban|Bravo|Gallardo|Rojas|Pardo|Merino|Franco|Espinosa|Izquierdo|Lara|Rivas|Casado|Arroyo|"
        "Redondo|Camacho|Vera|Luque|Galán|Montes|Sierra|Segura|Carrillo|Soriano|Mendoza|Quintana|Valverde|Bermúdez|"
        "Núñez de Arce|Fernández de Córdoba|Ruiz de Alda|Sáenz de Santamaría|López de Haro|Gómez de la Serna|"
        "Ortiz de Zárate|Ponce de León|Martínez de la Rosa|García-Page|Pérez-Reverte|Fernández-Cuesta|"
        "Sánchez-Arjona|Díaz-Canedo|Gil-Robles|Ruiz-Mateos"),
        p=_l("de la Fuente|del Río|de la Torre|del Pino|de la Cruz|de la Vega|de los Santos|del Valle|de Castro|"
             "de Miguel|de Diego|del Olmo|de la Calle|de las Heras|de la Iglesia|del Moral|de Lucas|de la Peña|"
             "del Campo|de Blas|de Andrés|del Barrio|de la Osa|del Hoyo")),
    "basque": dict(style="es", origin="rare:basque", m=_l(
        "Iker|Unai|Aitor|Gorka|Koldo|Xabier|Ander|Eneko|Asier|Iñaki|Mikel|Oier|Julen|Beñat|Ibai|Jokin|Urko"), f=_l(
        "Ainhoa|Nerea|Maite|Itziar|Amaia|Leire|Edurne|Garazi|Irati|Arantxa|Nekane|Uxue|Izaro|Miren|Haizea|Olatz"),
        s=_l("Goikoetxea|Urrutia|Etxeberria|Agirre|Zubizarreta|Arrieta|Olaizola|Larrañaga|Azkue|Ibarguren|Garmendia|"
             "Elizondo|Aranburu|Lizarraga|Urkiza|Bengoetxea|Arregi|Iturbe|Zabaleta|Otxoa de Eribe|Ruiz de Azúa|"
             "Sáenz de Buruaga|Mendizabal|Uriarte|Ugalde|Aizpurua|Altuna|Olabarria|Zuloaga|Errasti"), p=[]),
    "catalan": dict(style="cat", origin="rare:catalan", m=_l(
        "Jordi|Pau|Arnau|Oriol|Pol|Guillem|Jaume|Martí|Roger|Eudald|Quim|Ferran|Biel|Joan Carles|Pere|Lluís"), f=_l(
        "Montse|Mireia|Laia|Aina|Meritxell|Neus|Roser|Gemma|Queralt|Ariadna|Berta|Clàudia|Mercè|Txell|Núria|Júlia"),
        s=_l("Puigdollers|Vilaró|Casals|Puig|Roca|Pujol|Riera|Vendrell|Bosch|Sabaté|Canals|Font|Comas|Rovira|Serra|"
             "Batlle|Tarrés|Masó|Llobet|Pujadas|Torrent|Vilanova|Prat|Claramunt|Castellví|Fàbregas|Gispert|Bofill|"
             "Coromines|Sunyer"), p=[]),
    "galician": dict(style="es", origin="rare:galician", m=_l(
        "Xoán|Brais|Iago|Anxo|Xurxo|Uxío|Breogán|Roi|Martiño|Antón|Xosé|Fiz|Lois|Bieito"), f=_l(
        "Uxía|Iria|Antía|Sabela|Xiana|Aldara|Lúa|Maruxa|Carme|Icía|Noela|Xoana|Rosalía|Comba"),
        s=_l("Outeiro|Bouzas|Castiñeiras|Seoane|Varela|Barreiro|Piñeiro|Lema|Souto|Rial|Fraga|Regueiro|Carballo|"
             "Vilariño|Pazos|Ferreiro|Lousada|Dopazo|Mosquera|Gondar|Valcárcel|Cotelo|Louzao|Agrelo|Touriño"), p=[]),
    "andean": dict(style="es", origin="rare:andean", m=_l(
        "Wilmer|Yeison|Edwin|Jhon|Wálter|Brayan|Jhonatan|Faustino|Inti|Jhonny|Efraín|Freddy|Wilber|Yony"), f=_l(
        "Yessenia|Maribel|Gladys|Nayeli|Sumaq|Karina|Lisbeth|Yurani|Leidy|Flor|Yaneth|Roxana|Marleny|Killa"),
        s=_l("Quispe|Mamani|Huamán|Condori|Choque|Ticona|Apaza|Chambi|Ccori|Yupanqui|Illanes|Cusi|Paucar|Huanca|"
             "Vilca|Machaca|Chuquimia|Huarachi|Limachi|Ccallo|Aroni|Taipe"), p=[]),
    "arabic": dict(style="single", origin="rare:arabic", m=_l(
        "Youssef|Mohamed|Hamza|Karim|Rachid|Mustafa|Bilal|Ayoub|Omar|Driss|Abdelkader|Soufiane|Tarik|Anouar"), f=_l(
        "Rkia|Btissam|Ghizlane|Kaoutar|Asmae|Sanae|Khadija|Salma|Houda|Imane|Zineb|Meryem|Loubna|Amina|Hanane|Ikram|Siham|Wafae|Chaimae|Nawal"),
        s=_l("Bakkali|Naciri|Rifi|Tazi|Bouazza|Saidi|El Amrani|Benali|Bouzid|El Idrissi|Haddou|Ouali|Tahiri|Chaoui|Bennani|Alaoui|El Khattabi|Azzouzi|"
             "Belhaj|Ziani|Lahlou|Boukhari|Cherkaoui|El Fassi|Ait Lahcen|Mansouri"), p=[]),
    "romanian": dict(style="single", origin="rare:romanian", m=_l(
        "Ciprian|Lucian|Nicolae|Valentin|Dănuț|Emil|Ionuț|Mihai|Florin|Cătălin|Bogdan|Vasile|Gheorghe|Marius|Sorin|Costel|Dorin|Ovidiu|Radu"), f=_l(
        "Ileana|Violeta|Oana|Raluca|Anca|Irina|Ionela|Mihaela|Alina|Florentina|Roxana|Simona|Loredana|Corina|Ioana|Andreea|Larisa|Daciana"),
        s=_l("Vasilescu|Marinescu|Pop|Nistor|Oprea|Tănase|Barbu|Sandu|Dumitrescu|Popescu|Ionescu|Stoica|Munteanu|Dobre|Bălan|Lupu|Ene|Moldovan|Țurcanu|Rusu|Niculescu|"
             "Cojocaru|Ardeleanu|Păun|Toma|Grigoraș"), p=[]),
    "chinese": dict(style="single", origin="rare:chinese", m=_l("Qiang|Gang|Yifan|Zhen|Peng|Xin|Haoran|Dong|Wei|Jun|Hao|Ming|Lei|Bo|Jian|Tao|Yong|Zhiwei"), f=_l(
        "Xue|Ling|Qian|Yue|Lihua|Shu|Ruolan|Xiaoyan|Xiaoling|Mei|Ying|Li Na|Yan|Hui|Xiu|Jing|Fang|Xiaomei"),
        s=_l("Guo|He|Gao|Ma|Luo|Liang|Xie|Tang|Feng|Deng|Chen|Wang|Zhang|Liu|Lin|Huang|Zhou|Xu|Yang|Zhao|Wu|Sun|Zheng|Hu"), p=[]),
    "br": dict(style="pt", origin="common", m=_l(
        "João|Pedro|Lucas|Gabriel|Matheus|Rafael|Gustavo|Felipe|Bruno|Thiago|Rodrigo|Leonardo|Eduardo|Marcelo|"
        "Vinícius|Ricardo|André|Fernando|Diego|Caio|Murilo|Guilherme|Henrique|Otávio|Renato|Fábio|Wellington|"
        "Anderson|Cleber|Edson|Juliano|Márcio|Sérgio|Wagner|Reginaldo|Cauã|Enzo|Davi|Arthur|Heitor|Luiz|Paulo|"
        "Raimundo|Sebastião|Valdir|Jefferson|Rogério|Everton|Leandro|Washington|Gilberto|Adriano|Danilo|Emerson|"
        "João Pedro|João Vitor|Luiz Fernando|Carlos Eduardo|Pedro Henrique|José Carlos|Marcos Paulo|Paulo Roberto|"
        "Luiz Carlos|João Gabriel"), f=_l(
        "Maria|Ana|Juliana|Fernanda|Patrícia|Aline|Camila|Amanda|Bruna|Jéssica|Letícia|Vanessa|Mariana|Larissa|"
        "Gabriela|Luana|Tatiane|Priscila|Daniela|Renata|Débora|Simone|Adriana|Cláudia|Rosângela|Francisca|Antônia|"
        "Luciana|Kelly|Thaís|Natália|Isabela|Yasmin|Giovanna|Valentina|Heloísa|Sophia|Rayssa|Kaylane|Jaqueline|"
        "Elaine|Michele|Viviane|Cristiane|Rosana|Sueli|Edilene|Raimunda|Lívia|Talita|Milena|Bianca|"
        "Maria Eduarda|Ana Clara|Maria Clara|Ana Paula|Maria Luiza|Ana Beatriz|Maria das Graças|Maria de Fátima|"
        "Ana Júlia|Maria Aparecida|Ana Carolina|Maria Vitória"), s=_l(
        "Silva|Santos|Oliveira|Souza|Rodrigues|Ferreira|Alves|Pereira|Lima|Gomes|Costa|Ribeiro|Martins|Carvalho|"
        "Almeida|Lopes|Soares|Fernandes|Vieira|Barbosa|Rocha|Dias|Nascimento|Andrade|Moreira|Nunes|Marques|"
        "Machado|Mendes|Freitas|Cardoso|Ramos|Gonçalves|Santana|Teixeira|Araújo|Cavalcanti|Monteiro|Moura|"
        "Correia|Batista|Campos|Barros|Pinto|Borges|Brandão|Xavier|Farias|Coelho|Prado|Sampaio|Aguiar|Peixoto|"
        "Queiroz|Bezerra|Siqueira|Magalhães|Nogueira|Esteves|Cunha|Falcão|Rezende|Guimarães|Medeiros|Tavares|"
        "Leite|Pacheco|Rangel|Vasconcelos|Damasceno|Paiva|Bittencourt"),
        p=_l("da Silva|dos Santos|de Oliveira|de Souza|do Nascimento|da Costa|de Jesus|das Neves|da Cruz|dos Reis|"
             "de Lima|do Carmo|da Conceição|de Almeida|da Rocha|de Assis|de Paula|das Chagas|do Amaral|de Melo|"
             "dos Anjos|da Luz|de Moraes|de Sá|da Mata|do Prado|dos Passos|de Castro|da Paixão|de Brito")),
    "japanese-br": dict(style="pt", origin="rare:japanese-br", m=_l(
        "Hiroshi|Kenji|Takeshi|Akira|Satoshi|Kazuo|Minoru|Tadashi|Massao|Noboru|Yoshio|Shigueru"), f=_l(
        "Akemi|Yumi|Harumi|Keiko|Emiko|Sayuri|Tomoko|Mayumi|Hatsue|Kimie|Midori|Setsuko"),
        s=_l("Nishimura|Kato|Ito|Mori|Sakamoto|Uehara|Nakamura|Yamada|Takahashi|Watanabe|Suzuki|Sato|Kobayashi|Yoshida|Matsumoto|Inoue|Kimura|Hayashi|"
             "Shimizu|Ueda|Okamoto|Higa|Miyazaki|Fujita|Onishi|Tanaka"), p=[]),
    "lebanese-br": dict(style="pt", origin="rare:lebanese-br", m=_l(
        "Samir|Jamil|Farid|Nagib|Habib|Munir|Kalil|Tufi|Assad|Fuad|Nabil|Wadih"), f=_l(
        "Jamile|Leila|Soraya|Rania|Najla|Nadime|Samia|Latife|Munira|Yara|Zaira|Odette"),
        s=_l("Hauache|Abdo|Maksoud|Nader|Aoun|Tannus|Rahme|Atallah|Haddad|Maluf|Abdalla|Saad|Nassif|Kassab|Sarkis|Salomão|Chaib|Feres|Jafet|Bechara|Zogbi|Khoury|Calil|"
             "Mattar|Abib|Hajjar"), p=[]),
    "indigenous-br": dict(style="pt", origin="rare:indigenous-br", m=_l(
        "Kuaray|Jaguaretê|Araní|Yawanawá|Ubiratã|Raoni|Kauê|Tainã|Iberê|Guaraci|Apoena|Ubirajara|Piatã|Caiuá|Anhangá|Tupã"), f=_l(
        "Jacira|Ybá|Kerexu|Paraguassu|Iara|Jurema|Moema|Jaci|Potira|Aracy|Jussara|Iracema|Tainá|Ceci|Araci|Inaiê"),
        s=_l("Pankararu|Wapichana|Yanomami|Kaiowá|Guarani|Pitaguary|Tremembé|Kambeba|Marubo|Potiguara|Guajajara|Terena|Xavante|Pataxó|Kaingang|Tupinambá|Baniwa|Karajá|Tikuna|Munduruku|Krenak|"
             "Xakriabá|Fulni-ô|Kayapó"), p=[]),
    "german-italian-br": dict(style="pt", origin="rare:german-italian-br", m=_l(
        "Klaus|Germano|Udo|Arno|Egon|Helmut|Alceu|Reinaldo|Ivo|Lauro|Nelson|Valdemar"), f=_l(
        "Ilse|Waltraud|Rosalina|Giustina|Carmela|Edeltraud|Frida|Hilda|Gerda|Elke|Ingrid|Liane|Irma|Gisela|Loiva|Marlise|Neusa|Ivete"),
        s=_l("Schneider|Becker|Schmitt|Hoffmann|Krüger|Zimmermann|Fritzen|Bortolotto|Zanetti|Tonietto|Menegotto|"
             "Sartori|Pozzobon|Zanella|Dalla Costa|Schwingel|Kunzler|Lazzari|Brustolin|Hübner"), p=[]),
    "pt": dict(style="pt", origin="common", m=_l(
        "João|José|António|Francisco|Manuel|Rui|Tiago|Nuno|Pedro|Miguel|Luís|Ricardo|Bruno|Hugo|Diogo|Gonçalo|"
        "Duarte|Afonso|Rodrigo|Vasco|Filipe|Sérgio|Paulo|Jorge|Carlos|Fernando|Hélder|Joaquim|Armando|Vítor|"
        "Tomás|Martim|Simão|Rúben|Fábio|Gaspar|Salvador|Baltazar|Leonel|Custódio|Amílcar|Tiago Filipe|"
        "João Miguel|Pedro Miguel|Nuno Filipe|José Manuel|Luís Filipe|Rui Pedro|João Paulo|Carlos Alberto"), f=_l(
        "Maria|Ana|Joana|Inês|Beatriz|Mariana|Catarina|Sofia|Rita|Sara|Marta|Carla|Sandra|Patrícia|Cláudia|"
        "Susana|Sónia|Filipa|Teresa|Helena|Leonor|Matilde|Madalena|Carolina|Margarida|Raquel|Vera|Andreia|Diana|"
        "Daniela|Liliana|Fátima|Conceição|Graça|Rosário|Lurdes|Alexandra|Francisca|Constança|Benedita|Irene|"
        "Ana Rita|Maria João|Ana Sofia|Maria Inês|Ana Catarina|Maria Teresa|Ana Margarida|Maria Leonor"), s=_l(
        "Silva|Santos|Ferreira|Pereira|Oliveira|Costa|Rodrigues|Martins|Jesus|Sousa|Fernandes|Gonçalves|Gomes|"
        "Lopes|Marques|Alves|Almeida|Ribeiro|Pinto|Carvalho|Teixeira|Moreira|Correia|Mendes|Nunes|Soares|Vieira|"
        "Monteiro|Cardoso|Rocha|Neves|Coelho|Cruz|Cunha|Pires|Ramos|Reis|Simões|Antunes|Matos|Fonseca|Morais|"
        "Tavares|Lourenço|Esteves|Nogueira|Baptista|Mota|Figueiredo|Brito|Guerreiro|Magalhães|Vaz|Macedo|"
        "Azevedo|Sequeira|Quintela|Loureiro|Valente|Barros|Cabral|Faria|Leal|Amaral|Sampaio|Queirós|Rebelo|Seixas"),
        p=_l("dos Santos|da Silva|de Sousa|da Costa|do Carmo|das Neves|da Cunha|de Jesus|de Almeida|da Fonseca|"
             "de Matos|do Rosário|de Brito|da Mota|de Castro|de Magalhães|de Sá|do Vale|de Figueiredo|da Rocha|"
             "de Oliveira|de Lemos|da Graça|de Vasconcelos")),
    "cape-verdean": dict(style="pt", origin="rare:cape-verdean", m=_l(
        "Djalma|Adilson|Nilton|Edvaldo|Euclides|Arlindo|Djaló|Ailton|Admilson|Elton|Hélio|Manecas"), f=_l(
        "Djamila|Edna|Ivone|Ilda|Zenaida|Lenira|Odete|Crisolita|Nádia|Eunice|Gardénia|Nelsa"),
        s=_l("Semedo|Furtado|Fortes|Évora|Spínola|Landim|Spencer|Barbosa|Varela|Gomes Tavares|Sanches|Pina|"
             "Mascarenhas|Ramos Lopes|Delgado|Tolentino"), p=[]),
    "angolan-mozambican": dict(style="pt", origin="rare:angolan-mozambican", m=_l(
        "Nzau|Kalunga|Mpanzu|Tchiyevo|Ngunza|Mavungo|Kiluanje|Ngola|Makiesse|Nkosi|Zito|Cassoma|Belmiro|Anselmo|Lutonadio|Mbemba"), f=_l(
        "Kianda|Ndaya|Nkembo|Luzolo|Mukanda|Tchissende|Nzinga|Tchissola|Luena|Ndalu|Kyanda|Weza|Nsimba|Ngueza|Wamba|Alcinda"),
        s=_l("Kiluange|Ngunga|Cawaia|Bumba|Tembo|Muhongo|Mavinga|Chipenda|Kiala|Mbala|Cassule|Lutumba|Massango|Cumbe|Tchipa|Mabunda|Chissano|Machava|Muianga|Sitoe|"
             "Nhantumbo|Cossa|Bila|Manhiça"), p=[]),
    "goan": dict(style="pt", origin="rare:goan", m=_l("Francis|Jovito|Caetano|Domnic|Menino|Ulhas|Vishwas|Anselm|Savio|Agnelo|Nilesh|Prakash|Anil|Mahesh|Sandeep"), f=_l(
        "Filomena|Sushila|Rosy|Genevieve|Ashwini|Smita|Vrinda|Pratibha|Preeti|Anjali|Lavínia|Shalini|Sunita|Pooja|Rekha"),
        s=_l("Colaço|Menezes|Quadros|Bragança|Kenkre|Salgaonkar|Naique|Velingkar|Naik|Kamat|Desai|Shetye|Sardessai|Prabhu|Gaonkar|Dessai|Borkar|Kerkar|Pai Raikar"), p=[]),
    "ukrainian": dict(style="single", origin="rare:ukrainian", m=_l(
        "Ostap|Petro|Roman|Vasyl|Oleksandr|Taras|Andriy|Bohdan|Yuriy|Mykola|Dmytro|Volodymyr|Serhiy"), f=_l(
        "Mariia|Khrystyna|Zoriana|Lesia|Oksana|Halyna|Nataliya|Olena|Yulia|Svitlana|Tetiana|Larysa|Viktoriia"),
        s=_l("Melnyk|Shevchenko|Bondarenko|Kovalenko|Tkachenko|Kravchuk|Oliynyk|Lysenko|Marchenko|Hnatiuk|Savchuk|"
             "Rudenko|Petrenko"), p=[]),
    "en": dict(style="en", origin="common", m=_l(
        "James|John|Robert|Michael|William|David|Richard|Joseph|Thomas|Charles|Christopher|Daniel|Matthew|Anthony|"
        "Donald|Steven|Paul|Andrew|Joshua|Kevin|Brian|George|Timothy|Ronald|Jason|Jeffrey|Ryan|Jacob|Gary|"
        "Nicholas|Eric|Jonathan|Stephen|Larry|Justin|Scott|Brandon|Benjamin|Samuel|Gregory|Patrick|Tyler|Aaron|"
        "Nathan|Kyle|Ethan|Logan|Dylan|Connor|Austin|Chad|Travis|Wesley|Trevor|Derek|Shane|Cody|Dustin|Garrett"), f=_l(
        "Mary|Patricia|Jennifer|Linda|Elizabeth|Barbara|Susan|Jessica|Sarah|Karen|Lisa|Nancy|Betty|Sandra|Ashley|"
        "Kimberly|Emily|Donna|Michelle|Carol|Amanda|Melissa|Deborah|Stephanie|Rebecca|Laura|Sharon|Cynthia|"
        "Kathleen|Amy|Angela|Shirley|Brenda|Emma|Olivia|Hannah|Megan|Lauren|Rachel|Samantha|Heather|Courtney|"
        "Brittany|Kayla|Madison|Chloe|Abigail|Tiffany|Crystal|Holly|Wendy|Erin|Kelsey|Lindsay|Molly|Paige"), s=_l(
        "Smith|Johnson|Williams|Brown|Jones|Miller|Davis|Wilson|Anderson|Taylor|Thomas|Moore|Jackson|White|Harris|"
        "Thompson|Clark|Lewis|Robinson|Walker|Young|Allen|King|Wright|Scott|Hill|Green|Adams|Baker|Nelson|Carter|"
        "Mitchell|Roberts|Turner|Phillips|Campbell|Parker|Evans|Edwards|Collins|Stewart|Morris|Murphy|Cook|"
        "Rogers|Morgan|Cooper|Peterson|Reed|Bailey|Bell|Kelly|Howard|Ward|Cox|Richardson|Wood|Watson|Brooks|"
        "Bennett|Gray|Hughes|Price|Sanders|Myers|Long|Ross|Foster|Powell|Jenkins|Perry|Russell|Sullivan|Fisher|"
        "Henderson|Coleman|Simmons|Patterson|Reynolds|Hamilton|Graham|Wallace|Cole|Stone|Hayes|Gibson|Ellis|"
        "Marshall|Hunt|Holloway|Whitaker|Pruitt|O'Connor|McAllister|O'Brien|MacDonald|Smith-Jones|Fitzgerald|"
        "DeLuca|Lloyd-Davies|MacKenzie|O'Neill|D'Angelo|Van Houten|McCormick|O'Malley"), p=[]),
    "indian": dict(style="en", origin="rare:indian", m=_l(
        "Arjun|Rohan|Vikram|Sanjay|Karthik|Aditya|Rahul|Siddharth|Venkatesh|Pranav|Harish"), f=_l(
        "Revathi|Sowmya|Pallavi|Madhuri|Gayatri|Harini|Priya|Ananya|Deepika|Lakshmi|Kavya|Shreya|Meenakshi|Divya|Nandini|Aishwarya|Swathi"),
        s=_l("Srinivasan|Sharma|Agarwal|Joshi|Pillai|Mukherjee|Rao|Deshpande|Raghunathan|Venkataraman|Iyer|Patel|Krishnamurthy|Subramanian|Chatterjee|Bhattacharya|Nair|Reddy|"
             "Menon|Gupta|Malhotra|Ramaswamy|Banerjee|Kulkarni"), p=[]),
    "nigerian": dict(style="en", origin="rare:nigerian", m=_l(
        "Kayode|Segun|Uchenna|Olumide|Ifeanyi|Tobenna|Chinedu|Oluwaseun|Emeka|Tunde|Babajide|Obinna|Ikenna|Femi|Adewale|Chukwuma"), f=_l(
        "Bisola|Kemi|Amarachi|Ozioma|Titilayo|Uju|Chiamaka|Adaeze|Funmilayo|Ngozi|Yetunde|Chioma|Folake|Temitope|Ifeoma|Nneka"),
        s=_l("Eze|Okeke|Ibekwe|Oyebanji|Fashola|Ogbonna|Uzor|Anyanwu|Okonkwo|Adeyemi|Okafor|Oyelaran|Nwosu|Balogun|Adebayo|Ogunleye|Akintola|Onyekachi|Olawale|Nwachukwu"), p=[]),
    "vietnamese": dict(style="single", origin="rare:vietnamese", m=_l("Minh|Tuan|Quang|Duc|Khanh|Huy|Thanh"), f=_l(
        "Lan|Thuy|Huong|Ngoc|Phuong|Trang|Linh"), s=_l("Huynh|Phan|Vo|Dinh|Lam|Truong|Ly|Nguyen|Tran|Pham|Hoang|Vu|Dang|Bui|Ngo|Duong|Trinh"), p=[]),
    "korean": dict(style="single", origin="rare:korean", m=_l("Jisung|Minho|Taeyang|Junho|Seokjin|Hoseok|Yunho|Sungmin|Min-jun|Ji-hoon|Seo-jun|Hyun-woo|Dong-hyun|Jae-won"),
                   f=_l("Jiwoo|Soyeon|Yuna|Minji|Hyejin|Seulgi|Jieun|Dahye|Ji-woo|Seo-yeon|Ha-eun|Soo-jin|Min-seo|Eun-ji"),
                   s=_l("Seo|Kwon|Hwang|Ahn|Song|Yoo|Baek|Nam|Kim|Lee|Park|Choi|Jung|Kang|Yoon|Jang|Lim|Han|Shin|Oh"), p=[]),
    "polish": dict(style="en", origin="rare:polish", m=_l("Zbigniew|Marek|Dariusz|Andrzej|Jacek|Mirosław|Bartosz|Kamil|Krzysztof|Tomasz|Paweł|Grzegorz|Łukasz|Wojciech|Piotr|Jarosław"),
                   f=_l("Beata|Monika|Iwona|Justyna|Aneta|Halina|Wioletta|Sylwia|Katarzyna|Małgorzata|Agnieszka|Magdalena|Ewa|Dorota|Bożena|Grażyna"),
                   s=_l("Kaczmarek|Wróbel|Stępień|Adamczyk|Dudziak|Sobczak|Mroczek|Kubiak|Jasiak|Nowak|Wójcik|Kowalczyk|Mazur|Krawczyk|Zając|Król|Pawlak|Wieczorek|Dudek|Sikora|Szymczak|Michalak"), p=[]),
    "irish": dict(style="en", origin="rare:irish", m=_l("Fionn|Ruairí|Colm|Diarmuid|Lorcan|Donncha|Seán|Cillian|Oisín|Pádraig|Ciarán|Darragh|Tadhg|Eoin"),
                  f=_l("Orla|Sorcha|Méabh|Ailbhe|Éabha|Muireann|Siobhán|Aoife|Niamh|Saoirse|Caoimhe|Gráinne|Róisín|Clodagh"),
                  s=_l("Keohane|Ó Murchú|Breen|Coughlan|Hegarty|Moynihan|Scanlon|Ní Dhomhnaill|O'Donoghue|Fitzpatrick|MacCarthy|Gallagher|Kavanagh|Doherty|Mulcahy|Ó Briain|Ó Ceallaigh|"
                       "Breathnach|Mac Lochlainn"), p=[]),
    "hispanic-us": dict(style="en", origin="rare:hispanic-us", m=_l("Anselmo|Baldomero|Candelario|Isidro|Porfirio|Refugio|Teófilo|Rigoberto|Heriberto|Nemesio|Ezequiel|Jacobo|Eliseo|Abelardo"),
                        f=_l("Anahí|Xóchitl|Yadira|Nallely|Esmeralda|Graciela|Rosalba|Xiomara|Marisol|Itzel|Citlali|Yesenia|Maricela|Dulce"),
                        s=_l("Sandoval|Montemayor|Valenzuela|Garza|Treviño|Carrizales|Cisneros|Olivarez|Villanueva|Zepeda|Cervantes|Alvarado|Ochoa|Bañuelos|Arreola|Tapia|Quintanilla|Escobedo|"
                             "Saldaña|Elizondo"), p=[]),
    "native-american": dict(style="en", origin="rare:native-american", m=_l("Hotah|Lonato|Mato|Sakima|Tate|Wapi|Enapay|Ahanu|Chaska|Takoda|Hania|Kele|Nodin"),
                            f=_l("Tala|Catori|Dyani|Sihu|Wichapi|Taini|Alawa|Winona|Aiyana|Halona|Kimimela|Ayasha|Onawa"),
                            s=_l("Tsinajinnie|Begay|Etsitty|Deschenie|Lente|Roanhorse|Bitsui|Yazzie|Benally|Manygoats|Attakai|Nez|Tohee|Harjo|Chee|Grass|Whitehorse"), p=[]),
}

ORIGINS_BY_LOC = {  # (pool, weight)
    "es": [("es", 56), ("basque", 8), ("catalan", 8), ("galician", 7), ("andean", 8), ("arabic", 6), ("romanian", 4),
           ("chinese", 3)],
    "br": [("br", 62), ("japanese-br", 11), ("lebanese-br", 9), ("indigenous-br", 8), ("german-italian-br", 10)],
    "pt": [("pt", 58), ("br", 10), ("cape-verdean", 10), ("angolan-mozambican", 9), ("goan", 6), ("ukrainian", 7)],
    "us": [("en", 56), ("indian", 8), ("nigerian", 6), ("vietnamese", 5), ("korean", 5), ("polish", 5), ("irish", 5),
           ("hispanic-us", 6), ("native-american", 4)],
    "uk": [("en", 62), ("indian", 12), ("nigerian", 8), ("polish", 8), ("irish", 10)],
}
PARTICLES = {"de", "del", "la", "las", "los", "da", "das", "do", "dos", "y", "e", "i", "van", "der", "von", "di",
             "el", "ó", "mac", "ait", "ní", "nic"}


def name_tokens(entry: str) -> list[str]:
    toks = re.split(r"[\s\-]+", fold(entry))
    return [t for t in toks if t and t not in PARTICLES]


def token_split(tok: str) -> str:
    return "dev" if zlib.crc32(tok.encode()) % 100 < 32 else "heldout"


def split_pool(entries: list[str], split: str) -> list[str]:
    """Entries whose every significant token hashes to `split` (so the two splits share no token)."""
    return [e for e in entries if all(token_split(t) == split for t in name_tokens(e))]


class Person:
    def __init__(self, given: str, surnames: list[str], joiner: str, gender: str, origin: str, style: str,
                 middle: str, nick: str):
        self.given, self.surnames, self.joiner, self.gender = given, surnames, joiner, gender
        self.origin, self.style, self.middle, self.nick = origin, style, middle, nick

    @property
    def sur(self) -> str:
        return self.joiner.join(self.surnames)

    @property
    def sur1(self) -> str:  # the surname used after a title
        if self.style in ("es", "cat"):
            return self.surnames[0]
        last = self.surnames[-1]
        if self.style == "pt":
            parts = last.split(" ")
            while len(parts) > 1 and parts[0].lower() in PARTICLES:
                parts = parts[1:]
            return " ".join(parts)
        return last

    def full(self) -> str:
        mid = f" {self.middle}" if self.middle else ""
        return f"{self.given}{mid} {self.sur}"

    def short(self) -> str:
        if self.style in ("es", "cat"):
            return f"{self.given} {self.surnames[0]}"
        return f"{self.given} {self.surnames[-1]}"


class NameBank:
    def __init__(self, split: str):
        self.pools = {}
        for k, p in NAME_POOLS.items():
            q = dict(p)
            for key in ("m", "f", "s", "p"):
                q[key] = split_pool(p[key], split)
            assert q["m"] and q["f"] and q["s"], (split, k)
            self.pools[k] = q

    def person(self, r: random.Random, loc: str, pool: str = "", gender: str = "") -> Person:
        if not pool:
            names, w = zip(*ORIGINS_BY_LOC[loc])
            pool = r.choices(names, w)[0]
        p = self.pools[pool]
        gender = gender or r.choice("mf")
        given = r.choice(p[gender])
        style, joiner, middle = p["style"], " ", ""
        if style in ("es", "cat"):
            s1 = r.choice(p["s"])
            if pool != "es" and r.random() < 0.35:  # mixed: one local surname + one common Spanish one
                s2 = r.choice(self.pools["es"]["s"])
            elif p["p"] and r.random() < 0.25:
                s2 = r.choice(p["p"])
            else:
                s2 = r.choice(p["s"])
            while s2 == s1:
                s2 = r.choice(p["s"])
            surnames = [s1, s2]
            if not s2.startswith(("de ", "del ")) and r.random() < (0.3 if style == "cat" else 0.1):
                joiner = " i " if style == "cat" else " y "
        elif style == "pt":
            n = r.choices([1, 2, 3], [22, 58, 20])[0]
            base = self.pools["br" if pool in ("br", "japanese-br", "lebanese-br", "indigenous-br", "german-italian-br")
                              else "pt"]
            surnames = []
            for i in range(n):
                src = p if (i == n - 1 or pool in ("br", "pt")) else base
                if src["p"] and r.random() < 0.3:
                    x = r.choice(src["p"])
                else:
                    x = r.choice(src["s"])
                if not set(name_tokens(x)) & {t for y in surnames for t in name_tokens(y)}:
                    surnames.append(x)
            if pool == "pt" and len(surnames) == 2 and not surnames[1].startswith(("d", "e")) and r.random() < 0.12:
                joiner = " e "
            if r.random() < 0.3 and " " not in given:
                extra = r.choice(p[gender])
                if extra != given and " " not in extra:
                    given = f"{given} {extra}"
        else:
            surnames = [r.choice(p["s"])]
            if style == "en" and r.random() < 0.15:
                middle = r.choice(string.ascii_uppercase.replace("X", "")) + "."
        toks = given.split(" ")
        nick = given if (len(toks) > 1 and r.random() < 0.5) else toks[0]
        return Person(given, surnames, joiner, gender, p["origin"], style, middle, nick)


# ----------------------------------------------------------------------------------------------
# template engine
#
#   {kind}  {kind:variant}  {kind#id}  {kind#id:variant}      [[option a|option b|]]  (one is picked)
#   kinds: n (person), em, ph, cc, iban, dni, nie, cpf, cnpj, ssn, ip, key, d (distractor),
#          greet / agreet / sig / asig (snippets), lb / rb (literal braces)
#   person variants: full first nick sur sur1 short ini rev tsur tfull, +lower +upper +noacc,
#   +m / +f (gender, for cues such as 'my wife', 'mi marido'), @loc or @pool

PH_RE = re.compile(r"\{([a-z_0-9]+)(?:#(\w+))?(?::([^{}]*))?\}")
ALT_RE = re.compile(r"\[\[((?:(?!\]\]).)*?)\]\]", re.S)

TITLES = {  # (surname-only, full-name) x gender
    "es": {"sur": {"m": ["Sr.", "señor", "Sr.", "Dr."], "f": ["Sra.", "señora", "Sra.", "Dra."]},
           "full": {"m": ["Sr.", "D.", "don", "Sr. D.", "Dr."], "f": ["Sra.", "Dña.", "Dª", "doña", "Sra. Dña.", "Dra."]}},
    "pt": {"sur": {"m": ["Sr.", "senhor", "Dr."], "f": ["Sra.", "senhora", "Dra."]},
           "full": {"m": ["Sr.", "Dr.", "Exmo. Sr.", "Sr."], "f": ["Sra.", "D.", "Dra.", "Exma. Sra.", "Sra."]}},
    "en": {"sur": {"m": ["Mr.", "Mr", "Dr.", "Mr."], "f": ["Ms.", "Mrs.", "Ms", "Dr.", "Miss"]},
           "full": {"m": ["Mr.", "Dr.", "Mr"], "f": ["Ms.", "Mrs.", "Dr."]}},
}
MAIL_DOMAINS = {"es": [("gmail.com", 40), ("hotmail.com", 12), ("hotmail.es", 10), ("yahoo.es", 6), ("outlook.es", 8),
                       ("telefonica.net", 4), ("icloud.com", 6), ("protonmail.com", 2), ("outlook.com", 6)],
                "br": [("gmail.com", 45), ("hotmail.com", 15), ("yahoo.com.br", 8), ("uol.com.br", 6), ("bol.com.br", 5),
                       ("terra.com.br", 4), ("outlook.com", 8), ("globo.com", 3), ("icloud.com", 4)],
                "pt": [("gmail.com", 42), ("sapo.pt", 14), ("hotmail.com", 14), ("outlook.pt", 8), ("iol.pt", 4),
                       ("netcabo.pt", 3), ("clix.pt", 2), ("icloud.com", 5)],
                "us": [("gmail.com", 45), ("yahoo.com", 12), ("outlook.com", 10), ("aol.com", 5), ("icloud.com", 10),
                       ("comcast.net", 5), ("protonmail.com", 3), ("hey.com", 2), ("hotmail.co.uk", 3)]}
CORP_DOMAINS = {"es": ["tiendaverde.es", "electrohogar.es", "mueblesnorte.com", "viajesatlantico.es", "fincasluna.es",
                       "grupoaltamira.com", "clinicadentalsol.es", "autoscaribe.es"],
                "br": ["mercadix.com.br", "lojafacil.com.br", "construtoraipe.com.br", "transportesrota.com.br",
                       "clinicavida.com.br", "padariaestrela.com.br", "agrosul.com.br"],
                "pt": ["lusotel.pt", "casadopao.pt", "mobiliariodouro.pt", "segurosatlantico.pt", "oficinaminho.pt",
                       "farmaciaribeira.pt"],
                "us": ["northwindsupply.com", "acmecloud.io", "brightlane.co", "harborfreight-lines.com",
                       "pinecrest-dental.com", "bluefinapps.dev", "mapleleaf-realty.com"]}
ROLES = {"es": ["soporte", "atencion.cliente", "facturacion", "rgpd", "dpo", "noreply", "pedidos", "bajas", "info"],
         "pt": ["atendimento", "sac", "lgpd", "faturamento", "apoio.cliente", "encarregado.dados", "naoresponda",
                "suporte", "geral"],
         "en": ["support", "billing", "privacy", "help", "noreply", "accounts", "security", "dpo", "hello"]}
HANDLES = ["gatinha_93", "pepe.motos", "thebestdad1979", "nightowl.dev", "flamengo_sempre", "surfista.algarve",
           "xxlaurinhaxx", "tiobenny", "maquinista77", "contacto.casa", "familia.rs", "bookworm88", "vovo.coruja",
           "rayo_mcqueen95", "el.mecanico", "lisboeta.80", "cafe.com.leite", "dragonslayer_x", "mamadetres",
           "oficina.do.ze", "luar.azul", "trekker.ak", "pizzaboy2001", "sol_y_sombra"]


def ascii_slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", fold(s))


def mail_domain(r, loc: str) -> str:
    names, w = zip(*MAIL_DOMAINS[cloc(loc)])
    return r.choices(names, w)[0]


def email_of(r, p: Person, loc: str, domain: str = "") -> str:
    g = [ascii_slug(t) for t in p.given.split(" ")]
    s1 = ascii_slug(p.sur1)
    s_last = ascii_slug(p.surnames[-1].split(" ")[-1])
    yy = r.choice(["", "", str(r.randint(70, 99)), str(r.randint(1, 99)), str(r.randint(1975, 2004))])
    local = r.choice([f"{g[0]}.{s1}", f"{g[0]}{s1}", f"{g[0][0]}{s1}", f"{g[0]}.{s1}{yy}", f"{g[0]}_{s1}",
                      f"{s1}.{g[0]}", f"{''.join(g)}.{s_last}", f"{g[0]}{yy or r.randint(1, 99)}", f"{g[0][0]}.{s_last}",
                      f"{g[0]}.{s1}.{s_last}" if s1 != s_last else f"{g[0]}-{s1}"])
    if r.random() < 0.05:
        local = local.capitalize()
    return f"{local}@{domain or mail_domain(r, loc)}"


def title_for(r, loc: str, kind: str, gender: str) -> str:
    return r.choice(TITLES[lang_key(loc)][kind][gender])


class Builder:
    def __init__(self, r: random.Random, bank: NameBank, loc: str, snippets: dict):
        self.r, self.bank, self.loc, self.snippets = r, bank, loc, snippets
        self.parts: list[str] = []
        self.pos = 0
        self.spans: list[tuple[str, int, int, str]] = []
        self.distractors: list[str] = []
        self.persons: dict[str, Person] = {}
        self.person_meta: list[dict] = []
        self.phone_kinds: list[str] = []
        self.anon = 0

    def emit(self, s: str, etype: str | None = None) -> None:
        if etype:
            self.spans.append((etype, self.pos, self.pos + len(s), s))
        self.parts.append(s)
        self.pos += len(s)

    def text(self) -> str:
        return "".join(self.parts)

    def render(self, tpl: str) -> None:
        tpl = ALT_RE.sub(lambda m: self.r.choice(m.group(1).split("|")), tpl)
        i = 0
        for m in PH_RE.finditer(tpl):
            self.emit(tpl[i:m.start()])
            self.fill(m.group(1), m.group(2) or "", m.group(3) or "")
            i = m.end()
        self.emit(tpl[i:])

    def person(self, pid: str, loc: str, gender: str = "") -> Person:
        if pid and pid in self.persons:
            return self.persons[pid]
        for _ in range(60):
            if loc in NAME_POOLS and loc not in LANG_OF_LOC:  # {n:full@romanian}: a pool, not a locale
                p = self.bank.person(self.r, self.loc, loc, gender)
            else:
                p = self.bank.person(self.r, loc or self.loc, "", gender)
            if all(p.given != q.given and p.sur1 != q.sur1 for q in self.persons.values()):
                break
        if not pid:
            self.anon += 1
            pid = f"_{self.anon}"
        self.persons[pid] = p
        return p

    def fill(self, kind: str, pid: str, var: str) -> None:
        r, loc = self.r, self.loc
        vloc = ""
        if "@" in var:
            var, vloc = var.split("@", 1)
        mods = var.split("+")
        var, mods = mods[0], mods[1:]
        if kind == "lb":
            return self.emit("{")
        if kind == "rb":
            return self.emit("}")
        if kind in ("greet", "agreet", "sig", "asig", "bye"):
            pool = self.snippets[kind][{"us": "en", "uk": "en"}.get(loc, loc)]
            return self.render(r.choice(pool))
        if kind == "n":
            gender = "".join(m for m in mods if m in ("m", "f"))
            mods = [m for m in mods if m not in ("m", "f")]
            p = self.person(pid, vloc, gender)
            form = var or "full"
            if form in ("upper", "lower", "noacc"):  # {n:upper} == {n:full+upper}
                form, mods = "full", [form] + mods
            if form in ("tsur", "tfull"):
                self.emit(title_for(r, loc, form[1:], p.gender) + " ")
                form = "sur1" if form == "tsur" else "full"
            val = {"full": p.full, "short": p.short}.get(form, lambda: None)()
            if val is None:
                val = {"first": p.given, "nick": p.nick, "sur": p.sur, "sur1": p.sur1,
                       "ini": f"{p.given[0]}. {p.sur1}", "rev": f"{p.sur}, {p.given}"}[form]
            for m in mods:
                if m == "lower":
                    val = val.lower()
                    if r.random() < 0.6:
                        val = strip_accents(val)
                elif m == "upper":
                    val = val.upper()
                elif m == "noacc":
                    val = strip_accents(val)
                else:
                    raise ValueError(m)
            meta = {"value": val, "origin": p.origin, "form": "+".join([var or "full"] + mods)}
            if meta not in self.person_meta:
                self.person_meta.append(meta)
            return self.emit(val, "PERSON")
        if kind == "em":
            if var == "corp":
                dom = r.choice(CORP_DOMAINS[cloc(vloc or loc)])
                return self.emit(f"{r.choice(ROLES[lang_key(vloc or loc)])}@{dom}", "EMAIL")
            if pid:
                p = self.person(pid, vloc)
            elif var != "work" and r.random() < 0.3:
                return self.emit(f"{r.choice(HANDLES)}@{mail_domain(r, vloc or loc)}", "EMAIL")
            else:
                p = self.bank.person(r, vloc or loc)
            dom = r.choice(CORP_DOMAINS[cloc(vloc or loc)]) if var == "work" else ""
            return self.emit(email_of(r, p, vloc or loc, dom), "EMAIL")
        if kind == "ph":  # {ph}, {ph:es_mob}, {ph:es_mob:nat}, {ph:intl}, {ph@br}
            v, _, fmt = var.partition(":")
            if v in ("intl", "nat"):
                v, fmt = "", v
            kind_ = v or vloc or {"us": "us", "uk": "uk"}.get(loc, loc)
            val = phone(r, v or vloc, vloc or loc, fmt or None)
            self.phone_kinds.append(kind_.split("_")[0] + ("_tollfree" if kind_.endswith(("_tf", "_0800")) else ""))
            return self.emit(val, "PHONE")
        if kind == "cc":
            return self.emit(card(r, var, cloc(loc)), "CREDIT_CARD")
        if kind == "iban":
            country = var.upper() if var else {"es": "ES", "pt": "PT", "br": "BR", "uk": "GB"}.get(
                vloc or loc) or r.choice(["GB", "DE", "FR"])
            style = mods[0] if mods else ""
            return self.emit(iban_fmt(r, iban(r, country), style), "IBAN")
        if kind == "dni":
            return self.emit(dni(r), "ES_DNI")
        if kind == "nie":
            return self.emit(nie(r), "ES_NIE")
        if kind == "cpf":
            return self.emit(cpf(r, var), "BR_CPF")
        if kind == "cnpj":
            return self.emit(cnpj(r, var), "BR_CNPJ")
        if kind == "ssn":
            return self.emit(ssn(r), "US_SSN")
        if kind == "ip":
            return self.emit(ip(r, var), "IP_ADDRESS")
        if kind == "key":
            return self.emit(secret(r, var), "SECRET")
        if kind == "d":
            self.distractors.append(var)
            return self.emit(distractor(r, var, vloc or loc))
        raise ValueError(f"unknown placeholder {kind}")


# ----------------------------------------------------------------------------------------------
# self-checks

def leaks(text: str, spans: list[tuple[str, int, int, str]]) -> list[str]:
    """Checksum-valid look-alikes that are not inside a gold span of their own type."""
    found = []

    def inside(t, a, b):
        return any(st == t and sa <= a and b <= sb for st, sa, sb, _ in spans)

    for m in re.finditer(r"(?<![\w.,/-])\d+(?:[ -]\d+)*", text):  # digit groups -> card candidates
        groups = [(g.start() + m.start(), g.end() + m.start()) for g in re.finditer(r"\d+", m.group())]
        for i in range(len(groups)):
            for j in range(i, len(groups)):
                a, b = groups[i][0], groups[j][1]
                d = re.sub(r"\D", "", text[a:b])
                if card_like(d) and not inside("CREDIT_CARD", a, b):
                    found.append(f"CREDIT_CARD {text[a:b]!r}")
    pats = [("IBAN", r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"),
            ("ES_DNI", r"(?<![\w.])\d{2}\.?\d{3}\.?\d{3}[- ]?[A-Z](?!\w)"),
            ("ES_NIE", r"(?<!\w)[XYZ][- ]?\d{7}[- ]?[A-Z](?!\w)"),
            ("BR_CPF", r"(?<![\d.])(?:\d{3}\.\d{3}\.\d{3}-\d{2}|\d{11})(?![\d])"),
            ("BR_CNPJ", r"(?<![\d.])(?:\d{2}\.\d{3}\.\d{3}/\d{4}-\d{2}|\d{14})(?!\d)"),
            ("US_SSN", r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])|(?<![\d ])\d{3} \d{2} \d{4}(?![\d ])")]
    for t, pat in pats:
        for m in re.finditer(pat, text):
            if CHECKERS[t](m.group()) and not inside(t, m.start(), m.end()):
                found.append(f"{t} {m.group()!r}")
    return found


def check_record(rec: dict) -> None:
    text = rec["full_text"]
    last = -1
    for s in sorted(rec["spans"], key=lambda s: s["start_position"]):
        a, b, t, v = s["start_position"], s["end_position"], s["entity_type"], s["entity_value"]
        assert t in TYPES, t
        assert text[a:b] == v, (text, s)
        assert a >= last, f"overlap in {text!r}"
        assert v == v.strip() and v, (text, s)
        last = b
        if t in CHECKERS:
            assert CHECKERS[t](v), (t, v)
        if t == "IP_ADDRESS":
            import ipaddress
            ipaddress.ip_address(v)
        if t == "EMAIL":
            assert re.fullmatch(r"[A-Za-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}", v), v
        if t == "PHONE":
            assert 8 <= len(re.sub(r"\D", "", v)) <= 14, v
        if t == "PERSON":
            assert not re.match(r"(?i)(sr|sra|dr|dra|mr|mrs|ms|dña|dª|don|doña|exm[oa])\.?\s", v), v
    assert not leaks(text, [(s["entity_type"], s["start_position"], s["end_position"], "") for s in rec["spans"]])


# ----------------------------------------------------------------------------------------------
# snippets: greetings and signatures. Items i % 3 == 1 go to dev, the others to held-out.

SNIPPETS = {
    "greet": {
        "es": ["Hola buenas tardes,", "Buenos días,", "Hola, buenas.", "Buenas tardes:", "Hola!!", "Hola equipo,",
               "Estimados señores:", "Hola de nuevo,", "Buenas noches, a ver si alguien me ayuda.", "Hola qué tal,",
               "Muy señores míos:", "A la atención del departamento de clientes:", "Hola, otra vez yo.", "Buenas,",
               "Hola, buenos días.", "Buenas tardes, perdonad la insistencia."],
        "br": ["Olá, bom dia!", "Boa tarde,", "Oi, tudo bem?", "Prezados,", "Bom dia pessoal", "Olá, boa noite.",
               "Prezados senhores,", "Oi gente,", "Boa tarde, tudo bem?", "Olá!", "Bom dia, espero que estejam bem.",
               "Oi, boa tarde", "Prezada equipe de atendimento,", "Bom dia!!"],
        "pt": ["Bom dia,", "Boa tarde,", "Olá, boa tarde.", "Exmos. Senhores,", "Caros senhores,", "Olá!", "Boa noite,",
               "Exmos. Srs.,", "Bom dia, espero que se encontrem bem.", "Olá, bom dia.", "Caro apoio ao cliente,",
               "Boa tarde, desculpem a insistência."],
        "en": ["Hi there,", "Hello,", "Hey,", "Hi,", "Good morning,", "To whom it may concern,", "Hi team,",
               "Hello again,", "Dear Customer Support,", "Hi folks,", "Good afternoon,", "Hey guys,",
               "Hello support team,", "Hi there!"],
    },
    "agreet": {
        "es": ["Hola {n#c:nick}:", "Buenos días, {n#c:nick}.", "Estimado/a {n#c:tsur}:", "Hola {n#c:nick}, gracias por escribirnos.",
               "Buenas tardes {n#c:first},", "{n#c:nick}, buenos días:", "Hola de nuevo {n#c:nick},",
               "Apreciado/a {n#c:tfull}:", "Hola, {n#c:nick}."],
        "br": ["Olá, {n#c:nick}!", "Oi {n#c:nick}, tudo bem?", "Prezado(a) {n#c:tsur},", "Bom dia, {n#c:nick}.",
               "Olá {n#c:first}, obrigado pelo contato.", "Prezado(a) {n#c:tfull},", "Oi, {n#c:nick}!",
               "Boa tarde {n#c:nick},", "Olá {n#c:nick}, tudo certo?"],
        "pt": ["Olá {n#c:nick},", "Caro(a) {n#c:tsur},", "Bom dia, {n#c:nick}.", "Caro(a) {n#c:nick},",
               "Boa tarde {n#c:first},", "Olá, {n#c:nick}.", "Exmo(a). Cliente {n#c:full},", "Bom dia {n#c:tsur},",
               "Olá {n#c:first}, obrigado pelo contacto."],
        "en": ["Hi {n#c:nick},", "Hello {n#c:nick},", "Dear {n#c:tsur},", "Hi {n#c:nick}, thanks for reaching out.",
               "Good morning {n#c:first},", "Hey {n#c:nick}!", "Dear {n#c:tfull},", "Hi again {n#c:nick},",
               "Hello {n#c:tsur},"],
    },
    "sig": {
        "es": ["--\n{n#c:full}\nTel. {ph}", "Saludos,\n{n#c:nick}", "Un saludo.\n{n#c:short}",
               "Gracias\n{n#c:full}\nDNI {dni}", "Atentamente,\n{n#c:full}\n{em#c}", "{n#c:nick}\n\nEnviado desde mi iPhone",
               "Saludos\n\n{n#c:short}\n{ph:es_mob}", "Fdo.: {n#c:full}", "Un saludo,\n{n#c:upper}",
               "--\n{n#c:full} | {d:company}\nMóvil: {ph:es_mob} · {em#c}", "Gracias de antemano.\n{n#c:short} ({ph})",
               "Atte.\n{n#c:full}\nNIE: {nie}", "Muchas gracias,\n{n#c:first}\n\nEste mensaje y sus adjuntos son confidenciales.",
               "Saludos cordiales\n{n#c:full}", "Un abrazo,\n{n#c:nick}", "Quedo a la espera.\n{n#c:full}\n{ph}"],
        "br": ["Att.,\n{n#c:full}", "Atenciosamente,\n{n#c:upper}\nCPF: {cpf}", "Abs,\n{n#c:nick}",
               "--\n{n#c:full}\nCel/WhatsApp: {ph:br_mob}", "Obrigado(a),\n{n#c:short}", "{n#c:nick}\n\nEnviado do meu iPhone",
               "Grato,\n{n#c:full}\n{em#c}", "Att\n{n#c:short} - {d:company}\n{ph:br_fix}", "Obrigada!\n{n#c:nick}",
               "Atenciosamente,\n{n#c:full}\nCPF {cpf} | Tel.: {ph}", "Abraço,\n{n#c:nick}", "Fico no aguardo.\n{n#c:upper}",
               "Att,\n{n#c:nick}\n{ph:br_mob}"],
        "pt": ["Cumprimentos,\n{n#c:full}", "Com os melhores cumprimentos,\n{n#c:short}\nTlm. {ph:pt_mob}",
               "Obrigada,\n{n#c:nick}", "--\n{n#c:full}\nTel.: {ph}", "Atentamente,\n{n#c:full}\n{em#c}",
               "Melhores cumprimentos\n{n#c:short}", "Cumps,\n{n#c:nick}", "Obrigado desde já.\n{n#c:full} ({ph:pt_mob})",
               "Saudações,\n{n#c:upper}", "Com os meus cumprimentos,\n{n#c:full}\n{ph:pt_fix}"],
        "en": ["Thanks,\n{n#c:nick}", "Best,\n{n#c:full}\n{ph}", "Regards,\n{n#c:full}", "{n#c:nick}\n\nSent from my iPhone",
               "--\n{n#c:full}\nCell: {ph}", "Cheers,\n{n#c:nick}", "Sincerely,\n{n#c:full}",
               "Thanks in advance,\n{n#c:short}\n{em#c}", "- {n#c:nick}",
               "Best regards,\n{n#c:full} | {d:company}\nM: {ph} | E: {em#c}", "Thank you!\n{n#c:upper}",
               "Kind regards,\n{n#c:ini}", "Respectfully,\n{n#c:full}\n{ph}"],
    },
    "asig": {
        "es": ["Un saludo,\n{n#a:nick}\nEquipo de Atención al Cliente", "Atentamente,\n{n#a:short} — Soporte",
               "Quedo a tu disposición.\n{n#a:nick} (agente {d:num})",
               "Saludos,\n{n#a:nick} | Atención al cliente\nHorario: L-V 9:00-18:00",
               "Gracias por tu paciencia,\n{n#a:short}\nDepartamento de Facturación",
               "Un saludo cordial,\n{n#a:full}\nResponsable de Incidencias · {ph:es_fix}", "{n#a:nick}\nSoporte técnico nivel 2",
               "Atentamente,\nEl equipo de Soporte ({n#a:nick})", "Saludos,\n{n#a:nick}\n{em:corp}"],
        "br": ["Atenciosamente,\n{n#a:nick}\nEquipe de Atendimento", "Abraços,\n{n#a:short} | Suporte",
               "Qualquer dúvida estou à disposição.\n{n#a:nick} (atendente {d:num})",
               "Att.,\n{n#a:full}\nCentral de Relacionamento {ph:br_0800}", "{n#a:nick} - Time de Sucesso do Cliente",
               "Equipe de Suporte\n{n#a:nick}\n{em:corp}"],
        "pt": ["Com os melhores cumprimentos,\n{n#a:nick}\nApoio ao Cliente", "Cumprimentos,\n{n#a:short} | Equipa de Suporte",
               "Ao dispor,\n{n#a:nick}\nLinha de apoio: {ph:pt_tf}", "{n#a:full}\nGestor de Cliente · {em:corp}",
               "Obrigado pelo contacto.\n{n#a:nick}", "Cumprimentos,\nEquipa de Apoio ({n#a:nick})"],
        "en": ["Best regards,\n{n#a:nick}\nCustomer Care", "{n#a:short} | Support Team",
               "Kind regards,\n{n#a:nick} (Tier 2 Support)", "Thanks,\n{n#a:nick}\nBilling Department · {ph:us_tf}",
               "Cheers,\n{n#a:nick} from Support", "Sincerely,\n{n#a:full}\nAccount Specialist\n{em:corp}",
               "Have a great day!\n{n#a:nick}"],
    },
}


def split_snippets(split: str) -> dict:
    return {k: {lk: [x for i, x in enumerate(v) if (i % 3 == 1) == (split == "dev")] for lk, v in d.items()}
            for k, d in SNIPPETS.items()}


# ----------------------------------------------------------------------------------------------
# skeletons. Blocks separated by a line "~~~"; an optional first line "@loc [mix=xx]" sets the
# locale (es br pt us uk) that drives default phones, IBAN country, names and distractor formats.

HELDOUT_EN = r'''
{greet}
I've been charged TWICE for order {d:amzorder} ({d:amount} each) and nobody picks up the phone. The card is {cc}, please refund the duplicate today, not in "5-7 business days".
If you need to call, I'm at {ph}, any time after {d:time}.
{sig}
~~~
hey cant log in since the {d:version} update. it says "too many attempts from {ip}" but thats my home IP?? account email is {em}. fix it
~~~
[Internal note – {n#a:nick}, {d:date}]
Customer {n#c:full} called from {ph} re: chargeback on card ending {d:last4}. Verified identity w/ SSN {ssn}; DOB matched. Escalated to Fraud (ticket {d:ticket}).
~~~
---------- Forwarded message ---------
From: {n#c:full} <{em#c}>
Date: {d:weekday}, {d:date} at {d:time}
Subject: Re: Invoice {d:invoice}
To: <{em:corp}>

Forwarding this because nobody replied. The invoice still shows the old bank account, ours is {iban:gb}. Thanks, {n#c:nick}.
~~~
URGENT: I accidentally pasted our production key in a public GitHub issue: {key:openai}
Please revoke it ASAP. Our server IPs are {ip} and {ip} if you need to allowlist the new one.
— {n#c:short}, CTO
~~~
To whom it may concern,

Under the CCPA I am requesting deletion of all personal information you hold about me, {n#c:full}. Email addresses you may have on file: {em#c}, {em}. Phone: {ph}.
I expect written confirmation within 45 days.
~~~
My wife {n:short+f} placed the order under her name but the card is mine ({cc}). Can you add me as an authorized user? I'm {n#c:short}, {ph}.
~~~
[14:02] Customer: hi
[14:03] Customer: my package {d:tracking} says delivered but its not here
[14:03] Agent ({n#a:nick}): Sorry to hear that! Can you confirm the phone number on the account?
[14:04] Customer: {ph}
[14:04] Customer: zip is {d:cp}
[14:06] Agent ({n#a:nick}): Thanks, {n#c:nick}. I've opened claim {d:ticket}.
~~~
Name: {n#c:full}
Email: {em#c}
Phone: {ph}
SSN: {ssn}
Reason for contact: dispute a charge of {d:amount} on {d:date}
~~~
This is the THIRD time I'm writing. You charged {d:amount} to my card {cc} for a subscription I cancelled on {d:date}!!! Refund it or I'm calling my bank. Don't make me repeat myself: {em}, {ph}.
~~~
Will the {d:product} be back in stock before {d:event}? Order {d:amzorder} got cancelled and I was told SKU {d:sku} ships in 3-5 days. Price was {d:amount}.
~~~
Mark my ticket {d:ticket} as urgent please. May I also ask why the refund of {d:amount} hasn't arrived? It's been pending since {d:date}.
Bill me for expedited shipping if you have to, I just need it before {d:weekday}.
~~~
hi im {n:short+lower} and i need to change the email on my acct from {em} to {em} asap
~~~
PLEASE CALL ME BACK AT {ph}!!! I'VE BEEN ON HOLD FOR 2 HOURS. {n:upper}
~~~
Hi, I'm based in Spain and would prefer the refund by bank transfer instead of card.
Account holder: {n#c:full@es}
IBAN: {iban:es}
BIC: {d:bic@es}
Thanks!
~~~
Hi, sorry my English is not good. Me llamo {n#c:full@es} y mi teléfono es {ph:es_mob}. I buy on {d:date} the {d:product} and it arrive broken. Please call me o escribe a {em#c}, gracias.
~~~
Hello, for the W-9 you asked for: legal name {n:full}, SSN {ssn}, address {d:street}, {d:city}, {d:cp}. Please don't email this back to me unencrypted.
~~~
Our webhook calls started failing at {d:time} UTC. Requests come from {ip:v6} and {ip}. This is the header we send: "Authorization: Bearer {key:stripe}" (yes, I'll rotate it after this).
~~~
{agreet}
Thanks for your patience. I spoke with my colleague {n:short} in Billing and the refund of {d:amount} to the card ending in {d:last4} was issued today. You should see it within 5–10 business days.
{asig}
~~~
I'm writing on behalf of my father, {n:full+m}, who is 84 and doesn't use email. His number is {ph}; mine is {ph}. Please cancel his plan, he's been charged {d:amount}/month since {d:month}.
~~~
Please add these users to our team workspace:
- {n:full} <{em:work}>
- {n:full} <{em:work}>
- {n:short} ({em})
Admin contact: {n#c:full}, {ph}.
~~~
Someone logged into my account from {ip} (location shows {d:city}) and changed the email to {em}. My real email is {em#c}. I turned on 2FA now.
{n#c:nick}
~~~
Cancel my subscription. I'm done with this company. – {n:short}.
~~~
For verification: card {cc:amex}, exp {d:exp}, billing ZIP {d:cp}. And please DON'T store the CVV I gave your rep on the phone.
~~~
Our employee {n:full} (SSN {ssn}) was enrolled twice in the dental plan. Please delete record #{d:num} and keep the other one.
~~~
> On {d:date}, {n#a:short} <{em:corp}> wrote:
> Could you send us the last 4 digits of your SSN to verify?

Here's the whole thing since your form keeps rejecting it: {ssn}. And please stop asking for it every single time.
~~~
You can reach me at {ph:us} (cell) or {ph:us} (work, ask for {n#c:nick}).
~~~
FYI our intern posted {key:slack} in a public channel this morning. Can your team confirm it's been revoked? Contact: {n:short}, {em}.
~~~
This is the config that broke after {d:version}:

AWS_ACCESS_KEY_ID={key:aws}
AWS_SECRET_ACCESS_KEY={key:awssecret}
AWS_REGION=us-east-1

Any idea? Deploys from {ip:priv} worked fine yesterday.
~~~
`git clone https://{key:gh}@github.com/acme/infra.git` fails with a 403 since {d:date}. The token has repo scope. What am I missing?
~~~
@uk
Hiya, ordered a {d:product} from your UK site and the courier left it with a neighbour I don't even know. Ring me on {ph:uk} please, I'm in all day {d:weekday}.
Cheers, {n:nick}
~~~
Contact: {n:full}, {ph}, {em}
Issue: duplicate charge ({d:amount}) on {d:date}
Order: {d:order}
~~~
I already explained all of this to {n:short}.
~~~
Your Black Friday banner said {d:amount} but I was charged {d:amount} on {d:date} at {d:time}. Order {d:order}. Not happy.
~~~
Grace period ends {d:weekday}, right? Account {d:customer}, plan Premium, renewal {d:date}.
~~~
The card number your checkout rejects is {d:bad_cc} — is it something on your end? My other card, {cc}, went through fine.
~~~
Quick question: my SSN starts with a 9 ({d:itin}), it's actually an ITIN. Does your tax form accept that or do I need something else?
~~~
Family plan members:
1) me, {n#c:short} – {ph}
2) my husband {n:first+m} – {ph}
3) our daughter {n:first+f} – {ph}
Please move all three to the new plan from {d:month} 1st.
~~~
Please allowlist the following for our API account: {ip}, {ip}, {ip}/32 and {ip:v6}. Owner: {em:work}.
~~~
The reset link goes to "{em}", which is an old address I no longer have. The new one is {em}. Can you update it?
~~~
Are you kidding me?! Who is {n:short}? Why does this person have access to MY account ({em})?? Remove them NOW.
~~~
Hi, I need help con mi cuenta please. My number is {ph:us}. Gracias, {n:short@es}
~~~
New hire setup:
Name – {n:full}
Start date – {d:date}
Personal email – {em}
SSN (payroll) – {ssn}
Laptop asset tag – {d:asset}
~~~
Order Confirmation
Order #: {d:order}
Ship to: {n:full}
{d:street}
{d:city}, {d:cp}
Phone: {ph}
Payment: Visa ending in {d:last4}
Total: {d:amount}
~~~
Thanks {n:nick}! That fixed it.
~~~
May 3rd is when I placed order {d:order}, and it's now {d:date}. Where is it?
~~~
We're hitting rate limits with this config, even though we're on the Enterprise tier:
{lb}"api_key": "{key:openai_proj}", "timeout": 30, "retries": 3{rb}
Traffic comes from {ip}.
~~~
Card: {cc}
Exp: {d:exp}
Name on card: {n:upper}
Please charge the remaining balance of {d:amount}.
~~~
My cell ({ph}) isn't getting the 2FA code. Can you send it to {em} instead?
~~~
SSN/TIN: {ssn}
DOB: {d:dob}
Employer: {d:company}
— attached the pay stub as requested. {n:full}
~~~
This is {n:full@es} (two last names, Spanish style, please don't cut the second one off the shipping label again!). Order {d:order}.
~~~
2024-03-12T10:42:13Z WARN auth.login failed user={em} ip={ip} attempts=5
2024-03-12T10:42:19Z WARN auth.login failed user={em} ip={ip} attempts=6
^ that's not me. Lock the account please. {n:nick}
~~~
curl -X POST https://api.example.com/v1/messages -H "x-api-key: {key:anthropic}" -d @payload.json
returns 401 since {d:date}. Running from {ip}.
~~~
cust {n:short+lower} cb {ph} re refund, says already talked to {n:nick} yday. pls handle, i'm off at {d:time}
~~~
I called your 1-800 number ({ph:us_tf}) three times and got disconnected every time. Just email me at {em}.
~~~
STOP. Remove {ph} from your list. I never signed up for texts.
~~~
Two refunds please:
- {d:amount} to {iban:de}
- {d:amount} to {iban:fr}
Both accounts are in the name of {n:full}.
~~~
I'm a British expat living in Spain. My NIE is {nie} and my Spanish mobile is {ph:es_mob}. Your site keeps saying the NIE is invalid?
~~~
I'm Brazilian and your Brazil store asks for a CPF. Mine is {cpf}. Is it safe to put it there? Also my phone there is {ph:br_mob}.
~~~
Our Brazilian subsidiary needs the invoices issued in its name: {d:firm@br} Ltda., CNPJ {cnpj}. Contact there: {n:full@br} ({em:work@br}).
~~~
Hi there,

I'm contacting you about my late mother's account. Her name was {n:tfull+f} and her SSN was {ssn}. I'm the executor of the estate ({n#c:full}, {ph}). What documents do you need?
~~~
Hey guys, your app crashes on {d:version} when I open settings. Device: {d:phone_model}. No personal info needed I hope :)
~~~
{greet}
Our office moved. Please update our billing contact to {n:full} ({em:work}), direct line {ph}. The old contact, {n:short}, left the company on {d:date}.
{sig}
~~~
Security team: we detected API calls from {ip} using the key {key:google}. That IP isn't ours. Please disable the key and send logs to {em:work}.
~~~
Dear {n#c:tsur},

We received your request to close account {d:customer}. Before we proceed, please confirm the last four digits of the card on file and the phone number ending in {d:last4}.

{asig}
~~~
The technician ({n:nick}) never showed up on {d:weekday}. I took the day off for nothing. My number is {ph} and I expect a call, not an email.
~~~
Lost my wallet yesterday. Please block card {cc} immediately and send a replacement to my address on file. Callback: {ph}.
{n:full}
~~~
Hi, I'm {n:full@br}, I live in {d:city@br} but bought from your US site. My CPF is {cpf} and WhatsApp {ph:br_mob}. The package is stuck at customs.
~~~
[Transcript – voice bot]
Caller said name: {n:full+lower}
Caller phone: {ph}
Caller said SSN: {ssn}
Intent: card_replacement
~~~
Invoice {d:invoice} (due {d:date}) – please remit to:
Beneficiary: {d:firm}
IBAN: {iban:gb}
SWIFT: {d:bic}
Reference: {d:order}
~~~
Hello, my grandson {n:first+m} set up this account for me and I don't remember the password. My name is {n#c:full}, phone {ph}. I'm not good with computers.
~~~
The developer console shows the secret key {key:stripe} in plain text to every team member. That seems like a security problem? Reported by {n:full}.
~~~
I got a text from {ph} claiming to be you and asking for my SSN. Is that legit? I didn't reply.
~~~
{greet}
Please send all future correspondence to my attorney, {n:tfull}, at {em}. Do not contact me directly at {ph} anymore.
~~~
Refund request – Order {d:amzorder}
Amount: {d:amount}
Reason: item arrived damaged ({d:product})
No need to call, everything's in the photos.
~~~
Payroll audit: these SSNs appear twice in your export – {ssn} ({n:full}) and {ssn} ({n:full}). Please advise before the {d:date} run.
{n#c:short}, HR
~~~
I'm filling in the credit application online. SSN: {ssn}. Annual income: $[[58,000|72,500|41,200|96,000|120k]]. Employer phone: {ph}. Is this page even secure?? The padlock is missing.
~~~
Hi there, my tax preparer needs the 1099-K. The SSN on file should end in {d:last4}, but the full number is {ssn} in case you need it. Mail it to {d:street}, {d:city} {d:cp}.
~~~
Form submission (contact-us):
name={n:full}&email={em}&phone={ph}&message=refund+for+order+{d:order}&ip={ip}
~~~
Your form rejected the SSN {d:bad_ssn}. Oh wait, I typed it wrong, sorry! The correct one is {ssn}. Can you retry the verification?
~~~
The receipt you emailed shows card {d:masked_cc}, which isn't mine!! Is this {n:short}'s order? Mine is {d:order}.
~~~
Attn: {n:tsur}
Re: contract renewal for {d:firm}
Please call me back at {ph}; I'm out of the office until {d:weekday}.
'''

HELDOUT_ES = r'''
{greet}
Llevo tres semanas esperando el reembolso del pedido {d:order} ({d:amount}) y nadie me dice nada. Os dejo otra vez mis datos: teléfono {ph}, correo {em}. Si no lo soluciono esta semana pongo una reclamación en Consumo.
{sig}
~~~
Hola buenas tardes, quiero darme de baja de la tarifa. Titular: {n:full}, DNI {dni}. Teléfono de contacto: {ph:es_mob}, solicita la baja con fecha {d:date}.
~~~
soy {n:short+lower+m}, el del pedido de ayer. me ha llegado roto el {d:product}!! llamadme al {ph:es_mob:nat}
~~~
Buenos días,
Os adjunto los datos para la domiciliación:
Titular de la cuenta: {n#c:full}
IBAN: {iban:es}
NIF: {dni}
Un saludo.
~~~
[Nota interna – {n#a:nick}, {d:date} {d:time}]
Llama {n#c:tfull} desde el {ph}. Dice que le han cobrado dos veces la factura {d:invoice}. Le confirmo que la tarjeta acabada en {d:last4} es la suya. Se abre incidencia {d:ticket}. Pendiente de que Facturación la llame.
~~~
Hola {n#c:nick},
Te escribe {n#a:nick}, de atención al cliente. Hemos recibido tu solicitud de cambio de titular a nombre de {n:full}. Para completarla necesitamos una copia del DNI del nuevo titular y un teléfono de contacto.
{asig}
~~~
---------- Mensaje reenviado ----------
De: {n#c:full} <{em#c}>
Fecha: {d:weekday}, {d:date}
Asunto: RE: Incidencia {d:ticket}
Para: {em:corp}

Os lo reenvío porque nadie me ha contestado. Mi NIE es {nie} y el móvil {ph}. Espero respuesta ya.
~~~
Es la CUARTA vez que escribo!!! Me habéis cobrado {d:amount} en la tarjeta {cc} por un servicio que di de baja el {d:date}. Quiero mi dinero. Ya.
~~~
Contacto: {n:full}
Teléfono: {ph}
Email: {em}
Motivo: cambio de dirección de envío a {d:street}, {d:cp} {d:city}
~~~
Hola, me pasa lo mismo que a mi compañero {n:first+m}: no puedo entrar desde el {d:weekday}. La app dice "acceso bloqueado desde {ip}". Mi usuario es {em}.
~~~
Buenas, llamo en nombre de mi madre, {n:full+f}, que no se aclara con el ordenador. Su DNI es {dni} y su fijo {ph:es_fix}. El mío por si acaso: {ph:es_mob}.
~~~
Hola buenas, ¿el {d:product} entra en la promoción de {d:event}? Lo vi a {d:amount} en la web y en tienda me dicen {d:amount}. Ref. {d:sku}.
~~~
Me han llamado del {ph} diciendo que eran ustedes y pidiéndome el número de la tarjeta. ¿Es normal? No les he dado nada.
~~~
Solicito, en virtud del artículo 17 del RGPD, la supresión de todos mis datos personales.
Nombre y apellidos: {n#c:full}
DNI: {dni}
Correo electrónico: {em#c}
Teléfono: {ph}
Fdo.: {n#c:short}, en {d:city} a {d:date}.
~~~
Ejercito mi derecho de acceso (art. 15 RGPD). Quiero saber qué datos tenéis de mí y a quién los habéis cedido. Mis datos: {n#c:full}, NIE {nie}, {em#c}.
{sig}
~~~
Hola {n:nick}, ¿me puedes confirmar si ya está el abono? Gracias.
~~~
el pedido {d:order} viene a nombre de {n:full+lower} pero lo pagué yo con la tarjeta {cc}, no sé si eso importa
~~~
Buenas tardes,
Adjunto el justificante de la transferencia de {d:amount} realizada desde la cuenta {iban:es} (titular {n:full}). Concepto: factura {d:invoice}.
Saludos,
{n#c:nick}
~~~
¿Por qué me llega un SMS al {ph:es_mob} con un código de verificación si yo no he pedido nada?? Alguien está intentando entrar en mi cuenta, que es {em}.
~~~
Hola, soy {n#c:full}. Mi compañera {n:short+f} me ha dicho que os escriba a este correo. Necesitamos dar de alta a dos usuarios nuevos en la cuenta de empresa (CIF {d:cif}):
- {n:full}, {em:work}
- {n:full}, {em:work}
~~~
Incidencia en la entrega: el repartidor de [[SEUR|MRW|Correos Express|GLS]] dice que no había nadie, pero yo estaba en casa toda la mañana del {d:weekday}. Teléfono: {ph:es_mob}. Número de seguimiento {d:tracking}.
~~~
Hola, ¿me podéis ayudar? Se me ha colado la clave de la API en un repositorio público: {key}
¿Cómo la revoco? Gracias. {n:nick}
~~~
Buenos días: necesito la factura a nombre de la empresa, no a mi nombre. Razón social: {d:firm} S.L., CIF {d:cif}. Dirección: {d:street}, {d:cp} {d:city}. Persona de contacto: {n:tfull} ({ph:es_fix}).
~~~
Perdón por escribir en inglés, my Spanish is basic. I live in {d:city@es} and my NIE is {nie}. My phone: {ph:es_mob}. I need to cancel the contract {d:contract}.
~~~
Hola {n#c:nick}:

Lamentamos las molestias. Hemos revisado el caso con {n:short}, del departamento técnico, y el router se cambiará el {d:weekday} a partir de las {d:time}. Si no puedes estar, llámanos al {ph:es_tf}.

{asig}
~~~
A la atención de quien corresponda:

Mi marido, {n:full+m}, falleció el pasado {d:date}. Solicito el cambio de titularidad de la línea {ph:es_fix} a mi nombre, {n#c:full+f}, DNI {dni}.

Atentamente.
~~~
no me deja pagar con la tarjeta {d:bad_cc}, dice numero invalido. la acabo de recibir del banco
~~~
Buenas, me ha llegado un correo de {em} que dice ser vuestro pidiendo que confirme mis datos bancarios. ¿Es phishing?
~~~
Hola, buenas noches. Soy {n#c:first+f}, la de la reclamación del {d:product}. Os dejo el IBAN para el reembolso: {iban:es}. El titular es mi pareja, {n:full}.
~~~
Sres. de {d:company}:
Por la presente les comunico que desisto del contrato firmado el {d:date}. Titular: {n:full}, NIE {nie}. Domicilio: {d:street}, {d:cp} {d:city}.
~~~
Datos del cliente
· Nombre: {n:rev+upper}
· DNI/NIE: {dni}
· Móvil: {ph:es_mob}
· Email: {em}
· Cuenta: {iban:es}
~~~
Llevo desde las {d:time} al teléfono y me habéis colgado dos veces. Exijo que me llame un responsable al {ph}. {n:full}.
~~~
Hola equipo,
os paso los datos de acceso al servidor de pruebas para que reproduzcáis el fallo: IP {ip}, usuario deploy. El token de la API es {key:gitlab}. Por favor, borrad este mensaje cuando lo tengáis.
~~~
Buenas tardes, ¿alguien me puede decir por qué el lunes me cobraron {d:amount} si tengo la tarifa de {d:amount}? Número de cliente {d:customer}.
~~~
Hola, escribo desde Valencia. El paquete {d:tracking} lleva parado en Madrid desde el {d:date}. No necesito que me llaméis, solo que se mueva.
~~~
Quiero hablar con un supervisor. El agente {n:nick+m} me ha tratado fatal. Mi número: {ph}. Y no me vengáis con que no hay nadie.
~~~
Por favor, actualizad mi correo: antes era {em}, ahora es {em}. El teléfono sigue siendo el mismo ({ph:es_mob}).
~~~
Hola, ¿es posible pagar con Bizum? Mi número de Bizum es {ph:es_mob}. Pedido {d:order}.
~~~
Buenos días, soy {n#c:full} y quiero reclamar el cargo de {d:amount} del {d:date}. No reconozco esa compra. La tarjeta es la {cc}; ya la he bloqueado con el banco.
~~~
{greet}
Os escribo en nombre de {n:full+m}, que está ingresado y no puede llamar. Me ha autorizado a gestionar la baja. Su DNI es el {dni} y el mío el {dni}.
{sig}
~~~
Reclamación nº {d:ticket}
Cliente: {n:tfull}
Tel.: {ph:es_fix} / {ph:es_mob}
Resumen: cortes de fibra desde el {d:date}; el técnico {n:nick+m} vino el {d:weekday} y no solucionó nada.
~~~
Hola {n#c:nick}, soy {n#a:nick}. Te confirmo que hemos anulado el pedido {d:order} y que el abono de {d:amount} llegará a la tarjeta terminada en {d:last4} en 5-7 días hábiles.
~~~
Me llamo {n:full} y me habéis mandado a mí la factura de otra persona, {n:full}, con su DNI ({dni}) y todo. Esto es una violación de datos como una casa. Lo pienso denunciar a la AEPD.
~~~
Buenas, el código de descuento BLACKFRIDAY25 no funciona con el {d:product}. Versión de la app {d:version}.
~~~
Hola, soy el administrador de sistemas de {d:firm}. Vemos intentos de acceso a vuestro panel desde {ip} y {ip:v6} con nuestras credenciales. ¿Podéis bloquearlas? Contacto: {em:work}, {ph:es_fix}.
~~~
Para el reembolso, la cuenta es: {iban:es}
A nombre de: {n:full}
Gracias!!
~~~
Me acabo de dar cuenta de que en la factura pone mal mi apellido: soy {n:full}, no {n:full}. ¿Lo podéis corregir? DNI {dni}.
~~~
Saludos,

Solicito el certificado de retenciones del ejercicio 2024. NIE: {nie}. Enviadlo a {em}, por favor.

{n:full}
~~~
mi numero es el {ph:es_mob:nat} y el de mi hermana {n:first+f} el {ph:es_mob:nat}, ponednos a las dos en la misma tarifa familiar
~~~
Buenas. El técnico que vino ayer, {n:short+m}, se dejó aquí una escalera. Que pase cuando quiera, estoy en casa hasta las {d:time}.
~~~
Hola! Una pregunta rápida: ¿abrís el sábado? Es por recoger el pedido {d:order} en la tienda de Gran Vía.
~~~
Estimados señores:
Les remito la documentación solicitada para el alta:
1. DNI del titular ({n#c:full}): {dni}
2. NIE del autorizado ({n:full}): {nie}
3. Cuenta de cargo: {iban:es}
Quedo a la espera de su confirmación.
~~~
¿Me podéis devolver la llamada al {ph:es_fix:nat}? Pregunten por {n:short}.
~~~
No me llegan los correos de confirmación a {em}. He mirado en spam y nada. ¿Los mandáis desde {em:corp}?
~~~
Buenas noches. Mi hijo ha hecho una compra sin permiso con mi tarjeta {cc}: {d:amount} en monedas del juego. Solicito la anulación. {n:full}, teléfono {ph}.
~~~
INCIDENCIA URGENTE – Tienda {d:city}
TPV caído desde las {d:time}. Técnico asignado: {n:full}. Contacto tienda: {ph:es_fix}. IP del TPV: {ip:priv}.
~~~
Hola buenas, quería saber si el CUPS {d:cups} está ya dado de alta con vosotros. El contrato está a nombre de {n:full}, DNI {dni}.
~~~
Gracias por todo, {n:nick}. Un trato excelente, de verdad.
~~~
buenas tardes, necesito cambiar la cuenta de domiciliacion a la {iban:es+compact} gracias
~~~
Hola, me ha contestado un tal {n:short+m} diciendo que mi DNI {d:bad_dni} no es válido, pero lo he copiado tal cual del carnet. ¿Qué hago?
~~~
La matrícula de mi coche es {d:plate} y el parking me ha cobrado {d:amount} de más el {d:date}. Adjunto ticket. Contacto: {em}.
~~~
Hola, ¿es correcto que vuestros correos salen de {em:corp}? Me ha escrito {n:full} desde una dirección rara ({em}) pidiendo mi NIE, que es {nie}, y se lo he dado. ¿He hecho mal?
~~~
¡Hola! Soy {n:first+f}, la hija de {n:tfull+f}. Mi madre dice que le habéis subido la cuota sin avisar. Su número de cliente es {d:customer} y su teléfono el {ph:es_fix}.
~~~
Acabo de recibir esto en el móvil ({ph:es_mob}): "Su paquete está retenido, pague {d:amount} en este enlace". ¿Es vuestro?
~~~
Buenos días, os escribo desde Lisboa pero soy cliente de España. Mi móvil portugués es {ph:pt_mob} y el español {ph:es_mob}. DNI {dni}. Quiero activar el roaming.
~~~
Log del error que me da la integración:
ERROR 403 Forbidden – key={key:openai} origin={ip}
Lo hemos probado también desde {ip}. {n:nick}
~~~
Nombre: {n#c:full}
Asunto: Baja
Mensaje: quiero darme de baja YA. No quiero más llamadas al {ph}. Gracias.
~~~
Hola, mi mujer {n:full+f} tiene NIE ({nie}) y yo todavía no, solo el pasaporte {d:passport}. ¿Puedo poner la línea a su nombre? Teléfono {ph:es_mob}.
~~~
NIE del trabajador: {nie}
Nombre: {n:rev}
Alta en la plataforma: {d:date}
Correo corporativo: {em:work}
~~~
nombre:{n:full+lower} dni:{dni} tlf:{ph:es_mob:nat} email:{em}
lo pongo así porque el formulario no me deja enviarlo
~~~
El IBAN que aparece en la factura, {d:bad_iban}, tiene un número cambiado. El bueno es {iban:es}; por favor, corregidlo antes del próximo recibo.
~~~
Me dice que el NIE {d:bad_nie} no es válido. ¿Tengo que poner la X delante o qué? Lo he copiado de la tarjeta de residencia. Mi móvil: {ph:es_mob}.
~~~
El móvil no tiene cobertura desde el {d:weekday}. IMEI {d:imei}. Línea afectada: {ph:es_mob}. Titular: {n:full}.
~~~
El comercial me dijo textualmente «llame al {ph:es_fix} y pregunte por {n:short}». Pues he llamado cinco veces y nadie sabe quién es.
~~~
A/A {n:tfull}:
Le reenvío el contrato firmado. Cualquier cosa, mi móvil es el {ph:es_mob}.
'''

HELDOUT_PT = r'''
@br
{greet}
Comprei um {d:product} no dia {d:date} e até agora nada. Pedido {d:order}, valor {d:amount}. Já liguei 5 vezes no {ph:br_0800} e ninguém resolve!!! Meu celular: {ph:br_mob}.
{sig}
~~~
@br
Olá, bom dia. Preciso da segunda via do boleto. Titular: {n:full}, CPF {cpf}. Pode mandar no e-mail {em}?
~~~
@br
Boa tarde, meu nome é {n:full+upper}, CPF {cpf:bare}, gostaria de cancelar o plano. Não quero mais ligação no número {ph}.
~~~
@br
[Nota interna – {n#a:nick}, {d:date}]
Cliente {n#c:full} ligou do {ph:br_mob} reclamando de cobrança em duplicidade no cartão final {d:last4}. Protocolo {d:protocol}. Encaminhado para o financeiro.
~~~
@br
Prezados,
Segue os dados da empresa para emissão da nota fiscal:
Razão social: {d:firm} Comércio Ltda.
CNPJ: {cnpj}
Responsável: {n:full}
Telefone: {ph:br_fix}
E-mail: {em:work}
~~~
@br
oi, sou a {n:first+lower+f}, minha esposa {n:first+f} fez o pedido no cartão dela mas quem vai receber sou eu. tem problema? meu zap é {ph:br_mob}
~~~
@br
VOCÊS SÃO UMA VERGONHA!!! Cobraram {d:amount} no meu cartão {cc} por uma assinatura que eu cancelei em {d:month}. Quero estorno imediato. {n:upper}
~~~
@br
---------- Mensagem encaminhada ---------
De: {n#c:full} <{em#c}>
Data: {d:date} {d:time}
Assunto: Re: Protocolo {d:protocol}
Para: <{em:corp}>

Encaminho de novo pois não tive retorno. Meu CPF é {cpf} e o telefone para contato é {ph}.
~~~
@br
Solicito, com base no art. 18 da LGPD, a exclusão de todos os meus dados pessoais da base de vocês.
Nome: {n#c:full}
CPF: {cpf}
E-mail: {em#c}
Telefone: {ph}
Aguardo confirmação por escrito.
~~~
@br
Oi {n#c:nick}, tudo bem? Aqui é {n#a:nick}, do suporte. Verifiquei com a {n:short+f} do financeiro e o estorno de {d:amount} já foi feito no cartão final {d:last4}. Pode levar até 2 faturas para aparecer.
~~~
@br
Olá! Meu marido {n:full+m} é o titular da conta, mas ele está viajando. Posso alterar o endereço de entrega para {d:street}, CEP {d:cp}? Meu CPF é {cpf}.
~~~
@br
ligue para {ph:br_fix:intl}. falar com {n:nick+f}, ela resolve
~~~
@br
Bom dia, o rastreio {d:tracking} está parado em {d:city} desde {d:weekday}. Não precisa me ligar, só quero saber o prazo.
~~~
@br
Contato: {n:full}
Celular: {ph:br_mob}
CPF/CNPJ: {cnpj}
Assunto: nota fiscal {d:invoice} com valor errado ({d:amount})
~~~
@br
Estou tentando pagar com o cartão {d:bad_cc} e dá "número inválido". É um cartão do [[Nubank|Itaú|Inter|C6|Bradesco]]. Já tentei o outro, {cc}, e passou.
~~~
@br
O CPF {d:bad_cpf} que está no cadastro está errado, digitaram errado. O certo é {cpf}. Podem corrigir? Obrigada. {n:nick+f}
~~~
@br
Boa noite. Minha chave Pix é o meu e-mail, {em}, e o reembolso até agora não caiu. Pedido {d:order}. Atenciosamente, {n:full}.
~~~
@br
Gente, alguém pode me ajudar? Recebi uma mensagem do {ph:br_mob} dizendo que é da central de vocês pedindo meu CPF e a senha do cartão. É golpe, né?
~~~
@br
Time de TI: nossa integração parou às {d:time}. Token que estamos usando: {key:openai_proj}. Servidor de saída: {ip}. Responsável: {n:short} ({em:work}).
~~~
@br
Atenciosamente,
{n:upper}
CPF: {cpf}
Tel.: {ph}
~~~
@br
Preciso do reembolso na conta, não no cartão. Dados: banco [[Itaú|Bradesco|Nubank|Banco do Brasil|Santander]], IBAN {iban:br}, titular {n:full}.
~~~
@br
oi boa tarde, o entregador deixou meu pedido com o porteiro e sumiu!! foi o {n:nick+m} que atendeu ontem e falou que ia resolver. pedido {d:order}
~~~
@br
Bom dia! Vocês emitem nota para CNPJ? Sou MEI, CNPJ {cnpj:bare}, em nome de {n:full}.
~~~
@br
Prezado(a) {n#c:tsur},

Informamos que a sua solicitação de portabilidade do número {ph:br_mob} foi concluída em {d:date}. Em caso de dúvidas, ligue para {ph:br_0800}.

{asig}
~~~
@br
Comprei no {d:event} com desconto de {d:percent} e na fatura veio o preço cheio ({d:amount}). Nota {d:invoice}. Isso é propaganda enganosa.
~~~
@br
Oi, a conta está no nome da minha mãe, {n:tfull+f}, CPF {cpf}. Ela tem 79 anos e não usa internet. O fixo dela é {ph:br_fix}. Quero cancelar o pacote de canais que ninguém assiste.
~~~
@br
Olá, bom dia. Segue o relatório de acessos suspeitos:
- {d:date} {d:time} – IP {ip}
- {d:date} {d:time} – IP {ip:v6}
Não fui eu. Conta: {em}.
~~~
@br
Fala pessoal, o app de vocês ({d:version}) está travando na tela de pagamento. Meu celular é um {d:phone_model}. Não precisa retorno.
~~~
@br
Empresa: {d:firm} Transportes Ltda – CNPJ {cnpj}
Contato financeiro: {n:full}, {ph:br_fix}, {em:work}
Contato operacional: {n:full}, {ph:br_mob}
~~~
@br
Bom dia, aqui é {n:short} da loja {d:city}. O cliente {n:full} (CPF {cpf}) está reclamando que a garantia do {d:product} não foi registrada. Pode verificar? Ramal 2214.
~~~
@br
A nota fiscal saiu com o CNPJ errado ({d:bad_cnpj}). O correto é {cnpj}. Por favor reemitam.
~~~
@br
Olá! Consegui resolver, obrigado {n:nick}!!! Atendimento nota 10.
~~~
@br
Alguém publicou nossa chave de API no grupo do WhatsApp: {key:google}. Revoguem por favor. Qualquer coisa me liguem no {ph:br_mob}. {n:full}
~~~
@br
RG: {d:rg}
CPF: {cpf}
Nome completo: {n:full}
Data de nascimento: {d:dob}
(dados que o atendente pediu por chat)
~~~
@br
Bom dia, quero fazer a portabilidade do meu número {ph:br_mob} para outra operadora e vocês não liberam. Já são 3 protocolos: {d:protocol}, {d:protocol} e {d:protocol}.
~~~
@br
Boa tarde, sou {n:full} e trabalho na {d:firm}. Nosso CNPJ é {cnpj} e precisamos cadastrar dois usuários: {em:work} e {em:work}.
~~~
@br
Meu nome é {n:full+m@pt}, sou português mas moro no Brasil, em {d:city@br}. Não tenho CPF ainda, posso usar meu passaporte ({d:passport@pt})? Telemóvel português: {ph:pt_mob}.
~~~
@br
olá, o cartão {cc} foi clonado. fizeram 3 compras de {d:amount} hoje às {d:time}. bloqueiem urgente. meu nome é {n:short+lower}.
~~~
@br
Bom dia, já enviei o comprovante para {em:corp} mas ninguém responde. Pedido {d:order}, CEP {d:cp}. Att, {n:nick}.
~~~
@br
Oi gente! Quem me atendeu foi a {n:first+f} e ela foi um amor. Só queria registrar o elogio.
~~~
@br
Segue a chave privada que vocês pediram para configurar o SFTP (apaguem depois, por favor):
{key:pem}
Servidor: {ip}
~~~
@pt
{greet}
Encomendei um {d:product} a {d:date} e ainda não chegou. A encomenda é a {d:order}. O meu telemóvel é o {ph:pt_mob}, liguem-me por favor.
{sig}
~~~
@pt
Exmos. Senhores,
Venho por este meio solicitar o cancelamento do contrato {d:contract}. Titular: {n:full}, NIF {d:pt_nif}. Telefone fixo: {ph:pt_fix}.
Com os melhores cumprimentos.
~~~
@pt
Bom dia, fiz a transferência de {d:amount} para o IBAN {iban:pt} mas o pagamento aparece como pendente. A conta é da minha mulher, {n:full+f}. Podem verificar?
~~~
@pt
[Nota interna – {n#a:nick}]
Cliente {n#c:tfull} contactou pelo {ph}. Alega que o técnico {n:nick+m} não compareceu no dia combinado ({d:weekday}). Reagendado para {d:date}, a partir das {d:time}.
~~~
@pt
Olá, sou o {n:short+lower+m} e o meu e-mail mudou. O antigo era {em}, o novo é {em}. O telemóvel continua o mesmo: {ph:pt_mob}.
~~~
@pt
Isto é uma vergonha! Já é a terceira fatura ({d:invoice}) com valores errados. Exijo que me liguem para o {ph} ainda hoje. {n:full}
~~~
@pt
Contacto: {n:full}
Telemóvel: {ph:pt_mob}
E-mail: {em}
IBAN para reembolso: {iban:pt}
~~~
@pt
Boa tarde, nos termos do RGPD peço o acesso a todos os dados que têm sobre mim. Nome: {n#c:full}. E-mail associado à conta: {em#c}. Nº de cliente {d:customer}.
~~~
@pt
Caro(a) {n#c:nick},
Confirmamos a receção do seu pedido de reembolso. O valor de {d:amount} será transferido para a conta {iban:pt} no prazo de 10 dias úteis.
{asig}
~~~
@pt
O meu filho {n:first+m} usou o meu cartão ({cc}) para comprar jogos sem autorização. Peço a anulação das compras de {d:date}. Contacto: {ph:pt_mob}.
~~~
@pt
Olá! A entrega da [[CTT|DPD|GLS]] foi feita na morada errada ({d:street}, {d:cp} {d:city}). O nome na encomenda é {n:upper}. Liguem para o {ph:pt_fix}.
~~~
@pt
bom dia, recebi um sms do {ph:pt_mob} a dizer que a minha encomenda está retida e a pedir {d:amount}. é fraude?
~~~
@pt
Boa tarde. Escrevo em nome do meu pai, {n:tfull+m}, que está internado. O número de cliente dele é {d:customer} e o telefone {ph:pt_fix}. Precisamos de suspender o serviço.
~~~
@pt
Exmos. Srs.,
Sou brasileira a viver em {d:city@pt}. Tenho CPF ({cpf}) mas ainda não tenho NIF. Posso fazer o contrato? O meu telemóvel é {ph:pt_mob} e o WhatsApp do Brasil {ph:br_mob}.
~~~
@pt
Olá, o código MBWAY não chega ao meu número ({ph:pt_mob}). Já reinstalei a app, versão {d:version}.
~~~
@pt
Dados para faturação:
Empresa: {d:firm}, Lda.
NIF: {d:pt_nif}
Morada: {d:street}, {d:cp} {d:city}
Contacto: {n:full} ({em:work})
~~~
@pt
Boa noite, tentei pagar com o cartão {d:bad_cc} e deu erro. Tentei depois o {cc:visa} e já deu. Mas cobraram duas vezes?! {n:nick}
~~~
@pt
Bom dia {n#c:nick}, falei com a minha colega {n:short+f} da contabilidade e a nota de crédito {d:invoice} já foi emitida. Qualquer questão disponha.
{asig}
~~~
@pt
Desde a atualização {d:version} que o router não liga. Endereço do router: {ip:priv}. IP público: {ip}. Já reiniciei tudo. {n:short}, {ph}.
~~~
@pt
Agradeço a ajuda do {n:short+m}, que foi incansável. Fica o registo.
~~~
@pt
Olá, a chave de API que nos enviaram ({key:sendgrid}) não funciona. Dá erro 401. Obrigado, {n:nick+m} ({em:work})
~~~
@pt
Caros senhores, em 12 de Janeiro fiz uma reclamação no Livro de Reclamações e até hoje nada. Sou {n:full}, cliente nº {d:customer}. Telefone {ph:pt_mob:intl}.
~~~
@pt
Morada antiga: {d:street}, {d:cp} {d:city}
Morada nova: {d:street}, {d:cp} {d:city}
Titular: {n:rev}
Obrigado.
~~~
@pt
Hello, I'm sorry I don't speak Portuguese. I live in {d:city@pt} and my landlord, {n:full+m@pt}, says the internet contract is in his name. My phone is {ph:pt_mob}, email {em:@us}.
~~~
@pt
Ex.mos Senhores, junto envio o IBAN da empresa para devolução da caução: {iban:pt+grouped}. Titular: {d:firm} Unipessoal Lda. Pessoa de contacto: {n:tfull}.
~~~
@pt
Olá equipa, recebemos tentativas de login a partir de {ip} com o utilizador {em}. Podem bloquear? Obrigado. {n:full+m}, {ph:pt_fix}
~~~
@pt
Liguem-me para o {ph:pt_mob:nat}, por favor. Estou disponível a partir das {d:time}. Obrigado, {n:short+m}.
~~~
@br
Fornecedor novo:
Razão social: {d:firm} Serviços Ltda
CNPJ: {cnpj}
Chave Pix: {em:work}
Contato: {n:full} – {ph:br_mob}
~~~
@br
Boa tarde, a fatura da filial ({cnpj}) foi cobrada na matriz ({cnpj}). Podem separar? {n:nick}, financeiro, {ph:br_fix}
~~~
@br
Olá, sou contador da {d:firm} (CNPJ {cnpj}). Preciso do informe de pagamentos de {d:month}. Meu e-mail: {em:work}.
~~~
@br
CPF:{cpf} Tel/WhatsApp:{ph:br_mob} E-mail:{em}
(mandei assim pq o chat corta a mensagem)
~~~
@br
No app aparece o CPF {d:masked_cpf} e o cartão {d:masked_cc}. São meus dados? Não reconheço essa compra de {d:amount}. Meu nome é {n:full}.
~~~
@br
A/C {n:tfull}: segue em anexo o contrato assinado. Dúvidas, ligue para {ph:br_fix}.
~~~
@pt
Tlm:{ph:pt_mob};Email:{em};NIF:{d:pt_nif}
Quero mudar de tarifário. Obrigado.
~~~
@pt
O IBAN {d:bad_iban} dá erro no homebanking. Podem confirmar o IBAN correto da vossa empresa? Contacto: {n:full}, {ph}.
~~~
@pt
Telemóvel bloqueado depois da atualização. IMEI {d:imei}. Número {ph:pt_mob}. Alguém me pode ajudar?!
'''

DEV_EN = r'''
{greet}
My account got suspended for "suspicious activity" after I logged in from {ip} on vacation. I'm {n#c:full}, account email {em#c}. Please unlock it.
{sig}
~~~
Refund status? Order {d:order}, {d:amount}, returned on {d:date}. Tracking {d:tracking}. Phone {ph} if needed.
~~~
Agent note: spoke w/ {n:short+f} ({ph}). Wants the charge on card {cc} reversed. Told her 3-5 days. Ticket {d:ticket}.
~~~
Hi {n:nick}, just checking whether you got my last email? Thanks!
~~~
Please update payroll for {n:full}: new direct deposit account {iban:gb}, SSN {ssn}. Effective {d:date}.
~~~
i think someone stole my identity. they opened an account with my SSN {ssn} and my old number {ph}. what do i do
~~~
Our staging key leaked in a screenshot: {key:gh}. Already rotated, but please check the audit log for calls from {ip}. — {n:full}, {em:work}
~~~
Dear Sir or Madam,
I wish to close my late husband's account. His name was {n:tfull+m}. My name is {n#c:full} and I can be reached at {ph} or {em#c}.
~~~
Bill is wrong again. {d:amount} instead of {d:amount}. Account {d:customer}. Fix it.
~~~
Card holder: {n:upper}
Card number: {cc}
Expiry: {d:exp}
Amount to charge: {d:amount}
~~~
Hi! Can I change the delivery name to my girlfriend, {n:full+f}? She'll be home on {d:weekday}. Her cell is {ph}.
~~~
We keep getting 401 errors with key {key:openai}. Calls come from {ip} and {ip:v6}. Anything on your side?
~~~
{agreet}
I've escalated your case to {n:short+f} on our Fraud team. She'll contact you at {ph} within 24 hours.
{asig}
~~~
Contact: {n:full}
Email: {em}
Company: {d:firm}
Message: we want a demo for 40 seats.
~~~
I'm a Spanish citizen living in {d:city}. Hola! My DNI is {dni} and I want to use it instead of a SSN for the credit check. My phone: {ph:es_mob:intl}.
~~~
Got a call from {ph} pretending to be your fraud department. They already knew my name, {n#c:full}, and the last 4 of my card ({d:last4}).
~~~
The SSN on my 1099 is wrong: it says {d:bad_ssn} but it should be {ssn}. Please reissue.
~~~
Hello, I need invoices for our Brazilian office: CNPJ {cnpj}, contact {n:full@br}, {ph:br_fix}.
~~~
ugh. third email. WHERE IS MY ORDER {d:order}. {n:short+lower}
~~~
Reminder: the {d:event} sale ends {d:weekday} at {d:time}. SKU {d:sku} is excluded. No action needed.
~~~
SECURITY: AWS key {key:aws} appears in your public bucket logs; request source {ip}. Reported by {em}.
~~~
Transfer the refund to this account please: {iban:de}. Account name: {n:full}.
~~~
Hi, it's {n:full@br} again. My CPF is {cpf} and the Brazilian number is {ph:br_mob:intl}. Still waiting on that refund!
~~~
@uk
Morning, my Monzo card {cc} was charged twice for the same order, {d:order}. Please sort it out. {n:full}, {ph:uk}
~~~
Hey, my NIE is {nie}, I'm moving to Spain next month. Can I keep the US number {ph:us} on the account?
~~~
> From: {n:full+f} <{em}>
> Sent: {d:date}
> Subject: login issue
>
> Can't log in from {ip}.

Replying on her behalf – she's my mom. Please call me, {n#c:nick}, at {ph}.
~~~
Please stop texting {ph}. That number belongs to my son, {n:first+m}, not to me.
~~~
SSN: {ssn}
Name: {n:full}
DOB: {d:dob}
Please confirm you received my W-9. Call {ph} if anything's missing.
~~~
phone:{ph};email:{em};name:{n:full}
^ pasted from our CRM export, please merge with the duplicate account.
'''

DEV_ES = r'''
{greet}
Me han llegado dos cargos de {d:amount} en la tarjeta {cc}. Pedido {d:order}. Por favor, devolved uno. Mi teléfono es el {ph}.
{sig}
~~~
Buenas, quiero cambiar el titular de la línea {ph:es_mob} a mi hijo, {n:full+m}, DNI {dni}.
~~~
Hola {n:nick}, ¿ya tienes noticias del técnico? Gracias.
~~~
Solicito la baja del servicio. Nombre: {n#c:full}. NIE: {nie}. Teléfono: {ph:es_fix}. Correo: {em#c}.
~~~
El repartidor ({n:nick+m}) dejó el paquete en la portería sin avisar y ahora no aparece. Seguimiento: {d:tracking}.
~~~
Datos para el reembolso:
IBAN: {iban:es}
Titular: {n:full}
DNI: {dni}
~~~
Hola, soy {n:short+lower}. no me funciona el wifi desde el {d:date}, ya reinicié el router ({ip:priv}). llamadme al {ph:es_mob}
~~~
[Nota – {n#a:nick}]
Cliente {n#c:tfull} ({ph}) reclama factura {d:invoice}. Se le ofrece descuento del {d:percent}. No acepta.
~~~
Os escribo porque alguien ha entrado en mi cuenta desde la IP {ip} y ha cambiado el correo a {em}. El mío es {em#c}.
~~~
Buenos días: adjunto DNI de mi padre, {n:full+m} ({dni}), y el mío, {n#c:full} ({dni}), para la autorización.
~~~
Hola, ¿podéis facturar a mi empresa? CIF {d:cif}, a la atención de {n:tfull}, {em:work}.
~~~
Soy yo otra vez. Nadie me ha llamado al {ph} como me prometisteis. Estoy hasta las narices.
{sig}
~~~
Esta es la clave de la API que nos pedisteis para la integración: {key:stripe}. Servidor origen {ip}.
~~~
{agreet}
Te confirmo que hemos cambiado tu cuenta de cargo a {iban:es}. El próximo recibo se girará el {d:date}.
{asig}
~~~
Mi tarjeta es la {d:bad_cc} y me dice que no es válida. ¿Qué pasa?
~~~
Buenas tardes, no me reconocéis el NIE {nie} al registrarme. Soy {n:full@romanian}... mi teléfono es {ph:es_mob}.
~~~
Hola, pregunta rápida: ¿el {d:product} tiene garantía de tres años? Lo compré el {d:date} en {d:city}.
~~~
Me ha escrito una tal {n:full+f} desde {em} diciendo que es de vuestro departamento de calidad. ¿Es verdad?
~~~
Contacto: {n:full} · {ph:es_fix} · {em}
Incidencia: corte de luz desde el {d:weekday}; CUPS {d:cups}
~~~
Hola soy {n:first} de la tienda de {d:city}. El cliente {n:full} (DNI {dni}) dice que le cobrasteis {d:amount} de más.
~~~
TITULAR: {n:upper}
TARJETA: {cc}
CADUCIDAD: {d:exp}
~~~
Hi, I'm an English teacher in {d:city@es}. Mi NIE es {nie}. I need help with the bill, please call {ph:es_mob}.
~~~
Reenvío lo que me mandó {n:short} ({em:work}): "El acceso al panel es con la clave {key:google}". ¿Esto es seguro?
~~~
Buenas, ¿a qué hora abre la oficina de {d:city} los sábados? Gracias.
~~~
Mi madre, {n:tfull+f}, tiene el teléfono {ph:es_fix} y no le funciona desde el {d:date}. Yo soy {n#c:first+f}, su hija: {ph:es_mob}.
~~~
Que me devolváis el dinero a la cuenta {iban:es+compact} y punto. {n:full}.
~~~
Soy {n:full} y os autorizo a hablar con mi pareja, {n:full}, sobre mi contrato {d:contract}.
~~~
tlf:{ph:es_mob:nat} / correo:{em}
Llamadme a partir de las {d:time}, porfa.
'''

DEV_PT = r'''
@br
{greet}
Meu pedido {d:order} veio com defeito. Quero a troca. CPF {cpf}, celular {ph:br_mob}.
{sig}
~~~
@br
Oi, aqui é {n:short+lower+f}. Fui cobrada duas vezes no cartão {cc}. Protocolo {d:protocol}.
~~~
@br
Prezados, segue CNPJ para cadastro: {cnpj}. Responsável: {n:full}, {em:work}, {ph:br_fix}.
~~~
@br
Olá {n:nick}, conseguiu verificar meu caso? Obrigada!
~~~
@br
Quero cancelar a linha {ph:br_mob}, que está no nome do meu pai, {n:tfull+m} (CPF {cpf}).
~~~
@br
Alguém entrou na minha conta pelo IP {ip} e trocou o e-mail para {em}. Meu e-mail verdadeiro é {em}.
~~~
@br
A nota veio com CPF {d:bad_cpf}, mas meu CPF é {cpf}. Corrijam por favor.
~~~
@br
[Nota – {n#a:nick}] Cliente {n#c:full} ({ph}) pediu estorno de {d:amount}. Aprovado.
~~~
@br
Bom dia! A loja {d:city} está aberta no feriado? Queria retirar o pedido {d:order}.
~~~
@br
EMPRESA: {d:firm} LTDA
CNPJ: {cnpj}
CONTATO: {n:upper}
TELEFONE: {ph}
~~~
@br
Nosso token vazou num print: {key:gh}. Revoguem, por favor. {n:full} – {em:work}
~~~
@br
{agreet}
O reembolso será feito na conta {iban:br}. Prazo de até 5 dias úteis.
{asig}
~~~
@br
Bom dia, minha esposa {n:first+f} vai retirar a encomenda no meu lugar. O CPF dela é {cpf}.
~~~
@br
Recebi SMS do {ph:br_mob:nat} pedindo para pagar uma taxa de {d:amount}. É de vocês?
~~~
@br
Solicito a exclusão dos meus dados conforme a LGPD. Nome: {n#c:full}. CPF: {cpf:bare}. E-mail: {em#c}.
~~~
@br
Oi, falei com a {n:first+f} ontem e ela disse que alguém ia me ligar no {ph}. Ninguém ligou.
~~~
@br
Meu CNPJ é {cnpj} e o sistema diz que é inválido. Sou MEI. {n:short}
~~~
@pt
{greet}
A fatura {d:invoice} vem com um valor que não reconheço. Peço que me contactem para o {ph:pt_mob}.
{sig}
~~~
@pt
Olá, o reembolso deve ser feito para o IBAN {iban:pt}, em nome de {n:full}. Obrigado.
~~~
@pt
Bom dia {n:nick}, já conseguiu falar com o técnico?
~~~
@pt
Peço a eliminação dos meus dados pessoais (RGPD). Nome: {n#c:full}. E-mail: {em#c}. Telefone: {ph}.
~~~
@pt
O meu marido {n:full+m} é o titular, mas autorizou-me a tratar do assunto. O NIF dele é {d:pt_nif}.
~~~
@pt
Tentaram entrar na minha conta a partir do IP {ip}. Já mudei a palavra-passe. {n:short}
~~~
@pt
Contacto: {n:full} | {ph:pt_fix} | {em}
Assunto: devolução da encomenda {d:order}
~~~
@pt
Paguei com o cartão {cc}, mas a encomenda foi cancelada. Quando recebo os {d:amount}?
~~~
@pt
Hello, my Portuguese is not very good. My name is {n:full@us}, I live in {d:city@pt}. Phone: {ph:pt_mob}. I want to cancel.
~~~
@pt
Caro(a) {n#c:tsur}, informamos que a sua reclamação {d:ticket} foi encerrada. Para reabrir ligue {ph:pt_tf}.
'''


# ----------------------------------------------------------------------------------------------
# build

SKELETONS = {"heldout": {"en": HELDOUT_EN, "es": HELDOUT_ES, "pt": HELDOUT_PT},
             "dev": {"en": DEV_EN, "es": DEV_ES, "pt": DEV_PT}}
DEFAULT_LOC = {"en": "us", "es": "es", "pt": None}


def parse_skeletons(block: str, group: str) -> list[tuple[str, str]]:
    out = []
    for raw in block.strip("\n").split("\n~~~\n"):
        raw = raw.strip("\n")
        loc = DEFAULT_LOC[group]
        if raw.startswith("@"):
            head, raw = raw.split("\n", 1)
            loc = head[1:].strip()
        assert loc in LANG_OF_LOC, (group, raw[:60])
        out.append((loc, raw))
    return out


def build(split: str, seed: int) -> list[dict]:
    bank = NameBank(split)
    snippets = split_snippets(split)
    records, seen = [], set()
    for group in ("en", "es", "pt"):
        skel = parse_skeletons(SKELETONS[split][group], group)
        r = random.Random(f"{seed}:{split}:{group}")
        order: list[int] = []
        while len(order) < TARGETS[split][group]:
            idx = list(range(len(skel)))
            r.shuffle(idx)
            order += idx
        for k in order[:TARGETS[split][group]]:
            loc, tpl = skel[k]
            for _ in range(200):
                b = Builder(r, bank, loc, snippets)
                b.render(tpl)
                text = b.text()
                if text not in seen and not leaks(text, b.spans):
                    break
            else:
                raise SystemExit(f"could not render {split}/{group}/{k} without a look-alike leak")
            seen.add(text)
            rec = {"full_text": text,
                   "spans": [{"entity_type": t, "start_position": a, "end_position": e, "entity_value": v}
                             for t, a, e, v in b.spans],
                   "lang": LANG_OF_LOC[loc],
                   "template_id": f"support-{split}-{group}-{k:03d}",
                   "metadata": {"split": split, "locale": loc, "distractors": b.distractors,
                                "persons": b.person_meta, "phone_countries": b.phone_kinds}}
            check_record(rec)
            assert not re.search(r"\{[a-z]|\[\[|\]\]", text), text  # no unrendered placeholder
            records.append(rec)
    random.Random(f"{seed}:{split}:shuffle").shuffle(records)
    return records


def name_tokens_used(records: list[dict]) -> set[str]:
    toks = set()
    for rec in records:
        for s in rec["spans"]:
            if s["entity_type"] == "PERSON":
                toks.update(t for t in re.split(r"[\s,.\-]+", fold(s["entity_value"])) if len(t) > 1 and t not in PARTICLES)
    return toks


def summary(name: str, records: list[dict]) -> str:
    langs = Counter(r["lang"] for r in records)
    types = Counter(s["entity_type"] for r in records for s in r["spans"])
    nopii = sum(1 for r in records if not r["spans"])
    distr = sum(1 for r in records if r["metadata"]["distractors"])
    skel = len({r["template_id"] for r in records})
    lines = [f"{name}: {len(records)} texts, {skel} skeletons, {nopii} without PII, {distr} with generated distractors",
             "  lang: " + ", ".join(f"{k} {v}" for k, v in sorted(langs.items())),
             "  spans: " + ", ".join(f"{t} {types.get(t, 0)}" for t in TYPES)]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--heldout", type=Path, default=OUT_HELDOUT)
    ap.add_argument("--dev", type=Path, default=OUT_DEV)
    args = ap.parse_args()
    # the two splits share no skeleton and no snippet
    held = {t for g in SKELETONS["heldout"].values() for _, t in parse_skeletons(g, "pt" if g is HELDOUT_PT else "en")}
    dev = {t for g in SKELETONS["dev"].values() for _, t in parse_skeletons(g, "pt" if g is DEV_PT else "en")}
    assert not held & dev, "a skeleton is in both splits"
    out = {}
    for split, path in (("heldout", args.heldout), ("dev", args.dev)):
        recs = build(split, args.seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(recs, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        out[split] = recs
        print(summary(f"{split} -> {path}", recs), file=sys.stderr)
    shared = name_tokens_used(out["heldout"]) & name_tokens_used(out["dev"])
    if shared:
        print(f"warning: name tokens in both splits: {sorted(shared)}", file=sys.stderr)


if __name__ == "__main__":
    main()
