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
    /// Longest accepted query string, in bytes (longer: 414).
    pub max_url_bytes: usize,
    /// Largest accepted POST body, in bytes (larger: 413).
    pub max_body_bytes: usize,
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
    pub repository_identifier: String,
}

impl Default for RepositorySettings {
    fn default() -> Self {
        RepositorySettings {
            name: "moisson OAI-PMH repository".into(),
            admin_emails: vec!["admin@example.org".into()],
            repository_identifier: "moisson.example.org".into(),
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

/// A configuration problem, reported with exit code 3.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or environment could not be read or has wrong keys or types.
    #[error("invalid configuration: {0}")]
    Load(#[from] Box<figment::Error>),
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
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            if !file.is_file() {
                return Err(ConfigError::Invalid(format!(
                    "configuration file {} not found",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        figment = figment.merge(Env::prefixed("MOISSON_").split("__").ignore(&[
            "log",
            "log_format",
            "admin_token",
        ]));
        let settings: Settings = figment.extract().map_err(Box::new)?;
        Ok(settings)
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
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_no_file_the_defaults_are_valid() {
        let s = Settings::default();
        s.validate().unwrap();
        assert_eq!(s.server.base_url(), "http://127.0.0.1:8080/oai");
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
            Ok(())
        });
    }
}
