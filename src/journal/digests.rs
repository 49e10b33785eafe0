//! The first digest seen per (repository, tag), kept for `digestReflectionPolicy:
//! IfNotPresent` so that a restart does not make "present" mean "the next lookup". Written once
//! per tag (a later digest for the same tag never replaces it); read back at start-up.

use super::rows::parsed;
use super::{Journal, JournalError};
use crate::clock::now;
use crate::domain::{Digest, ObjectKey};
use sqlx::Row;
use sqlx::any::AnyRow;

/// One remembered first digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstDigest {
    pub repository: ObjectKey,
    pub tag: String,
    pub digest: Digest,
}

impl<'r> sqlx::FromRow<'r, AnyRow> for FirstDigest {
    fn from_row(row: &'r AnyRow) -> Result<Self, sqlx::Error> {
        let repository: String = row.try_get("repository")?;
        let tag: String = row.try_get("tag")?;
        let at = format!("{repository}:{tag}");
        Ok(Self {
            repository: parsed("tag_digests", &at, "repository", &repository, ObjectKey::parse)?,
            digest: parsed(
                "tag_digests",
                &at,
                "digest",
                &row.try_get::<String, _>("digest")?,
                Digest::parse,
            )?,
            tag,
        })
    }
}

impl Journal {
    /// Keep `digest` as the first one seen for `tag` of `repository`, unless one is kept
    /// already; returns the digest that is kept now (the earlier one when there was one).
    pub async fn keep_first_digest(
        &self,
        repository: &ObjectKey,
        tag: &str,
        digest: &Digest,
    ) -> Result<Digest, JournalError> {
        sqlx::query("INSERT INTO tag_digests (repository, tag, digest, at) VALUES ($1, $2, $3, $4) ON CONFLICT (repository, tag) DO NOTHING")
            .bind(repository.to_string())
            .bind(tag)
            .bind(digest.as_str())
            .bind(now())
            .execute(&self.pool)
            .await?;
        let kept: FirstDigest = sqlx::query_as(
            "SELECT repository, tag, digest FROM tag_digests WHERE repository = $1 AND tag = $2",
        )
        .bind(repository.to_string())
        .bind(tag)
        .fetch_one(&self.pool)
        .await?;
        Ok(kept.digest)
    }

    /// Forget the kept first digests of `tags` of `repository` (tags the registry no longer
    /// lists), in one transaction.
    pub async fn forget_digests(&self, repository: &ObjectKey, tags: &[String]) -> Result<(), JournalError> {
        let mut transaction = self.pool.begin().await?;
        for tag in tags {
            sqlx::query("DELETE FROM tag_digests WHERE repository = $1 AND tag = $2")
                .bind(repository.to_string())
                .bind(tag)
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    /// Every kept first digest.
    pub async fn first_digests(&self) -> Result<Vec<FirstDigest>, JournalError> {
        Ok(
            sqlx::query_as("SELECT repository, tag, digest FROM tag_digests ORDER BY repository, tag")
                .fetch_all(&self.pool)
                .await?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(c: char) -> Digest {
        Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap()
    }

    #[tokio::test]
    async fn the_first_digest_of_a_tag_is_kept_across_a_reopen_and_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let key = ObjectKey::parse("flux-system/mcp").unwrap();
        {
            let journal = Journal::open(dir.path()).await.unwrap();
            assert_eq!(
                journal
                    .keep_first_digest(&key, "1.0", &digest('a'))
                    .await
                    .unwrap(),
                digest('a')
            );
            assert_eq!(
                journal
                    .keep_first_digest(&key, "1.0", &digest('b'))
                    .await
                    .unwrap(),
                digest('a'),
                "a moved tag keeps its first digest"
            );
        }
        let journal = Journal::open(dir.path()).await.unwrap();
        let kept = journal.first_digests().await.unwrap();
        assert_eq!(
            kept,
            vec![FirstDigest {
                repository: key,
                tag: "1.0".into(),
                digest: digest('a')
            }]
        );
    }

    #[tokio::test]
    async fn forgotten_digests_are_gone_after_a_reopen_and_the_others_stay() {
        let dir = tempfile::tempdir().unwrap();
        let key = ObjectKey::parse("flux-system/mcp").unwrap();
        let other = ObjectKey::parse("flux-system/other").unwrap();
        {
            let journal = Journal::open(dir.path()).await.unwrap();
            for (repository, tag, c) in [(&key, "1", 'a'), (&key, "2", 'b'), (&other, "2", 'c')] {
                journal
                    .keep_first_digest(repository, tag, &digest(c))
                    .await
                    .unwrap();
            }
            journal.forget_digests(&key, &["2".to_owned()]).await.unwrap();
        }
        let kept = Journal::open(dir.path())
            .await
            .unwrap()
            .first_digests()
            .await
            .unwrap();
        let kept: Vec<(String, String)> = kept
            .into_iter()
            .map(|kept| (kept.repository.to_string(), kept.tag))
            .collect();
        assert_eq!(
            kept,
            [
                ("flux-system/mcp".to_owned(), "1".to_owned()),
                ("flux-system/other".to_owned(), "2".to_owned())
            ]
        );
    }
}
