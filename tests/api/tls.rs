//! HTTPS listener: certificate rotation on disk is picked up by new handshakes without a
//! restart and without dropping an open connection; a bad new pair keeps the old one serving.

use pushdeploy::http::serve::serve;
use pushdeploy::http::tls::ReloadingCertificate;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls_pki_types::CertificateDer;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

struct TestCa {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn new_ca(name: &str) -> TestCa {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let pem = params.self_signed(&key).unwrap().pem();
    TestCa {
        pem,
        issuer: Issuer::new(params, key),
    }
}

/// Issue a server certificate for 127.0.0.1 and write it (and its key) atomically.
fn write_leaf(ca: &TestCa, cert_path: &Path, key_path: &Path) -> CertificateDer<'static> {
    let params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    replace_file(key_path, key.serialize_pem().as_bytes());
    replace_file(cert_path, cert.pem().as_bytes());
    cert.der().clone()
}

fn replace_file(path: &Path, bytes: &[u8]) {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, bytes).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

fn connector(cas: &[&TestCa]) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for ca in cas {
        let der = CertificateDer::from_pem_slice(ca.pem.as_bytes()).unwrap();
        roots.add(der).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

use rustls_pki_types::pem::PemObject;

async fn handshake(connector: &TlsConnector, port: u16) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    connector.connect(name, tcp).await.unwrap()
}

fn presented(stream: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    stream.get_ref().1.peer_certificates().unwrap()[0]
        .clone()
        .into_owned()
}

/// One HTTP/1.1 keep-alive request on an open connection; returns the status line.
async fn get_healthz(stream: &mut TlsStream<TcpStream>) -> String {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    let mut buffer = [0u8; 1024];
    loop {
        let read = stream.read(&mut buffer).await.unwrap();
        assert!(read > 0, "connection closed by the server");
        response.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&response);
        if let Some(head_end) = text.find("\r\n\r\n") {
            let length: usize = text[..head_end]
                .lines()
                .find_map(|line| {
                    line.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .and_then(|value| value.trim().parse().ok())
                .unwrap();
            if response.len() >= head_end + 4 + length {
                return text.lines().next().unwrap().to_owned();
            }
        }
    }
}

#[tokio::test]
async fn rotated_certificate_is_served_to_new_handshakes_while_open_connections_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    let (old_ca, new_ca) = (new_ca("old CA"), new_ca("new CA"));
    let old_leaf = write_leaf(&old_ca, &cert_path, &key_path);

    let certificate = ReloadingCertificate::load(&cert_path, &key_path).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let router = axum::Router::new().route("/healthz", axum::routing::get(pushdeploy::http::health::healthz));
    let shutdown = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(serve(
        listener,
        router,
        Some(certificate),
        shutdown.clone(),
        Default::default(),
    ));

    let trusting_both = connector(&[&old_ca, &new_ca]);
    let mut long_lived = handshake(&trusting_both, port).await;
    assert_eq!(presented(&long_lived), old_leaf);
    assert_eq!(get_healthz(&mut long_lived).await, "HTTP/1.1 200 OK");

    let new_leaf = write_leaf(&new_ca, &cert_path, &key_path);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // The open connection keeps answering throughout the rotation.
        assert_eq!(get_healthz(&mut long_lived).await, "HTTP/1.1 200 OK");
        let fresh = handshake(&trusting_both, port).await;
        if presented(&fresh) == new_leaf {
            break;
        }
        assert_eq!(
            presented(&fresh),
            old_leaf,
            "served neither the old nor the new certificate"
        );
        assert!(Instant::now() < deadline, "the new certificate was never served");
        tokio::task::yield_now().await;
    }

    shutdown.cancel();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_bad_new_certificate_pair_keeps_the_old_one_serving() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    let ca = new_ca("only CA");
    let leaf = write_leaf(&ca, &cert_path, &key_path);
    let certificate = ReloadingCertificate::load(&cert_path, &key_path).unwrap();

    // A key that does not belong to the certificate, then a file that is not PEM at all.
    replace_file(&key_path, KeyPair::generate().unwrap().serialize_pem().as_bytes());
    assert_eq!(certificate.current().cert[0], leaf);
    replace_file(&cert_path, b"not a certificate");
    assert_eq!(certificate.current().cert[0], leaf);
}

#[test]
fn startup_with_an_unusable_pair_fails_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert_path, "garbage").unwrap();
    std::fs::write(&key_path, "garbage").unwrap();
    let error = ReloadingCertificate::load(&cert_path, &key_path)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("tls.crt") && error.contains("CERTIFICATE"),
        "{error}"
    );
}
