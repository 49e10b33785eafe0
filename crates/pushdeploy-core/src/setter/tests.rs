//! Rewrite rules, one sentence each, plus properties over random documents.

use super::*;
use proptest::prelude::*;

fn values(pairs: &[(&str, &str, &str, Option<&str>)]) -> Values {
    pairs
        .iter()
        .map(|(key, image, tag, digest)| {
            let value = PolicyValue {
                image: (*image).to_owned(),
                tag: crate::domain::Tag::parse(tag).unwrap(),
                digest: digest.map(|digest| crate::domain::Digest::parse(digest).unwrap()),
            };
            (ObjectKey::parse(key).unwrap(), value)
        })
        .collect()
}

fn mcp(tag: &str) -> Values {
    values(&[("flux-system:mcp", "registry.example/app", tag, None)])
}

#[test]
fn only_the_marked_value_changes() {
    let text = "---\n# head\nspec:\n  image: registry.example/app:1 # {\"$imagepolicy\": \"flux-system:mcp\"}\n\n  other: x # y\n";
    let out = rewrite(text, &mcp("2-abc")).unwrap();
    assert_eq!(out.text, text.replace("app:1 #", "app:2-abc #"));
    assert_eq!(out.changes.len(), 1);
    assert_eq!(
        (out.changes[0].line, out.changes[0].old.as_str()),
        (4, "registry.example/app:1")
    );
}

#[test]
fn tag_name_and_digest_markers_write_their_part() {
    let digest = format!("sha256:{}", "a".repeat(64));
    let text = "images:\n- name: app\n  newName: old/app # {\"$imagepolicy\": \"flux-system:mcp:name\"}\n  newTag: v1 # {\"$imagepolicy\": \"flux-system:mcp:tag\"}\n  digest: none # {\"$imagepolicy\": \"flux-system:mcp:digest\"}\n";
    let all = values(&[(
        "flux-system:mcp",
        "registry.example/app",
        "v2",
        Some(digest.as_str()),
    )]);
    let out = rewrite(text, &all).unwrap();
    let expected = text
        .replace("old/app", "registry.example/app")
        .replace("v1 #", "v2 #")
        .replace("none", &digest);
    assert_eq!(out.text, expected);
    // Without a known digest the digest marker is left alone.
    let out = rewrite(text, &mcp("v2")).unwrap();
    assert!(out.text.contains("digest: none #"));
}

#[test]
fn full_marker_with_a_known_digest_writes_tag_and_digest() {
    let digest = format!("sha256:{}", "b".repeat(64));
    let text = "image: registry.example/app:1 # {\"$imagepolicy\": \"flux-system:mcp\"}\n";
    let out = rewrite(
        text,
        &values(&[(
            "flux-system:mcp",
            "registry.example/app",
            "2",
            Some(digest.as_str()),
        )]),
    )
    .unwrap();
    assert_eq!(
        out.text,
        format!("image: registry.example/app:2@{digest} # {{\"$imagepolicy\": \"flux-system:mcp\"}}\n")
    );
}

#[test]
fn quote_style_is_kept_and_non_strings_are_quoted() {
    let text = "a: 'v1' # {\"$imagepolicy\": \"flux-system:mcp:tag\"}\nb: \"v1\" # {\"$imagepolicy\": \"flux-system:mcp:tag\"}\nc: v1 # {\"$imagepolicy\": \"flux-system:mcp:tag\"}\n";
    let out = rewrite(text, &mcp("10")).unwrap();
    assert_eq!(
        out.text,
        text.replace("'v1'", "'10'")
            .replace("\"v1\"", "\"10\"")
            .replace("c: v1", "c: \"10\"")
    );
}

#[test]
fn marker_text_inside_block_and_quoted_scalars_is_content() {
    let text = "script: |\n  echo x # {\"$imagepolicy\": \"flux-system:mcp\"}\nnote: \"a # {\\\"$imagepolicy\\\": \\\"flux-system:mcp\\\"}\"\n";
    let out = rewrite(text, &mcp("2")).unwrap();
    assert_eq!(out.text, text);
    assert!(out.changes.is_empty() && out.skipped.is_empty());
}

#[test]
fn crlf_unknown_policies_and_idempotence() {
    let text = "a: x:1 # {\"$imagepolicy\": \"flux-system:mcp\"}\r\nb: y:1 # {\"$imagepolicy\": \"flux-system:other\"}\r\n";
    let out = rewrite(text, &mcp("2")).unwrap();
    assert_eq!(
        out.text,
        "a: registry.example/app:2 # {\"$imagepolicy\": \"flux-system:mcp\"}\r\nb: y:1 # {\"$imagepolicy\": \"flux-system:other\"}\r\n"
    );
    let again = rewrite(&out.text, &mcp("2")).unwrap();
    assert_eq!(again.text, out.text);
    assert!(again.changes.is_empty());
}

