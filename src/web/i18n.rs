//! The words of the pages in English and French, and the choice between them: `[web] language`
//! when set, else the visitor's `Accept-Language` (RFC 9110 §12.5.4), else English.

use crate::config::Language;
use crate::dc::DcElement;

/// Every label the pages use, in one language.
#[derive(Debug)]
pub struct Text {
    pub code: &'static str,
    pub home: &'static str,
    pub sets: &'static str,
    pub sources: &'static str,
    pub oai_pmh: &'static str,
    pub skip_to_content: &'static str,
    pub records: &'static str,
    pub deleted: &'static str,
    pub earliest: &'static str,
    pub latest: &'static str,
    pub admin_email: &'static str,
    pub how_to_harvest: &'static str,
    pub how_to_harvest_intro: &'static str,
    pub base_url: &'static str,
    pub identify: &'static str,
    pub formats: &'static str,
    pub example_list: &'static str,
    pub latest_records: &'static str,
    pub all_sets: &'static str,
    pub no_records: &'static str,
    pub no_sets: &'static str,
    pub set: &'static str,
    pub subsets: &'static str,
    pub part_of: &'static str,
    pub records_newest_first: &'static str,
    pub older_records: &'static str,
    pub newest_records: &'static str,
    pub more_sets: &'static str,
    pub deleted_record: &'static str,
    pub untitled: &'static str,
    pub identifier: &'static str,
    pub about_record: &'static str,
    pub last_changed: &'static str,
    pub in_sets: &'static str,
    pub provenance: &'static str,
    pub local_record: &'static str,
    pub harvested_from: &'static str,
    pub original_identifier: &'static str,
    pub harvested_on: &'static str,
    pub tombstone: &'static str,
    pub harvest_console: &'static str,
    pub no_sources: &'static str,
    pub format: &'static str,
    pub whole_repository: &'static str,
    pub status: &'static str,
    pub running: &'static str,
    pub interrupted: &'static str,
    pub idle: &'static str,
    pub last_run: &'static str,
    pub never_harvested: &'static str,
    pub started: &'static str,
    pub finished: &'static str,
    pub outcome: &'static str,
    pub new: &'static str,
    pub updated: &'static str,
    pub rejected: &'static str,
    pub unchanged: &'static str,
    pub pages: &'static str,
    pub requests: &'static str,
    pub retries: &'static str,
    pub last_error: &'static str,
    pub request_url: &'static str,
    pub history: &'static str,
    pub next_run: &'static str,
    pub next_run_unknown: &'static str,
    pub every: &'static str,
    pub due_now: &'static str,
    pub outcome_ok: &'static str,
    pub outcome_rejected: &'static str,
    pub outcome_failed: &'static str,
    pub outcome_already_running: &'static str,
    pub not_found: &'static str,
    pub no_such_record: &'static str,
    pub no_such_set: &'static str,
    pub no_such_page: &'static str,
    pub bad_request: &'static str,
    pub bad_position: &'static str,
    pub internal_error: &'static str,
    pub internal_error_detail: &'static str,
    pub back_home: &'static str,
    pub seconds: &'static str,
}

