//! The OAI-PMH error conditions (§3.6): protocol errors are data, written as `<error>` elements
//! in an ordinary HTTP 200 response.

use std::fmt;

/// One OAI-PMH error condition with a human-readable explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OaiError {
    /// The request's arguments are illegal, missing, repeated, or malformed.
    BadArgument(String),
    /// The resumptionToken is invalid or expired.
    BadResumptionToken(String),
    /// The verb is missing, repeated, or not one of the six.
    BadVerb(String),
    /// The metadata format is not supported by the item or the repository.
    CannotDisseminateFormat(String),
    /// The identifier is unknown or illegal in this repository.
    IdDoesNotExist(String),
    /// The combination of from, until, set and metadataPrefix gives an empty list.
    NoRecordsMatch(String),
    /// There are no metadata formats available for the item.
    NoMetadataFormats(String),
    /// The repository does not support sets.
    NoSetHierarchy(String),
}

impl OaiError {
    /// The `code` attribute of the `<error>` element.
    pub fn code(&self) -> &'static str {
        match self {
            OaiError::BadArgument(_) => "badArgument",
            OaiError::BadResumptionToken(_) => "badResumptionToken",
            OaiError::BadVerb(_) => "badVerb",
            OaiError::CannotDisseminateFormat(_) => "cannotDisseminateFormat",
            OaiError::IdDoesNotExist(_) => "idDoesNotExist",
            OaiError::NoRecordsMatch(_) => "noRecordsMatch",
            OaiError::NoMetadataFormats(_) => "noMetadataFormats",
            OaiError::NoSetHierarchy(_) => "noSetHierarchy",
        }
    }

    /// The explanation written as the element's text.
    pub fn message(&self) -> &str {
        match self {
            OaiError::BadArgument(m)
            | OaiError::BadResumptionToken(m)
            | OaiError::BadVerb(m)
            | OaiError::CannotDisseminateFormat(m)
            | OaiError::IdDoesNotExist(m)
            | OaiError::NoRecordsMatch(m)
            | OaiError::NoMetadataFormats(m)
            | OaiError::NoSetHierarchy(m) => m,
        }
    }

    /// True for the two errors after which the `<request>` element must carry no attributes (§3.2).
    pub fn hides_request_arguments(&self) -> bool {
        matches!(self, OaiError::BadArgument(_) | OaiError::BadVerb(_))
    }
}

impl fmt::Display for OaiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for OaiError {}

/// A non-empty list of errors: one response may report several conditions at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OaiErrors(Vec<OaiError>);

impl OaiErrors {
    /// Wraps a list, or `None` when it is empty.
    pub fn from_vec(errors: Vec<OaiError>) -> Option<Self> {
        (!errors.is_empty()).then_some(OaiErrors(errors))
    }

    /// The errors, in the order they were found.
    pub fn as_slice(&self) -> &[OaiError] {
        &self.0
    }

    /// True when the `<request>` element must be written without attributes.
    pub fn hides_request_arguments(&self) -> bool {
        self.0.iter().any(OaiError::hides_request_arguments)
    }
}

impl From<OaiError> for OaiErrors {
    fn from(e: OaiError) -> Self {
        OaiErrors(vec![e])
    }
}
