//! `clusterSecrets` lookups: the Secrets Flux objects name that live only in the cluster,
//! mapped in `pushdeploy.yaml`. A missing one is a problem saying exactly what to add.

use super::Context;
use super::raw::RawClusterSecret;
use super::settings::Origin;

/// A cluster-only Secret with where it is written, or a problem saying exactly what to add to
/// `pushdeploy.yaml`.
pub(super) fn cluster_secret(
    context: &mut Context<'_>,
    origin: &Origin,
    referrer: &str,
    key: &str,
    example: &str,
) -> Option<(Origin, RawClusterSecret)> {
    if !context.cluster_secrets.contains_key(key) {
        if !context.broken.has("Secret", key) {
            context.problems.add(
                origin,
                format!(
                    "{referrer} references Secret {key}, which is not in the manifests (it lives in the cluster); \
                     add to pushdeploy.yaml:  clusterSecrets: {{{key}: {example}}}{}",
                    context.broken.note()
                ),
            );
        }
        return None;
    }
    context.cluster_secrets.get(key).cloned()
}