/// English.
pub const EN: Text = Text {
    code: "en",
    home: "Home",
    sets: "Sets",
    sources: "Harvesting",
    oai_pmh: "OAI-PMH",
    skip_to_content: "Skip to content",
    records: "Records",
    deleted: "Deleted",
    earliest: "Oldest change",
    latest: "Latest change",
    admin_email: "Contact:",
    how_to_harvest: "How to harvest this repository",
    how_to_harvest_intro: "Give this base URL to your OAI-PMH harvester:",
    base_url: "Base URL",
    identify: "Identify",
    formats: "Formats",
    example_list: "Example: every record in Dublin Core",
    latest_records: "Latest records",
    all_sets: "All sets",
    no_records: "No records yet.",
    no_sets: "This repository has no sets.",
    set: "Set",
    subsets: "Subsets",
    part_of: "Part of:",
    records_newest_first: "Records, newest first",
    older_records: "Older records",
    newest_records: "Newest records",
    more_sets: "More sets",
    deleted_record: "Deleted record",
    untitled: "(untitled)",
    identifier: "Identifier",
    about_record: "About this record",
    last_changed: "Last changed",
    in_sets: "Sets",
    provenance: "Provenance",
    local_record: "Catalogued in this repository.",
    harvested_from: "Harvested from",
    original_identifier: "Original identifier",
    harvested_on: "Harvested on",
    tombstone: "This record was deleted. Harvesters are told so with its identifier and the date of the deletion.",
    harvest_console: "Harvest sources",
    no_sources: "No harvest source is configured.",
    format: "Format",
    whole_repository: "the whole repository",
    status: "Status",
    running: "Harvest in progress",
    interrupted: "Interrupted: the next run resumes the list where it stopped",
    idle: "Idle",
    last_run: "Last run",
    never_harvested: "Never harvested.",
    started: "Started",
    finished: "Finished",
    outcome: "Outcome",
    new: "New",
    updated: "Updated",
    rejected: "Rejected",
    unchanged: "Unchanged",
    pages: "Pages",
    requests: "Requests",
    retries: "Retries",
    last_error: "Last error",
    request_url: "Request URL",
    history: "History",
    next_run: "Next scheduled run",
    next_run_unknown: "not known",
    every: "every",
    due_now: "due now",
    outcome_ok: "ok",
    outcome_rejected: "finished, some records refused",
    outcome_failed: "failed",
    outcome_already_running: "skipped: already running",
    not_found: "Page not found",
    no_such_record: "No record has this identifier:",
    no_such_set: "No set has this setSpec:",
    no_such_page: "There is no page at this address.",
    bad_request: "Bad request",
    bad_position: "This link to a page of a list is not valid. Start again from the first page.",
    internal_error: "Something went wrong",
    internal_error_detail: "The repository could not read its store. The administrator has been told in the log; try again later.",
    back_home: "Back to the repository",
    seconds: "s",
};

/// French.
pub const FR: Text = Text {
    code: "fr",
    home: "Accueil",
    sets: "Ensembles",
    sources: "Moissonnage",
    oai_pmh: "OAI-PMH",
    skip_to_content: "Aller au contenu",
    records: "Notices",
    deleted: "Supprimées",
    earliest: "Plus ancienne modification",
    latest: "Dernière modification",
    admin_email: "Contact :",
    how_to_harvest: "Moissonner cet entrepôt",
    how_to_harvest_intro: "Donnez cette URL de base à votre moissonneur OAI-PMH :",
    base_url: "URL de base",
    identify: "Identify",
    formats: "Formats",
    example_list: "Exemple : toutes les notices en Dublin Core",
    latest_records: "Dernières notices",
    all_sets: "Tous les ensembles",
    no_records: "Aucune notice pour l’instant.",
    no_sets: "Cet entrepôt n’a pas d’ensembles.",
    set: "Ensemble",
    subsets: "Sous-ensembles",
    part_of: "Fait partie de :",
    records_newest_first: "Notices, les plus récentes d’abord",
    older_records: "Notices plus anciennes",
    newest_records: "Notices les plus récentes",
    more_sets: "Ensembles suivants",
    deleted_record: "Notice supprimée",
    untitled: "(sans titre)",
    identifier: "Identifiant",
    about_record: "À propos de cette notice",
    last_changed: "Dernière modification",
    in_sets: "Ensembles",
    provenance: "Provenance",
    local_record: "Cataloguée dans cet entrepôt.",
    harvested_from: "Moissonnée depuis",
    original_identifier: "Identifiant d’origine",
    harvested_on: "Moissonnée le",
    tombstone: "Cette notice a été supprimée. Les moissonneurs en sont informés avec son identifiant et la date de la suppression.",
    harvest_console: "Sources moissonnées",
    no_sources: "Aucune source de moissonnage n’est configurée.",
    format: "Format",
    whole_repository: "tout l’entrepôt",
    status: "État",
    running: "Moissonnage en cours",
    interrupted: "Interrompu : la prochaine exécution reprend la liste où elle s’est arrêtée",
    idle: "Au repos",
    last_run: "Dernière exécution",
    never_harvested: "Jamais moissonnée.",
    started: "Début",
    finished: "Fin",
    outcome: "Résultat",
    new: "Nouvelles",
    updated: "Modifiées",
    rejected: "Refusées",
    unchanged: "Inchangées",
    pages: "Pages",
    requests: "Requêtes",
    retries: "Nouvelles tentatives",
    last_error: "Dernière erreur",
    request_url: "URL de la requête",
    history: "Historique",
    next_run: "Prochaine exécution prévue",
    next_run_unknown: "inconnue",
    every: "toutes les",
    due_now: "imminente",
    outcome_ok: "réussi",
    outcome_rejected: "terminé, des notices refusées",
    outcome_failed: "échec",
    outcome_already_running: "ignoré : déjà en cours",
    not_found: "Page introuvable",
    no_such_record: "Aucune notice n’a cet identifiant :",
    no_such_set: "Aucun ensemble n’a ce setSpec :",
    no_such_page: "Il n’y a pas de page à cette adresse.",
    bad_request: "Requête incorrecte",
    bad_position: "Ce lien vers une page de liste n’est pas valide. Recommencez depuis la première page.",
    internal_error: "Une erreur s’est produite",
    internal_error_detail: "L’entrepôt n’a pas pu lire ses données. L’erreur est consignée dans le journal ; réessayez plus tard.",
    back_home: "Retour à l’entrepôt",
    seconds: "s",
};

