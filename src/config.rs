//! One typed [`Settings`], layered: defaults in code → optional TOML file (`--config`) →
//! environment (`MOISSON_SERVER__BIND`, `__` between section and key) → command-line flags.
//! With no file at all everything works. `docker/moisson.example.toml` documents every key.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// Default address `moisson serve` listens on.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
/// Default directory of the store.
pub const DEFAULT_DATA_DIR: &str = "data";
/// Default records, headers or sets per page.
pub const DEFAULT_PAGE_SIZE: usize = 100;

/// Everything moisson can be configured with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `[server]`: the HTTP endpoint.
    pub server: ServerSettings,
    /// `[repository]`: what Identify says.
    pub repository: RepositorySettings,
    /// `[store]`: where and how records are kept.
    pub store: StoreSettings,
    /// `[admin]`: the admin API of a running server.
    pub admin: crate::harvester::config::AdminSettings,
    /// `[harvest]`: harvesting defaults.
    pub harvest: crate::harvester::config::HarvestSettings,
    /// `[[source]]`: the upstream repositories to harvest.
    pub source: Vec<crate::harvester::config::SourceSettings>,
    /// `[web]`: the HTML pages for people.
    pub web: WebSettings,
    /// `[pmb]`: the PMB catalogue whose UNIMARC exports `moisson import unimarc` reads.
    pub pmb: PmbSettings,
}

/// `[pmb]`: defaults of `moisson import unimarc` (its flags win); a harvested PMB source has
/// the same keys in its `[[source]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct PmbSettings {
    /// The OPAC base URL permalinks are made with (`opac_url_base`, such as
    /// `https://catalogue.example.org/opac_css/`); none: no permalink.
    pub opac_url: Option<String>,
    /// The keyword separator of 610$a (`pmb_keyword_sep`; `;` by default).
    pub keyword_separator: Option<String>,
}

impl PmbSettings {
    /// The crosswalk options: `opac_url` and `keyword_separator` when given, else these.
    ///
    /// # Errors
    /// A value that is no OPAC URL or an empty separator, named.
    pub fn crosswalk_options(
        &self,
        opac_url: Option<&str>,
        keyword_separator: Option<&str>,
    ) -> Result<crate::importer::unimarc::CrosswalkOptions, ConfigError> {
        use crate::importer::unimarc::CrosswalkOptions;
        CrosswalkOptions::parse(
            opac_url.or(self.opac_url.as_deref()),
            keyword_separator.or(self.keyword_separator.as_deref()),
        )
        .map_err(|e| {
            let option = e.option();
            let flag = option.replace('_', "-");
            ConfigError::Invalid(format!("pmb.{option} (or --{flag}): {e}"))
        })
    }
}

/// `[server]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address and port to listen on.
    pub bind: String,
    /// The public baseURL; defaults to `http://BIND/oai`.
    pub base_url: Option<String>,
    /// Records, headers or sets per list page.
    pub page_size: usize,
    /// List requests served at once; more get 503 with Retry-After instead of queueing.
    pub max_concurrent_lists: usize,
    /// Seconds a client is told to wait (Retry-After) when the server is overloaded.
    pub retry_after_secs: u64,
    /// Longest accepted query string, in bytes (longer: `badArgument`).
    pub max_url_bytes: usize,
    /// Largest accepted POST body, in bytes (larger: `badArgument`; 16 times larger: 413).
    pub max_body_bytes: usize,
    /// Seconds a client has to send a request's head, and a POST body (else 408).
    pub request_timeout_secs: u64,
    /// Seconds a client may leave its response unread before its connection is closed.
    pub write_timeout_secs: u64,
    /// Connections served at once; defaults to what the limit on open files allows.
    pub max_connections: Option<usize>,
    /// MiB that responses waiting for their clients may hold in all (more: 503).
    pub response_buffer_mb: usize,
    /// Hours an issued resumption token stays valid (at least 24).
    pub token_lifetime_hours: u32,
    /// HTTP worker threads; defaults to the number of CPU cores.
    pub workers: Option<usize>,
    /// Seconds to finish requests in flight after SIGTERM.
    pub shutdown_timeout_secs: u64,
    /// Put an `<?xml-stylesheet?>` pointing to `/oai2.xsl` in every response, so that browsers
    /// show a readable page (harvesters ignore it).
    pub stylesheet: bool,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            bind: DEFAULT_BIND.into(),
            base_url: None,
            page_size: DEFAULT_PAGE_SIZE,
            max_concurrent_lists: 32,
            retry_after_secs: 5,
            max_url_bytes: 8 * 1024,
            max_body_bytes: 64 * 1024,
            request_timeout_secs: 10,
            write_timeout_secs: 30,
            max_connections: None,
            response_buffer_mb: 64,
            token_lifetime_hours: 7 * 24,
            workers: None,
            shutdown_timeout_secs: 30,
            stylesheet: true,
        }
    }
}

