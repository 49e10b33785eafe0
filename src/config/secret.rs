//! Secret references: `{fromEnv: VAR}` or `{fromFile: path}`. Secrets are never required inline,
//! are resolved once at load into `SecretString`, and never appear in output or errors.
//! An empty or whitespace-only value is refused from either source: an empty HMAC key or token
//! would let anyone authenticate.

use secrecy::SecretString;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Where a secret comes from.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretRef {
    pub from_env: Option<String>,
    pub from_file: Option<PathBuf>,
}

impl SecretRef {
    /// Resolve through `env` (the process environment in production, a map in tests). File paths
    /// are relative to `base`. Trailing newlines in a file are dropped (as `kubectl` writes them);
    /// nothing else is trimmed.
    pub fn resolve(&self, base: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<SecretString, String> {
        match (&self.from_env, &self.from_file) {
            (Some(var), None) => env(var)
                .filter(|value| !value.trim().is_empty())
                .map(SecretString::from)
                .ok_or_else(|| format!("environment variable {var} is not set (or empty or only whitespace); export it before starting pushdeploy")),
            (None, Some(path)) => {
                let path = base.join(path);
                let text = std::fs::read_to_string(&path)
                    .map_err(|error| format!("cannot read secret file {}: {error}", path.display()))?;
                let value = text.trim_end_matches(['\n', '\r']);
                if value.trim().is_empty() {
                    return Err(format!(
                        "secret file {} is empty (or only whitespace); write the secret into it (an empty secret would let anyone authenticate)",
                        path.display()
                    ));
                }
                Ok(SecretString::from(value.to_owned()))
            }
            _ => Err("a secret needs exactly one of fromEnv or fromFile".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn from_file(dir: &Path, content: &str) -> Result<SecretString, String> {
        std::fs::write(dir.join("s"), content).unwrap();
        let reference = SecretRef {
            from_env: None,
            from_file: Some("s".into()),
        };
        reference.resolve(dir, &|_| None)
    }

    #[test]
    fn empty_or_whitespace_secret_files_are_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        for content in ["", "\n", "\r\n", "   ", " \t\n", "\n\n"] {
            let error = from_file(dir.path(), content).unwrap_err();
            assert!(
                error.contains("is empty") && error.contains(&dir.path().join("s").display().to_string()),
                "{content:?}: {error}"
            );
        }
    }

    #[test]
    fn secret_files_lose_trailing_newlines_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let secret = from_file(dir.path(), " key with spaces \r\n\n").unwrap();
        assert_eq!(secret.expose_secret(), " key with spaces ");
    }

    #[test]
    fn whitespace_only_environment_values_are_refused() {
        let reference = SecretRef {
            from_env: Some("V".into()),
            from_file: None,
        };
        for value in ["", " ", "\t\n"] {
            let error = reference
                .resolve(Path::new("."), &|_| Some(value.to_owned()))
                .unwrap_err();
            assert!(error.contains("environment variable V"), "{error}");
        }
    }
}
