//! Table tests over Flux-shaped data; `tests/api/template_oracle.rs` compares with Go itself.

use super::flux::{FileChange, ObjectId, template_data};
use super::*;
use std::collections::BTreeMap;

fn data() -> Value {
    let object = |kind: &str, name: &str| ObjectId {
        api_version: "apps/v1".into(),
        kind: kind.into(),
        name: name.into(),
        namespace: "apps".into(),
    };
    let change = |file: &str, object: ObjectId, old: &str, new: &str, setter: &str| FileChange {
        file: file.into(),
        object,
        old_value: old.into(),
        new_value: new.into(),
        setter: setter.into(),
    };
    let changes = [
        change(
            "b.yaml",
            object("Deployment", "web"),
            "app:1",
            "app:2",
            "flux-system:app",
        ),
        change(
            "a.yaml",
            object("Deployment", "api"),
            "x:1",
            "x:9",
            "flux-system:x",
        ),
        change(
            "a.yaml",
            object("CronJob", "job"),
            "app:1",
            "app:2",
            "flux-system:app",
        ),
    ];
    let values = BTreeMap::from([("cluster".to_owned(), "prod".to_owned())]);
    template_data("flux-system", "mcp", &changes, &values)
}

fn render(template: &str) -> Result<String, String> {
    Template::parse(template)?
        .render(&data())
        .map_err(|error| error.to_string())
}