impl ServerSettings {
    /// The baseURL: the configured one, or `http://BIND/oai`.
    pub fn base_url(&self) -> String {
        self.base_url
            .clone()
            .unwrap_or_else(|| format!("http://{}/oai", self.bind))
    }
}

/// `[repository]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RepositorySettings {
    /// repositoryName.
    pub name: String,
    /// adminEmail, one or more.
    pub admin_emails: Vec<String>,
    /// The repositoryIdentifier of the `oai-identifier` description: a domain name you control.
    /// Unless given, derived from the baseURL's host (see [`repository_identifier_for`]).
    pub repository_identifier: String,
    /// True when `repository_identifier` was derived rather than given, so that a baseURL
    /// set later (`serve --base-url`) derives it again.
    #[serde(skip)]
    pub derived_identifier: bool,
}

impl Default for RepositorySettings {
    fn default() -> Self {
        RepositorySettings {
            name: "moisson OAI-PMH repository".into(),
            admin_emails: vec!["admin@example.org".into()],
            repository_identifier: repository_identifier_for(&ServerSettings::default().base_url()),
            derived_identifier: true,
        }
    }
}

/// `[store]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// Directory of the sled store.
    pub data_dir: PathBuf,
    /// sled's page cache, in MiB (the main part of the server's memory).
    pub cache_capacity_mb: u64,
    /// While serving, compact the value log when old versions take this percentage of it
    /// (0: only `moisson compact`).
    pub compact_dead_percent: u8,
    /// How often, in seconds, the server checks whether to compact.
    pub compact_check_secs: u64,
    /// Compress rendered records (`lz4`, about half the disk) or store them as rendered
    /// (`none`, faster lists).
    pub compression: Compression,
}

/// How the value log stores rendered records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// LZ4 block compression.
    Lz4,
    /// As rendered.
    None,
}

impl StoreSettings {
    /// The store's open options.
    pub fn options(&self) -> crate::store::StoreOptions {
        crate::store::StoreOptions {
            cache_capacity_bytes: self.cache_capacity_mb.saturating_mul(1024 * 1024),
            compact_dead_percent: self.compact_dead_percent.min(100),
            compact_check: std::time::Duration::from_secs(self.compact_check_secs.max(1)),
            compress: self.compression == Compression::Lz4,
            ..crate::store::StoreOptions::default()
        }
    }
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            cache_capacity_mb: 16,
            compact_dead_percent: 50,
            compact_check_secs: 60,
            compression: Compression::Lz4,
        }
    }
}

/// A language the HTML pages speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// English.
    En,
    /// French.
    Fr,
}

/// `[web]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebSettings {
    /// The language of every page (`en` or `fr`); unset, each visitor's `Accept-Language`
    /// chooses, English when it names neither.
    pub language: Option<Language>,
    /// A sentence or two about the repository, shown on the home page.
    pub description: Option<String>,
    /// Serve `/sources`, the public, read-only harvest console.
    pub sources: bool,
    /// The public URL of the pages (`https://oai.example.org/`), for the sitemap and
    /// `robots.txt`; defaults to the baseURL without its last path segment.
    pub base_url: Option<String>,
    /// Seconds between two scheduled `moisson harvest --all` runs (the cron line, systemd
    /// timer or compose `HARVEST_INTERVAL_SECS` the administrator set up), so that the harvest
    /// console can say when the next run is due; unset, it says nothing about it.
    pub harvest_interval_secs: Option<u64>,
    /// Records per page of a set's list.
    pub page_size: usize,
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            language: None,
            description: None,
            sources: true,
            base_url: None,
            harvest_interval_secs: None,
            page_size: 50,
        }
    }
}

