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

    fn append_to_message(&mut self, tail: &str) {
        match self {
            OaiError::BadArgument(m)
            | OaiError::BadResumptionToken(m)
            | OaiError::BadVerb(m)
            | OaiError::CannotDisseminateFormat(m)
            | OaiError::IdDoesNotExist(m)
            | OaiError::NoRecordsMatch(m)
            | OaiError::NoMetadataFormats(m)
            | OaiError::NoSetHierarchy(m) => m.push_str(tail),
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
    /// Most errors written in one response. A request of 10,000 unknown arguments would
    /// otherwise get 10,000 `<error>`s (680 KB); past this many, the last error says how many
    /// more there were.
    pub const MAX: usize = 20;

    /// Wraps a list, or `None` when it is empty; keeps the first [`OaiErrors::MAX`] errors.
    pub fn from_vec(mut errors: Vec<OaiError>) -> Option<Self> {
        if errors.len() > Self::MAX {
            let left_out = errors.len() - Self::MAX;
            errors.truncate(Self::MAX);
            if let Some(last) = errors.last_mut() {
                let more = if left_out == 1 {
                    "1 more problem was found and is not listed".to_owned()
                } else {
                    format!("{left_out} more problems were found and are not listed")
                };
                last.append_to_message(&format!("; {more}"));
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_list_of_errors_is_cut_and_its_last_error_says_how_many_were_left_out() {
        let errors: Vec<OaiError> = (0..10_000)
            .map(|i| OaiError::BadArgument(format!("argument {i}")))
            .collect();
        let errors = OaiErrors::from_vec(errors).unwrap();
        assert_eq!(errors.as_slice().len(), OaiErrors::MAX);
        assert_eq!(
            errors.as_slice().last().unwrap().message(),
            "argument 19; 9980 more problems were found and are not listed"
        );
        let few = OaiErrors::from_vec(vec![OaiError::BadVerb("v".into())]).unwrap();
        assert_eq!(few.as_slice()[0].message(), "v");
    }
}
