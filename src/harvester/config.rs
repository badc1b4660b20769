//! Harvesting configuration: `[harvest]` defaults, one `[[source]]` per upstream repository,
//! and `[admin]`, the API through which a running server takes over harvests and imports.
//!
//! ```toml
//! [harvest]
//! delay_ms = 500            # between two requests to the same source
//! retries = 5
//!
//! [[source]]
//! name = "zenodo"           # set source:zenodo; a setSpec part: letters, digits, -_.!~*'()
//! base_url = "https://zenodo.org/oai2d"
//! metadata_prefix = "oai_dc"
//! sets = ["user-rdmo"]      # none: the whole repository
//! from = "2023-01-01"       # first harvest only
//!
//! [[source]]
//! name = "catalogue"        # a PMB catalogue's OAI connector
//! base_url = "https://catalogue.example.org/ws/connector_out.php?source_id=1"
//! metadata_prefix = "pmb_xml_unimarc"
//! crosswalk = "pmb-unimarc" # the default for pmb_xml_unimarc
//! opac_url = "https://catalogue.example.org/opac_css/"
//! keyword_separator = ";"
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;
use crate::importer::unimarc::CrosswalkOptions;
use crate::protocol::{DateArgument, MetadataPrefix, SetSpec};

/// Default pause between two requests to one source, in milliseconds.
pub const DEFAULT_DELAY_MS: u64 = 0;
/// Default number of retries of one request.
pub const DEFAULT_RETRIES: u32 = 5;
/// Default largest response body accepted, decompressed, in MiB.
pub const DEFAULT_MAX_BODY_MIB: u64 = 64;
/// Default overlap subtracted from the next `from`, in seconds.
pub const DEFAULT_OVERLAP_SECS: u64 = 60;
/// Records written per store write at most: a page of the usual size in one write.
pub const DEFAULT_MAX_BATCH: usize = 1000;
/// The metadataPrefix of a PMB OAI connector's UNIMARC.
pub const PMB_UNIMARC_PREFIX: &str = "pmb_xml_unimarc";
/// The name of the crosswalk from PMB's UNIMARC to Dublin Core (`crosswalk = "pmb-unimarc"`).
pub const PMB_UNIMARC_CROSSWALK: &str = "pmb-unimarc";
/// The default overlap of a PMB source, in seconds: one day and one minute. PMB reads `from`
/// as local time, ignores its seconds and compares it exclusively (`update_date > from`); its
/// datestamps are local time marked `Z`. A day covers any time-zone and daylight-saving
/// offset between what it says and what it means, the minute covers the dropped seconds.
pub const PMB_OVERLAP_SECS: u64 = 86_460;
/// Default days between two identifier sweeps of a source that does not keep deletions.
pub const DEFAULT_RECONCILE_DAYS: u64 = 7;
/// Default largest share of a source's records one sweep removes without `--force`.
pub const DEFAULT_RECONCILE_MAX_SHARE: f64 = 0.1;

/// `[harvest]`: defaults for every source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HarvestSettings {
    /// Pause between two requests to the same source, in milliseconds.
    pub delay_ms: u64,
    /// Seconds to wait for a connection.
    pub connect_timeout_secs: u64,
    /// Seconds to wait for the next bytes of a response.
    pub read_timeout_secs: u64,
    /// Seconds one whole request may take.
    pub request_timeout_secs: u64,
    /// Retries of one request after a timeout, connection error, 408, 429, 5xx or broken page.
    pub retries: u32,
    /// First backoff, in milliseconds; doubled at each retry, with jitter.
    pub backoff_base_ms: u64,
    /// Longest backoff, in milliseconds.
    pub backoff_cap_ms: u64,
    /// Shortest wait when the provider sends `Retry-After`, in milliseconds.
    pub retry_after_floor_ms: u64,
    /// Longest wait when the provider sends `Retry-After`, in milliseconds.
    pub retry_after_cap_ms: u64,
    /// Largest response body accepted, decompressed, in MiB (gzip bombs included).
    pub max_body_mib: u64,
    /// Seconds subtracted from the next incremental `from`.
    pub overlap_secs: u64,
    /// Records written per transaction at most (a larger page is split; the checkpoint moves
    /// with the last part). Each write ends with an fsync of the value log, so a page is best
    /// written whole: the default takes a page of 1,000 records in one write.
    pub max_batch: usize,
    /// Days between two identifier sweeps of a source whose Identify says `deletedRecord`
    /// `no` or `transient` (see [`super::sweep`]); 0 turns sweeps off.
    pub reconcile_days: u64,
    /// Largest share (0 to 1) of a source's records one sweep turns into tombstones without
    /// `--force`.
    pub reconcile_max_share: f64,
}

