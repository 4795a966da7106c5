//! Development certificates (rcgen): a CA, server certificates with their names and addresses,
//! and client certificates for mutual TLS. `mom certs dev` writes them to files; the tests make
//! theirs with it too. Not a production PKI: keys are ECDSA P-256 made on this machine, the CA
//! lives 10 years and the certificates it issues 2.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

use crate::TlsError;

/// A certificate and its private key, in PEM.
#[derive(Clone)]
pub struct Issued {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key (PKCS#8).
    pub key_pem: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never a private key in a log.
        f.debug_struct("Issued").finish_non_exhaustive()
    }
}

/// A certificate authority that issues server and client certificates.
pub struct Authority {
    issuer: Issuer<'static, KeyPair>,
    issued: Issued,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority").finish_non_exhaustive()
    }
}

fn failed(name: &str) -> impl FnOnce(rcgen::Error) -> TlsError + '_ {
    move |err| TlsError::Generate {
        name: name.to_owned(),
        reason: err.to_string(),
    }
}

fn named(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "mom development");
    name.push(DnType::CommonName, common_name);
    name
}

impl Authority {
    /// Makes a new CA named `common_name`.
    pub fn generate(common_name: &str) -> Result<Self, TlsError> {
        let mut params =
            CertificateParams::new(Vec::<String>::new()).map_err(failed(common_name))?;
        params.distinguished_name = named(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(3650);
        let key = KeyPair::generate().map_err(failed(common_name))?;
        let cert = params.self_signed(&key).map_err(failed(common_name))?;
        let issued = Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        };
        Ok(Self {
            issuer: Issuer::new(params, key),
            issued,
        })
    }

    /// Returns the CA of an earlier [`Authority::generate`] from its PEM certificate and key.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, TlsError> {
        let key = KeyPair::from_pem(key_pem).map_err(failed("ca"))?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key).map_err(failed("ca"))?;
        Ok(Self {
            issuer,
            issued: Issued {
                cert_pem: cert_pem.to_owned(),
                key_pem: key_pem.to_owned(),
            },
        })
    }

    /// Returns the CA's own certificate and key.
    pub fn certificate(&self) -> &Issued {
        &self.issued
    }

    /// Issues a server certificate for `common_name`, valid for each of `names` (DNS names or
    /// IP addresses); it may authenticate a client too (a service calling another).
    pub fn issue_server(&self, common_name: &str, names: &[&str]) -> Result<Issued, TlsError> {
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        self.issue(
            common_name,
            names,
            vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
        )
    }

    /// Issues a client certificate whose subject common name is `common_name` (the principal
    /// a server with mutual TLS sees).
    pub fn issue_client(&self, common_name: &str) -> Result<Issued, TlsError> {
        self.issue(
            common_name,
            Vec::new(),
            vec![ExtendedKeyUsagePurpose::ClientAuth],
        )
    }

    fn issue(
        &self,
        common_name: &str,
        names: Vec<String>,
        usages: Vec<ExtendedKeyUsagePurpose>,
    ) -> Result<Issued, TlsError> {
        let mut params = CertificateParams::new(names).map_err(failed(common_name))?;
        params.distinguished_name = named(common_name);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = usages;
        params.use_authority_key_identifier_extension = true;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(730);
        let key = KeyPair::generate().map_err(failed(common_name))?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(failed(common_name))?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}