#[test]
fn unusable_markers_for_policies_being_applied_are_refused_and_the_rest_are_warnings() {
    let text = "key: # {\"$imagepolicy\": \"flux-system:mcp\"}\n  nested: 1\nlist: [a, b] # {\"$imagepolicy\": \"flux-system:mcp\"}\nbad: x # {\"$imagepolicy\": \"nope\"}\nalone:\n  # {\"$imagepolicy\": \"flux-system:mcp\"}\n  x: 1\n";
    let out = rewrite(text, &mcp("2")).unwrap();
    assert_eq!(out.text, text);
    let refused: Vec<usize> = out.refused.iter().map(|refusal| refusal.line).collect();
    assert_eq!(refused, [1, 3]);
    let skipped: Vec<usize> = out.skipped.iter().map(|skipped| skipped.line).collect();
    assert_eq!(skipped, [4, 6]);
    // The same sites for a policy that is not being applied are only warnings.
    let out = rewrite(text, &values(&[("flux-system:other", "x", "1", None)])).unwrap();
    assert!(out.refused.is_empty());
    assert_eq!(out.skipped.len(), 4);
}

#[test]
fn an_anchored_value_keeps_its_anchor_and_its_aliases_follow() {
    let text =
        "image: &img registry.example/app:1 # {\"$imagepolicy\": \"flux-system:mcp\"}\nsidecar: *img\n";
    let out = rewrite(text, &mcp("2")).unwrap();
    assert_eq!(
        out.text,
        "image: &img registry.example/app:2 # {\"$imagepolicy\": \"flux-system:mcp\"}\nsidecar: *img\n"
    );
    assert_eq!(out.changes.len(), 1);
    assert!(out.refused.is_empty());
}

#[test]
fn a_tagged_value_keeps_its_tag_and_its_quotes() {
    let cases = [
        (
            "image: !!str registry.example/app:1 # {\"$imagepolicy\": \"flux-system:mcp\"}\n",
            "image: !!str registry.example/app:2 # {\"$imagepolicy\": \"flux-system:mcp\"}\n",
        ),
        (
            "image: !!str \"registry.example/app:1\" # {\"$imagepolicy\": \"flux-system:mcp\"}\n",
            "image: !!str \"registry.example/app:2\" # {\"$imagepolicy\": \"flux-system:mcp\"}\n",
        ),
        (
            "image: &a !!str 'registry.example/app:1' # {\"$imagepolicy\": \"flux-system:mcp\"}\n",
            "image: &a !!str 'registry.example/app:2' # {\"$imagepolicy\": \"flux-system:mcp\"}\n",
        ),
        (
            "image: !<tag:yaml.org,2002:str> registry.example/app:1 # {\"$imagepolicy\": \"flux-system:mcp\"}\n",
            "image: !<tag:yaml.org,2002:str> registry.example/app:2 # {\"$imagepolicy\": \"flux-system:mcp\"}\n",
        ),
        (
            "image: &a\n  registry.example/app:1 # {\"$imagepolicy\": \"flux-system:mcp\"}\n",
            "image: &a\n  registry.example/app:2 # {\"$imagepolicy\": \"flux-system:mcp\"}\n",
        ),
    ];
    for (text, expected) in cases {
        let out = rewrite(text, &mcp("2")).unwrap();
        assert_eq!(out.text, expected);
        assert_eq!((out.changes.len(), out.refused.len()), (1, 0), "{text}");
    }
}

#[test]
fn sites_that_cannot_be_spliced_are_refused_with_the_reason_and_the_file_is_left_alone() {
    let marker = "# {\"$imagepolicy\": \"flux-system:mcp\"}";
    let good = format!("good: registry.example/app:1 {marker}\n");
    let cases = [
        (format!("image: {marker}\nother: x\n"), "empty value"),
        (format!("image: {marker}\n"), "empty value"),
        (
            format!("base: &a registry.example/app:1\nimage: *a {marker}\n"),
            "alias *a",
        ),
        (format!("image: !!int 1 {marker}\n"), "tagged !!int"),
        (
            format!("image: !custom registry.example/app:1 {marker}\n"),
            "tagged !custom",
        ),
        (
            format!("image: [registry.example/app:1] {marker}\n"),
            "flow collection",
        ),
        (
            format!("image: {{a: registry.example/app:1}} {marker}\n"),
            "flow collection",
        ),
        (
            format!("image: >- {marker}\n  registry.example/app:1\n"),
            "block scalar",
        ),
        (
            format!("image: registry.example/app:1\n  continued {marker}\n"),
            "several lines",
        ),
        (
            format!("image: \"registry.example/app:1\n  continued\" {marker}\n"),
            "several lines",
        ),
    ];
    for (text, reason) in cases {
        let text = format!("{good}{text}");
        let out = rewrite(&text, &mcp("2")).unwrap();
        assert_eq!(out.text, text, "{reason}: the file must not change");
        assert!(out.changes.is_empty(), "{reason}");
        assert_eq!(
            out.refused.len(),
            1,
            "{reason}: {:?} {:?}",
            out.refused,
            out.skipped
        );
        assert!(
            out.refused[0].reason.contains(reason),
            "{reason}: {}",
            out.refused[0].reason
        );
        assert!(out.refused[0].line >= 2, "{reason}");
    }
}

