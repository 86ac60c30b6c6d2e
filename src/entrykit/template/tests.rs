use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

struct Env(HashMap<&'static str, &'static str>);

impl Host for Env {
    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).map(|v| v.to_string())
    }
    fn read_file(&self, path: &str) -> Result<String, String> {
        match path {
            "/secret/a" => Ok("from a file\n".into()),
            _ => Err(format!("cannot read {path}: No such file or directory")),
        }
    }
    fn exists(&self, path: &str) -> bool {
        path == "/secret/a"
    }
}

fn env() -> Env {
    Env(HashMap::from([
        ("NAME", "db"),
        ("PORT", "3306"),
        ("EMPTY", ""),
        ("HOSTS", "a,b,c"),
        ("QUOTE", "say \"hi\""),
    ]))
}

fn ok(template: &str) -> String {
    render(template, &env()).unwrap_or_else(|e| panic!("{template:?}: {e}"))
}

#[test]
fn each_construct() {
    let cases: &[(&str, &str)] = &[
        ("plain text, $NAME and ${PORT} stay", "plain text, $NAME and ${PORT} stay"),
        ("{{ var \"NAME\" }}:{{var \"PORT\"}}", "db:3306"),
        ("[{{ var \"UNSET\" }}]", "[]"),
        ("{{ var \"UNSET\" | default \"x\" }}", "x"),
        ("{{ var \"EMPTY\" | default \"x\" }}", "x"),
        ("{{ var \"NAME\" | default \"x\" }}", "db"),
        ("{{ default \"x\" (var \"NAME\") }}", "db"),
        ("{{ required \"NAME\" }}", "db"),
        ("{{ var \"NAME\" | upper }}", "DB"),
        ("{{ \"MiXed\" | lower }}", "mixed"),
        ("{{ \"hello big world\" | capitalize }}", "Hello Big World"),
        ("{{ \"  a \\n\" | trim }}", "a"),
        ("{{ var \"HOSTS\" | replace \",\" \" \" }}", "a b c"),
        ("{{ var \"HOSTS\" | split \",\" | join \";\" }}", "a;b;c"),
        ("{{ range var \"HOSTS\" | split \",\" }}<{{ . }}>{{ end }}", "<a><b><c>"),
        ("{{ range $i, $h := split \",\" (var \"HOSTS\") }}{{ $i }}={{ $h }} {{ end }}", "0=a 1=b 2=c "),
        ("{{ range $h := split \",\" \"x,y\" }}{{ $h }}{{ end }}", "xy"),
        ("{{ range seq 3 }}{{ . }}{{ end }}", "012"),
        ("{{ range seq \"0\" }}x{{ else }}none{{ end }}", "none"),
        ("{{ if var \"NAME\" }}yes{{ end }}", "yes"),
        ("{{ if var \"EMPTY\" }}yes{{ else }}no{{ end }}", "no"),
        ("{{ if eq (var \"PORT\") \"1\" }}1{{ else if eq (var \"PORT\") \"3306\" }}mysql{{ else }}?{{ end }}", "mysql"),
        ("{{ if and (var \"NAME\") (not (var \"EMPTY\")) }}both{{ end }}", "both"),
        ("{{ or (var \"EMPTY\") \"fallback\" }}", "fallback"),
        ("{{ if ne (len (var \"NAME\")) 2 }}x{{ else }}two{{ end }}", "two"),
        ("{{ if lt 1 2 }}lt{{ end }}{{ if ge \"b\" \"a\" }}ge{{ end }}", "ltge"),
        ("{{ with var \"NAME\" }}name={{ . }}{{ end }}", "name=db"),
        ("{{ with var \"EMPTY\" }}x{{ else }}empty{{ end }}", "empty"),
        ("{{ $p := var \"PORT\" }}{{ $p }}/{{ $p }}", "3306/3306"),
        ("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}", "2"),
        ("a  {{- \"b\" -}}  \n c", "abc"),
        ("a {{/* a comment */}}b", "a b"),
        ("a\n{{- /* trimmed */ -}}\nb", "ab"),
        ("{{ printf \"%s:%d %q %%\" \"h\" 3 (var \"QUOTE\") }}", "h:3 \"say \\\"hi\\\"\" %"),
        ("{{ print \"a\" 1 2 \"b\" }}", "a1 2b"),
        ("{{ println \"a\" 1 }}", "a 1\n"),
        ("{{ index (split \",\" \"p,q\") 1 }}", "q"),
        ("{{ \"a\\nb\" | indent \"  \" }}", "a\n  b"),
        ("{{ `raw \\n` }}", "raw \\n"),
        ("{{ \"\\x41\\u00e9\\t\" }}", "A\u{e9}\t"),
        ("{{ exists \"/secret/a\" }} {{ exists \"/nope\" }}", "true false"),
        ("{{ file \"/secret/a\" | trim }}", "from a file"),
        ("{{ . }} {{ $ }}", "<no value> <no value>"),
        ("{{ -3 }} {{ true }} {{ nil }}", "-3 true <no value>"),
        ("{{ split \",\" \"a,b\" }}", "[a b]"),
        ("{{ range 2 }}{{ . }}{{ end }}", "01"),
        ("multi\nline {{ var \"NAME\" }}\n", "multi\nline db\n"),
        ("{{ \"}}\" }}", "}}"),
    ];
    for (template, want) in cases {
        assert_eq!(ok(template), *want, "{template:?}");
    }
}

