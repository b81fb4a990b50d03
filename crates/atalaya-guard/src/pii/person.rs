//! Person names, without a model: runs of capitalised words judged by context cues ("my name
//! is", "me llamo", "meu nome é", titles, greetings, signatures), gazetteers of given names and
//! surnames for en/es/pt (`data/names/`, from Faker; see its SOURCE.md), and shape (a run of
//! capitalised words none of which is a common word). Names outside the gazetteers are found
//! from context and shape.

use rustc_hash::FxHashSet as HashSet;

use super::{EntityType, Finding};
use crate::text::{boundary_before, window_before};

const GIVEN: &str = include_str!("../../data/names/given.txt");
const SURNAMES: &str = include_str!("../../data/names/surnames.txt");
const AMBIGUOUS: &str = include_str!("../../data/names/ambiguous.txt");

/// Capitalised words that are not names: function words, greetings, calendar words, common
/// support vocabulary and place/organisation heads in en/es/pt (lowercase, accents kept).
const COMMON: &str = "a an the and or but if of to in on at by for with from as is are was be it \
this that these those my your his her our their its i you he she we they me him us them \
hello hi hey dear thanks thank regards best cheers please sorry yes no ok okay good morning \
afternoon evening night welcome sincerely kind warm greetings team support customer service \
order account card bank banco company inc ltd llc corp sa ltda street st road rd avenue ave \
lane drive calle avenida rua travessa plaza praça praca city country north south east west \
new old san santa são sao saint st monday tuesday wednesday thursday friday saturday sunday \
january february march april may june july august september october november december lunes \
martes miércoles miercoles jueves viernes sábado sabado domingo enero febrero marzo abril mayo \
junio julio agosto septiembre octubre noviembre diciembre segunda terça terca quarta quinta \
sexta janeiro fevereiro março marco maio junho julho setembro outubro novembro dezembro \
hola buenos buenas días dias tardes noches gracias saludos atentamente estimado estimada \
señor señora senor senora sr sra srta dr dra mr mrs ms miss prof don doña dona dña \
olá ola oi bom boa obrigado obrigada cumprimentos atenciosamente prezado prezada caro cara \
querido querida el la los las un una unos unas y o de del al en con por para mi mis tu tus su \
sus nuestro nuestra es son fue ser estar yo tú tu él ella nosotros ellos usted ustedes \
que qué como cómo cuando cuándo donde dónde quien quién por porque \
o os as um uma uns umas e ou do da dos das no na nos nas em com por para meu minha meus minhas \
seu sua seus suas nosso nossa é são foi ser estar eu você voce ele ela nós nos eles elas \
que como quando onde quem porque \
what when where who why how which can could would should will shall do does did have has had \
not all any some every each there here then than also just only very much many more most \
hotel airport university hospital school college museum park bridge station center centre \
department ministry office group bank holdings international national global services \
systems solutions technologies software products corporation association foundation club \
weekly daily monthly news times post journal magazine review radio tv show song album \
book movie film series season episode chapter part volume edition version release \
iphone android windows linux mac apple google microsoft amazon facebook twitter \
invoice payment refund delivery shipping package address email phone number password \
login app website web site internet wifi product price total subtotal tax discount \
english spanish portuguese inglés español portugués inglês espanhol português \
america american europe european asia african africa brazil brasil spain españa espana \
portugal mexico méxico argentina chile colombia peru perú united states kingdom \
pedido cuenta tarjeta factura envío envio entrega producto precio contraseña \
conta cartão cartao fatura encomenda produto preço senha endereço endereco \
dirección direccion correo teléfono telefono número numero cliente equipo equipe soporte \
suporte atención atencion atendimento \
streets square squares park parks union fort via way place court hill heights gardens terrace \
crescent boulevard blvd highway parkway plaza circle close row walk grove view mews quay \
orchestra band act rights civil southern northern eastern western central united republic \
island islands mountain mountains lake river valley county province state states kingdom empire \
church cathedral tower castle palace library theatre theater festival awards award prize league \
cup championship committee council parliament senate agency bureau institute academy society \
federation partners associates capital credit financial finance insurance health medical \
pharmacy motors airlines airways energy electric media studios records entertainment \
publishing press labs digital tech consulting holdings subject note date re title name \
names reference ref regarding attachment user agent manager director president chairman \
ceo cto cfo chief head lead senior junior assistant doctor nurse officer general captain \
sergeant lieutenant colonel major minister secretary king queen prince princess lord lady \
saint pope bishop father mother brother sister uncle aunt cousin son daughter wife husband \
mom mum dad grandma grandpa baby kid kids boss guy guys man woman men women people \
god jesus christ allah lord bible quran christmas easter halloween thanksgiving \
love hate secretly supposed guilty pleasures pleasure musicians musician songs song hits \
top best worst greatest ultimate complete official original classic modern early late \
first second third last next final great little big grand royal imperial \
our we're you're they're it's i'm i've i'll don't can't won't isn't \
vii viii ix xi xii xiii ii iii iv vi \
investments solutions markets market explorer data public gateway pass extensions extension \
village springs cycle care salesperson awarded stripes bot nome empresa responsável \
responsavel telefone telemóvel telemovel cadastro e-mail info personal website phone mobile \
apt suite unit floor piso andar bloco bloque portal escalera puerta apto \
router livebox macbook air plan fibra max pro plus premium ultra mini lite \
belo horizonte porto alegre rio janeiro buenos aires nueva york \
estados unidos unido reino bajos emiratos árabes arabes arabia saudita saudi zelanda zealand \
united states kingdom bono viaje viagem \
warning error status total tracking answer question summary description reason details \
message comment comments attention notice important update result results response request \
priority category type source tags language label value key id code q contact desk fax tel \
cel aqui aquí hoy ahora agora hoje ontem ayer mañana amanhã segunda-feira terça-feira \
quarta-feira quinta-feira sexta-feira day days night labor labour memorial independence \
soy sou llamo chamo nombre apellido sobrenome contato contacto titular responsable técnico \
tecnico colega compañero compañera companero companera sir madam";