#[test]
fn templates_render_as_go_renders_them() {
    let mut mismatches = Vec::new();
    for (template, expected) in [
        ("{{range .Changed.Changes}}{{.NewValue}} {{end}}", "app:2 x:9 "),
        (
            "{{ .AutomationObject }} {{ .AutomationObject.Name }} {{.AutomationObject.String}}",
            "flux-system/mcp mcp flux-system/mcp",
        ),
        (
            "{{range $f, $_ := .Changed.FileChanges}}{{$f}},{{end}}",
            "a.yaml,b.yaml,",
        ),
        (
            "{{range $o, $c := .Changed.Objects}}{{$o.Kind}}/{{$o.Name}}={{len $c}} {{end}}",
            "CronJob/job=1 Deployment/api=1 Deployment/web=1 ",
        ),
        ("{{ .Values.cluster | upper }}", "PROD"),
        ("{{ index .Values \"nope\" | default \"none\" }}", "none"),
        (
            "{{ $x := 1 }}{{ if eq $x 1 }}one{{ else if eq $x 2 }}two{{ else }}many{{ end }}",
            "one",
        ),
        (
            "{{ with .Values.cluster }}{{ . }}{{ end }}{{ with .Values.none }}x{{ else }}-{{ end }}",
            "prod-",
        ),
        (
            "{{ range $i, $c := .Changed.Changes }}{{ if $i }}, {{ end }}{{ $i }}{{ end }}",
            "0, 1",
        ),
        (
            "{{ range .Changed.Changes }}{{ if eq .Setter \"flux-system:x\" }}{{ continue }}{{ end }}{{ .Setter }}{{ break }}{{ end }}",
            "flux-system:app",
        ),
        (
            "{{define \"c\"}}[{{.OldValue}}]{{end}}{{range .Changed.Changes}}{{template \"c\" .}}{{end}}",
            "[app:1][x:1]",
        ),
        (
            "{{block \"b\" .AutomationObject}}{{.Namespace}}{{end}}",
            "flux-system",
        ),
        (
            "{{ printf \"%s has %d changes (%5.1f%%)\" .AutomationObject.Name (len .Changed.Changes) 12.25 }}",
            "mcp has 2 changes ( 12.2%)",
        ),
        ("{{ print 1 2 \"a\" 3 }}|{{ println \"x\" 1 }}", "1 2a3|x 1\n"),
        (
            "{{ html \"<a&'>\" }} {{ js \"a'b=<\" }} {{ urlquery \"a b&c\" }}",
            "&lt;a&amp;&#39;&gt; a\\'b\\u003D\\u003C a+b%26c",
        ),
        (
            "{{ slice .Changed.Changes 1 }} {{ index \"ab\" 1 }} {{ len .Values }}",
            "[{x:1 x:9 flux-system:x}] 98 1",
        ),
        (
            "{{ and 1 0 }} {{ or 0 \"\" \"x\" }} {{ not true }} {{ lt 1 2 }} {{ ge \"b\" \"a\" }}",
            "0 x false true true",
        ),
        (
            "{{ \"hello world\" | title }} {{ trunc 3 \"abcdef\" }} {{ trunc -2 \"abcdef\" }} {{ substr 1 3 \"abcdef\" }}",
            "Hello World abc ef bc",
        ),
        (
            "{{ split \":\" \"a:b\" }} {{ (split \":\" \"a:b\")._1 }}",
            "map[_0:a _1:b] b",
        ),
    ] {
        let got = render(template);
        if got.as_deref() != Ok(expected) {
            mismatches.push(format!("{template}\n  got:  {got:?}\n  want: {expected:?}"));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn go_parse_errors_are_refused_with_go_wording() {
    for (template, expected) in [
        ("{{range .X}}", "template: commit message:1: unexpected EOF"),
        ("{{end}}", "unexpected {{end}}"),
        ("a\n{{ .X", "template: commit message:2: unclosed action"),
        ("{{ $nope }}", "undefined variable \"$nope\""),
        ("{{ toJson . }}", "function \"toJson\" not defined"),
        ("{{ break }}", "{{break}} outside {{range}}"),
        ("{{ .X | \"a\" }}", "non executable command in pipeline stage 2"),
        ("{{ .Updated }}", "template uses removed '.Updated' field"),
        (
            "{{ range $.Changed.ImageResult }}{{ end }}",
            "removed '.Changed.ImageResult' field",
        ),
    ] {
        let error = Template::parse(template).unwrap_err();
        assert!(error.contains(expected), "{template}: {error}");
    }
}

#[test]
fn execution_errors_follow_go_and_a_map_miss_is_never_printed() {
    let mut mismatches = Vec::new();
    for (template, expected) in [
        (
            "{{ .Missing }}",
            "can't evaluate field Missing in type source.TemplateData",
        ),
        (
            "{{ range .Changed.Changes }}{{ .Image }}{{ end }}",
            "can't evaluate field Image in type update.Change",
        ),
        (
            "{{ .AutomationObject.Name.First }}",
            "can't evaluate field First in type string",
        ),
        (
            "{{ range .AutomationObject.Name }}{{ end }}",
            "range can't iterate over mcp",
        ),
        (
            "{{ .Values.region }}",
            "map has no entry for key \".Values.region\"",
        ),
        ("{{ .Values.region | upper }}", "invalid value; expected string"),
        ("{{ eq 1 \"a\" }}", "incompatible types for comparison"),
        ("{{ index .Changed.Changes 5 }}", "index out of range: 5"),
        ("{{ substr 2 1 \"abc\" }}", "error calling substr"),
        ("{{ trunc 1 \"é\" }}", "splits a UTF-8 character"),
        (
            "{{ with .Changed }}{{ .ImageResult }}{{ end }}",
            "template uses removed '.Changed.ImageResult' field",
        ),
        (
            "{{ slice \"abc\" 1 }}",
            "list should be type of slice or array but string",
        ),
        (
            "{{define \"r\"}}{{template \"r\"}}{{end}}{{template \"r\"}}",
            "exceeded maximum template depth",
        ),
    ] {
        match render(template) {
            Err(error) if error.contains(expected) => {}
            other => mismatches.push(format!("{template}: {other:?}")),
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn recursion_through_templates_stops_at_a_bounded_depth_on_a_small_stack() {
    let nested = format!(
        "{}{{{{template \"a\"}}}}{}",
        "{{if 1}}".repeat(99),
        "{{end}}".repeat(99)
    );
    let text = format!("{{{{define \"a\"}}}}{nested}{{{{end}}}}{{{{template \"a\"}}}}");
    let template = Template::parse(&text).unwrap();
    let worker = std::thread::Builder::new().stack_size(2 << 20);
    let error = worker
        .spawn(move || template.render(&data()).unwrap_err().to_string())
        .unwrap()
        .join()
        .unwrap();
    assert!(error.contains("exceeded maximum template depth"), "{error}");
}

#[test]
fn a_map_miss_reads_as_false_and_as_nil_as_in_go() {
    assert_eq!(
        render("{{ if .Values.region }}y{{ else }}n{{ end }}{{ print .Values.region }}").as_deref(),
        Ok("n<nil>")
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

    /// Any sequence of template fragments parses or is refused, and renders or is refused,
    /// without panicking; the fuzz target (`fuzz/fuzz_targets/template.rs`) goes further.
    #[test]
    fn any_template_text_is_parsed_and_rendered_or_refused_without_panicking(
        parts in proptest::collection::vec(proptest::sample::select(vec![
            "{{", "}}", "{{- ", " -}}", " ", ".", ".Changed", ".Changes", ".FileChanges", ".Objects", ".Values",
            ".cluster", ".AutomationObject", ".Name", "$", "$x", ":=", "=", ",", "|", "(", ")", "range", "if",
            "else", "end", "with", "define", "template", "block", "break", "continue", "\"t\"", "`r`", "'c'",
            "1", "-2.5e3", "0x1F", "nil", "true", "printf", "\"%d %s %v\"", "index", "slice", "len", "eq",
            "and", "or", "not", "print", "println", "html", "js", "urlquery", "call", "upper", "title", "trunc",
            "substr", "split", "join", "default", "quote", "repeat", "99", "/*", "*/", "é", "\n", "text",
        ]), 0..40)
    ) {
        let text: String = parts.concat();
        if let Ok(template) = Template::parse(&text) {
            let _ = template.render(&data());
        }
    }
}
