//! The syntax of PMB display values: keyword and author lists, languages, years, bulletin
//! titles, `in` references and the ISBD paragraph (`pmb-crosswalk.md` §5, §6, §9).
//!
//! Every function here borrows from the value it reads and never fails: what cannot be read is
//! reported in its result (e.g. [`Languages::malformed`]) for the mapper to keep aside.

use std::collections::HashMap;
use std::sync::OnceLock;

/// The trimmed text, or `None` when nothing is left.
fn nonempty(s: &str) -> Option<&str> {
    Some(s.trim()).filter(|s| !s.is_empty())
}

/// Lowercases, folds accents to ASCII, turns hyphens, apostrophes and runs of spaces into one
/// space: the comparison key of labels and role names.
pub(crate) fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = true;
    for c in s.chars().flat_map(char::to_lowercase) {
        let mapped: &str = match c {
            '-' | '_' | '\'' | '’' | '‘' | '`' | '´' => " ",
            c if c.is_whitespace() => " ",
            c => {
                if let Some(folded) = fold_char(c) {
                    folded
                } else {
                    out.push(c);
                    space = false;
                    continue;
                }
            }
        };
        for f in mapped.chars() {
            if f == ' ' {
                if !space {
                    out.push(' ');
                }
                space = true;
            } else {
                out.push(f);
                space = false;
            }
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

/// ASCII folding of a lowercase letter with a diacritic (Latin-1 and Latin Extended-A).
pub(crate) fn fold_char(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'ď' | 'đ' | 'ð' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'ĥ' | 'ħ' => "h",
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
        'ĵ' => "j",
        'ķ' => "k",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'ñ' | 'ń' | 'ņ' | 'ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
        'œ' => "oe",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'ś' | 'ŝ' | 'ş' | 'š' | 'ș' => "s",
        'ß' => "ss",
        'ţ' | 'ť' | 'ŧ' | 'ț' => "t",
        'þ' => "th",
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'ŵ' => "w",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        _ => return None,
    })
}

/// Splits a keyword list: on `|` when there is one (keeping inner ` - `), else on `;`, and
/// always on line breaks; trims, drops empties, de-duplicates case-sensitively, keeps order.
pub(crate) fn split_keywords(value: &str) -> Vec<&str> {
    let sep = if value.contains('|') { '|' } else { ';' };
    let mut out: Vec<&str> = Vec::new();
    for part in value.split([sep, '\n']) {
        let part = part.trim();
        if !part.is_empty() && !out.contains(&part) {
            out.push(part);
        }
    }
    out
}

/// A UNIMARC function (relator) from PMB's `function.xml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Role<'a> {
    /// The label as displayed (`Directeur de la recherche`).
    pub label: &'a str,
    /// The UNIMARC relator code (`595`).
    pub code: &'static str,
}

/// One responsibility of an `Auteurs` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Author<'a> {
    /// The name as displayed (`Prénom Nom`, or a corporate name with its commas).
    pub name: &'a str,
    /// The role, when the text after a `, ` is a known PMB function label.
    pub role: Option<Role<'a>>,
}

