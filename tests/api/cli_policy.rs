//! `pushdeploy policy select` end to end: tags on stdin, the choice on stdout, errors on stderr.

use assert_cmd::Command;

fn select(args: &[&str], stdin: &str) -> assert_cmd::assert::Assert {
    Command::cargo_bin("pushdeploy")
        .unwrap()
        .args(["policy", "select"])
        .args(args)
        .write_stdin(stdin)
        .assert()
}

#[test]
fn policy_select_prints_the_mcp_pick() {
    let tags = "latest\n1-abc123\n2-f62ba56a999ec99a7375fed529acf4b336691bdb\r\n10-0a1b2c\n";
    select(
        &[
            "--pattern",
            "^(?P<num>[0-9]+)-[a-f0-9]+$",
            "--extract",
            "$num",
            "--numerical",
            "asc",
        ],
        tags,
    )
    .success()
    .stdout("10-0a1b2c\n");
}

#[test]
fn policy_select_semver_and_alphabetical() {
    select(&["--semver", "~1.2"], "v1.2.0\nv1.2.9\n1.3.0\n")
        .success()
        .stdout("v1.2.9\n");
    select(&["--alphabetical", "desc"], "b\na\nc\n")
        .success()
        .stdout("a\n");
}

#[test]
fn policy_select_errors_go_to_stderr_with_status_1() {
    let cases: &[(&[&str], &str, &str)] = &[
        (&["--numerical", "asc"], "", "no tags"),
        (&["--pattern", "^v", "--numerical", "asc"], "1\n2\n", "matched"),
        (
            &["--pattern", "(", "--numerical", "asc"],
            "1\n",
            "not a valid regular expression",
        ),
        (&["--semver", ">>1"], "1.0.0\n", "improper constraint"),
        (&["--numerical", "up"], "1\n", "order \"up\" is unknown"),
    ];
    for (args, stdin, expected) in cases {
        let output = select(args, stdin).code(1).stdout("").get_output().stderr.clone();
        let stderr = String::from_utf8(output).unwrap();
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn policy_select_requires_exactly_one_rule() {
    select(&[], "1\n").code(2);
    select(&["--numerical", "asc", "--semver", "*"], "1\n").code(2);
}