impl WebSettings {
    /// The public URL of the pages, ending with `/`: the configured one, or the repository's
    /// `base_url` without its last path segment (`http://host/oai` → `http://host/`).
    pub fn base_url(&self, oai_base_url: &str) -> String {
        let mut root = self.base_url.clone().unwrap_or_else(|| {
            let after_scheme = oai_base_url.find("://").map_or(0, |i| i + 3);
            match oai_base_url[after_scheme..].rfind('/') {
                Some(i) => oai_base_url[..after_scheme + i].to_owned(),
                None => oai_base_url.to_owned(),
            }
        });
        if !root.ends_with('/') {
            root.push('/');
        }
        root
    }
}

/// The repositoryIdentifier a baseURL implies: its host when that is a domain name
/// (`https://oai.example.org/oai` → `oai.example.org`), so that two installs never share one.
/// A host that is an IP address, `localhost` or a name without a dot cannot be one: then
/// `<host>-<port>.localhost` (`http://127.0.0.1:8080/oai` → `ip-127-0-0-1-8080.localhost`), a
/// name reserved for local use (RFC 6761) that still tells installs apart by address and port.
pub fn repository_identifier_for(base_url: &str) -> String {
    let Ok(url) = url::Url::parse(base_url) else {
        return "moisson.localhost".into();
    };
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.trim_end_matches('.').to_ascii_lowercase(),
        Some(url::Host::Ipv4(ip)) => format!("ip-{ip}"),
        Some(url::Host::Ipv6(ip)) => format!("ip6-{ip}"),
        None => String::new(),
    };
    let is_domain = !host.ends_with("localhost")
        && crate::protocol::xml::write::is_valid_repository_identifier(&host);
    if is_domain {
        return host;
    }
    let mut label = String::new();
    for c in host.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if !(c == '-' && (label.is_empty() || label.ends_with('-'))) {
            label.push(c);
        }
    }
    let port = url.port_or_known_default().unwrap_or(80);
    let label = label.trim_end_matches('-');
    if label.starts_with(|c: char| c.is_ascii_alphabetic()) {
        format!("{label}-{port}.localhost")
    } else {
        format!("h-{label}-{port}.localhost")
    }
}

