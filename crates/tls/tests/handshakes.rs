//! Real TLS handshakes over loopback with certificates made here (rcgen): a gRPC server
//! (tonic, health service) and an HTTP/1.1 server (axum) on [`mom_tls::Listener`], clients
//! from [`mom_tls::ClientTls`].

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mom_tls::devcerts::{Authority, Issued};
use mom_tls::{ClientTls, ClientTlsArgs, Listener, Protocol, ServerTls, TlsArgs};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// Writes `issued` as `<name>.pem` and `<name>.key` under `dir`.
fn write(dir: &Path, name: &str, issued: &Issued) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&cert, &issued.cert_pem).unwrap();
    std::fs::write(&key, &issued.key_pem).unwrap();
    (cert, key)
}

fn write_ca(dir: &Path, name: &str, ca: &Authority) -> PathBuf {
    write(dir, name, ca.certificate()).0
}

fn server_args(cert: (PathBuf, PathBuf), client_ca: Option<PathBuf>) -> TlsArgs {
    TlsArgs {
        tls_cert: Some(cert.0),
        tls_key: Some(cert.1),
        tls_client_ca: client_ca,
        insecure: false,
    }
}

fn client_args(ca: Option<PathBuf>, cert: Option<(PathBuf, PathBuf)>) -> ClientTlsArgs {
    ClientTlsArgs {
        tls_ca: ca,
        tls_client_cert: cert.as_ref().map(|c| c.0.clone()),
        tls_client_key: cert.map(|c| c.1),
    }
}

type Seen = Arc<Mutex<Vec<Option<String>>>>;

/// Starts a gRPC health server with `args` on loopback; every request's client-certificate CN
/// ([`mom_tls::peer_subject`]) is pushed to the returned list.
async fn grpc_server(args: &TlsArgs) -> (SocketAddr, Seen) {
    let tls = ServerTls::from_args(args, Protocol::Grpc)
        .await
        .unwrap()
        .unwrap();
    tls.set_reload_check_every(Duration::from_millis(50));
    let listener = Listener::bind("127.0.0.1:0".parse().unwrap(), Some(tls))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let (_reporter, health) = tonic_health::server::health_reporter();
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(tower::util::MapRequestLayer::new(
                move |request: http::Request<tonic::body::Body>| {
                    record
                        .lock()
                        .unwrap()
                        .push(mom_tls::peer_subject(request.extensions()));
                    request
                },
            ))
            .add_service(health)
            .serve_with_incoming(listener),
    );
    (addr, seen)
}

/// Calls the health service at `addr` as `localhost` over TLS with `client`.
async fn grpc_check(addr: SocketAddr, client: &ClientTlsArgs) -> anyhow::Result<()> {
    let endpoint = ClientTls::load(client)?
        .endpoint(&format!("https://localhost:{}", addr.port()))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5));
    let channel = endpoint.connect().await?;
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await?;
    Ok(())
}

#[tokio::test]
async fn grpc_over_tls_answers_a_client_trusting_the_ca_and_not_one_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::generate("test ca").unwrap();
    let ca_file = write_ca(dir.path(), "ca", &ca);
    let server = write(
        dir.path(),
        "server",
        &ca.issue_server("production", &["localhost", "127.0.0.1"])
            .unwrap(),
    );
    let (addr, seen) = grpc_server(&server_args(server, None)).await;

    grpc_check(addr, &client_args(Some(ca_file), None))
        .await
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![None], "no client certificate");

    // Without the CA the client trusts only the public web CAs.
    let err = grpc_check(addr, &client_args(None, None))
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("UnknownIssuer"), "{err:?}");

    // Plaintext against a TLS port gets nowhere either.
    let plain = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .timeout(Duration::from_secs(5))
        .connect()
        .await;
    if let Ok(channel) = plain {
        let answered = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await;
        assert!(answered.is_err());
    }
}