/// Words after which a capitalised run is a name (lowercase, accents kept; matched at the end
/// of the text before the run).
const CUES: &[&str] = &[
    "my name is",
    "my name's",
    "name is",
    "i am",
    "i'm",
    "im",
    "this is",
    "call me",
    "called",
    "me llamo",
    "mi nombre es",
    "nombre es",
    "soy",
    "mi nombre:",
    "llamado",
    "llamada",
    "meu nome é",
    "meu nome e",
    "me chamo",
    "chamo-me",
    "eu sou",
    "sou o",
    "sou a",
    "sou",
    "chamado",
    "chamada",
    "name:",
    "nombre:",
    "nome:",
    "full name:",
    "nombre completo:",
    "nome completo:",
    "dear",
    "hi",
    "hello",
    "hey",
    "hola",
    "olá",
    "ola",
    "oi",
    "estimado",
    "estimada",
    "querido",
    "querida",
    "prezado",
    "prezada",
    "caro",
    "cara",
    "spoke with",
    "spoke to",
    "talked to",
    "contact",
    "hablé con",
    "hable con",
    "falei com",
    "atendido por",
    "atendida por",
    "attended by",
    "signed",
    "firmado",
    "assinado",
    "from:",
    "de:",
    "para:",
    "to:",
    "attn:",
    "atte.",
    "att.",
    "a/c",
    "cc:",
    "married to",
    "son of",
    "daughter of",
    "hijo de",
    "hija de",
    "filho de",
    "filha de",
    "mr",
    "mrs",
    "ms",
    "miss",
    "dr",
    "prof",
    "sr",
    "sra",
    "srta",
    "dña",
    "dª",
    "don",
    "doña",
    "dona",
    "dra",
    "sir",
    "madam",
    "señor",
    "señora",
    "senhor",
    "senhora",
    "mr.",
    "mrs.",
    "ms.",
    "dr.",
    "prof.",
    "sr.",
    "sra.",
    "srta.",
    "dña.",
    "dra.",
    "d.",
    "name?",
    "nombre?",
    "nome?",
    "calls me",
    "called me",
    "named",
    "named him",
    "named her",
    "starring",
    "featuring",
    "directed by",
    "directed by:",
    "written by",
    "says",
    "said",
    "asked",
    "told",
    "shouted at",
    "according to",
    "maiden name is",
    "surname is",
    "last name is",
    "apellido es",
    "sobrenome é",
    "billing address:",
    "user:",
    "contact:",
    "contacto:",
    "contato:",
    "contact person:",
    "persona de contacto:",
    "pessoa de contato:",
    "responsável:",
    "responsable:",
    "titular:",
    "titular",
    "a nombre de",
    "en nombre de",
    "em nome de",
    "in the name of",
    "on behalf of",
    "mi compañero",
    "mi compañera",
    "mi companero",
    "mi companera",
    "mi colega",
    "mi esposo",
    "mi esposa",
    "mi marido",
    "mi mujer",
    "mi pareja",
    "mi hijo",
    "mi hija",
    "mi madre",
    "mi padre",
    "mi hermano",
    "mi hermana",
    "mi jefe",
    "mi jefa",
    "mi vecino",
    "mi vecina",
    "meu colega",
    "minha colega",
    "meu marido",
    "minha esposa",
    "minha mulher",
    "meu esposo",
    "meu filho",
    "minha filha",
    "minha mãe",
    "meu pai",
    "meu irmão",
    "minha irmã",
    "meu chefe",
    "minha chefe",
    "meu vizinho",
    "minha vizinha",
    "my colleague",
    "my coworker",
    "my co-worker",
    "my wife",
    "my husband",
    "my partner",
    "my son",
    "my daughter",
    "my mother",
    "my father",
    "my brother",
    "my sister",
    "my boss",
    "my manager",
    "my neighbour",
    "my neighbor",
    "habló con",
    "hablo con",
    "hablar con",
    "conversé con",
    "me atendió",
    "atendió",
    "falou com",
    "falar com",
    "conversei com",
    "me atendeu",
    "talk to",
    "speak to",
    "speak with",
    "ask for",
    "preguntar por",
    "perguntar por",
    "técnico",
    "tecnico",
    "falei com a",
    "falei com o",
    "hablé con la",
    "hablé con el",
    "hable con la",
    "hable con el",
    "buenos días",
    "buenos dias",
    "buenas tardes",
    "buenas noches",
    "bom dia",
    "boa tarde",
    "boa noite",
    "good morning",
    "good afternoon",
    "hi again",
    "hello again",
    "aqui é",
    "aqui e",
    "aquí es",
    "card holder:",
    "cardholder:",
    "nota –",
    "nota -",
    "note –",
    "note -",
    "el cliente",
    "la cliente",
    "o cliente",
    "a cliente",
    "the customer",
    "el mío,",
    "el mio,",
    "nome do titular:",
    "nombre del titular:",
];

/// Form fields after which a value is a name, whatever its case (matched before a `:`).
const FIELD_CUES: &[&str] = &[
    "name",
    "nombre",
    "nome",
    "full name",
    "nombre completo",
    "nome completo",
    "contact",
    "contacto",
    "contato",
    "titular",
    "card holder",
    "cardholder",
    "account holder",
    "holder",
    "cliente",
    "customer",
    "client",
    "responsável",
    "responsable",
    "attn",
    "a/c",
    "de",
    "from",
    "para",
    "to",
];

/// One of the last words of [`INTRO_CUES`], as written (a quick test before the cue itself).
fn intro_tail(w: &str) -> bool {
    matches!(
        w,
        "is" | "am"
            | "i'm"
            | "I'm"
            | "llamo"
            | "es"
            | "soy"
            | "Soy"
            | "é"
            | "e"
            | "chamo"
            | "sou"
            | "Sou"
            | "o"
            | "a"
    )
}