/// A configuration problem, reported with exit code 3.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or environment could not be read or has wrong keys or types.
    #[error("invalid configuration: {0}")]
    Load(String),
    /// A value is out of range.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Settings {
    /// Loads defaults, then `file` (if given), then `MOISSON_*` environment variables.
    ///
    /// # Errors
    /// A missing or malformed file, an unknown key, or a value out of range.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let mut given = Figment::new();
        if let Some(file) = file {
            // figment says "Permission denied" without the path: open it first to name it.
            if let Err(e) = std::fs::File::open(file) {
                let why = if e.kind() == std::io::ErrorKind::NotFound {
                    "not found".to_owned()
                } else {
                    e.to_string()
                };
                return Err(ConfigError::Invalid(format!(
                    "cannot read configuration file {}: {why}",
                    file.display()
                )));
            }
            given = given.merge(Toml::file_exact(file));
        }
        given = given.merge(Env::prefixed("MOISSON_").split("__").ignore(&[
            "log",
            "log_format",
            "admin_token",
        ]));
        let explicit_identifier = given.contains("repository.repository_identifier");
        let figment = Figment::from(Serialized::defaults(Settings::default())).merge(given);
        let mut settings: Settings = figment
            .extract()
            .map_err(|e| ConfigError::Load(describe(e)))?;
        settings.repository.derived_identifier = !explicit_identifier;
        settings.derive_repository_identifier();
        Ok(settings)
    }

    /// Derives `repository.repository_identifier` from the baseURL again, unless it was given
    /// (call it after changing `server.bind` or `server.base_url`).
    pub fn derive_repository_identifier(&mut self) {
        if self.repository.derived_identifier {
            self.repository.repository_identifier =
                repository_identifier_for(&self.server.base_url());
        }
    }

    /// Checks values that types alone cannot.
    ///
    /// # Errors
    /// The first value out of range, named.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.server.page_size == 0 || self.server.page_size > 10_000 {
            return bad(format!(
                "server.page_size must be 1..=10000, not {}",
                self.server.page_size
            ));
        }
        if self.server.request_timeout_secs == 0 || self.server.write_timeout_secs == 0 {
            return bad(
                "server.request_timeout_secs and server.write_timeout_secs must be at least 1"
                    .into(),
            );
        }
        if self.server.max_concurrent_lists == 0 {
            return bad("server.max_concurrent_lists must be at least 1".into());
        }
        if self.server.token_lifetime_hours < 24 {
            return bad("server.token_lifetime_hours must be at least 24".into());
        }
        if self.repository.admin_emails.is_empty() {
            return bad("repository.admin_emails needs at least one address".into());
        }
        for email in &self.repository.admin_emails {
            let ok = email.split_once('@').is_some_and(|(user, host)| {
                !user.is_empty()
                    && host.contains('.')
                    && !host.starts_with('.')
                    && !host.ends_with('.')
                    && !email.contains(char::is_whitespace)
            });
            if !ok {
                return bad(format!(
                    "repository.admin_emails: \"{email}\" is not an e-mail address"
                ));
            }
        }
        if !crate::protocol::xml::write::is_valid_repository_identifier(
            &self.repository.repository_identifier,
        ) {
            return bad(format!(
                "repository.repository_identifier \"{}\" must be a domain name such as library.example.org",
                self.repository.repository_identifier
            ));
        }
        let base = self.server.base_url();
        if !(base.starts_with("http://") || base.starts_with("https://"))
            || base.contains(char::is_whitespace)
        {
            return bad(format!(
                "server.base_url \"{base}\" must be an http or https URL"
            ));
        }
        self.pmb.crosswalk_options(None, None)?;
        self.validate_web()
    }

    fn validate_web(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if let Some(url) = &self.web.base_url {
            if !(url.starts_with("http://") || url.starts_with("https://"))
                || url.contains(char::is_whitespace)
            {
                return bad(format!(
                    "web.base_url \"{url}\" must be an http or https URL"
                ));
            }
        }
        if self.web.harvest_interval_secs == Some(0) {
            return bad("web.harvest_interval_secs must be at least 1".into());
        }
        if self.web.page_size == 0 || self.web.page_size > 1000 {
            return bad(format!(
                "web.page_size must be 1..=1000, not {}",
                self.web.page_size
            ));
        }
        Ok(())
    }
}

