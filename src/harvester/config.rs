//! Harvesting configuration: `[harvest]` defaults and one `[[source]]` per upstream repository.

use serde::{Deserialize, Serialize};

/// `[harvest]`: defaults for every source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct HarvestSettings {}

/// `[[source]]`: one upstream repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSettings {
    /// Short name, used in set `source:<name>` and on the command line.
    pub name: String,
    /// The upstream baseURL.
    pub base_url: String,
}

/// `[admin]`: the authenticated admin API through which `moisson harvest` and `moisson import`
/// hand their work to a running `moisson serve`.
#[derive(Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct AdminSettings {
    /// Bearer token; admin routes are off unless it is set (or `MOISSON_ADMIN_TOKEN`).
    pub token: Option<String>,
}

impl std::fmt::Debug for AdminSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminSettings")
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}
