//! `mom certs dev`: the development certificates of a distributed deployment in one command (a
//! CA, a server certificate per service, client certificates for the process managers and an
//! administrator), and the environment variables that use them. docs/tls.md.

use std::path::{Path, PathBuf};

use mom_tls::devcerts::{Authority, Issued};

/// Every service and backing server that gets a server certificate; each name is also the host
/// name of the service in docker-compose.yml and deploy/k8s.
pub const SERVICES: &[&str] = &[
    "production",
    "quality",
    "maintenance",
    "inventory",
    "oee",
    "projections",
    "dashboard",
    "processes",
    "edge",
    "postgres",
    "kafka",
];

/// Client certificates (mutual TLS): the process managers and an administrator.
pub const CLIENTS: &[&str] = &["processes-client", "admin"];

/// Certificate commands.
#[derive(Debug, clap::Subcommand)]
pub enum CertsCommand {
    /// Writes a development CA and certificates into a directory and prints the variables that
    /// use them. Existing files are kept (run again after adding a name), --force makes new ones.
    Dev(DevArgs),
}

/// Options of `mom certs dev`.
#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// Directory for the files (created when missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace existing files, the CA included (every certificate must then be redistributed).
    #[arg(long)]
    pub force: bool,
}

/// A usage error (exit status 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(String);

/// Runs a certificate command.
pub fn run(command: CertsCommand) -> anyhow::Result<()> {
    match command {
        CertsCommand::Dev(args) => dev(&args),
    }
}

fn dev(args: &DevArgs) -> anyhow::Result<()> {
    let out = &args.out;
    if out.exists() && !out.is_dir() {
        return Err(BadInput(format!("--out {} is not a directory", out.display())).into());
    }
    std::fs::create_dir_all(out)
        .map_err(|err| BadInput(format!("cannot create --out {}: {err}", out.display())))?;
    let (ca_cert, ca_key) = (out.join("ca.pem"), out.join("ca.key"));
    let ca = match (ca_cert.exists(), ca_key.exists(), args.force) {
        (true, true, false) => {
            let cert = std::fs::read_to_string(&ca_cert)?;
            let key = std::fs::read_to_string(&ca_key)?;
            Authority::from_pem(&cert, &key).map_err(|err| {
                BadInput(format!(
                    "{} and {} are not a usable CA ({err}); remove them or pass --force",
                    ca_cert.display(),
                    ca_key.display()
                ))
            })?
        }
        (true, false, false) | (false, true, false) => {
            return Err(BadInput(format!(
                "{} and {} must both exist (the CA) or neither; remove the other or pass --force",
                ca_cert.display(),
                ca_key.display()
            ))
            .into())
        }
        _ => {
            let ca = Authority::generate("mom development CA")?;
            write_pair(out, "ca", ca.certificate())?;
            println!("wrote {} (new CA)", ca_cert.display());
            ca
        }
    };
    for service in SERVICES {
        if args.force || !exists(out, service) {
            let names = server_names(service);
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            write_pair(out, service, &ca.issue_server(service, &names)?)?;
        }
    }
    for client in CLIENTS {
        if args.force || !exists(out, client) {
            // The process managers are known by the name `processes`.
            let name = client.strip_suffix("-client").unwrap_or(client);
            write_pair(out, client, &ca.issue_client(name)?)?;
        }
    }
    print_env(&std::path::absolute(out)?);
    Ok(())
}

/// The names a service's certificate is valid for: its compose and k8s host names, localhost.
fn server_names(service: &str) -> Vec<String> {
    vec![
        service.to_owned(),
        format!("{service}.mom"),
        format!("{service}.mom.svc"),
        format!("{service}.mom.svc.cluster.local"),
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ]
}

fn exists(dir: &Path, name: &str) -> bool {
    dir.join(format!("{name}.pem")).exists() && dir.join(format!("{name}.key")).exists()
}

fn write_pair(dir: &Path, name: &str, issued: &Issued) -> anyhow::Result<()> {
    std::fs::write(dir.join(format!("{name}.pem")), &issued.cert_pem)?;
    let key = dir.join(format!("{name}.key"));
    // The private key is readable by its owner only, from its first byte on.
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(&key)?, issued.key_pem.as_bytes())?;
    Ok(())
}

fn print_env(dir: &Path) {
    let d = dir.display();
    println!(
        "\
# Development certificates in {d} (CA: ca.pem; a NAME.pem/NAME.key pair per service).
# A service, e.g. production (every `mom serve` listener, gRPC and HTTP):
MOM_TLS_CERT={d}/production.pem
MOM_TLS_KEY={d}/production.key
# ...and to require client certificates from this CA (mutual TLS):
MOM_TLS_CLIENT_CA={d}/ca.pem
# Clients (process managers, the dashboard's proxy) calling https:// URLs:
MOM_TLS_CA={d}/ca.pem
MOM_TLS_CLIENT_CERT={d}/processes-client.pem
MOM_TLS_CLIENT_KEY={d}/processes-client.key
# Postgres (server: ssl_cert_file={d}/postgres.pem, ssl_key_file={d}/postgres.key):
#   MOM_DATABASE_URL=postgres://...@postgres/...?sslmode=verify-full&sslrootcert={d}/ca.pem
# Kafka (broker: kafka.pem/kafka.key):
MOM_KAFKA_OPTIONS=security.protocol=ssl,ssl.ca.location={d}/ca.pem
# An administrator's client certificate: {d}/admin.pem, {d}/admin.key"
    );
}
