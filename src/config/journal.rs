//! `intake.journal.url` / `intake.journal.password`: where the journal lives when it is not
//! SQLite in the data dir. The URL is checked here (a `postgres://` URL that PostgreSQL's client
//! accepts, no password inline) so that a mistake is a problem with file:line at load, not a
//! connection error at start-up; the URL itself is never repeated in a message (it may carry a
//! password).

use super::Context;
use super::raw::{RawJournal, RawJournalUrl};
use secrecy::{ExposeSecret, SecretString};

/// The PostgreSQL URL (with its password), or `None` for SQLite in the data dir.
pub fn resolve(context: &mut Context<'_>, journal: &mut RawJournal) -> Option<SecretString> {
    let password = journal.password.take().map(|password| {
        let origin = context.origin(&password.referenced);
        (origin.clone(), context.secret(&origin, &password.value))
    });
    let Some(url) = journal.url.take() else {
        if let Some((origin, _)) = password {
            context.problems.add(
                origin,
                "intake.journal.password is set without intake.journal.url; add the postgres:// URL (or remove the password to keep the journal in SQLite)",
            );
        }
        return None;
    };
    let origin = context.origin(&url.referenced);
    let (text, inline) = match url.value {
        RawJournalUrl::Inline(text) => (SecretString::from(text), true),
        RawJournalUrl::Secret(reference) => (context.secret(&origin, &reference)?, false),
    };
    let mut parsed = match url::Url::parse(text.expose_secret()) {
        Ok(parsed) if matches!(parsed.scheme(), "postgres" | "postgresql") => parsed,
        Ok(parsed) => {
            context.problems.add(
                &origin,
                format!(
                    "intake.journal.url has the scheme {:?}; the journal is PostgreSQL (postgres://user@host:5432/database) or, without a url, SQLite in the data dir",
                    parsed.scheme()
                ),
            );
            return None;
        }
        Err(error) => {
            context.problems.add(
                &origin,
                format!("intake.journal.url is not a URL ({error}); write it as postgres://user@host:5432/database"),
            );
            return None;
        }
    };
    let inline_password =
        parsed.password().is_some() || parsed.query_pairs().any(|(key, _)| key == "password");
    if inline && inline_password {
        context.problems.add(
            &origin,
            "intake.journal.url carries a password inline; move the URL into a secret (url: {fromEnv: VAR}) or the password into intake.journal.password: {fromFile: path}",
        );
        return None;
    }
    if let Some((password_origin, password)) = password {
        let password = password?;
        if inline_password {
            context.problems.add(
                password_origin,
                "intake.journal.password is set but intake.journal.url carries a password too; keep one of them",
            );
            return None;
        }
        if parsed.set_password(Some(password.expose_secret())).is_err() {
            context.problems.add(
                password_origin,
                "intake.journal.password cannot be put into intake.journal.url (it has no host); write the URL as postgres://user@host:5432/database",
            );
            return None;
        }
    }
    if let Err(error) = parsed.as_str().parse::<sqlx::postgres::PgConnectOptions>() {
        context.problems.add(
            &origin,
            format!("intake.journal.url is not a PostgreSQL connection URL ({error}); see https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING-URIS"),
        );
        return None;
    }
    Some(SecretString::from(String::from(parsed)))
}
