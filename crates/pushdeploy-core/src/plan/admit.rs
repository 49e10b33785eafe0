//! The write-time check over a batch of intents and the tree the writer just synced: overrides
//! (`Overrides::admits`), never downgrading what git names now, and one winner per policy when
//! a batch holds several intents for it. The writers call this through `gitops::Gate`; they
//! rank nothing themselves.

use super::{Intent, Overrides};
use crate::setter::Site;

/// Per intent, in order: `None` to write it, or why not.
pub fn admit(intents: &[Intent], sites: &[Site], overrides: &Overrides) -> Vec<Option<String>> {
    let mut verdicts: Vec<Option<String>> = intents
        .iter()
        .map(|intent| {
            overrides
                .admits(intent)
                .err()
                .map(|held| held.to_string())
                .or_else(|| downgrade(intent, sites))
        })
        .collect();
    supersede(intents, &mut verdicts);
    verdicts
}

/// Why `intent` must not be written over what the tree holds now, if it must not.
fn downgrade(intent: &Intent, sites: &[Site]) -> Option<String> {
    if intent.explicit() {
        return None;
    }
    let ranking = intent.ranking()?;
    let new = intent.value().tag.as_str();
    sites
        .iter()
        .filter(|site| &site.policy == intent.policy())
        .find_map(|site| {
            let current = site.tag()?;
            let ranked_above = current != new && ranking.select(&[new, current]).ok() == Some(current);
            ranked_above.then(|| {
                format!(
                    "{}:{} names {current}, which policy {} ranks above {new}; not downgrading (promote explicitly to move backwards)",
                    site.file.display(),
                    site.line,
                    intent.policy()
                )
            })
        })
}

/// Several intents for one policy in one batch: the latest explicit one wins, else the one the
/// policy ranks highest; the others are skipped as superseded (never written over the winner).
fn supersede(intents: &[Intent], verdicts: &mut [Option<String>]) {
    for (index, intent) in intents.iter().enumerate() {
        if verdicts[index].is_some() {
            continue;
        }
        let rivals: Vec<usize> = (0..intents.len())
            .filter(|&other| verdicts[other].is_none() && intents[other].policy() == intent.policy())
            .collect();
        if rivals.len() < 2 {
            continue;
        }
        let winner = match rivals.iter().rev().find(|&&other| intents[other].explicit()) {
            Some(&explicit) => explicit,
            None => highest_ranked(intents, &rivals).unwrap_or(rivals[rivals.len() - 1]),
        };
        for other in rivals.into_iter().filter(|&other| other != winner) {
            verdicts[other] = Some(format!(
                "superseded by {} for policy {} in the same commit",
                intents[winner].value().tag,
                intents[other].policy()
            ));
        }
    }
}

/// The latest of `rivals` naming the tag their policy ranks highest.
fn highest_ranked(intents: &[Intent], rivals: &[usize]) -> Option<usize> {
    let tags: Vec<&str> = rivals
        .iter()
        .map(|&other| intents[other].value().tag.as_str())
        .collect();
    let best = intents[rivals[0]].ranking()?.select(&tags).ok()?;
    rivals
        .iter()
        .rev()
        .copied()
        .find(|&other| intents[other].value().tag.as_str() == best)
}