/// PMB's function labels (includes/marc_tables/fr_FR/function.xml, UNIMARC/B Annex C) plus the
/// short forms the crosswalk uses; matched after [`fold`].
const FUNCTIONS: &[(&str, &str)] = &[
    ("000", "Fonction indéterminée"),
    ("005", "Acteur"),
    ("010", "Adaptateur"),
    ("018", "Auteur de l'animation"),
    ("020", "Annotateur"),
    ("030", "Arrangeur"),
    ("040", "Artiste"),
    ("050", "Titulaire des droits"),
    ("060", "Nom associé"),
    ("065", "Commissaire-priseur"),
    ("070", "Auteur"),
    ("072", "Auteur d'une citation ou d'extraits"),
    ("075", "Postfacier, auteur du colophon, etc."),
    ("075", "Postfacier"),
    ("080", "Préfacier, etc."),
    ("080", "Préfacier"),
    ("090", "Dialoguiste"),
    ("100", "Antécédent bibliographique"),
    ("110", "Relieur"),
    ("120", "Maquettiste de la reliure"),
    ("130", "Maquettiste"),
    ("140", "Concepteur de la jaquette"),
    ("150", "Concepteur de l'ex-libris"),
    ("160", "Libraire"),
    ("170", "Calligraphe"),
    ("180", "Cartographe"),
    ("190", "Censeur"),
    ("195", "Chef de choeur"),
    ("200", "Chorégraphe"),
    ("202", "Artiste de cirque"),
    ("205", "Collaborateur"),
    ("207", "Humoriste"),
    ("210", "Commentateur"),
    ("212", "Auteur du commentaire"),
    ("220", "Compilateur"),
    ("230", "Compositeur"),
    ("240", "Compositeur d'imprimerie"),
    ("245", "Concepteur"),
    ("250", "Chef d'orchestre"),
    ("255", "Consultant de projet"),
    ("257", "Continuateur"),
    ("260", "Détenteur du copyright"),
    ("270", "Correcteur"),
    ("273", "Commissaire d'exposition"),
    ("274", "Danseur"),
    ("280", "Dédicataire"),
    ("290", "Dédicateur"),
    ("295", "Organisme de soutenance"),
    ("300", "Metteur en scène, réalisateur"),
    ("300", "Metteur en scène"),
    ("300", "Réalisateur"),
    ("305", "Candidat"),
    ("310", "Distributeur"),
    ("320", "Donateur"),
    ("330", "Auteur présumé"),
    ("340", "Editeur scientifique"),
    ("350", "Graveur"),
    ("360", "Aquafortiste"),
    ("365", "Expert"),
    ("370", "Monteur"),
    ("380", "Faussaire"),
    ("390", "Ancien possesseur"),
    ("395", "Fondateur"),
    ("400", "Mécène (obsolète)"),
    ("400", "Mécène"),
    ("410", "Technicien graphique"),
    ("420", "Personne honorée"),
    ("430", "Enlumineur"),
    ("440", "Illustrateur"),
    ("450", "Auteur de l'envoi"),
    ("460", "Personne interviewée"),
    ("470", "Intervieweur"),
    ("475", "Collectivité éditrice"),
    ("480", "Librettiste"),
    ("490", "Détenteur de licence"),
    ("500", "Concédant de licence"),
    ("510", "Lithographe"),
    ("520", "Parolier"),
    ("530", "Graveur sur métal"),
    ("535", "Mime"),
    ("540", "Moniteur"),
    ("545", "Musicien"),
    ("550", "Narrateur"),
    ("555", "Opposant"),
    ("557", "Organisateur de réunion, de conférence"),
    ("560", "Instigateur"),
    ("570", "Autre"),
    ("580", "Fabricant du papier"),
    ("582", "Demandeur de brevet"),
    ("584", "Inventeur de brevet"),
    ("587", "Titulaire de brevet"),
    ("590", "Interprète"),
    ("595", "Directeur de la recherche"),
    ("600", "Photographe"),
    ("605", "Présentateur"),
    ("610", "Imprimeur"),
    ("620", "Imprimeur de gravures"),
    ("630", "Producteur"),
    ("632", "Directeur artistique"),
    ("633", "Membre de l'équipe de production"),
    ("635", "Programmeur"),
    ("637", "Gestionnaire de projet"),
    ("640", "Correcteur sur épreuves"),
    ("650", "Editeur commercial"),
    ("651", "Directeur de publication, rédacteur en chef"),
    ("651", "Directeur de publication"),
    ("655", "Marionnettiste"),
    ("660", "Destinataire de lettres"),
    ("670", "Ingénieur du son"),
    ("673", "Responsable de l'équipe de recherche"),
    ("675", "Responsable du compte-rendu critique"),
    ("677", "Membre de l'équipe de recherche"),
    ("680", "Rubricateur"),
    ("690", "Scénariste"),
    ("695", "Conseiller scientifique"),
    ("700", "Copiste, scribe"),
    ("705", "Sculpteur"),
    ("710", "Secrétaire"),
    ("720", "Signataire"),
    ("721", "Chanteur (Musique classique)"),
    ("723", "Parraineur"),
    ("725", "Organisme de normalisation"),
    ("726", "Cascadeur"),
    ("727", "Directeur de thèse"),
    ("730", "Traducteur"),
    ("740", "Concepteur de caractères"),
    ("750", "Typographe"),
    ("753", "Vendeur"),
    ("755", "Chanteur, exécutant vocal"),
    ("760", "Graveur sur bois"),
    ("770", "Auteur du matériel d'accompagnement"),
];

