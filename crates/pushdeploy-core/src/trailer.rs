//! The `Pushdeploy-*` commit trailers that make the deployment history readable from git alone.
//! One type renders them (the writer, the pin/resume/suspend notes) and parses them back (the
//! history), so the two cannot drift apart.

use std::fmt;

/// One trailer line of a pushdeploy commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trailer {
    /// Why the commit was made: `webhook (registry)`, `poll`, `promote by ops`, …
    Cause(String),
    /// `POLICY=TAG`: the policy's markers now name this tag.
    Deployed { policy: String, tag: String },
    /// `POLICY=TAG`: the policy is pinned at this tag (manual intents).
    Pinned { policy: String, tag: String },
    /// The policy or automation was resumed.
    Resumed(String),
    /// The automation was suspended.
    Suspended(String),
}

const CAUSE: &str = "Pushdeploy-Cause";
const DEPLOYED: &str = "Pushdeploy-Deployed";
const PINNED: &str = "Pushdeploy-Pinned";
const RESUMED: &str = "Pushdeploy-Resumed";
const SUSPENDED: &str = "Pushdeploy-Suspended";

impl fmt::Display for Trailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cause(cause) => write!(f, "{CAUSE}: {cause}"),
            Self::Deployed { policy, tag } => write!(f, "{DEPLOYED}: {policy}={tag}"),
            Self::Pinned { policy, tag } => write!(f, "{PINNED}: {policy}={tag}"),
            Self::Resumed(target) => write!(f, "{RESUMED}: {target}"),
            Self::Suspended(target) => write!(f, "{SUSPENDED}: {target}"),
        }
    }
}

impl Trailer {
    /// The trailer on one line, or `None` for any other line (including malformed ones).
    fn parse_line(line: &str) -> Option<Self> {
        let (name, value) = line.split_once(": ")?;
        let value = value.trim();
        let assignment = || {
            let (policy, tag) = value.split_once('=')?;
            (!policy.is_empty() && !tag.is_empty()).then(|| (policy.to_owned(), tag.to_owned()))
        };
        match name {
            CAUSE => Some(Self::Cause(value.to_owned())),
            DEPLOYED => assignment().map(|(policy, tag)| Self::Deployed { policy, tag }),
            PINNED => assignment().map(|(policy, tag)| Self::Pinned { policy, tag }),
            RESUMED => Some(Self::Resumed(value.to_owned())),
            SUSPENDED => Some(Self::Suspended(value.to_owned())),
            _ => None,
        }
    }

    /// The trailers of a commit message: lines of its last paragraph only.
    pub fn parse_all(message: &str) -> Vec<Self> {
        let last = message.trim_end().rsplit("\n\n").next().unwrap_or_default();
        last.lines().filter_map(Self::parse_line).collect()
    }

    /// A note commit's message: the subject, a blank line, the trailers.
    pub fn message(subject: &str, trailers: &[Self]) -> String {
        let mut message = format!("{subject}\n\n");
        for trailer in trailers {
            message.push_str(&trailer.to_string());
            message.push('\n');
        }
        message
    }
}

/// What a commit says about `policy`: the tag deployed and the first cause, if it deployed it.
pub fn deployment_of<'t>(trailers: &'t [Trailer], policy: &str) -> Option<(&'t str, &'t str)> {
    let tag = trailers.iter().find_map(|trailer| match trailer {
        Trailer::Deployed {
            policy: deployed,
            tag,
        } if deployed == policy => Some(tag.as_str()),
        _ => None,
    })?;
    let cause = trailers
        .iter()
        .find_map(|trailer| match trailer {
            Trailer::Cause(cause) => Some(cause.as_str()),
            _ => None,
        })
        .unwrap_or_default();
    Some((tag, cause))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailers_come_from_the_last_paragraph_only_and_render_back_to_the_same_lines() {
        let message = "chore: update\n\nPushdeploy-Cause: not a trailer here\nmore\n\nPushdeploy-Cause: promote by ops\nPushdeploy-Deployed: flux-system/mcp=3-abc\nSigned-off-by: someone\n";
        let trailers = Trailer::parse_all(message);
        assert_eq!(
            trailers,
            vec![
                Trailer::Cause("promote by ops".to_owned()),
                Trailer::Deployed {
                    policy: "flux-system/mcp".to_owned(),
                    tag: "3-abc".to_owned()
                },
            ]
        );
        assert_eq!(
            deployment_of(&trailers, "flux-system/mcp"),
            Some(("3-abc", "promote by ops"))
        );
        assert_eq!(deployment_of(&trailers, "flux-system/other"), None);
        assert!(Trailer::parse_all("one line").is_empty());
        let all = vec![
            Trailer::Cause("pin by ops".to_owned()),
            Trailer::Deployed {
                policy: "a/b".to_owned(),
                tag: "1".to_owned(),
            },
            Trailer::Pinned {
                policy: "a/b".to_owned(),
                tag: "1".to_owned(),
            },
            Trailer::Resumed("a/b".to_owned()),
            Trailer::Suspended("a/c".to_owned()),
        ];
        let rendered = Trailer::message("chore(pushdeploy): note", &all);
        assert_eq!(
            rendered,
            "chore(pushdeploy): note\n\nPushdeploy-Cause: pin by ops\nPushdeploy-Deployed: a/b=1\nPushdeploy-Pinned: a/b=1\nPushdeploy-Resumed: a/b\nPushdeploy-Suspended: a/c\n"
        );
        assert_eq!(Trailer::parse_all(&rendered), all, "what is rendered parses back");
    }

    #[test]
    fn malformed_assignments_are_not_trailers() {
        assert!(
            Trailer::parse_all("x\n\nPushdeploy-Deployed: no-equals\nPushdeploy-Pinned: =1\n").is_empty()
        );
    }
}
