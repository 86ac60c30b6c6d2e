//! Editing a MySQL/MariaDB option file (pure).
//!
//! We set a few keys in one group and keep every other byte: an operator's
//! comments, other groups, `!include` lines, CRLF endings and even non-UTF-8
//! bytes survive. Running the edit again gives the same bytes, so the file no
//! longer grows on every start the way the legacy script's `>>` append made it grow.
//!
//! Option-file rules we follow (MySQL and MariaDB agree on these):
//! `_` and `-` are the same in option names, a `loose-` prefix names the same
//! option, `#` and `;` start comment lines, an unquoted `#` starts a comment in
//! the middle of a line, and the last occurrence of an option wins.

/// The result of an edit. `removed_duplicates` counts repeated lines of our
/// keys that were dropped (the legacy script appended one per start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub content: Vec<u8>,
    pub removed_duplicates: usize,
}

/// Sets each `(name, value)` in group `group` (e.g. `mysqld`): the first line
/// of that option in the group gets the new value, later duplicates go, and
/// missing options are added after the group's last line (or in a new group at
/// the end of the file).
#[cfg(any(test, feature = "fuzzing"))]
pub fn set_options(original: &[u8], group: &str, options: &[(&str, &str)]) -> Edit {
    let options: Vec<(&str, Option<&str>)> = options.iter().map(|(n, v)| (*n, Some(*v))).collect();
    edit_options(original, group, &options)
}

/// As `set_options`, where a None value removes every line of that option
/// from the group instead (not counted as a duplicate).
pub fn edit_options(original: &[u8], group: &str, options: &[(&str, Option<&str>)]) -> Edit {
    let newline: &[u8] = if original.windows(2).any(|w| w == b"\r\n") {
        b"\r\n"
    } else {
        b"\n"
    };
    let wanted: Vec<Vec<u8>> = options
        .iter()
        .map(|(n, _)| normalize_key(n.as_bytes()))
        .collect();
    let mut seen = vec![false; options.len()];
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut in_group = false;
    let mut last_in_group: Option<usize> = None;
    let mut removed = 0;

    for line in split_lines(original) {
        let body = trim_newline(line);
        if let Some(name) = group_header(body) {
            in_group = name.eq_ignore_ascii_case(group.as_bytes());
        }
        if in_group {
            if let Some(idx) = option_key(body).and_then(|k| wanted.iter().position(|w| *w == k)) {
                let Some(value) = options[idx].1 else {
                    continue;
                };
                if seen[idx] {
                    removed += 1;
                    continue;
                }
                seen[idx] = true;
                out.push(replace_value(line, value.as_bytes()));
            } else {
                out.push(line.to_vec());
            }
            if !body.iter().all(u8::is_ascii_whitespace) {
                last_in_group = Some(out.len() - 1);
            }
        } else {
            out.push(line.to_vec());
        }
    }

    let missing: Vec<Vec<u8>> = options
        .iter()
        .zip(&seen)
        .filter(|(_, seen)| !**seen)
        .filter_map(|((name, value), _)| Some((name, (*value)?)))
        .map(|(name, value)| [name.as_bytes(), b" = ", value.as_bytes(), newline].concat())
        .collect();
    if !missing.is_empty() {
        let at = match last_in_group {
            Some(i) => i + 1,
            None => {
                if let Some(last) = out.last_mut() {
                    if !last.ends_with(b"\n") {
                        last.extend_from_slice(newline);
                    }
                    out.push(newline.to_vec());
                }
                out.push([b"[", group.as_bytes(), b"]", newline].concat());
                out.len()
            }
        };
        if let Some(prev) = at.checked_sub(1).and_then(|i| out.get_mut(i)) {
            if !prev.ends_with(b"\n") {
                prev.extend_from_slice(newline);
            }
        }
        out.splice(at..at, missing);
    }
    Edit {
        content: out.concat(),
        removed_duplicates: removed,
    }
}

/// Lines with their endings; the last one may have none.
fn split_lines(content: &[u8]) -> impl Iterator<Item = &[u8]> {
    content.split_inclusive(|b| *b == b'\n')
}

