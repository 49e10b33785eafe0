//! Write access without changing the remote: connect for fetch (upload-pack) and then for push
//! (receive-pack, reading its ref advertisement), and disconnect. A key that can fetch but not
//! push is a read-only deploy key.

use super::GitopsError;
use super::workspace::Workspace;

/// `Ok` when the remote accepts us for pushing; `ReadOnlyKey` when it accepts us for fetching only.
pub fn write_access(workspace: &mut Workspace) -> Result<(), GitopsError> {
    workspace.probe(git2::Direction::Fetch)?;
    match workspace.probe(git2::Direction::Push) {
        Ok(()) => Ok(()),
        Err(error @ (GitopsError::HostKeyMismatch { .. } | GitopsError::UnknownHost { .. })) => Err(error),
        Err(error) => {
            tracing::debug!(%error, "push probe failed after a successful fetch probe");
            Err(GitopsError::ReadOnlyKey {
                url: workspace.url.clone(),
            })
        }
    }
}
