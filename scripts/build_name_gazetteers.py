#!/usr/bin/env python3
"""Build the person-name gazetteers of crates/atalaya-guard from Faker's person providers.

    python3 scripts/build_name_gazetteers.py            # writes crates/atalaya-guard/data/names/
    python3 scripts/build_name_gazetteers.py --check    # exit 1 if the files on disk are stale

Faker (MIT) is pinned; when the running interpreter does not have that exact version the script
creates (once) a venv under ~/.cache/atalaya/venvs/faker-<version>, installs it there from PyPI
and re-runs itself with that venv's python. Output is deterministic for a given Faker version.

Files written (UTF-8, NFC, one entry per line, sorted by code point, unique):
  given.txt      first names (first_names, first_names_male, first_names_female) of all locales
  surnames.txt   last_names of all locales
  ambiguous.txt  gazetteer names that are also ordinary words / places / brands (see its header)
  SOURCE.md      provenance, licence, counts, how to regenerate
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import unicodedata
from pathlib import Path

FAKER_VERSION = "40.63.0"
LOCALES = ["en_US", "en_GB", "es_ES", "es_MX", "es_CO", "es_AR", "pt_BR", "pt_PT"]
GIVEN_ATTRS = ("first_names", "first_names_male", "first_names_female")
SURNAME_ATTRS = ("last_names",)

REPO = Path(__file__).resolve().parent.parent
OUT_DIR = REPO / "crates" / "atalaya-guard" / "data" / "names"
VENV = Path(os.environ.get("ATALAYA_CACHE", Path.home() / ".cache" / "atalaya")) / "venvs" / f"faker-{FAKER_VERSION}"

# ---------------------------------------------------------------------------------------------
# Ambiguity lists. A gazetteer name whose case-folded form is in one of these sets goes to
# ambiguous.txt: in support text it is at least as likely to be an ordinary word (capitalised at
# the start of a sentence, in a title or product name), a month or weekday, a place or a brand,
# so the detector must not tag it as PERSON on the gazetteer hit alone (it needs a cue such as
# "me llamo", "Sr.", a signature position, or an adjacent unambiguous given name / surname).
# Hand-curated: common, everyday words only; rare/archaic senses (e.g. pt "silva" = bramble,
# "pereira" = pear tree) are deliberately left out so that very frequent surnames stay usable.
# ---------------------------------------------------------------------------------------------
EN_WORDS = """
ale amber angel april archer art august autumn baker ball banks barber bass bean bell berry best
bill bird bishop black bond booth branch brandy brewer bridges bright brooks brown buck bull burns
bush butcher butler cannon carol carpenter case cash chance chase cherry christian church clay
cook coral cross crane crystal daisy dale dawn day dean destiny diamond don drake drew duke dyer
earl ebony english ever faith farmer field fields finch fisher ford fox frank free french frost fry
gamble gay glass glen golden good grace grant graves gray green gross guy hall hardy harmony hart
hazel heath heather hill holder holly hood hope horn house hunt hunter iris ivy jack jade jasmine
jay joy june justice key king kind knight lady lamb lance lane law little long lord love major mark
marks marsh mason mate may meadows melody miles mills misty moon moss noble north olive page park
parks pat patience pearl penny pierce pope porter potter power powers price prince rain raven ray
read reed rice rich robin rose ruby rush rusty sage sales sally sandy savage sharp shepherd sherry
shields short sky small smart smith snow sparks spears stark stone storey storm stout strong sue
summer summers sunny swift tanner turner violet wade walker wall walls ward ware waters weaver
weeks wells west white will winter winters wise wolf wood woods young
january february march april may june july august september october november december
monday tuesday wednesday thursday friday saturday sunday
"""

# Spanish/Portuguese months and weekdays are written in lowercase, so a capitalised "Julio" or
# "Abril" (both frequent given names) is left out on purpose; "Mayo"/"Domingo" stay (rare names).
ES_WORDS = """
acero agudo águila alba alcalde alegre alegría alemán alma amada amado amor amores amparo
ángel ángeles aragonés arco arcos arenas armas arroyo ascensión asunción aurora barba barco barranco
barrera barriga barrio barrios batalla bello benigno bienvenida blanca blanco bravo bueno caballero
cabañas cabello cabeza cabezas cadena cadenas calvo calzada cámara camino campo campos canales
candela cano caridad carrera carreras carro casado casas casillas castellanos castillo catalán cerro
cesar cielo clemencia comas concepción concha conde consuelo coral cordero corona coronel corral
corrales correa corredor cortes cortés cortina cristal cristiano crespo criado cruz cuadrado cuenca
cuervo cuesta cuevas custodia delgado dolores domingo don dulce duque emperatriz encarnación
escribano escudero esmeralda espada español espejo esperanza estrella fe felicidad feliz flor flores
franco fuente fuentes fuertes gala gallego gallo gloria gracia grande griego guardado guardia
guerra guerrero herrero hidalgo hierro huerta huertas iglesia iglesias infante inmaculada izquierdo
jacinto jurado justo lago laguna leal león limón llamas llano llanos lobo lucero luna luz madera
malo manso mar marcos mares margarita mariscal mármol marqués martirio mas mata matas mate máxima
máximo mayo mercado mercedes mesa milagros miró modesta modesto montaña montes morales morena
moreno muro naranjo navarro nieto nieves niño noble oliva olivo pacífica palacio palacios palma
paloma parada pardo paredes pareja parejo partida pastor pastora paz pena peña peñas pera perla
piedad pilar pino pinto pintor plana planas plaza portero posada pozo prado preciado prieto
primitiva primitivo prudencia puente puentes puerta purificación real redondo regalado reina
remedios rey reyes rico rincón río ríos roca rocío rojo rosa rosado rosario rosas rubio rueda
sala salas salud salvador santo santos sastre seco segundo segura seguí severo sierra sobrino
socorro sol sola soledad tapia terrazas tomas toro torre torres trinidad urbano vaca valenciano
valle vaquero vara vega vela verdugo victoria villa viña viñas violeta vives
enero febrero marzo mayo junio agosto septiembre octubre noviembre diciembre
lunes martes miércoles jueves viernes sábado domingo
"""

PT_WORDS = """
alegria amado amor anjos aparecida assunção branco caldeira câmara campos carneiro casal coelho
correia costa costela cruz dias faria glória graça guerra guerreiro leal leão leite lima lobo luz
machado mas mata matos mora morais mota nascimento neto neves pena pimenta pinho pinto pombo porta
porto prado ramos reis rocha roda rosa rosário sales salgado santos serra socorro valente vila
vitória
janeiro fevereiro março maio junho julho agosto setembro outubro novembro dezembro
segunda terça quarta quinta sexta sábado domingo
"""

# Catalan words frequent in Spanish surnames that are also English/Spanish/Portuguese words.
OTHER_WORDS = """
camps canals cases company font grau torrent
"""

# Places (countries, regions, cities) and brands that occur as names in the source lists: in
# support text ("envío a Valencia", "mi Ford", "hotel Hilton") they are usually not persons.
PLACES_BRANDS = """
alcalá alexandria américa aragón austin bilbao bolívar bosch burgos cáceres castilla chelsea
colón córdoba cordoba cuenca dakota durham españa esparta florencia ford francia georgia girona
guadalupe hermes hilton houston israel jaén jerez lima lugo madison madrid mercedes murcia orlando
oviedo phoenix porto richmond roma salamanca santiago santos savannah segovia sevilla sydney teruel
toledo trinidad valencia victoria vitória washington york zaragoza
"""

# Short forms / word-names that are common words even though Faker's lists may not contain
# them; written to ambiguous.txt regardless, so a future gazetteer extension stays safe.
EXTRA_AMBIGUOUS = """
Will Bill Mark Pat Bob Don Art Bud Chip Rob Rod Nick Sunny Rusty Dusty Ivy Olive Pearl Violet Sky
Rain Storm Chance Patience Harmony Justice Major August Dawn Grace May June Rose Sol Luz Paz Cruz
Rosa Salvador Lima Branco Santos Mas Fe Justo Claro Vivo Leo Mira
"""


def words(block: str) -> set[str]:
    return {unicodedata.normalize("NFC", w).casefold() for w in block.split()}


AMBIGUOUS_WORDS = words(EN_WORDS) | words(ES_WORDS) | words(PT_WORDS) | words(OTHER_WORDS)
AMBIGUOUS_PLACES = words(PLACES_BRANDS)


def ensure_faker() -> None:
    """Re-exec inside the pinned venv unless this interpreter already has the pinned Faker."""
    try:
        from importlib.metadata import version

        if version("faker") == FAKER_VERSION:
            return
    except Exception:  # noqa: BLE001 - not installed
        pass
    if os.environ.get("ATALAYA_GAZ_REEXEC") == "1":
        sys.exit(f"faker=={FAKER_VERSION} still not importable in {sys.executable}")
    py = VENV / "bin" / "python"
    ok = py.exists() and subprocess.run(
        [str(py), "-c", f"import importlib.metadata as m,sys; sys.exit(m.version('faker')!='{FAKER_VERSION}')"],
        capture_output=True,
    ).returncode == 0
    if not ok:
        print(f"creating {VENV} with faker=={FAKER_VERSION}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", f"faker=={FAKER_VERSION}"],
            check=True,
        )
    env = dict(os.environ, ATALAYA_GAZ_REEXEC="1")
    os.execve(str(py), [str(py), str(Path(__file__).resolve()), *sys.argv[1:]], env)


def clean(name: str) -> str | None:
    """NFC, trimmed, inner whitespace collapsed; None if it has anything but letters, - ' or space."""
    n = " ".join(unicodedata.normalize("NFC", str(name)).split())
    if len(n) < 2:
        return None
    if not all(c.isalpha() or c in "-' " for c in n):
        return None
    if not n[0].isalpha() or not n[-1].isalpha():
        return None
    return n