fn trim_newline(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn trim_ascii(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !first.is_ascii_whitespace() {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !last.is_ascii_whitespace() {
            break;
        }
        s = rest;
    }
    s
}

/// `[ name ]` → `name`.
fn group_header(body: &[u8]) -> Option<&[u8]> {
    let t = trim_ascii(body);
    let inner = t.strip_prefix(b"[")?;
    let end = inner.iter().position(|b| *b == b']')?;
    Some(trim_ascii(&inner[..end]))
}

/// The normalized option name of an option line, or None for comments,
/// directives, headers and blank lines.
fn option_key(body: &[u8]) -> Option<Vec<u8>> {
    let t = trim_ascii(body);
    match t.first() {
        None | Some(b'#' | b';' | b'!' | b'[') => return None,
        _ => {}
    }
    let end = t
        .iter()
        .position(|b| *b == b'=' || *b == b'#' || b.is_ascii_whitespace())
        .unwrap_or(t.len());
    Some(normalize_key(&t[..end]))
}

fn normalize_key(key: &[u8]) -> Vec<u8> {
    let k: Vec<u8> = key
        .iter()
        .map(|b| {
            if *b == b'_' {
                b'-'
            } else {
                b.to_ascii_lowercase()
            }
        })
        .collect();
    match k.strip_prefix(b"loose-") {
        Some(rest) => rest.to_vec(),
        None => k,
    }
}

/// Rewrites the value of an option line, keeping the key's spelling, the
/// spacing around `=`, any trailing comment and the line ending.
fn replace_value(line: &[u8], value: &[u8]) -> Vec<u8> {
    let body = trim_newline(line);
    let ending = &line[body.len()..];
    let indent = body.len() - body.trim_ascii_start().len();
    let key_end = indent
        + body[indent..]
            .iter()
            .position(|b| *b == b'=' || *b == b'#' || b.is_ascii_whitespace())
            .unwrap_or(body.len() - indent);
    let after_key = &body[key_end..];
    let Some(eq) = after_key
        .iter()
        .position(|b| *b == b'=')
        .filter(|eq| after_key[..*eq].iter().all(u8::is_ascii_whitespace))
    else {
        // A bare flag (`server-id` alone): give it a value.
        let suffix = trim_ascii_end_keep(after_key);
        return [&body[..key_end], b" = ", value, suffix, ending].concat();
    };
    let value_start = key_end + eq + 1 + leading_ws(&body[key_end + eq + 1..]);
    let rest = &body[value_start..];
    let value_end = value_start + value_extent(rest);
    [&body[..value_start], value, &body[value_end..], ending].concat()
}

/// What follows a bare flag that must be kept: spacing plus a comment.
fn trim_ascii_end_keep(after_key: &[u8]) -> &[u8] {
    match after_key.iter().position(|b| *b == b'#') {
        Some(hash) => &after_key[hash.saturating_sub(leading_ws_before(after_key, hash))..],
        None => b"",
    }
}

fn leading_ws_before(s: &[u8], end: usize) -> usize {
    s[..end]
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_whitespace())
        .count()
}

fn leading_ws(s: &[u8]) -> usize {
    s.iter().take_while(|b| b.is_ascii_whitespace()).count()
}

