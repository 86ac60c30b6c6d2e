//! SQL string literals. Replication statements such as CHANGE REPLICATION
//! SOURCE TO cannot take bound parameters, so values are quoted here. The
//! quoting assumes the session's sql_mode has no NO_BACKSLASH_ESCAPES (nor
//! ANSI_QUOTES) and an ASCII-safe character set, which every connection of
//! replikit's client sets before anything else (`db::wire`).

/// What every session sets before anything else, so that `quote` is
/// exact whatever the server's defaults: an sql_mode without
/// NO_BACKSLASH_ESCAPES and ANSI_QUOTES, and utf8mb4 (GBK, SJIS and Big5 can
/// swallow a backslash into a character). `db::wire` sends it on every
/// connection; the tests send it on their own client's.
pub const SESSION_SETUP: &str = "SET SESSION character_set_client = utf8mb4, \
    SESSION character_set_connection = utf8mb4, SESSION character_set_results = utf8mb4, \
    SESSION sql_mode = 'STRICT_ALL_TABLES'";

/// A single-quoted literal for any text: quotes, backslashes, NUL, newlines
/// and Ctrl-Z escaped (as mysql_real_escape_string does), everything else
/// kept, including multi-byte UTF-8.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\u{1a}' => out.push_str("\\Z"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A backquoted identifier (a schema, table or event name): backquotes
/// doubled, everything else kept.
pub fn identifier(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A schema's name as a schema-level GRANT matches it and nothing else:
/// `_` and `%` are wildcards there (`my_db` would match `myXdb`, and
/// `mysq_` the `mysql` schema), so they and the escape itself are escaped.
/// This is also how information_schema.SCHEMA_PRIVILEGES shows the grant.
pub fn schema_grant_pattern(schema: &str) -> String {
    let mut out = String::with_capacity(schema.len());
    for c in schema.chars() {
        if matches!(c, '\\' | '_' | '%') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_grant_patterns_match_only_their_schema() {
        for (schema, pattern) in [
            ("shop", "shop"),
            ("my_db", r"my\_db"),
            ("100%", r"100\%"),
            (r"a\b", r"a\\b"),
            ("mysq_", r"mysq\_"),
            ("비밀`x", "비밀`x"),
            ("", ""),
        ] {
            assert_eq!(schema_grant_pattern(schema), pattern, "{schema}");
        }
    }

    #[test]
    fn identifiers() {
        assert_eq!(identifier("shop"), "`shop`");
        assert_eq!(identifier("a`b"), "`a``b`");
        assert_eq!(identifier("비밀 x'y"), "`비밀 x'y`");
        assert_eq!(identifier(""), "``");
    }
    use proptest::prelude::*;

    #[test]
    fn quoting_table() {
        let cases = [
            ("", "''"),
            ("plain", "'plain'"),
            (
                "x'; DROP DATABASE mysql; --",
                r"'x\'; DROP DATABASE mysql; --'",
            ),
            (r"back\slash", r"'back\\slash'"),
            ("\"quote\"", "'\"quote\"'"),
            ("a b%_", "'a b%_'"),
            ("비밀번호🔑", "'비밀번호🔑'"),
            ("nul\0nl\ncr\rz\u{1a}", r"'nul\0nl\ncr\rz\Z'"),
        ];
        for (text, want) in cases {
            assert_eq!(quote(text), want, "{text:?}");
        }
    }

    proptest! {
        /// Outside the escapes, no quote or backslash stands alone: the
        /// literal cannot end early, whatever the input.
        #[test]
        fn a_quoted_literal_has_exactly_two_unescaped_quotes(text in ".*") {
            let q = quote(&text);
            let inner = &q[1..q.len() - 1];
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                prop_assert!(c != '\'', "bare quote in {q:?}");
                if c == '\\' {
                    prop_assert!(matches!(chars.next(), Some('\'' | '\\' | '0' | 'n' | 'r' | 'Z')));
                }
            }
        }
    }
}