/// Introductions after which lowercase words starting with a known given name are a name.
const INTRO_CUES: &[&str] = &[
    "my name is",
    "i am",
    "i'm",
    "this is",
    "me llamo",
    "mi nombre es",
    "soy",
    "meu nome é",
    "meu nome e",
    "me chamo",
    "sou",
    "sou o",
    "sou a",
    "aqui é",
    "aqui e",
    "aquí es",
    "eu sou",
];

/// Closing lines after which a line holding a capitalised run is a signature.
const CLOSINGS: &[&str] = &[
    "regards",
    "best",
    "cheers",
    "thanks",
    "thank you",
    "sincerely",
    "best wishes",
    "kind regards",
    "saludos",
    "un saludo",
    "atentamente",
    "gracias",
    "cordialmente",
    "obrigado",
    "obrigada",
    "cumprimentos",
    "atenciosamente",
    "abraços",
    "abracos",
    "abrazos",
    "att",
    "atte",
    "besos",
    "beijos",
    "yours",
    "love",
];

/// Function words whose capitalised form inside a run marks a Title Case headline.
const FUNCTION: &[&str] = &[
    "of", "the", "to", "and", "but", "for", "in", "on", "at", "with", "a", "an", "or", "is", "are",
    "you", "your", "why", "how", "what", "de", "la", "el", "los", "las", "del", "y", "o", "da",
    "do", "dos", "das", "e", "em", "para", "por", "con", "com",
];

/// Verbs after which a capitalised word at the start of a sentence is a person ("Tomomi is
/// from ...", "Asya spent a year ...").
const VERBS: &[&str] = &[
    "spent",
    "said",
    "says",
    "shouted",
    "lives",
    "lived",
    "works",
    "worked",
    "wrote",
    "asked",
    "told",
    "replied",
    "answered",
    "married",
    "studied",
    "graduated",
    "dijo",
    "vive",
    "trabaja",
    "mora",
    "trabalha",
    "disse",
];

/// Words that join the last elements of a list of names.
const CONJUNCTIONS: &[&str] = &["and", "y", "e", "or", "o", "ou", "&"];

/// Particles inside names: "María de la Cruz", "João da Silva", "Ludwig van Beethoven".
/// Lowercase particles inside names.
fn is_particle(w: &str) -> bool {
    matches!(
        w,
        "de" | "da"
            | "do"
            | "dos"
            | "das"
            | "del"
            | "la"
            | "las"
            | "los"
            | "van"
            | "von"
            | "der"
            | "den"
            | "y"
            | "e"
            | "di"
            | "du"
            | "le"
            | "bin"
            | "ibn"
            | "al"
            | "el"
            | "ten"
            | "ter"
    )
}

pub(crate) struct Names {
    given: HashSet<String>,
    surnames: HashSet<String>,
    ambiguous: HashSet<String>,
    common: HashSet<&'static str>,
    /// [`CUES`] by their last byte (a cue is looked for at the end of the text before a run).
    cues_by_last: rustc_hash::FxHashMap<u8, Vec<&'static str>>,
}

fn lines(s: &str) -> impl Iterator<Item = &str> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

struct Token<'a> {
    start: usize,
    end: usize,
    /// Title case: an uppercase first letter followed by lowercase letters (or a lone
    /// initial).
    title: bool,
    initial: bool,
    /// Lowercase, for capitalised words and short ones (particles), which are the only ones
    /// ever looked up; empty for the others.
    lower: &'a str,
}

/// The words of `text`; their lowercase forms are written into `buf` (one buffer, not a
/// string per word).
fn tokens<'a>(text: &str, buf: &'a mut String) -> Vec<Token<'a>> {
    // (start, end, title, initial, lower range in buf)
    let mut spans: Vec<(usize, usize, bool, bool, usize, usize)> =
        Vec::with_capacity(text.len() / 4);
    buf.clear();
    let mut i = 0;
    let bytes = text.as_bytes();
    while i < bytes.len() {
        // Skip non-letters; ASCII without decoding.
        let b = bytes[i];
        let (c, n) = if b.is_ascii() {
            if !b.is_ascii_alphabetic() {
                i += 1;
                continue;
            }
            (char::from(b), 1)
        } else {
            match char_at(text, i) {
                Some((c, n)) if c.is_alphabetic() => (c, n),
                Some((_, n)) => {
                    i += n;
                    continue;
                }
                None => break,
            }
        };
        let start = i;
        let mut end = i + n;
        let mut j = end;
        let mut upper_rest = false;
        let mut lower_rest = false;
        loop {
            // The common case: a run of ASCII lowercase letters.
            let run = bytes[j..]
                .iter()
                .take_while(|b| b.is_ascii_lowercase())
                .count();
            if run > 0 {
                lower_rest = true;
                j += run;
                end = j;
            }
            let Some((d, dn)) = char_at(text, j) else {
                break;
            };
            if d.is_alphabetic() {
                if d.is_uppercase() {
                    upper_rest = true;
                } else {
                    lower_rest = true;
                }
                j += dn;
                end = j;
            } else if matches!(d, '\'' | '’' | '-') {
                // Inside a word only when a letter follows: O'Neil, Jean-Luc; but not a
                // possessive 's.
                let la = char_at(text, j + dn);
                let possessive = d != '-'
                    && la.is_some_and(|(e, _)| e == 's')
                    && char_at(text, j + dn + 1).is_none_or(|(e, _)| !e.is_alphanumeric());
                if !possessive && la.is_some_and(|(e, _)| e.is_alphabetic()) {
                    j += dn;
                } else {
                    break;
                }
            } else {
                break;
            }
        }
        i = j;
        let word = &text[start..end];
        let first_upper = c.is_uppercase();
        let single = end - start == n;
        let lo = buf.len();
        if first_upper || end - start <= 3 {
            if word.is_ascii() {
                buf.extend(word.bytes().map(|b| char::from(b.to_ascii_lowercase())));
            } else {
                buf.push_str(&word.to_lowercase());
            }
        }
        spans.push((
            start,
            end,
            first_upper && (single || (lower_rest && !upper_rest) || mixed_name(word)),
            first_upper && single,
            lo,
            buf.len(),
        ));
    }
    let buf: &'a str = buf;
    spans
        .into_iter()
        .map(|(start, end, title, initial, lo, hi)| Token {
            start,
            end,
            title,
            initial,
            lower: &buf[lo..hi],
        })
        .collect()
}

