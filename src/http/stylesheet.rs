//! The browser view: `/oai2.xsl`, an XSLT 1.0 stylesheet that a browser applies to every OAI-PMH
//! response carrying the `<?xml-stylesheet?>` processing instruction, turning it into a readable
//! page. Harvesters ignore the instruction, so the XML stays exactly what the protocol says.

use actix_web::http::header;
use actix_web::HttpResponse;

/// The stylesheet itself, compiled into the binary.
pub const STYLESHEET: &str = include_str!("oai2.xsl");

/// The `href` put in each response's `<?xml-stylesheet?>`.
///
/// Relative, so that it resolves next to the baseURL however a reverse proxy maps the path
/// (`https://example.org/repo/oai` → `https://example.org/repo/oai2.xsl`); versioned, so that a
/// new release is fetched at once despite the long cache lifetime.
pub const HREF: &str = concat!("oai2.xsl?v=", env!("CARGO_PKG_VERSION"));

/// GET `/oai2.xsl`.
pub async fn serve() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/xsl; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=604800"))
        .body(STYLESHEET)
}
