//! OAI-PMH 2.0 itself, independent of storage and HTTP: typed requests (§3.1, §4), errors
//! (§3.6), resumption tokens (§3.5), the repository interface, and the XML of responses (§3.2).

pub mod error;
pub mod handler;
pub mod model;
pub mod repository;
pub mod request;
pub mod token;
pub mod types;
pub mod xml;

pub use error::{OaiError, OaiErrors};
pub use handler::{handle, handle_in, Context, Response, RESPONSE_CAPACITY};
pub use model::{Header, MetadataFormat, RepositoryIdentity, SetInfo};
pub use repository::{Lookup, PageEnd, Repository};
pub use request::{RawRequest, Request};
pub use token::{ListFilter, ResumptionToken, TokenCodec};
pub use types::{
    DateArgument, Datestamp, Granularity, MetadataPrefix, OaiIdentifier, SetSpec, Verb,
};