/// The char at byte `i` and its length (ASCII without decoding).
fn char_at(text: &str, i: usize) -> Option<(char, usize)> {
    let b = *text.as_bytes().get(i)?;
    if b.is_ascii() {
        return Some((char::from(b), 1));
    }
    let c = text[i..].chars().next()?;
    Some((c, c.len_utf8()))
}

/// McDonald, DiCaprio, O'Neil, Jean-Luc: capitals after a lowercase prefix or a separator.
fn mixed_name(w: &str) -> bool {
    if w.contains(['-', '\'', '’']) {
        return w.split(['-', '\'', '’']).all(|p| {
            let mut c = p.chars();
            c.next().is_some_and(char::is_uppercase) && c.all(char::is_lowercase)
        });
    }
    w.starts_with("Mc") || w.starts_with("Mac") || w.starts_with("Di") || w.starts_with("De")
}

impl Names {
    pub(crate) fn new() -> Self {
        let set = |s: &str| lines(s).map(str::to_lowercase).collect::<HashSet<_>>();
        Names {
            given: set(GIVEN),
            surnames: set(SURNAMES),
            ambiguous: set(AMBIGUOUS),
            common: COMMON.split_whitespace().collect(),
            cues_by_last: CUES.iter().fold(Default::default(), |mut m, c| {
                if let Some(&b) = c.as_bytes().last() {
                    m.entry(b).or_insert_with(Vec::new).push(*c);
                }
                m
            }),
        }
    }

    fn is_common(&self, w: &str) -> bool {
        self.common.contains(w)
    }

    fn given_ok(&self, w: &str) -> bool {
        self.given.contains(w) && !self.ambiguous.contains(w) && !self.is_common(w)
    }

    fn known(&self, w: &str) -> bool {
        (self.given.contains(w) || self.surnames.contains(w)) && !self.is_common(w)
    }

    pub(crate) fn scan(&self, text: &str, out: &mut Vec<Finding>) {
        let first = out.len();
        let mut buf = String::with_capacity(text.len());
        let toks = tokens(text, &mut buf);
        let mut i = 0;
        while i < toks.len() {
            if !toks[i].title {
                i += 1;
                continue;
            }
            // Grow a run of title-case tokens separated by spaces (an initial may carry a
            // dot), with particles inside.
            let mut j = i + 1;
            let mut last = i;
            while j < toks.len() {
                let gap = &text[toks[j - 1].end..toks[j].start];
                let gap_ok = gap == " " || (toks[j - 1].initial && (gap == ". " || gap == "."));
                if !gap_ok {
                    break;
                }
                if toks[j].title {
                    last = j;
                    j += 1;
                    continue;
                }
                // One or two lowercase particles, then a capitalised word: "Núñez de Arce de
                // la Fuente", "Nogueira dos Santos", "van der Berg".
                let particles = (j..toks.len().min(j + 2))
                    .take_while(|&k| {
                        !toks[k].title
                            && is_particle(toks[k].lower)
                            && &text[toks[k].end..toks.get(k + 1).map_or(toks[k].end, |t| t.start)]
                                == " "
                    })
                    .count();
                if particles > 0 && toks.get(j + particles).is_some_and(|t| t.title) {
                    j += particles;
                } else {
                    break;
                }
            }
            self.judge(text, &toks[i..=last], out);
            i = last + 1;
        }
        let mut found: Vec<Finding> = out.drain(first..).collect();
        self.extend_lists(text, &toks, &mut found);
        self.cued_unusual_case(text, &toks, &mut found);
        out.extend(found);
    }