/// The UNIMARC code of a PMB function label, if it is one.
pub(crate) fn function_code(label: &str) -> Option<&'static str> {
    static TABLE: OnceLock<HashMap<String, &'static str>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        FUNCTIONS
            .iter()
            .map(|&(code, label)| (fold(label), code))
            .collect()
    });
    table.get(&fold(label)).copied()
}

/// The label of a UNIMARC function code (its first, fullest label in `function.xml`).
pub(crate) fn function_label(code: &str) -> Option<&'static str> {
    FUNCTIONS
        .iter()
        .find(|&&(c, _)| c == code)
        .map(|&(_, label)| label)
}

/// Splits `Name, Role ; Name, Role`; the role is the longest `, `-suffix that is a known PMB
/// function label, so corporate names keep their commas and `Préfacier, etc.` stays one role.
pub(crate) fn split_authors(value: &str) -> Vec<Author<'_>> {
    value
        .split([';', '\n'])
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            let role = part.match_indices(", ").find_map(|(at, _)| {
                let label = part[at + 2..].trim();
                function_code(label).map(|code| (at, Role { label, code }))
            });
            match role {
                Some((at, role)) => Author {
                    name: part[..at].trim(),
                    role: Some(role),
                },
                None => Author {
                    name: part,
                    role: None,
                },
            }
        })
        .filter(|a| !a.name.is_empty())
        .collect()
}

/// Languages read from a `Langues` value: codes in order, plus the parts that had none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Languages<'a> {
    /// ISO 639-2 codes as given by PMB, lowercased (`fre`).
    pub codes: Vec<String>,
    /// Parts without a usable code (kept by the mapper as a local field).
    pub malformed: Vec<&'a str>,
}

/// Reads `Français (fre)`, `Français ( fre)`, several separated by ` ; ` or `, `; a bare
/// three-letter code is accepted too.
pub(crate) fn parse_languages(value: &str) -> Languages<'_> {
    let mut langs = Languages::default();
    for part in value.split([';', ',', '|', '\n']) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let code = match (part.rfind('('), part.ends_with(')')) {
            (Some(open), true) => part[open + 1..part.len() - 1].trim(),
            _ => part,
        };
        if code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()) {
            let code = code.to_ascii_lowercase();
            if !langs.codes.contains(&code) {
                langs.codes.push(code);
            }
        } else {
            langs.malformed.push(part);
        }
    }
    langs
}

/// The first run of exactly four ASCII digits (`DL 2010`, `[2017]`, `cop. 2005`, `2016-2017`).
pub(crate) fn first_year(value: &str) -> Option<&str> {
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if i - start == 4 {
                return Some(&value[start..i]);
            }
        } else {
            i += 1;
        }
    }
    None
}

/// The parts of a bulletin's display title `<periodical> <numbering> - <mention_date> - <title>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct BulletinTitle<'a> {
    /// The text before the first ` - `: periodical and numbering.
    pub left: &'a str,
    /// The periodical title, when a numbering token (`<`, `n°`, `Vol.`, `Tome`, `Numéro`) marks
    /// where it ends.
    pub periodical: Option<&'a str>,
    /// The numbering (`< 79/93 >`), free text, when the periodical was found.
    pub numbering: Option<&'a str>,
    /// The mention date (`juin 2017`).
    pub date: Option<&'a str>,
    /// The bulletin's own title.
    pub title: Option<&'a str>,
}