def collect() -> tuple[dict[str, set[str]], dict[str, dict[str, int]], int]:
    sets = {"given": set(), "surnames": set()}
    per_locale: dict[str, dict[str, int]] = {}
    dropped = 0
    for loc in LOCALES:
        try:
            prov = importlib.import_module(f"faker.providers.person.{loc}").Provider
        except ModuleNotFoundError:
            print(f"locale {loc}: no person provider, skipped", file=sys.stderr)
            continue
        counts = {}
        for kind, attrs in (("given", GIVEN_ATTRS), ("surnames", SURNAME_ATTRS)):
            raw = set()
            for a in attrs:
                raw.update(getattr(prov, a, ()) or ())  # tuples, lists or OrderedDict (keys)
            kept = set()
            for r in raw:
                c = clean(r)
                if c is None:
                    dropped += 1
                else:
                    kept.add(c)
            sets[kind] |= kept
            counts[kind] = len(kept)
        per_locale[loc] = counts
    return sets, per_locale, dropped


def license_copyright() -> tuple[str, str]:
    from importlib.metadata import distribution

    dist = distribution("faker")
    lic_name = dist.metadata.get("License") or "MIT License"
    for f in dist.files or []:
        if Path(str(f)).name.upper().startswith("LICENSE"):
            text = Path(dist.locate_file(f)).read_text(encoding="utf-8")
            line = next((ln.strip() for ln in text.splitlines() if ln.strip().lower().startswith("copyright")), "")
            return lic_name, line
    return lic_name, ""