#[test]
fn invalid_yaml_is_an_error_with_a_line() {
    let error = rewrite(
        "a: [1, 2\nb: x # {\"$imagepolicy\": \"flux-system:mcp\"}\n",
        &mcp("2"),
    )
    .unwrap_err();
    assert!(matches!(error, RewriteError::Yaml { .. }), "{error}");
}

#[test]
fn non_ascii_text_before_the_marker_keeps_offsets_right() {
    let text = "# ünïcödé 🚀\nname: \"héllo\"\nimage: x:1 # {\"$imagepolicy\": \"flux-system:mcp\"}\n";
    let out = rewrite(text, &mcp("2")).unwrap();
    assert_eq!(out.text, text.replace("x:1", "registry.example/app:2"));
}

// Random documents: keys, plain values, comments, blank lines, some values marked.
fn document() -> impl Strategy<Value = (String, usize)> {
    let line = prop_oneof![
        ("[a-z]{1,8}", "[a-z0-9][a-z0-9./-]{0,6}(:[a-z0-9]{1,4})?")
            .prop_map(|(k, v)| (format!("{k}: {v}"), false)),
        ("[a-z]{1,8}", "[a-z0-9][a-z0-9./-]{0,6}(:[a-z0-9]{1,4})?").prop_map(|(k, v)| (
            format!("{k}: {v} # {{\"$imagepolicy\": \"flux-system:mcp\"}}"),
            true
        )),
        "[ a-z]{0,10}".prop_map(|c| (format!("# {c}"), false)),
        Just((String::new(), false)),
    ];
    (prop::collection::vec(line, 0..20), prop::bool::ANY).prop_map(|(lines, crlf)| {
        let mut seen = std::collections::HashSet::new();
        let mut text = String::new();
        let mut marked = 0;
        for (index, (line, is_marked)) in lines.into_iter().enumerate() {
            // Unique keys keep the mapping valid.
            let line = if line.contains(": ") {
                format!("k{index}{line}")
            } else {
                line
            };
            if seen.insert(line.clone()) {
                marked += usize::from(is_marked);
                text.push_str(&line);
                text.push_str(if crlf { "\r\n" } else { "\n" });
            }
        }
        (text, marked)
    })
}

proptest! {
    #[test]
    fn only_marked_values_change_and_apply_is_idempotent((text, marked) in document()) {
        let out = rewrite(&text, &mcp("9-z")).unwrap();
        let before: Vec<&str> = text.split('\n').collect();
        let after: Vec<&str> = out.text.split('\n').collect();
        prop_assert_eq!(before.len(), after.len());
        for (old, new) in before.iter().zip(&after) {
            if old.contains("$imagepolicy") {
                let (old_key, old_rest) = old.split_once(": ").unwrap();
                let (new_key, new_rest) = new.split_once(": ").unwrap();
                prop_assert_eq!(old_key, new_key);
                prop_assert_eq!(old_rest.split_once(" #").unwrap().1, new_rest.split_once(" #").unwrap().1);
                prop_assert!(new_rest.starts_with("registry.example/app:9-z #"));
            } else {
                prop_assert_eq!(old, new);
            }
        }
        prop_assert!(out.changes.len() <= marked);
        prop_assert_eq!(rewrite(&out.text, &mcp("9-z")).unwrap().text, out.text.clone());
    }

    #[test]
    fn rewrite_never_panics(text in "(?s).{0,200}", marker in prop::bool::ANY) {
        let text = if marker { format!("{text} # {{\"$imagepolicy\": \"flux-system:mcp\"}}") } else { text };
        let _ = rewrite(&text, &mcp("1"));
    }
}

#[test]
fn policy_assignments_parse_with_ports_tags_and_digests() {
    let digest = format!("sha256:{}", "c".repeat(64));
    let (key, value) =
        PolicyValue::parse_assignment(&format!("ns:app=host:5000/team/app:v1@{digest}")).unwrap();
    assert_eq!(key.marker_form(), "ns:app");
    assert_eq!(
        value,
        PolicyValue {
            image: "host:5000/team/app".to_owned(),
            tag: crate::domain::Tag::parse("v1").unwrap(),
            digest: Some(crate::domain::Digest::parse(&digest).unwrap())
        }
    );
    for bad in [
        "ns:app",
        "ns:app=host:5000/app",
        "ns:app=app:-x",
        "app=x:1",
        "ns:app=x:1@md5:00",
    ] {
        assert!(PolicyValue::parse_assignment(bad).is_err(), "{bad}");
    }
}
