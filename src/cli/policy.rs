//! `pushdeploy policy select`: choose a tag from stdin (one per line) with a Flux image policy.

use crate::policy::{Order, Policy, PolicyConfigError, Rule, SemverRange, TagFilter};
use clap::{Args, Subcommand};
use std::io::Read;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Read tags from stdin (one per line, order kept), print the chosen original tag.
    ///
    /// Example: printf '1-abc\n2-def\n' | pushdeploy policy select --pattern '^(?P<num>[0-9]+)-' --extract '$num' --numerical asc
    Select(SelectArgs),
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("rule").required(true).args(["numerical", "semver", "alphabetical"])))]
pub struct SelectArgs {
    /// filterTags.pattern: a regular expression matched anywhere in the tag.
    #[arg(long)]
    pattern: Option<String>,
    /// filterTags.extract: a template such as `$num` or `${1}`.
    #[arg(long, requires = "pattern")]
    extract: Option<String>,
    /// Numerical ordering: asc picks the highest.
    #[arg(long, value_name = "asc|desc")]
    numerical: Option<String>,
    /// Semver ordering within a Masterminds range, e.g. `^1.0`.
    #[arg(long, value_name = "RANGE")]
    semver: Option<String>,
    /// Alphabetical ordering: asc picks the greatest string.
    #[arg(long, value_name = "asc|desc")]
    alphabetical: Option<String>,
}

pub fn run(command: PolicyCommand) -> ExitCode {
    let PolicyCommand::Select(args) = command;
    match select(&args) {
        Ok(tag) => {
            println!("{tag}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("policy select: {message}");
            ExitCode::FAILURE
        }
    }
}

fn select(args: &SelectArgs) -> Result<String, String> {
    let policy = build(args).map_err(|error| error.to_string())?;
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|error| format!("cannot read stdin: {error}"))?;
    let tags: Vec<&str> = input
        .lines()
        .map(|line| line.trim_end_matches('\r'))
        .filter(|line| !line.is_empty())
        .collect();
    policy
        .select(&tags)
        .map(str::to_owned)
        .map_err(|error| error.to_string())
}

fn build(args: &SelectArgs) -> Result<Policy, PolicyConfigError> {
    let filter = match &args.pattern {
        Some(pattern) => Some(TagFilter::new(pattern, args.extract.as_deref().unwrap_or(""))?),
        None => None,
    };
    let rule = match (&args.numerical, &args.semver, &args.alphabetical) {
        (Some(order), _, _) => Rule::Numerical(Order::parse(order)?),
        (_, Some(range), _) => Rule::Semver(SemverRange::parse(range)?),
        (_, _, order) => Rule::Alphabetical(Order::parse(order.as_deref().unwrap_or("asc"))?),
    };
    Ok(Policy::new(filter, rule))
}
