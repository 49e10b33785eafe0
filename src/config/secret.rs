//! Secret references: `{fromEnv: VAR}` or `{fromFile: path}`. Secrets are never required inline,
//! are resolved once at load into `SecretString`, and never appear in output or errors.

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
    /// are relative to `base`. A trailing newline in a file is dropped (as `kubectl` writes them).
    pub fn resolve(&self, base: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<SecretString, String> {
        match (&self.from_env, &self.from_file) {
            (Some(var), None) => env(var)
                .filter(|value| !value.is_empty())
                .map(SecretString::from)
                .ok_or_else(|| format!("environment variable {var} is not set (or empty); export it before starting pushdeploy")),
            (None, Some(path)) => {
                let path = base.join(path);
                let text = std::fs::read_to_string(&path)
                    .map_err(|error| format!("cannot read secret file {}: {error}", path.display()))?;
                Ok(SecretString::from(text.trim_end_matches(['\n', '\r']).to_owned()))
            }
            _ => Err("a secret needs exactly one of fromEnv or fromFile".to_owned()),
        }
    }
}
