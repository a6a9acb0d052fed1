//! The TLS configuration every HTTPS call uses: one rustls `ClientConfig`, its trust roots
//! loaded once per process.
//!
//! The roots are the system's certificate store (what `SSL_CERT_FILE` and `SSL_CERT_DIR` name,
//! else the distribution's bundle, e.g. `/etc/pki/tls/certs/ca-bundle.crt` on Amazon Linux
//! 2023), so a private CA added to the image (a corporate proxy behind
//! `REGISTRAR_VENDOR_ENDPOINT`) is trusted. When that store is empty or unreadable, the Mozilla
//! roots compiled into the binary (`webpki-roots`) are used instead and a WARN line says so:
//! without roots no HTTPS call could succeed, not even the answer to CloudFormation.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls_native_certs::CertificateResult;

/// Where the trust roots came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Roots {
    /// The system's certificate store.
    System,
    /// The Mozilla roots compiled into the binary.
    Compiled,
}

/// The client configuration for every HTTPS call: the trust roots, TLS 1.2 and 1.3 with the
/// aws-lc-rs provider, no client certificate.
pub(crate) fn client_config() -> rustls::ClientConfig {
    let (roots, _) = trust_roots(rustls_native_certs::load_native_certs());
    rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("the aws-lc-rs provider supports the default protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth()
}

/// The system's certificates as trust roots, or the compiled-in roots when none of them is
/// usable.
fn trust_roots(system: CertificateResult) -> (RootCertStore, Roots) {
    let mut store = RootCertStore::empty();
    let (usable, unusable) = store.add_parsable_certificates(system.certs);
    if !store.is_empty() {
        tracing::debug!(
            usable,
            unusable,
            errors = system.errors.len(),
            "loaded the system's trust roots"
        );
        return (store, Roots::System);
    }
    let errors: Vec<String> = system.errors.iter().map(ToString::to_string).collect();
    tracing::warn!(
        unusable,
        errors = ?errors,
        compiled_in = webpki_roots::TLS_SERVER_ROOTS.len(),
        "the system's certificate store is empty or unreadable; trusting the Mozilla roots compiled into Registrar"
    );
    let store = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    (store, Roots::Compiled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    /// A self-signed CA certificate made for this test (`openssl req -x509`, P-256).
    const TEST_ROOT: &str = "-----BEGIN CERTIFICATE-----
MIIBkzCCATmgAwIBAgIUIl9nIA4ViJ7bs1G7qz5kiN4lBWYwCgYIKoZIzj0EAwIw
HjEcMBoGA1UEAwwTUmVnaXN0cmFyIHRlc3Qgcm9vdDAgFw0yNjExMzAwNTIzMzZa
GA8yMTI2MTEwNjA1MjMzNlowHjEcMBoGA1UEAwwTUmVnaXN0cmFyIHRlc3Qgcm9v
dDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABNKzZ9PGffxN8ppJwn4YKvOZBcTm
DcJoMMEaoJqBwZmQRz8Asi0EdQjNVFd+7CHWRfcMglErLF6UxiV9LztPmZSjUzBR
MB0GA1UdDgQWBBQ7rAZ5rzj1X0xFvCJFUmNxYheIcDAfBgNVHSMEGDAWgBQ7rAZ5
rzj1X0xFvCJFUmNxYheIcDAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gA
MEUCIQDXSHhaNpmb0mkxTdxh+SV2m5ktJoBT/bX/1bhhDYiwCgIgMvjhDxOwjYQD
Tvd2RUrqsSA0cs8+3sgSHJWCKnOM3ZQ=
-----END CERTIFICATE-----
";

    fn store_of(certs: Vec<CertificateDer<'static>>) -> (RootCertStore, Roots) {
        let mut system = CertificateResult::default();
        system.certs = certs;
        trust_roots(system)
    }

    #[test]
    fn the_system_store_is_used_when_it_has_a_usable_root() {
        let root = CertificateDer::from_pem_slice(TEST_ROOT.as_bytes()).unwrap();
        let (store, roots) = store_of(vec![root]);
        assert_eq!(roots, Roots::System);
        assert_eq!(
            store.len(),
            1,
            "the system's roots alone, nothing compiled in added"
        );
    }

    #[test]
    fn an_empty_or_unreadable_store_falls_back_to_the_compiled_in_roots() {
        for certs in [
            // SSL_CERT_DIR naming an empty directory, SSL_CERT_FILE a missing file.
            vec![],
            // Files that hold no certificate Registrar can use.
            vec![CertificateDer::from(vec![0x30, 0x03, 1, 2, 3])],
        ] {
            let (store, roots) = store_of(certs);
            assert_eq!(roots, Roots::Compiled);
            assert_eq!(store.len(), webpki_roots::TLS_SERVER_ROOTS.len());
            assert!(
                store.len() > 100,
                "Mozilla's program has well over 100 roots"
            );
        }
    }
}