/// Splits a bulletin title on ` - ` from the left at most twice (§5). The middle part is taken
/// as the mention date only if it looks like one; otherwise it belongs to the title, which may
/// itself contain ` - `. With one ` - `, the right part is a date if it looks like one, else the
/// title.
pub(crate) fn split_bulletin_title(display: &str) -> BulletinTitle<'_> {
    let display = display.trim();
    let (left, date, title) = match display.split_once(" - ") {
        None => (display, None, None),
        Some((left, rest)) => match rest.split_once(" - ") {
            Some((middle, right)) if is_date_like(middle) => {
                (left, nonempty(middle), nonempty(right))
            }
            _ if is_date_like(rest) => (left, nonempty(rest), None),
            _ => (left, None, nonempty(rest)),
        },
    };
    let left = left.trim();
    let (periodical, numbering) = match numbering_start(left) {
        Some(at) => (nonempty(&left[..at]), nonempty(&left[at..])),
        None => (None, None),
    };
    let numbering = periodical.and(numbering);
    BulletinTitle {
        left,
        periodical,
        numbering,
        date,
        title,
    }
}

/// Where the numbering starts in `<periodical> <numbering>`: the first `<`, `n°`, `N°`, `Vol.`,
/// `vol.`, `Tome`, `tome`, `Numéro` or `numéro` that follows a space.
fn numbering_start(left: &str) -> Option<usize> {
    const TOKENS: &[&str] = &[
        "<", "n°", "N°", "n °", "Vol.", "vol.", "Tome ", "tome ", "Numéro ", "numéro ",
    ];
    TOKENS
        .iter()
        .filter_map(|token| {
            left.match_indices(token)
                .map(|(at, _)| at)
                .find(|&at| at > 0 && left[..at].ends_with(char::is_whitespace))
        })
        .min()
}

/// True when every word is a date word (month, season, number, ordinal, `trimestre`, …) and one
/// of them is a year, a month or a season: `juin 2017`, `1er trimestre 2010`, `été 2016`.
pub(crate) fn is_date_like(s: &str) -> bool {
    const MONTHS: &[&str] = &[
        "janvier",
        "janv",
        "fevrier",
        "fevr",
        "fev",
        "mars",
        "avril",
        "avr",
        "mai",
        "juin",
        "juillet",
        "juil",
        "aout",
        "septembre",
        "sept",
        "octobre",
        "oct",
        "novembre",
        "nov",
        "decembre",
        "dec",
        "printemps",
        "ete",
        "automne",
        "hiver",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "spring",
        "summer",
        "autumn",
        "fall",
        "winter",
    ];
    const OTHERS: &[&str] = &[
        "trimestre",
        "semestre",
        "er",
        "e",
        "eme",
        "du",
        "au",
        "et",
        "a",
        "de",
        "le",
        "la",
        "l",
        "s",
        "d",
        "annee",
        "saison",
        "quarter",
    ];
    if s.len() > 60 {
        return false;
    }
    let folded = fold(s);
    let mut anchored = false;
    for word in folded
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let digits = word.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        if word.bytes().all(|b| b.is_ascii_digit()) {
            anchored |= word.len() == 4;
        } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            // ordinals such as 1er, 2e, 3eme
        } else if MONTHS.contains(&word) {
            anchored = true;
        } else if !OTHERS.contains(&word) {
            return false;
        }
    }
    anchored
}

/// An article's `in` value: `<periodical> > <numbering> (<date>)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct InRef<'a> {
    /// The periodical title.
    pub periodical: Option<&'a str>,
    /// The issue numbering.
    pub numbering: Option<&'a str>,
    /// The date in parentheses.
    pub date: Option<&'a str>,
}