impl Text {
    /// The labels of `language`.
    pub fn of(language: Language) -> &'static Text {
        match language {
            Language::En => &EN,
            Language::Fr => &FR,
        }
    }

    /// The label of a Dublin Core element.
    pub fn element(&self, element: DcElement) -> &'static str {
        let (en, fr) = match element {
            DcElement::Title => ("Title", "Titre"),
            DcElement::Creator => ("Author", "Auteur"),
            DcElement::Subject => ("Subject", "Sujet"),
            DcElement::Description => ("Description", "Description"),
            DcElement::Publisher => ("Publisher", "Éditeur"),
            DcElement::Contributor => ("Contributor", "Contributeur"),
            DcElement::Date => ("Date", "Date"),
            DcElement::Type => ("Type", "Type"),
            DcElement::Format => ("Format", "Format"),
            DcElement::Identifier => ("Identifier", "Identifiant"),
            DcElement::Source => ("Source", "Source"),
            DcElement::Language => ("Language", "Langue"),
            DcElement::Relation => ("Relation", "Relation"),
            DcElement::Coverage => ("Coverage", "Couverture"),
            DcElement::Rights => ("Rights", "Droits"),
        };
        if self.code == "fr" {
            fr
        } else {
            en
        }
    }

    /// The words for a stored run outcome (`ok`, `rejected`, `failed`, `already_running`).
    pub fn outcome_name<'a>(&self, outcome: &'a str) -> &'a str {
        match outcome {
            "ok" => self.outcome_ok,
            "rejected" => self.outcome_rejected,
            "failed" => self.outcome_failed,
            "already_running" => self.outcome_already_running,
            other => other,
        }
    }
}

/// The language of a page: the configured one, else the best of English and French that
/// `accept_language` asks for (by quality, then order), else English.
pub fn choose(configured: Option<Language>, accept_language: Option<&str>) -> Language {
    if let Some(language) = configured {
        return language;
    }
    let mut best: Option<(f32, Language)> = None;
    for range in accept_language.unwrap_or_default().split(',') {
        let mut parts = range.split(';');
        let tag = parts.next().unwrap_or_default().trim();
        let quality = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok());
        let primary = tag.split('-').next().unwrap_or_default();
        let language = if primary.eq_ignore_ascii_case("fr") {
            Language::Fr
        } else if primary.eq_ignore_ascii_case("en") {
            Language::En
        } else {
            continue;
        };
        match quality {
            Some(q) if q > 0.0 && best.is_none_or(|(b, _)| q > b) => best = Some((q, language)),
            _ => {}
        }
    }
    best.map_or(Language::En, |(_, language)| language)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configured_language_wins_over_the_browser() {
        assert_eq!(choose(Some(Language::Fr), Some("en")), Language::Fr);
        assert_eq!(choose(Some(Language::En), Some("fr")), Language::En);
    }

    #[test]
    fn accept_language_picks_the_best_supported_language() {
        assert_eq!(choose(None, None), Language::En);
        assert_eq!(choose(None, Some("fr-FR,fr;q=0.9,en;q=0.8")), Language::Fr);
        assert_eq!(choose(None, Some("de, en;q=0.5, fr;q=0.7")), Language::Fr);
        assert_eq!(choose(None, Some("de-CH, en-GB")), Language::En);
        assert_eq!(choose(None, Some("fr;q=0, en;q=0.1")), Language::En);
        assert_eq!(choose(None, Some("de")), Language::En);
        assert_eq!(choose(None, Some("fr;q=garbage,,;")), Language::En);
    }

    #[test]
    fn every_element_has_a_label_in_both_languages() {
        assert_eq!(FR.element(DcElement::Creator), "Auteur");
        assert_eq!(EN.element(DcElement::Creator), "Author");
        assert_eq!(FR.outcome_name("failed"), "échec");
        assert_eq!(EN.outcome_name("weird"), "weird");
    }
}
