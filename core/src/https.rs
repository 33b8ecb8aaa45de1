//! The one HTTPS connector and error formatting shared by the core's network
//! code (the HTTPS `Date` time source, the push client, the transfer
//! mailbox): `hyper` 1 + `hyper-util` + `hyper-rustls` with the ring
//! provider and the platform certificate verifier (architecture.md §8.2).

use hyper_util::client::legacy::connect::HttpConnector;

/// The connector type every client in the core uses.
pub(crate) type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// An https (and http, which callers allow only for loopback hosts)
/// HTTP/1.1 connector verifying certificates against the platform's trust
/// store. Fails only when the platform verifier cannot start.
pub(crate) fn connector() -> Result<Connector, String> {
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .try_with_platform_verifier()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .https_or_http()
        .enable_http1()
        .build())
}

/// The error and its causes on one line (a client's top-level error says
/// little: "client error (Connect)").
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