/// Reads `Revue Projet > n° 312 (septembre 2009)`; without ` > ` the whole value (minus a
/// trailing `(date)`) is the periodical.
pub(crate) fn parse_in(value: &str) -> InRef<'_> {
    let value = value.trim();
    let (head, date) = match (value.ends_with(')'), value.rfind('(')) {
        (true, Some(open)) if open > 0 => {
            (&value[..open], nonempty(&value[open + 1..value.len() - 1]))
        }
        _ => (value, None),
    };
    match head.split_once(" > ") {
        Some((periodical, numbering)) => InRef {
            periodical: nonempty(periodical),
            numbering: nonempty(numbering),
            date,
        },
        None => InRef {
            periodical: nonempty(head),
            numbering: None,
            date,
        },
    }
}

/// The parts of an ISBD paragraph `Title [type] / responsibility . - year. notes Langues : …`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Isbd<'a> {
    /// The title proper (with the bulletin's numbering and date, as in `Titre`).
    pub title: Option<&'a str>,
    /// The general material designation in brackets.
    pub doc_type: Option<&'a str>,
    /// The statement of responsibility (an `Auteurs` list).
    pub responsibility: Option<&'a str>,
    /// The text after ` . - ` up to the next `. ` (holds the year).
    pub year: Option<&'a str>,
    /// The text after the last `Langues : `.
    pub languages: Option<&'a str>,
}

