//! Commit signing keys parsed into signers: an OpenPGP key (rPGP) or an OpenSSH key (`ssh-key`),
//! producing the text git stores in a commit's `gpgsig` header. A leaf: it imports nothing of
//! ours, so `config` (load-time check) and `gitops` (write time) share one parser. Key material
//! and passphrases never appear in `Debug`, logs or errors.

use pgp::composed::{ArmorOptions, Deserializable, DetachedSignature, SignedSecretKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::types::Password;
use secrecy::{ExposeSecret, SecretString};

/// Why a key cannot sign; the texts say what to do and never contain key material.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The text is not a private key of the expected format at all.
    #[error("is not {expected}: {why}; put the private key there (or fix signingKey.type)")]
    NotAKey { expected: &'static str, why: String },
    /// A public key where the private key belongs.
    #[error("holds a public key; signing needs the private key ({hint})")]
    PublicKey { hint: &'static str },
    /// The key is encrypted and no passphrase was given.
    #[error("is encrypted with a passphrase, and none is given; add it ({where_})")]
    PassphraseMissing { where_: &'static str },
    /// The passphrase does not decrypt the key.
    #[error("cannot be decrypted with the given passphrase; put the right one in {where_}")]
    WrongPassphrase { where_: &'static str },
    /// A kind of key this build refuses on purpose, and what to use instead.
    #[error("is {what}, which is not supported: {why}; use {instead}")]
    Unsupported {
        what: &'static str,
        why: &'static str,
        instead: &'static str,
    },
    /// Signing itself failed (a key algorithm this build cannot sign with, or a bug).
    #[error("cannot sign: {0}")]
    Failed(String),
}

impl SignError {
    /// Signing failed for `error`'s reason (never key material: the libraries' errors name none).
    fn failed(error: impl std::fmt::Display) -> Self {
        Self::Failed(error.to_string())
    }
}

/// A parsed commit signing key.
pub struct Signer {
    inner: Inner,
}

enum Inner {
    Gpg {
        key: Box<SignedSecretKey>,
        passphrase: Password,
    },
    Ssh(Box<ssh_key::PrivateKey>),
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.inner {
            Inner::Gpg { .. } => "gpg",
            Inner::Ssh(_) => "ssh",
        };
        write!(f, "Signer({kind}, key redacted)")
    }
}

const GPG_PASSPHRASE: &str = "the Secret's passphrase key or clusterSecrets passphrase";
const SSH_PASSWORD: &str = "the Secret's password key or clusterSecrets passphrase";

impl Signer {
    /// Parse an ASCII-armored OpenPGP private key and prove the passphrase unlocks its signing
    /// key now, so that a wrong one is a configuration problem, not a failed commit.
    pub fn gpg(armored: &SecretString, passphrase: Option<&SecretString>) -> Result<Self, SignError> {
        let text = armored.expose_secret();
        if text.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----") && !text.contains("PRIVATE KEY") {
            return Err(SignError::PublicKey {
                hint: "gpg --export-secret-keys --armor KEYID",
            });
        }
        if text.contains("-----BEGIN OPENSSH PRIVATE KEY-----") {
            return Err(SignError::NotAKey {
                expected: "an ASCII-armored OpenPGP private key",
                why: "it is an OpenSSH private key (set signingKey.type: ssh and give it as identity)"
                    .to_owned(),
            });
        }
        let (key, _) = SignedSecretKey::from_string(text).map_err(|error| SignError::NotAKey {
            expected: "an ASCII-armored OpenPGP private key",
            why: error.to_string(),
        })?;
        let passphrase = passphrase.map_or_else(Password::empty, |pass| Password::from(pass.expose_secret()));
        let (signing, encrypted) = signing_key(&key);
        if encrypted && passphrase.read().is_empty() {
            return Err(SignError::PassphraseMissing {
                where_: GPG_PASSPHRASE,
            });
        }
        unlocks(&key, &passphrase).map_err(|_| SignError::WrongPassphrase {
            where_: GPG_PASSPHRASE,
        })?;
        // A trial signature proves this build can sign with the key's algorithm.
        pgp_detached(signing, &passphrase, b"pushdeploy load-time check")?;
        Ok(Self {
            inner: Inner::Gpg {
                key: Box::new(key),
                passphrase,
            },
        })
    }

    /// Parse an OpenSSH private key, decrypting it with `password` if it is encrypted.
    pub fn ssh(openssh: &SecretString, password: Option<&SecretString>) -> Result<Self, SignError> {
        let text = openssh.expose_secret().trim();
        if text.starts_with("ssh-") || text.starts_with("ecdsa-") || text.starts_with("sk-") {
            return Err(SignError::PublicKey {
                hint: "the file without .pub, beginning -----BEGIN OPENSSH PRIVATE KEY-----",
            });
        }
        if text.contains("-----BEGIN PGP ") {
            return Err(SignError::NotAKey {
                expected: "an OpenSSH private key",
                why: "it is an OpenPGP key (set signingKey.type: gpg and give it as git.asc)".to_owned(),
            });
        }
        let key = ssh_key::PrivateKey::from_openssh(text).map_err(|error| SignError::NotAKey {
            expected: "an OpenSSH private key",
            why: error.to_string(),
        })?;
        if key.algorithm()
            == (ssh_key::Algorithm::Ecdsa {
                curve: ssh_key::EcdsaCurve::NistP521,
            })
        {
            return Err(SignError::Unsupported {
                what: "an ECDSA P-521 key",
                why: "ssh-key 0.6.7 misreads the private part of about a third of P-521 keys, so such a key would work or not by chance",
                instead: "an ed25519, ECDSA P-256/P-384 or RSA key",
            });
        }
        let key = if key.is_encrypted() {
            let Some(password) = password else {
                return Err(SignError::PassphraseMissing { where_: SSH_PASSWORD });
            };
            key.decrypt(password.expose_secret().as_bytes())
                .map_err(|error| match error {
                    // The check numbers differ: the passphrase derived another key.
                    ssh_key::Error::Crypto => SignError::WrongPassphrase { where_: SSH_PASSWORD },
                    other => SignError::NotAKey {
                        expected: "an OpenSSH private key this build can read",
                        why: format!("its private part does not decode ({other})"),
                    },
                })?
        } else {
            key
        };
        let signer = Self {
            inner: Inner::Ssh(Box::new(key)),
        };
        // A trial signature proves this build can sign with the key's algorithm (ed25519,
        // ECDSA P-256/384, RSA; not DSA or security-key `sk-` keys).
        signer.sign(b"pushdeploy load-time check")?;
        Ok(signer)
    }

    /// What git stores in the `gpgsig` header for `commit_buffer`: an armored OpenPGP detached
    /// signature, or an SSH signature in namespace `git` over SHA-512 (`ssh-keygen -Y sign -n git`).
    pub fn sign(&self, commit_buffer: &[u8]) -> Result<String, SignError> {
        match &self.inner {
            Inner::Gpg { key, passphrase } => {
                let (signing, _) = signing_key(key);
                pgp_detached(signing, passphrase, commit_buffer)
            }
            Inner::Ssh(key) => {
                let signature = match key.key_data().rsa() {
                    Some(pair) => rsa_sshsig(key, pair, commit_buffer)?,
                    None => key
                        .sign("git", ssh_key::HashAlg::Sha512, commit_buffer)
                        .map_err(SignError::failed)?,
                };
                signature
                    .to_pem(ssh_key::LineEnding::LF)
                    .map_err(SignError::failed)
            }
        }
    }
}

/// An SshSig in namespace `git` with an RSA key (`rsa-sha2-512`), signed with the `rsa` crate:
/// ssh-key 0.6.7 cannot sign with RSA keys itself (its conversion to `rsa::RsaPrivateKey` passes
/// the prime `p` twice, so every RSA signature fails with "cryptographic error").
fn rsa_sshsig(
    key: &ssh_key::PrivateKey,
    pair: &ssh_key::private::RsaKeypair,
    message: &[u8],
) -> Result<ssh_key::SshSig, SignError> {
    use rsa::signature::{SignatureEncoding as _, Signer as _};
    let int = |value: &ssh_key::Mpint| {
        value
            .as_positive_bytes()
            .map(rsa::BigUint::from_bytes_be)
            .ok_or_else(|| SignError::Failed("the RSA key has a negative component".to_owned()))
    };
    let private = rsa::RsaPrivateKey::from_components(
        int(&pair.public.n)?,
        int(&pair.public.e)?,
        int(&pair.private.d)?,
        vec![int(&pair.private.p)?, int(&pair.private.q)?],
    )
    .map_err(SignError::failed)?;
    let hash = ssh_key::HashAlg::Sha512;
    let signed = ssh_key::SshSig::signed_data("git", hash, message).map_err(SignError::failed)?;
    let data = rsa::pkcs1v15::SigningKey::<sha2::Sha512>::new(private)
        .try_sign(&signed)
        .map_err(SignError::failed)?
        .to_vec();
    let algorithm = ssh_key::Algorithm::Rsa { hash: Some(hash) };
    let signature = ssh_key::Signature::new(algorithm, data).map_err(SignError::failed)?;
    ssh_key::SshSig::new(key.public_key().key_data().clone(), "git", hash, signature)
        .map_err(SignError::failed)
}

/// The key that signs, and whether it is encrypted: the first secret subkey bound with the
/// signing flag (gpg's default layout is a certifying primary plus subkeys), else the primary.
fn signing_key(key: &SignedSecretKey) -> (&dyn pgp::types::SigningKey, bool) {
    match key
        .secret_subkeys
        .iter()
        .find(|subkey| subkey.signatures.iter().any(|sig| sig.key_flags().sign()))
    {
        Some(subkey) => (&subkey.key, subkey.key.secret_params().is_encrypted()),
        None => (&key.primary_key, key.primary_key.secret_params().is_encrypted()),
    }
}

/// An armored OpenPGP detached signature of `data` (binary, as git's gpg makes).
fn pgp_detached(
    signing: &dyn pgp::types::SigningKey,
    passphrase: &Password,
    data: &[u8],
) -> Result<String, SignError> {
    // rPGP takes rand_core 0.6 RNGs (ssh-key re-exports that version; ours is 0.9).
    let signature = DetachedSignature::sign_binary_data(
        ssh_key::rand_core::OsRng,
        &Box::new(signing),
        passphrase,
        sign_hash(signing),
        data,
    )
    .map_err(SignError::failed)?;
    signature
        .to_armored_string(ArmorOptions::default())
        .map_err(SignError::failed)
}

/// Whether `passphrase` decrypts the signing key (rPGP checks the key's checksum).
fn unlocks(key: &SignedSecretKey, passphrase: &Password) -> pgp::errors::Result<()> {
    match key
        .secret_subkeys
        .iter()
        .find(|subkey| subkey.signatures.iter().any(|sig| sig.key_flags().sign()))
    {
        Some(subkey) => subkey.key.unlock(passphrase, |_, _| Ok(()))?,
        None => key.primary_key.unlock(passphrase, |_, _| Ok(()))?,
    }
}

/// The key's recommended hash, SHA-256 when it recommends none (git's gpg uses SHA-256 too).
fn sign_hash(key: &dyn pgp::types::SigningKey) -> HashAlgorithm {
    match key.hash_alg() {
        HashAlgorithm::None => HashAlgorithm::Sha256,
        hash => hash,
    }
}
