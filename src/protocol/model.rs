//! What the protocol talks about: record headers, sets, metadata formats, and the repository's
//! own description for Identify (§2.5, §3.4, §3.5, §4.2).

use serde::{Deserialize, Serialize};

use super::types::{Datestamp, MetadataPrefix, OaiIdentifier, SetSpec};
use crate::dc::DcRecord;

/// The header of a record (§2.5): identifier, datestamp, setSpecs and deleted status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The item's unique identifier.
    pub identifier: OaiIdentifier,
    /// Date of creation, modification or deletion of the record.
    pub datestamp: Datestamp,
    /// The sets the item belongs to, as written (ancestors are implied, §3.5).
    pub set_specs: Vec<SetSpec>,
    /// True for a tombstone: the record was deleted (deletedRecord = persistent).
    pub deleted: bool,
}

/// A set: its spec, its name, and an optional `oai_dc` description (§4.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetInfo {
    /// The setSpec.
    pub spec: SetSpec,
    /// The human-readable setName.
    pub name: String,
    /// An optional setDescription, written as `oai_dc`.
    pub description: Option<DcRecord>,
}

/// A metadata format the repository can disseminate (§4.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataFormat {
    /// The metadataPrefix.
    pub prefix: MetadataPrefix,
    /// URL of the XML schema.
    pub schema: String,
    /// The metadataNamespace.
    pub namespace: String,
}

impl MetadataFormat {
    /// The `oai_dc` format every repository supports.
    pub fn oai_dc() -> Self {
        MetadataFormat {
            prefix: MetadataPrefix::oai_dc(),
            schema: crate::dc::xml::OAI_DC_SCHEMA.into(),
            namespace: crate::dc::xml::OAI_DC_NAMESPACE.into(),
        }
    }
}

/// What Identify says about the repository, from configuration (§4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryIdentity {
    /// repositoryName
    pub repository_name: String,
    /// baseURL
    pub base_url: String,
    /// adminEmail, one or more
    pub admin_emails: Vec<String>,
    /// The repositoryIdentifier of the `oai-identifier` description.
    pub repository_identifier: String,
}