def ambiguous(sets: dict[str, set[str]]) -> list[str]:
    out = set()
    for n in sets["given"] | sets["surnames"]:
        k = n.casefold()
        if k in AMBIGUOUS_WORDS or k in AMBIGUOUS_PLACES:
            out.add(n)
    out |= {unicodedata.normalize("NFC", w) for w in EXTRA_AMBIGUOUS.split()}
    return sorted(out)


AMBIGUOUS_HEADER = """\
# Names that are also ordinary words, months/weekdays, places or brands in English, Spanish or
# Portuguese support text (e.g. "Will", "Mark", "Grace", "May", "June", "Rose", "Sol", "Luz", "Paz",
# "Cruz", "Rosa", "Salvador", "Lima", "Branco", "Santos", "Mas", "Domingo", "Dolores", "Costa",
# "Dias", "Sales", "Valencia", "Mercedes"). The PII detector must NOT tag one of these as PERSON on
# a gazetteer hit alone: it needs other evidence (a cue such as "me llamo" / "meu nome é" / "my
# name is" / "Sr." / "Dña." / a signature line, or an adjacent unambiguous given name or surname).
# Built by scripts/build_name_gazetteers.py: every entry of given.txt or surnames.txt whose
# case-folded form is in the script's curated en/es/pt word lists or place/brand list, plus a
# few short forms (Will, Bill, Pat, ...) listed in the script even if Faker lacks them.
# Format: one name per line, original capitalisation, NFC; lines starting with '#' are comments.
"""