impl Default for HarvestSettings {
    fn default() -> Self {
        HarvestSettings {
            delay_ms: DEFAULT_DELAY_MS,
            connect_timeout_secs: 10,
            read_timeout_secs: 60,
            request_timeout_secs: 600,
            retries: DEFAULT_RETRIES,
            backoff_base_ms: 1000,
            backoff_cap_ms: 60_000,
            retry_after_floor_ms: 1000,
            retry_after_cap_ms: 300_000,
            max_body_mib: DEFAULT_MAX_BODY_MIB,
            overlap_secs: DEFAULT_OVERLAP_SECS,
            max_batch: DEFAULT_MAX_BATCH,
            reconcile_days: DEFAULT_RECONCILE_DAYS,
            reconcile_max_share: DEFAULT_RECONCILE_MAX_SHARE,
        }
    }
}

/// `[[source]]`: one upstream repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSettings {
    /// Short name, used in set `source:<name>` and on the command line.
    pub name: String,
    /// The upstream baseURL.
    pub base_url: String,
    /// The metadataPrefix to harvest.
    #[serde(default = "default_prefix")]
    pub metadata_prefix: String,
    /// Sets to harvest, each as its own list; none means the whole repository.
    #[serde(default)]
    pub sets: Vec<String>,
    /// `from` of the first harvest (`YYYY-MM-DD` or `YYYY-MM-DDThh:mm:ssZ`); later runs are
    /// incremental.
    #[serde(default)]
    pub from: Option<String>,
    /// Overrides `[harvest] delay_ms`.
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// Overrides `[harvest] retries`.
    #[serde(default)]
    pub retries: Option<u32>,
    /// Overrides `[harvest] connect_timeout_secs`.
    #[serde(default)]
    pub connect_timeout_secs: Option<u64>,
    /// Overrides `[harvest] read_timeout_secs`.
    #[serde(default)]
    pub read_timeout_secs: Option<u64>,
    /// Overrides `[harvest] reconcile_days`.
    #[serde(default)]
    pub reconcile_days: Option<u64>,
    /// Overrides `[harvest] reconcile_max_share`.
    #[serde(default)]
    pub reconcile_max_share: Option<f64>,
    /// Overrides `[harvest] overlap_secs` (a PMB source defaults to [`PMB_OVERLAP_SECS`]).
    #[serde(default)]
    pub overlap_secs: Option<u64>,
    /// The crosswalk that maps each harvested record to the `oai_dc` served beside it
    /// (`pmb-unimarc`, the default for `pmb_xml_unimarc`); none: records are kept as harvested.
    #[serde(default)]
    pub crosswalk: Option<String>,
    /// The PMB OPAC base URL permalinks are made with (`pmb-unimarc` only).
    #[serde(default)]
    pub opac_url: Option<String>,
    /// PMB's keyword separator (`pmb_keyword_sep`, `;` by default; `pmb-unimarc` only).
    #[serde(default)]
    pub keyword_separator: Option<String>,
}

/// How harvested records become Dublin Core, when they are not `oai_dc` already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Crosswalk {
    /// PMB's `pmb_xml_unimarc` through the UNIMARC crosswalk
    /// ([`crate::importer::unimarc::crosswalk`]).
    PmbUnimarc(CrosswalkOptions),
}

fn default_prefix() -> String {
    "oai_dc".into()
}

