//! TLS end to end: `mom certs dev` makes files a service serves mutual TLS with, `mom serve`
//! refuses plaintext on a network address unless `--insecure`, and the Kafka pass-through
//! options make librdkafka speak TLS (to a TLS listener made here: the test broker, tansu, has
//! no TLS).

#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use mom_tls::{ClientTls, ClientTlsArgs, TlsArgs};
use tokio::io::AsyncReadExt;
use tokio_stream::StreamExt;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

fn mom_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let mut dir = exe.parent().unwrap().to_path_buf();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    let bin = dir.join(format!("mom{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "the `mom` binary is missing at {}: build it first (`cargo build -p mom`)",
        bin.display()
    );
    bin
}

/// `mom` with no MOM_* variable of the environment the tests run in.
fn mom() -> tokio::process::Command {
    let mut command = tokio::process::Command::new(mom_binary());
    for (key, _) in std::env::vars() {
        if key.starts_with("MOM_") {
            command.env_remove(key);
        }
    }
    command.stdin(Stdio::null()).kill_on_drop(true);
    command
}

fn client(dir: &Path, identity: Option<&str>) -> ClientTlsArgs {
    ClientTlsArgs {
        tls_ca: Some(dir.join("ca.pem")),
        tls_client_cert: identity.map(|name| dir.join(format!("{name}.pem"))),
        tls_client_key: identity.map(|name| dir.join(format!("{name}.key"))),
    }
}

async fn health(port: u16, client: &ClientTlsArgs) -> anyhow::Result<()> {
    let channel = ClientTls::load(client)?
        .endpoint(&format!("https://localhost:{port}"))?
        .timeout(Duration::from_secs(5))
        .connect()
        .await?;
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await?;
    Ok(())
}

#[tokio::test]
async fn certs_dev_makes_files_a_service_serves_mutual_tls_with() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let output = mom()
        .args(["certs", "dev", "--out"])
        .arg(&certs)
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8_lossy(&output.stdout);
    for variable in [
        "MOM_TLS_CERT=",
        "MOM_TLS_CLIENT_CA=",
        "MOM_TLS_CA=",
        "MOM_KAFKA_OPTIONS=",
    ] {
        assert!(printed.contains(variable), "{printed}");
    }
    // Idempotent: a second run keeps the CA (and so every certificate it signed).
    let ca = std::fs::read(certs.join("ca.pem")).unwrap();
    let again = mom()
        .args(["certs", "dev", "--out"])
        .arg(&certs)
        .output()
        .await
        .unwrap();
    assert!(again.status.success());
    assert_eq!(std::fs::read(certs.join("ca.pem")).unwrap(), ca);
    let bad = mom()
        .args(["certs", "dev", "--out"])
        .arg(certs.join("ca.pem"))
        .output()
        .await
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");

    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = mom_production::start(
        mom_production::ProductionConfig {
            store: support::store_args(format!(
                "sqlite:{}",
                dir.path().join("production.db").display()
            )),
            kafka: support::kafka_args(None),
            time: support::time_args(),
            security: mom_grpc::Security {
                tls: TlsArgs {
                    tls_cert: Some(certs.join("production.pem")),
                    tls_key: Some(certs.join("production.key")),
                    tls_client_ca: Some(certs.join("ca.pem")),
                    insecure: false,
                },
                ..Default::default()
            },
            grpc_addr: "127.0.0.1:0".parse().unwrap(),
        },
        shutdown.clone(),
    )
    .await
    .unwrap();
    let port = running.grpc_addr.port();
    health(port, &client(&certs, Some("processes-client")))
        .await
        .unwrap();
    health(port, &client(&certs, Some("admin"))).await.unwrap();
    assert!(health(port, &client(&certs, None)).await.is_err());
    shutdown.cancel();
    running.wait().await.unwrap();
}

#[tokio::test]
async fn serve_refuses_plaintext_on_a_network_address_unless_insecure() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite:{}", dir.path().join("p.db").display());
    let args = [
        "serve",
        "production",
        "--auth-disabled",
        "--grpc-addr",
        "0.0.0.0:0",
        "--database-url",
        &database,
    ];
    let refused = mom().args(args).output().await.unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    for expected in ["0.0.0.0:0", "--tls-cert", "--insecure"] {
        assert!(stderr.contains(expected), "{stderr}");
    }

    let mut insecure = mom()
        .args(args)
        .env("MOM_INSECURE", "true")
        .env("MOM_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = insecure.stderr.take().unwrap();
    let mut warned = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !String::from_utf8_lossy(&warned).contains("plaintext") {
        let read = tokio::time::timeout_at(deadline, stderr.read(&mut buf))
            .await
            .expect("no plaintext warning within 20 s")
            .unwrap();
        assert!(read > 0, "exited: {}", String::from_utf8_lossy(&warned));
        warned.extend_from_slice(&buf[..read]);
    }
    assert!(insecure.try_wait().unwrap().is_none(), "exited");
    insecure.start_kill().unwrap();
    insecure.wait().await.unwrap();
}