/// Every problem figment found, once each, named by key and by where it came from (a file, or
/// the environment variable to fix), without figment's internal profile name.
fn describe(error: figment::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for e in error {
        let key = e.path.join(".");
        let place = match e.metadata.as_ref() {
            Some(m) if m.name.contains("environment") => {
                let var: Vec<String> = e.path.iter().map(|p| p.to_ascii_uppercase()).collect();
                format!("in environment variable MOISSON_{}", var.join("__"))
            }
            Some(m) => match m.source.as_ref().and_then(|s| s.file_path()) {
                Some(path) => format!("for key {key} in {}", path.display()),
                None => format!("for key {key} in {}", m.name),
            },
            None if key.is_empty() => String::new(),
            None => format!("for key {key}"),
        };
        let text = if place.is_empty() {
            e.kind.to_string()
        } else {
            format!("{} {place}", e.kind)
        };
        if !parts.contains(&text) {
            parts.push(text);
        }
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_no_file_the_defaults_are_valid() {
        let s = Settings::default();
        s.validate().unwrap();
        assert_eq!(s.server.base_url(), "http://127.0.0.1:8080/oai");
        assert_eq!(
            s.repository.repository_identifier,
            "ip-127-0-0-1-8080.localhost"
        );
    }

    #[test]
    fn the_default_repository_identifier_is_the_base_url_host_or_a_local_name() {
        for (url, expected) in [
            ("https://oai.Example.org/oai", "oai.example.org"),
            ("http://bib.univ.fr:8080/oai?x=1", "bib.univ.fr"),
            ("http://127.0.0.1:8080/oai", "ip-127-0-0-1-8080.localhost"),
            ("http://localhost/oai", "localhost-80.localhost"),
            ("http://[::1]:9000/oai", "ip6-1-9000.localhost"),
            ("http://moisson:8080/oai", "moisson-8080.localhost"),
            (
                "https://1x.example.org/oai",
                "h-1x-example-org-443.localhost",
            ),
        ] {
            let id = repository_identifier_for(url);
            assert_eq!(id, expected, "{url}");
            assert!(
                crate::protocol::xml::write::is_valid_repository_identifier(&id),
                "{id}"
            );
        }
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail closure returns figment's own Result.
    fn a_given_repository_identifier_wins_and_a_derived_one_follows_the_base_url() {
        figment::Jail::expect_with(|jail| {
            jail.set_env(
                "MOISSON_SERVER__BASE_URL",
                "https://oai.bib.example.net/oai",
            );
            let mut s = Settings::load(None).unwrap();
            assert_eq!(s.repository.repository_identifier, "oai.bib.example.net");
            s.server.base_url = Some("https://other.example.com/oai".into());
            s.derive_repository_identifier();
            assert_eq!(s.repository.repository_identifier, "other.example.com");
            jail.set_env(
                "MOISSON_REPOSITORY__REPOSITORY_IDENTIFIER",
                "mine.example.org",
            );
            let mut s = Settings::load(None).unwrap();
            s.derive_repository_identifier();
            assert_eq!(s.repository.repository_identifier, "mine.example.org");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail closure returns figment's own Result.
    fn a_configuration_error_names_the_key_and_the_file_once_without_a_profile() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "[server]\npage_sise = 7\n")?;
            let e = Settings::load(Some(Path::new("bad.toml")))
                .unwrap_err()
                .to_string();
            assert!(e.contains("for key server.page_sise in "), "{e}");
            assert!(e.contains("bad.toml"), "{e}");
            assert!(!e.contains("default."), "{e}");
            assert_eq!(
                e.matches("page_sise").count(),
                2,
                "once as found, once as key: {e}"
            );
            jail.set_env("MOISSON_SERVER__PAGE_SIZE", "abc");
            let e = Settings::load(None).unwrap_err().to_string();
            assert!(e.contains("MOISSON_SERVER__PAGE_SIZE"), "{e}");
            let e = Settings::load(Some(Path::new("missing.toml")))
                .unwrap_err()
                .to_string();
            assert!(e.contains("missing.toml: not found"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn the_pages_live_beside_the_endpoint_unless_configured() {
        let mut web = WebSettings::default();
        assert_eq!(
            web.base_url("http://127.0.0.1:8080/oai"),
            "http://127.0.0.1:8080/"
        );
        assert_eq!(
            web.base_url("https://example.org/moisson/oai"),
            "https://example.org/moisson/"
        );
        assert_eq!(web.base_url("https://example.org"), "https://example.org/");
        web.base_url = Some("https://pages.example.org".into());
        assert_eq!(web.base_url("http://x/oai"), "https://pages.example.org/");
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail closure returns figment's own Result.
    fn a_file_overrides_defaults_and_unknown_keys_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "m.toml",
                "[server]\npage_size = 7\n[repository]\nname = \"Bib\"\n",
            )?;
            jail.set_env("MOISSON_SERVER__BIND", "0.0.0.0:9000");
            let s = Settings::load(Some(Path::new("m.toml"))).unwrap();
            assert_eq!(s.server.page_size, 7);
            assert_eq!(s.server.bind, "0.0.0.0:9000");
            assert_eq!(s.repository.name, "Bib");
            jail.create_file("bad.toml", "[server]\npagesize = 7\n")?;
            assert!(Settings::load(Some(Path::new("bad.toml"))).is_err());
            jail.create_file("web.toml", "[web]\nlanguage = \"fr\"\nsources = false\n")?;
            let s = Settings::load(Some(Path::new("web.toml"))).unwrap();
            assert_eq!(s.web.language, Some(Language::Fr));
            assert!(!s.web.sources);
            jail.create_file("bad.toml", "[web]\nlanguage = \"de\"\n")?;
            assert!(Settings::load(Some(Path::new("bad.toml"))).is_err());
            jail.create_file("bad.toml", "[web]\nlangauge = \"fr\"\n")?;
            assert!(Settings::load(Some(Path::new("bad.toml"))).is_err());
            Ok(())
        });
    }
}