impl<'a> Isbd<'a> {
    /// Reads the ISBD separators; used only as a fallback for missing fields (§5).
    pub fn parse(text: &'a str) -> Isbd<'a> {
        let first_line = text.lines().next().unwrap_or_default();
        let mut isbd = Isbd::default();
        let ends = [" [", " / ", " . - ", ". - "];
        let title_end = ends
            .iter()
            .filter_map(|sep| first_line.find(sep))
            .min()
            .unwrap_or(first_line.len());
        isbd.title = nonempty(&first_line[..title_end]);
        let mut rest = &first_line[title_end..];
        if let Some(after) = rest.strip_prefix(" [") {
            if let Some((doc_type, after)) = after.split_once(']') {
                isbd.doc_type = nonempty(doc_type);
                rest = after;
            }
        }
        let rest = rest.trim_start();
        let (resp, after) = match rest.find(" . - ").or_else(|| rest.find(". - ")) {
            Some(at) => (
                &rest[..at],
                rest[at..].trim_start_matches([' ', '.']).trim_start(),
            ),
            None => (rest, ""),
        };
        if let Some(resp) = resp.strip_prefix('/') {
            isbd.responsibility = nonempty(resp);
        }
        if let Some(after) = after.strip_prefix('-') {
            let after = after.trim_start();
            isbd.year = nonempty(after.split(". ").next().unwrap_or(after));
        }
        if let Some(at) = text.rfind("Langues : ") {
            let langs = &text[at + "Langues : ".len()..];
            isbd.languages = nonempty(langs.lines().next().unwrap_or_default());
        }
        isbd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_split_on_bars_keep_inner_dashes_trim_and_drop_duplicates() {
        assert_eq!(
            split_keywords(" Assistance | Associations - ONG |  | Social | Social | social "),
            ["Assistance", "Associations - ONG", "Social", "social"]
        );
    }

    #[test]
    fn keywords_split_on_semicolons_only_when_there_is_no_bar() {
        assert_eq!(split_keywords("a ; b;c"), ["a", "b", "c"]);
        assert_eq!(split_keywords("a ; b | c"), ["a ; b", "c"]);
        assert_eq!(split_keywords("a |\nb | c"), ["a", "b", "c"]);
        assert_eq!(split_keywords("un seul mot-clé"), ["un seul mot-clé"]);
    }

    #[test]
    fn the_seed_authors_split_into_names_and_roles() {
        let got = split_authors(
            "Laetitia Della Torre, Auteur ; Jérôme Valluy, Directeur de la recherche",
        );
        assert_eq!(
            got,
            [
                Author {
                    name: "Laetitia Della Torre",
                    role: Some(Role {
                        label: "Auteur",
                        code: "070"
                    })
                },
                Author {
                    name: "Jérôme Valluy",
                    role: Some(Role {
                        label: "Directeur de la recherche",
                        code: "595"
                    })
                },
            ]
        );
    }

    #[test]
    fn corporate_names_keep_their_commas_and_roles_may_contain_commas() {
        let got = split_authors(
            "Université Paris 1, Département de science politique ; \
             Université Paris 1, Département de science politique, Collectivité éditrice ; \
             Paul Martin, Préfacier, etc. ; Dupont, Jean, auteur ; Éva Noël, Éditeur scientifique",
        );
        let got: Vec<_> = got
            .iter()
            .map(|a| (a.name, a.role.map(|r| r.code)))
            .collect();
        assert_eq!(
            got,
            [
                ("Université Paris 1, Département de science politique", None),
                (
                    "Université Paris 1, Département de science politique",
                    Some("475")
                ),
                ("Paul Martin", Some("080")),
                ("Dupont, Jean", Some("070")),
                ("Éva Noël", Some("340")),
            ]
        );
    }

    #[test]
    fn an_unknown_role_is_part_of_the_name() {
        let got = split_authors("Marie Curie, Prix Nobel ;  ; \n Pierre Curie");
        let got: Vec<_> = got.iter().map(|a| (a.name, a.role)).collect();
        assert_eq!(
            got,
            [("Marie Curie, Prix Nobel", None), ("Pierre Curie", None)]
        );
    }

    #[test]
    fn function_labels_match_case_and_accent_insensitively() {
        assert_eq!(function_code("directeur de these"), Some("727"));
        assert_eq!(function_code("Directeur de thèse"), Some("727"));
        assert_eq!(function_code("Directeur de la recherche"), Some("595"));
        assert_eq!(function_code("Directeur de publication"), Some("651"));
        assert_eq!(
            function_code("Membre de l’équipe de recherche"),
            Some("677")
        );
        assert_eq!(function_code("Dieu"), None);
    }

    #[test]
    fn function_codes_give_their_fullest_label() {
        assert_eq!(function_label("595"), Some("Directeur de la recherche"));
        assert_eq!(function_label("080"), Some("Préfacier, etc."));
        assert_eq!(function_label("999"), None);
    }

    #[test]
    fn languages_take_the_code_in_parentheses_in_every_variant() {
        let got = parse_languages("Français (fre) ; Anglais ( ENG), Allemand (ger)");
        assert_eq!(got.codes, ["fre", "eng", "ger"]);
        assert!(got.malformed.is_empty());
        assert_eq!(parse_languages("Français ( fre)").codes, ["fre"]);
        assert_eq!(parse_languages("fre").codes, ["fre"]);
    }

    #[test]
    fn malformed_languages_are_reported_not_guessed() {
        let got = parse_languages("Français ; Breton (br1) ; Occitan (oci)");
        assert_eq!(got.codes, ["oci"]);
        assert_eq!(got.malformed, ["Français", "Breton (br1)"]);
    }

    #[test]
    fn the_year_is_the_first_run_of_exactly_four_digits() {
        for (raw, year) in [
            ("2017", Some("2017")),
            ("DL 2010", Some("2010")),
            ("[2017]", Some("2017")),
            ("cop. 2005", Some("2005")),
            ("2016-2017", Some("2016")),
            ("12345 puis 1999", Some("1999")),
            ("s.d.", None),
            ("", None),
        ] {
            assert_eq!(first_year(raw), year, "{raw}");
        }
    }

    #[test]
    fn the_seed_title_splits_into_periodical_numbering_date_and_title() {
        let t = split_bulletin_title(
            "Masters Recueil Alexandries < 79/93 > - juin 2017 - NTIC et travail social dans le \
             secteur associatif : crise de sens ou outils de professionnalisation ?",
        );
        assert_eq!(t.periodical, Some("Masters Recueil Alexandries"));
        assert_eq!(t.numbering, Some("< 79/93 >"));
        assert_eq!(t.date, Some("juin 2017"));
        assert_eq!(
            t.title,
            Some(
                "NTIC et travail social dans le secteur associatif : crise de sens ou outils de \
                 professionnalisation ?"
            )
        );
    }

    #[test]
    fn bulletin_titles_split_in_every_documented_shape() {
        type Parts<'a> = (
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
        );
        let cases: [(&str, Parts<'_>); 7] = [
            (
                "Revue n° 12 - mars 2019 - Travail - emploi",
                (
                    Some("Revue"),
                    Some("n° 12"),
                    Some("mars 2019"),
                    Some("Travail - emploi"),
                ),
            ),
            (
                "Revue n° 12 - Travail - emploi",
                (Some("Revue"), Some("n° 12"), None, Some("Travail - emploi")),
            ),
            (
                "Revue Vol. 3, n° 2 - 1er trimestre 2010",
                (
                    Some("Revue"),
                    Some("Vol. 3, n° 2"),
                    Some("1er trimestre 2010"),
                    None,
                ),
            ),
            (
                "Esprit Tome 4 - été 2016 - L'été en pente douce",
                (
                    Some("Esprit"),
                    Some("Tome 4"),
                    Some("été 2016"),
                    Some("L'été en pente douce"),
                ),
            ),
            (
                "Esprit 412 - février 2015",
                (None, None, Some("février 2015"), None),
            ),
            ("Revue < 1 >", (Some("Revue"), Some("< 1 >"), None, None)),
            ("< 1 > - Titre", (None, None, None, Some("Titre"))),
        ];
        for (display, (periodical, numbering, date, title)) in cases {
            let t = split_bulletin_title(display);
            assert_eq!(
                (t.periodical, t.numbering, t.date, t.title),
                (periodical, numbering, date, title),
                "{display}"
            );
        }
    }

    #[test]
    fn dates_are_recognised_only_when_every_word_is_a_date_word() {
        for s in [
            "juin 2017",
            "automne 2017",
            "1er trimestre 2010",
            "2016/2017",
            "déc. 2019",
            "été",
        ] {
            assert!(is_date_like(s), "{s}");
        }
        for s in [
            "Travail",
            "L'été en pente douce",
            "Les années 2000",
            "NTIC et travail social",
            "n° 12",
        ] {
            assert!(!is_date_like(s), "{s}");
        }
    }

    #[test]
    fn an_in_reference_splits_into_periodical_numbering_and_date() {
        let r = parse_in("Revue française de service social > n° 267 (décembre 2017)");
        assert_eq!(r.periodical, Some("Revue française de service social"));
        assert_eq!(r.numbering, Some("n° 267"));
        assert_eq!(r.date, Some("décembre 2017"));
        let r = parse_in("Revue Projet (2009)");
        assert_eq!(
            (r.periodical, r.numbering, r.date),
            (Some("Revue Projet"), None, Some("2009"))
        );
    }

    #[test]
    fn the_seed_isbd_paragraph_gives_title_type_authors_year_and_languages() {
        let text = "Revue < 1 > - juin 2017 - Un titre : sous-titre ? [document électronique] / \
                    Laetitia Della Torre, Auteur ; Jérôme Valluy, Directeur de la recherche . - 2017. \
                    Dossier de recherche, 2016/2017.\nSuite de la note. Langues : Français ( fre)";
        let isbd = Isbd::parse(text);
        assert_eq!(
            isbd.title,
            Some("Revue < 1 > - juin 2017 - Un titre : sous-titre ?")
        );
        assert_eq!(isbd.doc_type, Some("document électronique"));
        assert_eq!(
            isbd.responsibility,
            Some("Laetitia Della Torre, Auteur ; Jérôme Valluy, Directeur de la recherche")
        );
        assert_eq!(isbd.year, Some("2017"));
        assert_eq!(isbd.languages, Some("Français ( fre)"));
    }

    #[test]
    fn fold_lowercases_strips_accents_and_normalises_separators() {
        assert_eq!(fold("  Mots-Clés  "), "mots cles");
        assert_eq!(fold("Membre de l’Équipe"), "membre de l equipe");
        assert_eq!(fold("Œuvre ÆSTHÉTIQUE"), "oeuvre aesthetique");
    }
}
