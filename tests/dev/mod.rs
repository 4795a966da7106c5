//! A real `mom dev` in its own process, for the tests of the `mom` binary.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tonic::transport::Channel;

/// A running `mom dev`, killed when dropped.
pub struct Dev {
    pub child: std::process::Child,
    pub grpc: std::collections::HashMap<String, String>,
    pub http: String,
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Dev {
    /// Starts `mom dev --no-simulate` on free loopback ports in `dir`.
    pub fn start(dir: &Path) -> Dev {
        Self::start_with(dir, &[])
    }

    /// Starts it with `extra` arguments (authentication settings, say).
    pub fn start_with(dir: &Path, extra: &[&str]) -> Dev {
        Self::start_env(dir, extra, &[])
    }

    /// Starts it with `extra` arguments and `env` variables (`MOM_CLOCK_START`, say).
    pub fn start_env(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Dev {
        Self::launch(dir, &[&["--no-simulate"], extra].concat(), env)
    }

    /// Starts `mom dev` with the plant simulator on, with `extra` arguments (`--seed`, say) and
    /// `env` variables.
    pub fn start_simulating(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Dev {
        Self::launch(dir, extra, env)
    }

    fn launch(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Dev {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mom"))
            .env_remove("MOM_DATABASE_URL")
            .env_remove(mom_clock::MAX_FUTURE_SKEW_VAR)
            .env_remove(mom_clock::MAX_EVENT_AGE_VAR)
            .env("MOM_LOG", "warn")
            .env("MOM_MAX_STREAMS", "16")
            .args([
                "dev",
                "--grpc-addr",
                "127.0.0.1:0",
                "--http-addr",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(dir)
            .args(extra)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut grpc = std::collections::HashMap::new();
        let mut http = String::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline && (grpc.len() < 6 || http.is_empty()) {
            let Some(Ok(line)) = lines.next() else { break };
            match line.split_whitespace().collect::<Vec<_>>().as_slice() {
                [service, "gRPC", address] => {
                    grpc.insert(service.to_string(), address.to_string());
                }
                ["dashboard", address] => {
                    http = address
                        .trim_start_matches("http://")
                        .trim_end_matches('/')
                        .to_owned();
                }
                _ => {}
            }
        }
        // Keep draining stdout so the process never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        assert_eq!(
            grpc.len(),
            6,
            "mom dev did not print its addresses: {grpc:?}"
        );
        Dev { child, grpc, http }
    }

    pub async fn channel(&self, service: &str) -> Channel {
        Channel::from_shared(self.grpc[service].clone())
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// Resident memory of the process, in MiB.
    pub fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kib: f64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        kib / 1024.0
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// A plain HTTP/1.1 GET: the status code and the body.
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    http_get_with(addr, path, &[])
}

/// A plain HTTP/1.1 GET with extra `headers`: the status code and the body.
pub fn http_get_with(addr: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{}\r\n",
        headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}\r\n"))
            .collect::<String>()
    )
    .unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let code = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = response
        .find("\r\n\r\n")
        .map(|i| response[i + 4..].to_owned())
        .unwrap_or_default();
    (code, body)
}
