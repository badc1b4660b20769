//! Who a record belongs to. A record is written by one origin, the local imports or one harvest
//! source, and only that origin may change it afterwards: a write from another origin is refused
//! and reported, so that a harvest never silently replaces a local record or another source's.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The origin of a record: local imports, or one harvest source (by its configured name).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Origin {
    /// Written by `moisson import` (or the demo records).
    #[default]
    Local,
    /// Harvested from the named source.
    Source(String),
}

impl Origin {
    /// `local`, or `source:<name>`, parsed back; `None` for anything else.
    pub fn parse(text: &str) -> Option<Origin> {
        match text {
            "local" => Some(Origin::Local),
            _ => text
                .strip_prefix("source:")
                .filter(|name| !name.is_empty())
                .map(|name| Origin::Source(name.to_owned())),
        }
    }

    /// True for local records.
    pub fn is_local(&self) -> bool {
        matches!(self, Origin::Local)
    }

    /// The harvest source's name, for harvested records.
    pub fn source(&self) -> Option<&str> {
        match self {
            Origin::Local => None,
            Origin::Source(name) => Some(name),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Local => f.write_str("local"),
            Origin::Source(name) => write!(f, "source:{name}"),
        }
    }
}

impl From<Origin> for String {
    fn from(origin: Origin) -> String {
        origin.to_string()
    }
}

impl TryFrom<String> for Origin {
    type Error = String;

    fn try_from(text: String) -> Result<Origin, String> {
        Origin::parse(&text)
            .ok_or_else(|| format!("\"{text}\" is not an origin (local or source:NAME)"))
    }
}

/// A write refused because the record belongs to another origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// Position of the refused record in its batch.
    pub index: usize,
    /// The record's identifier.
    pub identifier: String,
    /// Who the record belongs to.
    pub owner: Origin,
    /// Who tried to write it.
    pub writer: Origin,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} belongs to {}; {} may not overwrite it",
            self.identifier, self.owner, self.writer
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_round_trips_through_its_text() {
        for origin in [Origin::Local, Origin::Source("hal".into())] {
            assert_eq!(Origin::parse(&origin.to_string()), Some(origin));
        }
        assert_eq!(Origin::parse("source:"), None);
        assert_eq!(Origin::parse("hal"), None);
    }
}
