//! Logs go to stderr as `replikit: LEVEL: message`, filtered by REPLIKIT_LOG
//! (env_logger syntax, default `info`). Nothing here ever formats a secret:
//! callers log names of secrets, never values.

use std::io::Write;

pub fn init() {
    let filter = std::env::var("REPLIKIT_LOG").unwrap_or_else(|_| "info".into());
    env_logger::Builder::new()
        .parse_filters(&filter)
        .format(|buf, record| {
            let level = record.level().as_str().to_ascii_lowercase();
            writeln!(buf, "replikit: {level}: {}", record.args())
        })
        .target(env_logger::Target::Stderr)
        .init();
}

/// A command line for the log. Values of password-like options are hidden
/// (`--password=X`, `--password X`, the MySQL clients' `-pX`,
/// `MYSQL_ROOT_PASSWORD=X`): an operator may have put one on a command
/// line, but our log must not repeat it.
pub fn command_line<S: AsRef<std::ffi::OsStr>>(argv: &[S]) -> String {
    let mut hide_next = false;
    let words: Vec<String> = argv
        .iter()
        .map(|a| {
            let a = a.as_ref().to_string_lossy();
            if std::mem::take(&mut hide_next) {
                return "***".to_string();
            }
            match a.split_once('=') {
                Some((key, _)) if is_secret_key(key) => format!("{key}=***"),
                None if a.starts_with("--") && is_secret_key(&a) => {
                    hide_next = true;
                    a.into_owned()
                }
                // mysql -pSECRET (the password glued to -p).
                None if a.starts_with("-p") && a.len() > 2 && !a.starts_with("--") => {
                    "-p***".to_string()
                }
                _ => a.into_owned(),
            }
        })
        .collect();
    format!("{words:?}")
}

fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "passwd", "secret", "token"]
        .iter()
        .any(|w| key.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_like_values_are_hidden_in_logged_commands() {
        let argv = [
            "mysqld",
            "--server-id=5",
            "--password=hunter2",
            "-pX",
            "MYSQL_ROOT_PASSWORD=s",
            "--api-token=t",
        ];
        assert_eq!(
            command_line(&argv),
            r#"["mysqld", "--server-id=5", "--password=***", "-p***", "MYSQL_ROOT_PASSWORD=***", "--api-token=***"]"#
        );
        assert_eq!(
            command_line(&[
                "mysql",
                "-uroot",
                "--password",
                "hunter2",
                "-p",
                "-e",
                "SELECT 1"
            ]),
            r#"["mysql", "-uroot", "--password", "***", "-p", "-e", "SELECT 1"]"#
        );
    }
}