    /// Names in capitals or in lowercase, which the title-case runs miss, where a cue says a
    /// name comes: a form field ("TITULAR: FERRAN SABATÉ I PUIG", "Card holder: JIWOO SHIN",
    /// "CONTATO: AMANDA GOMES") or an introduction whose first word is a known given name
    /// ("soy claudia sabate", "aqui é najla odette abib").
    fn cued_unusual_case(&self, text: &str, toks: &[Token<'_>], out: &mut Vec<Finding>) {
        let taken = |s: usize, e: usize, out: &Vec<Finding>| {
            out.iter()
                .any(|f| f.kind == EntityType::Person && f.start < e && s < f.end)
        };
        let mut i = 0;
        while i < toks.len() {
            let t = &toks[i];
            // Cheap tests first: a form field's value in capitals follows a colon; a lowercase
            // name follows an introduction (its last word) or starts a sentence, line or field
            // value, and its first word is a known given name. Most words are neither, and
            // title-case words are neither.
            if t.title {
                i += 1;
                continue;
            }
            let b0 = text.as_bytes()[t.start];
            let lower = if b0.is_ascii() {
                b0.is_ascii_lowercase()
            } else {
                text[t.start..]
                    .chars()
                    .next()
                    .is_some_and(char::is_lowercase)
            };
            let word = &text[t.start..t.end];
            let caps = !lower
                && !t.title
                && text.as_bytes()[..t.start]
                    .iter()
                    .rev()
                    .find(|&&b| b != b' ')
                    == Some(&b':')
                && word.chars().count() >= 2
                && word.chars().all(|c| !c.is_alphabetic() || c.is_uppercase());
            let placed = lower
                && ((i > 0
                    && toks[i - 1].end + 1 == t.start
                    && text.as_bytes()[toks[i - 1].end] == b' '
                    && intro_tail(&text[toks[i - 1].start..toks[i - 1].end]))
                    || starts_clause(text, t.start));
            let given = placed
                && if word.chars().any(char::is_uppercase) {
                    self.given_ok(&word.to_lowercase())
                } else {
                    self.given_ok(word)
                };
            if !(caps || given) || taken(t.start, t.end, out) {
                i += 1;
                continue;
            }
            let before = window_before(text, t.start, 32);
            let b = before.trim_end_matches(' ');
            let field = b.ends_with(':')
                && FIELD_CUES.iter().any(|c| {
                    b.strip_suffix(':')
                        .is_some_and(|x| x.ends_with(c) && boundary_before(x, x.len() - c.len()))
                });
            let intro = given
                && INTRO_CUES
                    .iter()
                    .any(|c| b.ends_with(c) && boundary_before(b, b.len() - c.len()));
            // A lowercase name signing the message: a known given name at the start of its
            // line or sentence, and nothing after the run.
            let signs = given && (sentence_initial(text, t.start) || line_initial(text, t.start));
            let cued = (caps && field) || intro || signs;
            if !cued {
                i += 1;
                continue;
            }
            // The run: same case, single spaces (a comma once in "RIFI, KAOUTAR"), particles
            // inside, up to the end of the line or clause.
            let same = |k: usize| {
                let w = &text[toks[k].start..toks[k].end];
                if caps {
                    (!toks[k].title || toks[k].initial)
                        && w.chars().all(|c| !c.is_alphabetic() || c.is_uppercase())
                } else {
                    w.chars().next().is_some_and(char::is_lowercase)
                }
            };
            let mut j = i;
            while j + 1 < toks.len() && j + 1 - i < 6 {
                let gap = &text[toks[j].end..toks[j + 1].start];
                let initial = toks[j].end - toks[j].start == 1;
                if !(gap == " " || (caps && gap == ", " && j == i) || (initial && gap == ". "))
                    || !same(j + 1)
                {
                    break;
                }
                let w = text[toks[j + 1].start..toks[j + 1].end].to_lowercase();
                if self.is_common(&w) && !is_particle(&w) {
                    break;
                }
                j += 1;
            }
            // No trailing particle; the words must look like names.
            while j > i && is_particle(&text[toks[j].start..toks[j].end].to_lowercase()) {
                j -= 1;
            }
            let words: Vec<String> = (i..=j)
                .map(|k| text[toks[k].start..toks[k].end].to_lowercase())
                .filter(|w| !is_particle(w))
                .collect();
            let ok = words
                .iter()
                .all(|w| (name_shaped(w) || w.chars().count() == 1) && !self.is_common(w))
                && (caps || words.len() >= 2 || intro)
                && (!signs || intro || (words.len() >= 2 && signature_tail(text, toks[j].end)));
            if ok && !taken(toks[i].start, toks[j].end, out) {
                out.push(Finding::new(
                    EntityType::Person,
                    toks[i].start,
                    toks[j].end,
                    if caps { 0.85 } else { 0.8 },
                    "person",
                ));
            }
            i = j + 1;
        }
    }

    /// Decides whether one run of capitalised tokens (trimmed of common words at its edges)
    /// is a name, and with what score. `headline` marks runs cut out of a Title Case phrase
    /// ("5 Musicians Of The 70s You're Supposed To Hate"), where shape alone proves nothing.
    fn judge(&self, text: &str, run: &[Token<'_>], out: &mut Vec<Finding>) {
        // Particles inside names ("Ruiz de Azúa", "Maria Da Silva") are not a headline's
        // function words.
        let function_words = run
            .iter()
            .filter(|t| FUNCTION.contains(&t.lower) && !is_particle(t.lower))
            .count();
        self.judge_part(text, run, function_words > 0 && run.len() >= 3, true, out);
    }

    /// `bind`: particles may join the run's words into one name (see [`Names::binds`]).
    fn judge_part(
        &self,
        text: &str,
        run: &[Token<'_>],
        headline: bool,
        bind: bool,
        out: &mut Vec<Finding>,
    ) {
        // Titles and greetings at the front are cues, not part of the name.
        let mut lo = 0;
        let mut hi = run.len();
        while lo < hi && self.is_common(run[lo].lower) {
            lo += 1;
        }
        while hi > lo && (self.is_common(run[hi - 1].lower) || is_particle(run[hi - 1].lower)) {
            hi -= 1;
        }
        if lo >= hi {
            return;
        }
        let run = &run[lo..hi];
        // Split at inner common words ("Maria and Joao" is two names; "Bank of Maria" is not
        // a name): each part is judged on its own. Particles inside a surname do not split
        // it ("Núñez de Arce", "Maria Da Silva"), nor does `y` / `e` before the last surname
        // of a full name ("María José García y Pérez"); "Ana y Pedro" is two names.
        let binds = |k: usize| bind && self.binds(run, k);
        // An initial with its dot ("Harini Y. Subramanian") is part of the name, even when
        // the letter is also a word ("y", "e", "a").
        let dotted = |k: usize| run[k].initial && text[run[k].end..].starts_with('.');
        if let Some(k) =
            (0..run.len()).position(|k| self.is_common(run[k].lower) && !binds(k) && !dotted(k))
        {
            self.judge_part(text, &run[..k], headline, bind, out);
            self.judge_part(text, &run[k + 1..], headline, bind, out);
            return;
        }
        if run.iter().all(|t| t.initial) {
            return;
        }
        let (start, end) = (run[0].start, run[run.len() - 1].end);
        let before = window_before(text, start, 48);
        let cue = self.cue_before(&before) || self.signature(text, start);
        let sentence_start = sentence_initial(text, start);
        let joined = (0..run.len()).any(|k| self.is_common(run[k].lower) && !dotted(k));
        let words: Vec<&Token<'_>> = run
            .iter()
            .filter(|t| !t.initial && !self.is_common(t.lower))
            .collect();
        if words.is_empty() {
            return;
        }
        // A run joined by particles is one name only after a cue or from a given name on:
        // "Lucía Núñez de Arce", "Contato: Nogueira dos Santos"; "Villafranca del Cid" and
        // "Caxias do Sul" are places, judged word by word.
        // A name that ends the message or stands before its contact details, at the start
        // of a sentence or line: a sign-off ("… y punto. Nerea Altuna y Ruiz de Azúa.",
        // "Orla MacCarthy, +44 7495 368374").
        let signed = (2..=6).contains(&words.len())
            && !headline
            && words.iter().all(|t| name_shaped(t.lower))
            && (((sentence_initial(text, start) || line_initial(text, start))
                && signature_tail(text, end))
                || id_after(text, end));
        if joined && !cue && !signed && !self.given_ok(words[0].lower) {
            self.judge_part(text, run, headline, false, out);
            return;
        }
        let n = words.len();
        let has_initial = run.iter().any(|t| t.initial) && n >= 2 && !run[0].initial;
        let first_given = self.given_ok(words[0].lower);
        let any_known = words.iter().any(|t| self.known(t.lower));
        let all_known = words
            .iter()
            .all(|t| self.known(t.lower) || self.ambiguous.contains(t.lower));
        let shaped = words.iter().all(|t| name_shaped(t.lower));
        let rest = text[end..].trim_start_matches(' ');
        if !cue {
            // Streets and organisations: "159 Eleftheriou Venizelou", "Williamson Orchestra",
            // "Joaquin Suarez 2906", "the Davis", "São Paulo".
            let prev_word = before
                .trim_end_matches(' ')
                .rsplit([' ', '\n', ',', ':'])
                .next()
                .unwrap_or("");
            let after_number = before.ends_with(' ')
                && before
                    .trim_end_matches(' ')
                    .ends_with(|c: char| c.is_ascii_digit());
            let next_word: String = rest
                .chars()
                .take_while(|c| c.is_alphabetic())
                .collect::<String>()
                .to_lowercase();
            let next_org = !next_word.is_empty()
                && rest.starts_with(|c: char| c.is_uppercase())
                && self.is_common(&next_word);
            let then_number = rest.starts_with(|c: char| c.is_ascii_digit());
            if after_number
                || next_org
                || then_number
                || matches!(
                    prev_word,
                    "the"
                        | "são"
                        | "sao"
                        | "san"
                        | "santa"
                        | "santo"
                        | "saint"
                        | "st"
                        | "st."
                        | "loja"
                        | "tienda"
                        | "store"
                        | "shop"
                        | "cidade"
                        | "ciudad"
                        | "city"
                        | "town"
                        | "bairro"
                        | "barrio"
                        | "agência"
                        | "agencia"
                        | "sucursal"
                )
            {
                return;
            }
        }
        let at_line_start = line_initial(text, start);
        let speaker = at_line_start && rest.starts_with(':') && n <= 3;
        let possessive = rest.starts_with("'s ") || rest.starts_with("’s ");
        let then_lower = rest.starts_with(|c: char| c.is_lowercase()) || possessive;
        let then_verb = VERBS.iter().any(|v| {
            rest.strip_prefix(v)
                .is_some_and(|r| r.starts_with([' ', ',', '.', ':']) || r.is_empty())
        }) || possessive;
        // A line holding nothing but the name (signature and address blocks).
        let own_line = at_line_start
            && (rest.is_empty() || rest.starts_with(['\n', '\r']))
            && (2..=3).contains(&n);
        let surname_only = n == 1
            && self.surnames.contains(words[0].lower)
            && !self.ambiguous.contains(words[0].lower)
            && !self.is_common(words[0].lower);
        let known_run = (2..=5).contains(&n) && any_known && !headline;
        let after_colon = rest
            .strip_prefix(':')
            .map_or("", |r| r.trim_start_matches(' '));
        let speaking = speaker
            && (first_given
                || (shaped
                    && n == 1
                    && after_colon.starts_with(|c: char| c.is_uppercase() || c == '"')))
            && !rest[1..].trim_start_matches(' ').starts_with(['\n', '\r'])
            && rest.len() > 2;
        let lone_given =
            n == 1 && first_given && (!sentence_start || then_lower || rest.starts_with(','));
        let lone_weak = (n == 1 && first_given && followed_by_comma_or_end(text, end))
            || (n == 1 && shaped && sentence_start && then_verb && !headline)
            || (own_line && shaped && !headline)
            || (surname_only && !sentence_start && !headline)
            || ((2..=3).contains(&n) && shaped && !headline && (!sentence_start || then_lower));
        let score = if cue && n <= 5 {
            0.9
        } else if (2..=5).contains(&n) && first_given && (all_known || n == 2) {
            0.85
        } else if has_initial && shaped && n <= 3 {
            0.8
        } else if signed {
            0.65
        } else if known_run || speaking {
            0.7
        } else if lone_given {
            0.6
        } else if lone_weak {
            0.55
        } else {
            return;
        };
        out.push(Finding::new(
            EntityType::Person,
            start,
            end,
            score,
            "person",
        ));
    }

    /// Whether token `k`, a particle inside `run` (neither first nor last), joins the words
    /// around it into one name. `y` / `e` join only a full name (two words or more before)
    /// to one last word that is not a given name: "García y Pérez", not "Ana y Pedro".
    fn binds(&self, run: &[Token<'_>], k: usize) -> bool {
        if k == 0 || k + 1 >= run.len() || !is_particle(run[k].lower) {
            return false;
        }
        if CONJUNCTIONS.contains(&run[k].lower) {
            let before = run[..k]
                .iter()
                .rev()
                .take_while(|t| {
                    !CONJUNCTIONS.contains(&t.lower) && (t.title || is_particle(t.lower))
                })
                .filter(|t| t.title)
                .count();
            return !run[k].title
                && before >= 2
                && !self.given_ok(run[k - 1].lower)
                && !self.given_ok(run[k + 1].lower);
        }
        true
    }

    /// Names listed next to a found name ("founders: Kónya, Becker and Vasquez"): single
    /// capitalised name-shaped words joined to it by ", ", " and ", " y ", " e ".
    fn extend_lists(&self, text: &str, toks: &[Token<'_>], out: &mut Vec<Finding>) {
        let mut added = Vec::new();
        let mut drop_spans: Vec<(usize, usize)> = Vec::new();
        let org_after = |k: usize| {
            toks.get(k + 1).is_some_and(|t| {
                t.title && &text[toks[k].end..t.start] == " " && self.is_common(t.lower)
            })
        };
        for f in out.iter().filter(|f| f.kind == EntityType::Person) {
            // Tokens are in text order: find the finding's first and last by bisection.
            let Ok(i) = toks.binary_search_by_key(&f.start, |t| t.start) else {
                continue;
            };
            let Ok(j) = toks.binary_search_by_key(&f.end, |t| t.end) else {
                continue;
            };
            // Left.
            let mut k = i;
            while let Some(p) = self.list_step_left(text, toks, k) {
                let c = &toks[p];
                added.push(Finding::new(
                    EntityType::Person,
                    c.start,
                    c.end,
                    0.6,
                    "person",
                ));
                k = p;
            }
            let left = k;
            // Right.
            let mut k = j;
            while let Some(p) = self.list_step_right(text, toks, k) {
                let c = &toks[p];
                // A two-word name after "and": take both words.
                let (end, last) = match toks.get(p + 1) {
                    Some(n2)
                        if &text[c.end..n2.start] == " "
                            && n2.title
                            && name_shaped(n2.lower)
                            && !self.is_common(n2.lower) =>
                    {
                        (n2.end, p + 1)
                    }
                    _ => (c.end, p),
                };
                added.push(Finding::new(
                    EntityType::Person,
                    c.start,
                    end,
                    0.6,
                    "person",
                ));
                k = last;
            }
            // "The Davis, Reynolds and Williamson Orchestra": the list names an organisation.
            if org_after(k) {
                drop_spans.push((toks[left].start, toks[k].end));
            }
        }
        let dropped = |f: &Finding| {
            drop_spans
                .iter()
                .any(|&(lo, hi)| f.start < hi && f.end > lo)
        };
        added.retain(|f| !dropped(f));
        out.retain(|f| f.kind != EntityType::Person || !dropped(f));
        for f in added {
            if !out.iter().any(|o| o.start < f.end && f.start < o.end) {
                out.push(f);
            }
        }
    }

    /// A list element: a capitalised, name-shaped, uncommon word.
    fn list_name(&self, t: &Token<'_>) -> bool {
        t.title && name_shaped(t.lower) && !self.is_common(t.lower)
    }

    /// The next list element after token `k` (", X", " and X", ", and X", " y X", " e X").
    fn list_step_right(&self, text: &str, toks: &[Token<'_>], k: usize) -> Option<usize> {
        let n = toks.get(k + 1)?;
        let gap = &text[toks[k].end..n.start];
        let p = if CONJUNCTIONS.contains(&n.lower) && !n.title {
            let m = toks.get(k + 2)?;
            ((gap == " " || gap == ", ") && &text[n.end..m.start] == " ").then_some(k + 2)?
        } else {
            (gap == ", ").then_some(k + 1)?
        };
        self.list_name(&toks[p]).then_some(p)
    }

    /// The list element before token `k`.
    fn list_step_left(&self, text: &str, toks: &[Token<'_>], k: usize) -> Option<usize> {
        let p = k.checked_sub(1)?;
        let prev = &toks[p];
        let gap = &text[prev.end..toks[k].start];
        let q = if CONJUNCTIONS.contains(&prev.lower) && !prev.title {
            let q = p.checked_sub(1)?;
            let g2 = &text[toks[q].end..prev.start];
            (gap == " " && (g2 == " " || g2 == ", ")).then_some(q)?
        } else {
            (gap == ", ").then_some(p)?
        };
        self.list_name(&toks[q]).then_some(q)
    }

    fn cue_before(&self, before: &str) -> bool {
        let b = before.trim_end_matches([' ', ',']);
        let Some(cues) = b.as_bytes().last().and_then(|l| self.cues_by_last.get(l)) else {
            return false;
        };
        cues.iter()
            .any(|c| b.ends_with(c) && boundary_before(b, b.len() - c.len()))
    }

    /// The run starts a line and the line before it is a closing ("Saludos,").
    fn signature(&self, text: &str, start: usize) -> bool {
        // Only white space before it on its line (checked first: the search back for the
        // line start is then short).
        if !line_initial(text, start) {
            return false;
        }
        let line_start = text[..start].rfind('\n').map_or(0, |p| p + 1);
        if line_start == 0 {
            return false;
        }
        let prev = text[..line_start - 1].trim_end();
        let prev_line = prev[prev.rfind('\n').map_or(0, |p| p + 1)..]
            .trim()
            .trim_end_matches([',', '.', '!'])
            .to_lowercase();
        CLOSINGS.iter().any(|c| {
            prev_line == *c
                || prev_line
                    .strip_suffix(c)
                    .is_some_and(|rest| rest.ends_with(' '))
        })
    }
}

/// Nothing but spaces/quotes since the start of the text or a sentence end.
fn sentence_initial(text: &str, i: usize) -> bool {
    for c in text[..i].chars().rev() {
        match c {
            ' ' | '"' | '\'' | '(' | '“' | '¿' | '¡' | '*' | '-' | '\t' => continue,
            '.' | '!' | '?' | '\n' | ':' | '…' => return true,
            _ => return false,
        }
    }
    true
}

/// [`sentence_initial`] (which covers [`line_initial`] too), looking at bytes first: most
/// words follow a letter or a comma.
fn starts_clause(text: &str, i: usize) -> bool {
    for &b in text.as_bytes()[..i].iter().rev() {
        match b {
            b' ' | b'"' | b'\'' | b'(' | b'*' | b'-' | b'\t' | b'\r' => continue,
            b'.' | b'!' | b'?' | b'\n' | b':' => return true,
            b if b < 0x80 => return false,
            _ => return sentence_initial(text, i) || line_initial(text, i),
        }
    }
    true
}

/// Only white space since the start of the line.
fn line_initial(text: &str, i: usize) -> bool {
    text[..i]
        .chars()
        .rev()
        .take_while(|&c| c != '\n')
        .all(char::is_whitespace)
}

/// What follows a name that signs a message: nothing, a full stop and nothing, a line
/// break, or its contact details (`(`, a dash, or a comma before a phone or an e-mail).
fn signature_tail(text: &str, end: usize) -> bool {
    let rest = &text[end..];
    let after = |r: &str| {
        let r = r.trim_start_matches(' ');
        r.starts_with(|c: char| c.is_ascii_digit() || c == '+' || c == '(')
            || r.split_whitespace().next().is_some_and(|w| w.contains('@'))
    };
    let r = rest.trim_start_matches(' ');
    r.is_empty()
        || r.starts_with(['\n', '\r'])
        || r.strip_prefix('.').is_some_and(|x| {
            let x = x.trim_start_matches(' ');
            x.is_empty() || x.starts_with(['\n', '\r'])
        })
        || (rest.starts_with(' ')
            && (r.starts_with('(') || r.starts_with('–') || r.starts_with("- ")))
        || r.strip_prefix(',').is_some_and(after)
}

/// A name followed by the person's id or phone in parentheses: "Miren Aizpurua Sáenz de
/// Buruaga (DNI 99.147.242-S)", "Júlia Torrent Font (0034713645986)".
fn id_after(text: &str, end: usize) -> bool {
    let Some(r) = text[end..].strip_prefix(" (") else {
        return false;
    };
    let lower = r.get(..4).unwrap_or(r).to_lowercase();
    r.starts_with(|c: char| c.is_ascii_digit() || c == '+')
        || [
            "dni", "nie", "nif", "cpf", "rg ", "ssn", "tel", "tlf", "cc ",
        ]
        .iter()
        .any(|k| lower.starts_with(k))
}

fn followed_by_comma_or_end(text: &str, end: usize) -> bool {
    let rest = text[end..].trim_start_matches(' ');
    rest.is_empty() || rest.starts_with([',', '\n', '!', '.'])
}

/// Name-like shape for words outside the gazetteers: letters only, not too short.
fn name_shaped(w: &str) -> bool {
    w.chars().count() >= 3
        && w.chars()
            .all(|c| c.is_alphabetic() || c == '-' || c == '\'')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<String> {
        let n = Names::new();
        let mut out = Vec::new();
        n.scan(text, &mut out);
        out.sort_by_key(|f| f.start);
        out.iter()
            .map(|f| text[f.start..f.end].to_string())
            .collect()
    }

    /// A help article's places and products are not names (the demo's roaming article had
    /// "Estados Unidos", "Reino Unido" and "Bono Viaje" masked in drafts); names around them
    /// still are.
    #[test]
    fn countries_and_products_in_articles_are_not_names() {
        let t = "Fuera de la UE, los datos cuestan 5 euros por cada 100 MB. Compra un Bono Viaje en la app para tener paquetes diarios más baratos en Estados Unidos, Reino Unido y Brasil.";
        assert_eq!(names(t), Vec::<String>::new());
        assert_eq!(
            names("Viajo a Estados Unidos con Marta Sánchez Vidal la semana que viene."),
            vec!["Marta Sánchez Vidal"]
        );
    }

    #[test]
    fn cues_in_three_languages() {
        assert_eq!(
            names("Hi, my name is Xabier Etxeberria and I need help"),
            ["Xabier Etxeberria"]
        );
        assert_eq!(
            names("Hola, me llamo Itziar Goikoetxea."),
            ["Itziar Goikoetxea"]
        );
        assert_eq!(names("Soy Ana Beltrán, DNI 12345678Z"), ["Ana Beltrán"]);
        assert_eq!(names("Sou o Raoni Potiguara."), ["Raoni Potiguara"]);
        assert_eq!(
            names("Olá, meu nome é Iracema Potiguara"),
            ["Iracema Potiguara"]
        );
        assert_eq!(names("Please ask Dr. Oyelaran to call back"), ["Oyelaran"]);
        assert_eq!(names("Saludos,\nNerea Arrieta"), ["Nerea Arrieta"]);
    }

    #[test]
    fn answers_lists_and_signature_blocks() {
        assert_eq!(names("What's your last name? Matthíasson"), ["Matthíasson"]);
        assert_eq!(
            names("My name is Ján Novák but everyone calls me Ján"),
            ["Ján Novák", "Ján"]
        );
        assert_eq!(
            names("Our founders: Kónya, Becker and Vasquez."),
            ["Kónya", "Becker", "Vasquez"]
        );
        assert_eq!(
            names("Thanks,\nPrzemek Kucharski\nACME Ltd"),
            ["Przemek Kucharski"]
        );
        assert!(
            names("The Davis, Reynolds and Williamson Orchestra was founded in 1977").is_empty()
        );
        assert!(names("I moved to 18 McPherson Road last year").is_empty());
    }

    #[test]
    fn not_names() {
        assert!(names("The Order Status page shows Monday").is_empty());
        assert!(names("Hello, I need help with my Account").is_empty());
        assert!(names("Banco Santander charged me twice").is_empty());
    }
}