#[tokio::test]
async fn kafka_options_make_librdkafka_speak_tls_with_the_given_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = mom_tls::devcerts::Authority::generate("kafka test ca").unwrap();
    let server = ca.issue_server("kafka", &["localhost"]).unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let ca_file = write("ca.pem", &ca.certificate().cert_pem);
    let tls = TlsArgs {
        tls_cert: Some(write("kafka.pem", &server.cert_pem)),
        tls_key: Some(write("kafka.key", &server.key_pem)),
        tls_client_ca: None,
        insecure: false,
    };
    let tls = mom_tls::ServerTls::from_args(&tls, mom_tls::Protocol::Http1)
        .await
        .unwrap();
    let mut broker = mom_tls::Listener::bind("127.0.0.1:0".parse().unwrap(), tls)
        .await
        .unwrap();
    let port = broker.local_addr().unwrap().port();

    let options: Vec<mom_bus::KafkaOption> = [
        "security.protocol=ssl".to_owned(),
        format!("ssl.ca.location={}", ca_file.display()),
    ]
    .iter()
    .map(|option| option.parse().unwrap())
    .collect();
    mom_bus::install_client_options(&options);
    let publisher =
        mom_bus::Publisher::new(&format!("localhost:{port}"), Duration::from_secs(5)).unwrap();
    // librdkafka connects at once; the handshake verified our certificate against the CA and
    // its first Kafka request arrives over TLS.
    let mut stream = tokio::time::timeout(Duration::from_secs(20), broker.next())
        .await
        .expect("librdkafka did not complete a TLS handshake")
        .unwrap()
        .unwrap();
    assert!(stream.peer().tls);
    let mut request = [0u8; 8];
    stream.read_exact(&mut request).await.unwrap();
    drop(publisher);

    // A CA file that does not exist is named by librdkafka's refusal.
    let missing = dir.path().join("missing-ca.pem");
    mom_bus::install_client_options(&[
        "security.protocol=ssl".parse().unwrap(),
        format!("ssl.ca.location={}", missing.display())
            .parse()
            .unwrap(),
    ]);
    let err = mom_bus::Publisher::new(&format!("localhost:{port}"), Duration::from_secs(5))
        .unwrap_err()
        .to_string();
    assert!(err.contains("ssl.ca.location"), "{err}");
    mom_bus::install_client_options(&[]);
}

/// `GET /metrics` over TLS to `127.0.0.1:port`, trusting `ca` and presenting `identity`;
/// returns the whole response.
async fn scrape_tls(
    port: u16,
    ca: &mom_tls::devcerts::Issued,
    identity: Option<&mom_tls::devcerts::Issued>,
) -> anyhow::Result<String> {
    use tokio::io::AsyncWriteExt;
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(ca.cert_pem.as_bytes())?)?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let config = match identity {
        Some(identity) => builder.with_client_auth_cert(
            vec![CertificateDer::from_pem_slice(
                identity.cert_pem.as_bytes(),
            )?],
            PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes())?,
        )?,
        None => builder.with_no_client_auth(),
    };
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let mut tls = connector
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    tls.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut response = Vec::new();
    // TLS 1.3 reports a refused client certificate at the first read, not in the handshake.
    tls.read_to_end(&mut response).await?;
    Ok(String::from_utf8_lossy(&response).into_owned())
}

/// `GET /metrics` in plaintext; returns what came back (nothing from a TLS listener).
async fn scrape_plain(port: u16) -> anyhow::Result<String> {
    use tokio::io::AsyncWriteExt;
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), tcp.read_to_end(&mut response)).await??;
    Ok(String::from_utf8_lossy(&response).into_owned())
}

#[tokio::test]
async fn metrics_are_served_with_the_service_tls_and_not_in_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let ca = mom_tls::devcerts::Authority::generate("metrics test ca").unwrap();
    let server = ca
        .issue_server("production", &["localhost", "127.0.0.1"])
        .unwrap();
    let scraper = ca.issue_client("prometheus").unwrap();
    let other_ca = mom_tls::devcerts::Authority::generate("another ca").unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let ca_file = write("ca.pem", &ca.certificate().cert_pem);
    let cert = write("production.pem", &server.cert_pem);
    let key = write("production.key", &server.key_pem);
    let database = format!("sqlite:{}", dir.path().join("p.db").display());

    // Plaintext metrics on a network address are refused like the service's own listeners.
    let refused = mom()
        .args(["serve", "production", "--auth-disabled", "--grpc-addr"])
        .arg("127.0.0.1:0")
        .args(["--database-url", &database])
        .env("MOM_METRICS_ADDR", "0.0.0.0:0")
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    for expected in ["metrics", "0.0.0.0:0", "--tls-cert", "--insecure"] {
        assert!(stderr.contains(expected), "{stderr}");
    }

    let port = mom_testkit::free_port().unwrap();
    let mut service = mom()
        .args(["serve", "production", "--auth-disabled", "--grpc-addr"])
        .arg("127.0.0.1:0")
        .args(["--database-url", &database])
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .arg("--tls-client-ca")
        .arg(&ca_file)
        .env("MOM_METRICS_ADDR", format!("127.0.0.1:{port}"))
        .env("MOM_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // A scraper trusting the CA, with a client certificate from it (the service is mutual TLS).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let response = loop {
        match scrape_tls(port, ca.certificate(), Some(&scraper)).await {
            Ok(response) => break response,
            Err(err) => {
                assert!(service.try_wait().unwrap().is_none(), "mom exited");
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "no TLS scrape within 20 s: {err}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("text/plain; version=0.0.4"), "{response}");
    assert!(response.contains("# TYPE"), "{response}");

    // Without a client certificate, trusting another CA, or in plaintext: nothing.
    let without_identity = scrape_tls(port, ca.certificate(), None).await;
    assert!(without_identity.is_err(), "{without_identity:?}");
    let err = scrape_tls(port, other_ca.certificate(), Some(&scraper))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("UnknownIssuer"), "{err}");
    match scrape_plain(port).await {
        Ok(response) => assert!(!response.contains("HTTP/1.1 200"), "{response}"),
        Err(err) => assert!(!err.to_string().contains("timed out"), "{err}"),
    }

    service.start_kill().unwrap();
    service.wait().await.unwrap();
}
