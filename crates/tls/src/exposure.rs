//! The refusal to serve plaintext where other hosts can connect.

use std::net::SocketAddr;

use crate::{TlsArgs, TlsError};

/// Checks that a server with `tls` may listen on `addrs`: with a certificate anything goes;
/// without one, only loopback addresses (127.0.0.0/8, ::1). A non-loopback address (0.0.0.0
/// and :: included) is refused with an error naming it and the flags, unless `--insecure`,
/// which logs a warning naming each such address (at every start).
pub fn check_exposure(addrs: &[SocketAddr], tls: &TlsArgs) -> Result<(), TlsError> {
    if tls.enabled() {
        return Ok(());
    }
    for &addr in addrs {
        if addr.ip().is_loopback() {
            continue;
        }
        if !tls.insecure {
            return Err(TlsError::PlaintextExposed { addr });
        }
        tracing::warn!(
            %addr,
            "serving plaintext on a network address (--insecure, MOM_INSECURE): anyone on the \
             network can read and alter the traffic"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn plaintext_on_a_network_address_is_refused_naming_the_address_and_the_flags() {
        let err = check_exposure(
            &[addr("127.0.0.1:50051"), addr("0.0.0.0:8086")],
            &TlsArgs::default(),
        )
        .unwrap_err();
        let message = err.to_string();
        for expected in [
            "0.0.0.0:8086",
            "--tls-cert",
            "MOM_TLS_CERT",
            "--insecure",
            "MOM_INSECURE",
        ] {
            assert!(message.contains(expected), "{message} lacks {expected}");
        }
        assert!(check_exposure(&[addr("[::]:50051")], &TlsArgs::default()).is_err());
        assert!(check_exposure(&[addr("10.1.2.3:50051")], &TlsArgs::default()).is_err());
    }

    #[test]
    fn loopback_tls_or_insecure_may_start() {
        let loopback = [addr("127.0.0.1:50051"), addr("[::1]:8086")];
        assert!(check_exposure(&loopback, &TlsArgs::default()).is_ok());
        let insecure = TlsArgs {
            insecure: true,
            ..TlsArgs::default()
        };
        assert!(check_exposure(&[addr("0.0.0.0:50051")], &insecure).is_ok());
        let tls = TlsArgs {
            tls_cert: Some("cert.pem".into()),
            tls_key: Some("key.pem".into()),
            ..TlsArgs::default()
        };
        assert!(check_exposure(&[addr("0.0.0.0:50051")], &tls).is_ok());
    }
}