#[tokio::test]
async fn mutual_tls_wants_a_certificate_from_the_client_ca_and_hands_its_common_name_on() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::generate("test ca").unwrap();
    let ca_file = write_ca(dir.path(), "ca", &ca);
    let other_ca = Authority::generate("other ca").unwrap();
    let server = write(
        dir.path(),
        "server",
        &ca.issue_server("production", &["localhost"]).unwrap(),
    );
    let (addr, seen) = grpc_server(&server_args(server, Some(ca_file.clone()))).await;

    let no_cert = grpc_check(addr, &client_args(Some(ca_file.clone()), None)).await;
    assert!(no_cert.is_err(), "a client without a certificate got in");

    let stranger = write(
        dir.path(),
        "stranger",
        &other_ca.issue_client("processes").unwrap(),
    );
    let foreign = grpc_check(addr, &client_args(Some(ca_file.clone()), Some(stranger))).await;
    assert!(foreign.is_err(), "a certificate of another CA got in");
    assert!(
        seen.lock().unwrap().is_empty(),
        "a refused client reached the service"
    );

    let processes = write(
        dir.path(),
        "processes",
        &ca.issue_client("processes").unwrap(),
    );
    grpc_check(addr, &client_args(Some(ca_file), Some(processes)))
        .await
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![Some("processes".to_owned())]);
}

#[tokio::test]
async fn a_replaced_certificate_is_served_without_restart_and_a_broken_one_keeps_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let old_ca = Authority::generate("old ca").unwrap();
    let new_ca = Authority::generate("new ca").unwrap();
    let old_ca_file = write_ca(dir.path(), "old-ca", &old_ca);
    let new_ca_file = write_ca(dir.path(), "new-ca", &new_ca);
    let files = write(
        dir.path(),
        "server",
        &old_ca.issue_server("production", &["localhost"]).unwrap(),
    );
    let (addr, _) = grpc_server(&server_args(files.clone(), None)).await;
    grpc_check(addr, &client_args(Some(old_ca_file.clone()), None))
        .await
        .unwrap();

    write(
        dir.path(),
        "server",
        &new_ca.issue_server("production", &["localhost"]).unwrap(),
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    // The first handshake after the check period reloads; a channel is a new handshake.
    grpc_check(addr, &client_args(Some(new_ca_file.clone()), None))
        .await
        .unwrap();
    assert!(grpc_check(addr, &client_args(Some(old_ca_file), None))
        .await
        .is_err());

    std::fs::write(&files.0, "not a certificate").unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    grpc_check(addr, &client_args(Some(new_ca_file.clone()), None))
        .await
        .unwrap();
    grpc_check(addr, &client_args(Some(new_ca_file), None))
        .await
        .unwrap();
}

/// GETs `/` over TLS as `localhost` with `client`; returns the response's body.
async fn https_get(addr: SocketAddr, client: &ClientTlsArgs) -> anyhow::Result<String> {
    let config = ClientTls::load(client)?.http_config()?;
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = rustls_pki_types::ServerName::try_from("localhost")?;
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?;
    tls.write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await?;
    let mut response = String::new();
    tls.read_to_string(&mut response).await?;
    anyhow::ensure!(response.starts_with("HTTP/1.1 200"), "{response}");
    Ok(response
        .rsplit("\r\n")
        .next()
        .unwrap_or_default()
        .to_owned())
}

#[tokio::test]
async fn https_listener_serves_axum_and_hands_the_client_certificate_to_handlers() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::generate("test ca").unwrap();
    let ca_file = write_ca(dir.path(), "ca", &ca);
    let other_ca = Authority::generate("other ca").unwrap();
    let server = write(
        dir.path(),
        "server",
        &ca.issue_server("dashboard", &["localhost"]).unwrap(),
    );
    let args = server_args(server, Some(ca_file.clone()));
    let tls = ServerTls::from_args(&args, Protocol::Http1).await.unwrap();
    let listener = Listener::bind("127.0.0.1:0".parse().unwrap(), tls)
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let router = axum::Router::new().route(
        "/",
        axum::routing::get(|request: axum::extract::Request| async move {
            mom_tls::peer_subject(request.extensions()).unwrap_or_else(|| "nobody".to_owned())
        }),
    );
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<mom_tls::PeerInfo>(),
        )
        .await
    });

    let admin = write(dir.path(), "admin", &ca.issue_client("admin").unwrap());
    let body = https_get(addr, &client_args(Some(ca_file.clone()), Some(admin)))
        .await
        .unwrap();
    assert_eq!(body, "admin");

    assert!(https_get(addr, &client_args(Some(ca_file.clone()), None))
        .await
        .is_err());
    let stranger = write(
        dir.path(),
        "stranger",
        &other_ca.issue_client("admin").unwrap(),
    );
    assert!(https_get(addr, &client_args(Some(ca_file), Some(stranger)))
        .await
        .is_err());
}