impl SourceSettings {
    /// A source with default settings.
    pub fn new(name: impl Into<String>, base_url: impl Into<String>) -> Self {
        SourceSettings {
            name: name.into(),
            base_url: base_url.into(),
            metadata_prefix: default_prefix(),
            sets: Vec::new(),
            from: None,
            delay_ms: None,
            retries: None,
            connect_timeout_secs: None,
            read_timeout_secs: None,
            reconcile_days: None,
            reconcile_max_share: None,
            overlap_secs: None,
            crosswalk: None,
            opac_url: None,
            keyword_separator: None,
        }
    }

    /// The crosswalk of this source, its options parsed: `crosswalk`, or `pmb-unimarc` for
    /// `pmb_xml_unimarc` (served in a namespace `<metadata>` accepts only once rewritten).
    ///
    /// # Errors
    /// An unknown crosswalk, one that does not fit the metadataPrefix, a bad `opac_url` or
    /// `keyword_separator`, or either of them without a crosswalk to use them.
    pub fn crosswalk(&self) -> Result<Option<Crosswalk>, ConfigError> {
        let bad = |m: String| ConfigError::Invalid(format!("source \"{}\": {m}", self.name));
        let name = self
            .crosswalk
            .as_deref()
            .or((self.metadata_prefix == PMB_UNIMARC_PREFIX).then_some(PMB_UNIMARC_CROSSWALK));
        match name {
            None => {
                if self.opac_url.is_some() || self.keyword_separator.is_some() {
                    return Err(bad(format!(
                        "opac_url and keyword_separator are options of crosswalk = \"{PMB_UNIMARC_CROSSWALK}\", \
                         which this source does not use"
                    )));
                }
                Ok(None)
            }
            Some(PMB_UNIMARC_CROSSWALK) => {
                if self.metadata_prefix != PMB_UNIMARC_PREFIX {
                    return Err(bad(format!(
                        "crosswalk \"{PMB_UNIMARC_CROSSWALK}\" maps metadata_prefix \"{PMB_UNIMARC_PREFIX}\", not \"{}\"",
                        self.metadata_prefix
                    )));
                }
                let options = CrosswalkOptions::parse(
                    self.opac_url.as_deref(),
                    self.keyword_separator.as_deref(),
                )
                .map_err(|e| bad(format!("{}: {e}", e.option())))?;
                Ok(Some(Crosswalk::PmbUnimarc(options)))
            }
            Some(other) => Err(bad(format!(
                "unknown crosswalk \"{other}\" (known: \"{PMB_UNIMARC_CROSSWALK}\")"
            ))),
        }
    }

    /// Seconds taken off the next incremental `from`: the source's own `overlap_secs`, else
    /// `[harvest] overlap_secs`, at least [`PMB_OVERLAP_SECS`] for a PMB source.
    pub fn overlap_secs(&self, defaults: &HarvestSettings) -> u64 {
        self.overlap_secs.unwrap_or_else(|| {
            if self.metadata_prefix == PMB_UNIMARC_PREFIX {
                defaults.overlap_secs.max(PMB_OVERLAP_SECS)
            } else {
                defaults.overlap_secs
            }
        })
    }

