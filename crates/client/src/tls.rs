//! The TLS settings of a [`crate::Client`] given `--ca-cert` (issue #13): the given
//! certificates are trusted as roots beside the system store and the bundled web roots, and
//! a server certificate byte-equal to one of them is accepted as it is, even when it is
//! marked CA:TRUE (what a plain `openssl req -x509` makes), which webpki refuses as a
//! server's own certificate (`CaUsedAsEndEntity`).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::Error;

/// Parses the PEM certificates in `pem`; at least one is required.
///
/// Errors: [`Error::Input`] for unreadable PEM or a file without certificates.
pub(crate) fn parse_pem_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Input(format!("CA certificate: {e}")))?;
    if certs.is_empty() {
        return Err(Error::Input(
            "CA certificate: no PEM certificate in the file".into(),
        ));
    }
    Ok(certs)
}

/// A rustls client configuration trusting the system store (`SSL_CERT_FILE`,
/// `SSL_CERT_DIR`), the bundled web roots and `extra` (as roots, and as pinned server
/// certificates, see [`PinnedOrWebPki`]); HTTP/1.1 only, as the client speaks.
///
/// Errors: [`Error::Input`] when no verifier can be built.
pub(crate) fn client_config(
    extra: Vec<CertificateDer<'static>>,
) -> Result<rustls::ClientConfig, Error> {
    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    // Native stores often hold a few unparsable certificates; those are skipped, as reqwest does.
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    // A certificate that is no valid trust anchor may still be pinned.
    roots.add_parsable_certificates(extra.iter().cloned());
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| Error::Input(format!("TLS verifier: {e}")))?;
    let verifier = PinnedOrWebPki {
        pinned: extra,
        inner,
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(|e| Error::Input(format!("TLS versions: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Accepts a server certificate that is byte-equal to a pinned one (after checking the
/// requested host name against its subject alternative names); anything else goes to
/// webpki's usual chain check. Handshake signatures are always verified by webpki, with
/// the provider's algorithms. A pinned certificate's validity period is not checked: pinning
/// it is the user's explicit statement of trust, as with a browser's exception.
#[derive(Debug)]
struct PinnedOrWebPki {
    pinned: Vec<CertificateDer<'static>>,
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for PinnedOrWebPki {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self
            .pinned
            .iter()
            .any(|p| p.as_ref() == end_entity.as_ref())
        {
            let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
            rustls::client::verify_server_name(&parsed, server_name)?;
            return Ok(ServerCertVerified::assertion());
        }
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    // Handshake signatures: webpki's own checks, with the same provider's algorithms.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
