//! `mom auth`: API keys for machines, integrators and people, and the role policy.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

/// Input `mom auth` cannot use (exit status 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(String);

/// Operator commands on credentials and the role policy.
#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Makes a new API key: prints the key once (store it in the client's secret store) and
    /// adds its hash to the key file (created when missing; an existing name is refused).
    NewKey {
        /// The principal the key authenticates, recorded as the actor of its events.
        #[arg(long)]
        name: String,
        /// A role of the policy (repeatable).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// The key file to add the entry to (the services' MOM_AUTH_API_KEYS).
        #[arg(long, env = "MOM_AUTH_API_KEYS")]
        key_file: PathBuf,
        /// Environment variable holding a second factor (PIN, at least 6 characters) for
        /// electronic signatures; never given on the command line.
        #[arg(long)]
        second_factor_env: Option<String>,
        /// Role policy the roles must exist in (the shipped one when not given).
        #[arg(long, env = "MOM_AUTH_POLICY")]
        policy: Option<PathBuf>,
    },
    /// Prints the role policy in effect (the shipped one, or --policy after checking it).
    Policy {
        /// A policy file to check and print.
        #[arg(long, env = "MOM_AUTH_POLICY")]
        policy: Option<PathBuf>,
    },
}

/// Runs an auth command.
pub fn run(command: AuthCommand) -> anyhow::Result<()> {
    match command {
        AuthCommand::NewKey {
            name,
            roles,
            key_file,
            second_factor_env,
            policy,
        } => new_key(name, roles, key_file, second_factor_env, policy),
        AuthCommand::Policy { policy } => match policy {
            Some(path) => {
                mom_auth::Policy::load(&path).map_err(|err| BadInput(err.to_string()))?;
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                print!("{text}");
                Ok(())
            }
            None => {
                print!("{}", mom_auth::policy::DEFAULT_POLICY);
                Ok(())
            }
        },
    }
}

fn new_key(
    name: String,
    roles: Vec<String>,
    key_file: PathBuf,
    second_factor_env: Option<String>,
    policy: Option<PathBuf>,
) -> anyhow::Result<()> {
    mom_auth::check_subject(&name).map_err(|err| BadInput(format!("--name: {err}")))?;
    let policy = match policy {
        Some(path) => mom_auth::Policy::load(&path).map_err(|err| BadInput(err.to_string()))?,
        None => mom_auth::Policy::default(),
    };
    if let Some(unknown) = roles
        .iter()
        .find(|r| !policy.roles().any(|p| p == r.as_str()))
    {
        return Err(BadInput(format!(
            "--role {unknown} is not a role of the policy (roles: {})",
            policy.roles().collect::<Vec<_>>().join(", ")
        ))
        .into());
    }
    let pin = match &second_factor_env {
        Some(var) => {
            let pin = std::env::var(var)
                .map_err(|_| BadInput(format!("--second-factor-env: {var} is not set")))?;
            if pin.chars().count() < 6 {
                return Err(BadInput(format!(
                    "--second-factor-env: the second factor in {var} must have at least 6 characters"
                ))
                .into());
            }
            Some(pin)
        }
        None => None,
    };
    let mut entries = match std::fs::read_to_string(&key_file) {
        Ok(text) => mom_auth::apikey::entries(&text)
            .map_err(|err| BadInput(format!("{}: {err}", key_file.display())))?,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", key_file.display())),
    };
    if entries.iter().any(|entry| entry.name == name) {
        return Err(BadInput(format!(
            "{} already has a key named {name}; remove its entry first to replace it",
            key_file.display()
        ))
        .into());
    }
    let roles: BTreeSet<String> = roles.into_iter().collect();
    let (key, entry) = mom_auth::apikey::new_key(&name, roles, pin.as_deref());
    entries.push(entry);
    write_private(&key_file, &mom_auth::apikey::key_file(entries))?;
    eprintln!(
        "added {name} to {}; the key is shown once:",
        key_file.display()
    );
    println!("{key}");
    Ok(())
}

/// Writes `text` to `path` readable by its owner only.
fn write_private(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let temporary = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&temporary)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}