    /// Checks the values; errors name the source and the key.
    ///
    /// # Errors
    /// A name that is not a setSpec part, a URL that is not http(s), a bad prefix, set or date.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| {
            Err(ConfigError::Invalid(format!(
                "source \"{}\": {m}",
                self.name
            )))
        };
        if self.name.contains(':') || SetSpec::parse(&self.name).is_none() {
            return bad(
                "name must be letters, digits or -_.!~*'() (it becomes set source:NAME)".into(),
            );
        }
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://"))
            || self.base_url.contains(char::is_whitespace)
        {
            return bad(format!(
                "base_url \"{}\" must be an http or https URL",
                self.base_url
            ));
        }
        if MetadataPrefix::parse(&self.metadata_prefix).is_none() {
            return bad(format!(
                "metadata_prefix \"{}\" is not a metadataPrefix",
                self.metadata_prefix
            ));
        }
        for set in &self.sets {
            if SetSpec::parse(set).is_none() {
                return bad(format!("\"{set}\" is not a setSpec"));
            }
        }
        if let Some(share) = self.reconcile_max_share {
            if !(0.0..=1.0).contains(&share) {
                return bad(format!(
                    "reconcile_max_share must be between 0 and 1, not {share}"
                ));
            }
        }
        if let Some(from) = &self.from {
            if DateArgument::parse(from).is_none() {
                return bad(format!(
                    "from \"{from}\" must be YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ"
                ));
            }
        }
        self.crosswalk()?;
        Ok(())
    }

    /// Days between two sweeps of this source (0: never).
    pub fn reconcile_days(&self, defaults: &HarvestSettings) -> u64 {
        self.reconcile_days.unwrap_or(defaults.reconcile_days)
    }

    /// The share of its records one sweep may remove without `--force`.
    pub fn reconcile_max_share(&self, defaults: &HarvestSettings) -> f64 {
        self.reconcile_max_share
            .unwrap_or(defaults.reconcile_max_share)
    }

    /// The request policy of this source: its overrides over `defaults`.
    pub fn policy(&self, defaults: &HarvestSettings) -> SourcePolicy {
        SourcePolicy {
            delay: Duration::from_millis(self.delay_ms.unwrap_or(defaults.delay_ms)),
            connect_timeout: Duration::from_secs(
                self.connect_timeout_secs
                    .unwrap_or(defaults.connect_timeout_secs),
            ),
            read_timeout: Duration::from_secs(
                self.read_timeout_secs.unwrap_or(defaults.read_timeout_secs),
            ),
            request_timeout: Duration::from_secs(defaults.request_timeout_secs),
            retries: self.retries.unwrap_or(defaults.retries),
            backoff_base: Duration::from_millis(defaults.backoff_base_ms),
            backoff_cap: Duration::from_millis(defaults.backoff_cap_ms),
            retry_after_floor: Duration::from_millis(defaults.retry_after_floor_ms),
            retry_after_cap: Duration::from_millis(defaults.retry_after_cap_ms),
            max_body_bytes: usize::try_from(defaults.max_body_mib.saturating_mul(1024 * 1024))
                .unwrap_or(usize::MAX),
        }
    }
}

/// How requests to one source are made: timeouts, retries, politeness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePolicy {
    /// Pause between two requests.
    pub delay: Duration,
    /// Connection timeout.
    pub connect_timeout: Duration,
    /// Timeout between two reads of a response.
    pub read_timeout: Duration,
    /// Timeout of one whole request.
    pub request_timeout: Duration,
    /// Retries of one request.
    pub retries: u32,
    /// First backoff.
    pub backoff_base: Duration,
    /// Longest backoff.
    pub backoff_cap: Duration,
    /// Shortest `Retry-After` wait.
    pub retry_after_floor: Duration,
    /// Longest `Retry-After` wait.
    pub retry_after_cap: Duration,
    /// Largest decompressed body.
    pub max_body_bytes: usize,
}

impl Default for SourcePolicy {
    fn default() -> Self {
        SourceSettings::new("x", "http://x").policy(&HarvestSettings::default())
    }
}

/// Checks `[harvest]` and every `[[source]]`: values in range, names unique.
///
/// # Errors
/// The first problem, naming the source and key.
pub fn validate(harvest: &HarvestSettings, sources: &[SourceSettings]) -> Result<(), ConfigError> {
    if harvest.max_body_mib == 0 {
        return Err(ConfigError::Invalid(
            "harvest.max_body_mib must be at least 1".into(),
        ));
    }
    if !(0.0..=1.0).contains(&harvest.reconcile_max_share) {
        return Err(ConfigError::Invalid(format!(
            "harvest.reconcile_max_share must be between 0 and 1, not {}",
            harvest.reconcile_max_share
        )));
    }
    if harvest.max_batch == 0 {
        return Err(ConfigError::Invalid(
            "harvest.max_batch must be at least 1".into(),
        ));
    }
    for (i, source) in sources.iter().enumerate() {
        source.validate()?;
        if sources[..i].iter().any(|s| s.name == source.name) {
            return Err(ConfigError::Invalid(format!(
                "source \"{}\" is defined twice",
                source.name
            )));
        }
    }
    Ok(())
}