def render(sets, per_locale, dropped, amb) -> dict[str, str]:
    lic_name, copyright_line = license_copyright()
    files = {
        "given.txt": "\n".join(sorted(sets["given"])) + "\n",
        "surnames.txt": "\n".join(sorted(sets["surnames"])) + "\n",
        "ambiguous.txt": AMBIGUOUS_HEADER + "\n".join(amb) + "\n",
    }
    rows = "\n".join(f"| {loc} | {c['given']} | {c['surnames']} |" for loc, c in per_locale.items())
    files["SOURCE.md"] = f"""# Name gazetteers: source

Generated by `scripts/build_name_gazetteers.py`; do not edit by hand.

- Source: the Python package **Faker** (PyPI `faker`), version **{FAKER_VERSION}**, modules
  `faker.providers.person.<locale>`: attributes {", ".join(f"`{a}`" for a in GIVEN_ATTRS)} → `given.txt`,
  `last_names` → `surnames.txt`.
- Licence: {lic_name} (MIT). Copyright line from the package's `LICENSE.txt`:
  `{copyright_line}`. The MIT licence requires this notice to be kept with substantial portions.
- Locales: {", ".join(per_locale)} (every requested locale that has a person provider in this version).
- Processing: Unicode NFC, whitespace collapsed, original capitalisation kept; entries containing
  anything other than letters, hyphen, apostrophe or space are dropped ({dropped} dropped);
  sorted by code point, unique.

| file | lines |
|---|---|
| given.txt | {len(sets["given"])} |
| surnames.txt | {len(sets["surnames"])} |
| ambiguous.txt | {len(amb)} names (+ comment header) |

Unique entries per locale after cleaning (before merging):

| locale | given | surnames |
|---|---|---|
{rows}

`ambiguous.txt`: gazetteer names that are also common English/Spanish/Portuguese words, months or
weekdays, places or brands (curated lists embedded in the script, plus a few short forms such as
Will/Bill/Pat); the detector accepts them as PERSON only with other evidence. See its header.

Regenerate (creates/reuses the venv `~/.cache/atalaya/venvs/faker-{FAKER_VERSION}`, network: PyPI only):

```
python3 scripts/build_name_gazetteers.py
python3 scripts/build_name_gazetteers.py --check   # verify the committed files are current
```
"""
    return files


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare with the files on disk, write nothing")
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    args = ap.parse_args()
    ensure_faker()
    sets, per_locale, dropped = collect()
    amb = ambiguous(sets)
    files = render(sets, per_locale, dropped, amb)
    if args.check:
        stale = [n for n, t in files.items() if not (args.out / n).exists() or (args.out / n).read_text(encoding="utf-8") != t]
        if stale:
            sys.exit(f"stale: {', '.join(stale)} (run {Path(__file__).name})")
        print("gazetteers up to date")
        return
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (args.out / name).write_text(text, encoding="utf-8")
    print(
        f"faker {FAKER_VERSION}: given={len(sets['given'])} surnames={len(sets['surnames'])} "
        f"ambiguous={len(amb)} dropped={dropped} -> {args.out}"
    )


if __name__ == "__main__":
    main()