#[test]
fn errors_name_the_line_and_say_what_is_wrong() {
    let cases: &[(&str, usize, &str)] = &[
        ("{{ nosuch \"x\" }}", 1, "function \"nosuch\" not defined"),
        ("a\nb\n{{ if true }}x", 3, "{{if}} has no {{end}}"),
        ("{{ end }}", 1, "unexpected {{end}}"),
        ("x\n{{ else }}", 2, "unexpected {{else}}"),
        (
            "\n\n{{ required \"UNSET\" }}",
            3,
            "required: UNSET is not set or empty",
        ),
        (
            "{{ required \"EMPTY\" }}",
            1,
            "required: EMPTY is not set or empty",
        ),
        ("{{ var \"NAME\"", 1, "unclosed action"),
        ("{{ .Name }}", 1, "fields (.Name) are not supported"),
        ("{{ $nope }}", 1, "undefined variable $nope"),
        ("{{ $nope = 1 }}", 1, "undefined variable $nope"),
        (
            "{{ define \"x\" }}{{ end }}",
            1,
            "{{define}} is not supported",
        ),
        ("{{ template \"x\" }}", 1, "{{template}} is not supported"),
        ("{{ \"open }}", 1, "unterminated or bad string literal"),
        ("{{ 1.5 }}", 1, "is not a number"),
        (
            "{{ \"a\" \"b\" }}",
            1,
            "can't give an argument to a non-function",
        ),
        ("{{ var }}", 1, "var: wants 1 argument(s), got 0"),
        ("{{ eq 1 \"1\" }}", 1, "incompatible types"),
        ("{{ seq 1000000 }}", 1, "seq: 1000000 is out of range"),
        ("{{ file \"/nope\" }}", 1, "file: cannot read /nope"),
        ("{{ range \"abc\" }}{{ end }}", 1, "range can't iterate"),
        ("{{ printf \"%x\" 1 }}", 1, "%x is not supported"),
        ("{{ index (seq 2) 5 }}", 1, "index 5 out of range"),
        ("{{ }}", 1, "missing value"),
        ("{{ ( }}", 1, "missing value"),
        ("{{ (upper \"a\" }}", 1, "unclosed ("),
        ("{{ upper | }}", 1, "missing command after |"),
        (
            "{{ if true }}{{ else }}{{ else }}{{ end }}",
            1,
            "a second else",
        ),
        ("{{/* open", 1, "unclosed comment"),
        ("{{ # }}", 1, "unexpected '#'"),
    ];
    for (template, line, want) in cases {
        let e = render(template, &env()).expect_err(template);
        assert_eq!(e.line, *line, "{template:?}: {e}");
        assert!(e.message.contains(want), "{template:?}: {e}");
        assert!(!e.to_string().contains('\n'), "{template:?}: {e}");
    }
}

#[test]
fn output_is_bounded() {
    let t = "{{ range seq 100000 }}{{ range seq 100000 }}xxxxxxxxxxxxxxxxxxxx{{ end }}{{ end }}";
    let e = render(t, &env()).unwrap_err();
    assert!(e.message.contains("MiB"), "{e}");
}

proptest! {
    /// Whatever the template, rendering ends with text or an error.
    #[test]
    fn never_panics(t in "(\\{\\{|\\}\\}|-| |\"|`|\\$|\\.|\\(|\\)|\\||[a-z]{1,6}|[0-9]|:=|=|,|/\\*|\\*/|\n){0,40}") {
        let _ = render(&t, &env());
    }
}