/// Environment variable that sets the admin token (wins over `[admin] token`).
pub const ADMIN_TOKEN_ENV: &str = "MOISSON_ADMIN_TOKEN";

/// `[admin]`: the authenticated admin API through which `moisson harvest` and `moisson import`
/// hand their work to a running `moisson serve`.
#[derive(Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct AdminSettings {
    /// Bearer token; admin routes are off unless it is set (or `MOISSON_ADMIN_TOKEN`).
    pub token: Option<String>,
    /// Accept admin requests from other hosts than this one (default: loopback only).
    pub allow_remote: bool,
    /// Where the CLI finds a running server's admin API (default `http://` + `server.bind`).
    pub url: Option<String>,
}

impl AdminSettings {
    /// The token: `MOISSON_ADMIN_TOKEN` if set and not empty, else `[admin] token`.
    pub fn resolved_token(&self) -> Option<String> {
        std::env::var(ADMIN_TOKEN_ENV)
            .ok()
            .filter(|t| !t.trim().is_empty())
            .or_else(|| self.token.clone().filter(|t| !t.trim().is_empty()))
    }

    /// The admin API's base URL for a server bound to `bind`.
    pub fn base_url(&self, bind: &str) -> String {
        if let Some(url) = &self.url {
            return url.trim_end_matches('/').to_owned();
        }
        // A server listening on every interface is reachable on loopback.
        let bind = bind
            .replace("0.0.0.0", "127.0.0.1")
            .replace("[::]", "[::1]");
        format!("http://{bind}")
    }
}

impl std::fmt::Debug for AdminSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminSettings")
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("allow_remote", &self.allow_remote)
            .field("url", &self.url)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_name_must_be_one_setspec_part() {
        assert!(SourceSettings::new("zenodo", "https://zenodo.org/oai2d")
            .validate()
            .is_ok());
        for bad in ["", "a:b", "a b", "é"] {
            assert!(
                SourceSettings::new(bad, "https://x.org/oai")
                    .validate()
                    .is_err(),
                "{bad:?}"
            );
        }
        assert!(SourceSettings::new("x", "ftp://x.org").validate().is_err());
    }

    #[test]
    fn a_pmb_source_is_crosswalked_by_default_and_its_options_are_checked() {
        let mut s = SourceSettings::new("catalogue", "https://c.example.org/ws/connector_out.php");
        s.metadata_prefix = PMB_UNIMARC_PREFIX.into();
        assert!(matches!(s.crosswalk(), Ok(Some(Crosswalk::PmbUnimarc(_)))));
        assert_eq!(
            s.overlap_secs(&HarvestSettings::default()),
            PMB_OVERLAP_SECS
        );
        s.opac_url = Some("not a url".into());
        assert!(s.validate().unwrap_err().to_string().contains("opac_url"));
        s.opac_url = None;
        s.crosswalk = Some("marc21".into());
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("unknown crosswalk"));
        let mut dc = SourceSettings::new("hal", "https://hal.example.org/oai");
        assert_eq!(
            dc.overlap_secs(&HarvestSettings::default()),
            DEFAULT_OVERLAP_SECS
        );
        dc.keyword_separator = Some(";".into());
        assert!(dc.validate().is_err(), "an option of no crosswalk");
        dc.keyword_separator = None;
        dc.crosswalk = Some(PMB_UNIMARC_CROSSWALK.into());
        assert!(
            dc.validate().is_err(),
            "pmb-unimarc maps pmb_xml_unimarc only"
        );
    }

    #[test]
    fn duplicate_source_names_are_refused() {
        let s = SourceSettings::new("a", "http://a/oai");
        assert!(validate(&HarvestSettings::default(), &[s.clone(), s]).is_err());
    }

    #[test]
    fn the_admin_token_is_never_printed() {
        let a = AdminSettings {
            token: Some("s3cret".into()),
            ..AdminSettings::default()
        };
        assert!(!format!("{a:?}").contains("s3cret"));
        assert_eq!(a.base_url("0.0.0.0:8080"), "http://127.0.0.1:8080");
    }
}