/// Length of the value at the start of `rest`: up to an unquoted `#`,
/// without the spaces before it. A quoted string (which may hold `#`) and
/// whatever follows its closing quote are all value: keeping text after the
/// quote would make the next edit see a different value (found by fuzzing).
fn value_extent(rest: &[u8]) -> usize {
    let mut from = 0;
    if let Some(&quote @ (b'"' | b'\'')) = rest.first() {
        if let Some(close) = rest[1..].iter().position(|b| *b == quote) {
            from = close + 2;
        }
    }
    let end = from
        + rest[from..]
            .iter()
            .position(|b| *b == b'#')
            .unwrap_or(rest.len() - from);
    end - leading_ws_before(rest, end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const OPTS: &[(&str, &str)] = &[("server-id", "42"), ("report-host", "10.0.0.5")];

    fn edit(s: &str) -> String {
        String::from_utf8(set_options(s.as_bytes(), "mysqld", OPTS).content).unwrap()
    }

    /// The value a server would read for `key` in `group`: the last one wins.
    fn effective(content: &[u8], group: &str, key: &str) -> Vec<Vec<u8>> {
        let mut in_group = false;
        let mut values = Vec::new();
        for line in split_lines(content) {
            let body = trim_newline(line);
            if let Some(name) = group_header(body) {
                in_group = name.eq_ignore_ascii_case(group.as_bytes());
            }
            if in_group && option_key(body).as_deref() == Some(&normalize_key(key.as_bytes())[..]) {
                let eq = body
                    .iter()
                    .position(|b| *b == b'=')
                    .map_or(body.len(), |i| i + 1);
                let rest = &body[eq..];
                let start = leading_ws(rest);
                values.push(rest[start..start + value_extent(&rest[start..])].to_vec());
            }
        }
        values
    }

    #[test]
    fn a_none_value_removes_the_option_in_the_group_only() {
        let src = "[mysqld]\ninit-file=/a.sql\nuser=mysql\nloose_init_file = /b.sql\n[client]\ninit-file=/c\n";
        let out = edit_options(
            src.as_bytes(),
            "mysqld",
            &[("init-file", None), ("server-id", Some("7"))],
        );
        assert_eq!(
            String::from_utf8(out.content).unwrap(),
            "[mysqld]\nuser=mysql\nserver-id = 7\n[client]\ninit-file=/c\n"
        );
        assert_eq!(out.removed_duplicates, 0);
        let absent = edit_options(b"[mysqld]\nuser=mysql\n", "mysqld", &[("init-file", None)]);
        assert_eq!(absent.content, b"[mysqld]\nuser=mysql\n");
    }

    #[test]
    fn empty_file_gets_a_group() {
        assert_eq!(
            edit(""),
            "[mysqld]\nserver-id = 42\nreport-host = 10.0.0.5\n"
        );
    }

    #[test]
    fn missing_group_is_appended_after_other_groups() {
        assert_eq!(
            edit("[client]\nport=3306"),
            "[client]\nport=3306\n\n[mysqld]\nserver-id = 42\nreport-host = 10.0.0.5\n"
        );
    }

    #[test]
    fn missing_keys_go_after_the_groups_last_line() {
        let src = "[mysqld]\nuser=mysql\n# tuning\n\n[client]\nport=3306\n";
        assert_eq!(
            edit(src),
            "[mysqld]\nuser=mysql\n# tuning\nserver-id = 42\nreport-host = 10.0.0.5\n\n[client]\nport=3306\n"
        );
    }

    #[test]
    fn existing_values_are_replaced_in_place_keeping_spelling_spacing_and_comments() {
        let src = "[mysqld]\n  server_id=7   # from the seed\nReport_Host = 'old'\nlog-bin\n";
        assert_eq!(
            edit(src),
            "[mysqld]\n  server_id=42   # from the seed\nReport_Host = 10.0.0.5\nlog-bin\n"
        );
    }

    #[test]
    fn seed_appended_duplicates_collapse_to_one() {
        let src = "[mysqld]\npid-file=/var/run/mysqld/mysqld.pid\nserver-id=261\nserver-id=261\nserver-id=262\n";
        let e = set_options(src.as_bytes(), "mysqld", &[("server-id", "42")]);
        assert_eq!(e.removed_duplicates, 2);
        assert_eq!(
            String::from_utf8(e.content).unwrap(),
            "[mysqld]\npid-file=/var/run/mysqld/mysqld.pid\nserver-id=42\n"
        );
    }

    #[test]
    fn other_groups_keys_are_left_alone() {
        let src = "[mysqld_safe]\nserver-id=1\n[mysqld]\nport=1\n[mysqldump]\nserver-id=2\n";
        assert_eq!(
            edit(src),
            "[mysqld_safe]\nserver-id=1\n[mysqld]\nport=1\nserver-id = 42\nreport-host = 10.0.0.5\n[mysqldump]\nserver-id=2\n"
        );
    }

    #[test]
    fn comments_and_directives_that_mention_the_key_are_not_options() {
        let src = "[mysqld]\n# server-id=1\n; server_id=2\n!include /etc/server-id.cnf\n";
        let out = edit(src);
        assert!(out.starts_with(src), "{out}");
        assert_eq!(
            effective(out.as_bytes(), "mysqld", "server_id"),
            vec![b"42".to_vec()]
        );
    }

    #[test]
    fn group_names_ignore_case_and_spaces_and_repeated_groups_are_handled() {
        let src = "[ MySQLd ]\nserver-id=1\n[client]\n[mysqld]\nserver-id=2\nreport_host=x\n";
        let out = edit(src);
        assert_eq!(
            out,
            "[ MySQLd ]\nserver-id=42\n[client]\n[mysqld]\nreport_host=10.0.0.5\n"
        );
    }

    #[test]
    fn crlf_files_stay_crlf() {
        let src = "[client]\r\nport=1\r\n[mysqld]\r\nuser=mysql\r\n";
        assert_eq!(
            edit(src),
            "[client]\r\nport=1\r\n[mysqld]\r\nuser=mysql\r\nserver-id = 42\r\nreport-host = 10.0.0.5\r\n"
        );
        assert_eq!(
            edit("[mysqld]\r\nserver-id=1\r\n"),
            "[mysqld]\r\nserver-id=42\r\nreport-host = 10.0.0.5\r\n"
        );
    }

    #[test]
    fn missing_final_newline_is_added_only_where_we_append() {
        assert_eq!(
            edit("[mysqld]\nuser=mysql"),
            "[mysqld]\nuser=mysql\nserver-id = 42\nreport-host = 10.0.0.5\n"
        );
        assert_eq!(
            edit("[mysqld]\nserver-id=1\nreport-host=a"),
            "[mysqld]\nserver-id=42\nreport-host=10.0.0.5"
        );
    }

    #[test]
    fn bare_flags_quotes_and_loose_prefix() {
        assert_eq!(
            edit("[mysqld]\nserver-id # no value\nloose_report-host=\"a # b\" # c\n"),
            "[mysqld]\nserver-id = 42 # no value\nloose_report-host=10.0.0.5 # c\n"
        );
    }

    #[test]
    fn text_after_a_closing_quote_is_value_too() {
        // Found by fuzz/option_file: the first edit kept `x`, so the second
        // saw the value `42x` and changed the file again.
        let once = edit("[mysqld]\nserver-id=\"7\"x # c\r stray\n");
        assert_eq!(
            once,
            "[mysqld]\nserver-id=42 # c\r stray\nreport-host = 10.0.0.5\n"
        );
        assert_eq!(edit(&once), once);
    }

    #[test]
    fn non_utf8_bytes_survive() {
        let src = b"# caf\xe9\n[mysqld]\nserver-id=1\n";
        let out = set_options(src, "mysqld", &[("server-id", "9")]).content;
        assert_eq!(out, b"# caf\xe9\n[mysqld]\nserver-id=9\n");
    }

    #[test]
    fn the_seed_mysqld_cnf_is_edited_in_place() {
        let seed = "[mysqld]\npid-file\t= /var/run/mysqld/mysqld.pid\nsocket\t\t= /var/run/mysqld/mysqld.sock\n\
            datadir\t\t= /var/lib/mysql\nsymbolic-links=0\nlog-bin\nserver-id=261\n";
        let out = edit(seed);
        assert_eq!(
            out,
            seed.replace("server-id=261", "server-id=42") + "report-host = 10.0.0.5\n"
        );
    }

    fn line() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("[mysqld]".to_string()),
            Just("[ client ]".to_string()),
            Just("[MYSQLD]".to_string()),
            Just("[mysqld-8.0]".to_string()),
            Just("server-id=3".to_string()),
            Just("server_id = 4 # old".to_string()),
            Just("loose-server-id".to_string()),
            Just("report_host='h'".to_string()),
            Just("# server-id=1".to_string()),
            Just("; comment".to_string()),
            Just("!includedir /etc/mysql/conf.d/".to_string()),
            Just("".to_string()),
            Just("   ".to_string()),
            "[a-z_-]{1,12}( ?= ?[a-z0-9/. ]{0,10})?",
        ]
    }

    fn file() -> impl Strategy<Value = Vec<u8>> {
        (
            prop::collection::vec((line(), any::<bool>()), 0..20),
            any::<bool>(),
        )
            .prop_map(|(lines, final_nl)| {
                let n = lines.len();
                let mut out = String::new();
                for (i, (l, crlf)) in lines.into_iter().enumerate() {
                    out.push_str(&l);
                    if i + 1 < n || final_nl {
                        out.push_str(if crlf { "\r\n" } else { "\n" });
                    }
                }
                out.into_bytes()
            })
    }

    proptest! {
        #[test]
        fn edit_is_idempotent(src in file()) {
            let once = set_options(&src, "mysqld", OPTS);
            let twice = set_options(&once.content, "mysqld", OPTS);
            prop_assert_eq!(&twice.content, &once.content);
            prop_assert_eq!(twice.removed_duplicates, 0);
        }

        #[test]
        fn each_key_ends_up_exactly_once_with_our_value(src in file()) {
            let out = set_options(&src, "mysqld", OPTS).content;
            for (key, value) in OPTS {
                prop_assert_eq!(effective(&out, "mysqld", key), vec![value.as_bytes().to_vec()]);
            }
        }

        #[test]
        fn every_other_line_is_kept_in_order(src in file()) {
            let out = set_options(&src, "mysqld", OPTS).content;
            let ours = |body: &[u8]| option_key(body).is_some_and(|k| k == b"server-id" || k == b"report-host");
            let kept: Vec<&[u8]> = split_lines(&src).map(trim_newline).filter(|b| !ours(b)).collect();
            let mut rest = split_lines(&out).map(trim_newline);
            for want in kept {
                prop_assert!(rest.any(|got| got == want), "line {:?} lost", String::from_utf8_lossy(want));
            }
        }
    }
}
