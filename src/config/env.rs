//! `${NAME}` and `${NAME:-default}` in upstream URLs and header values.

/// Reads environment variables. Tests pass their own map instead of the
/// process environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Replaces every `${NAME}` / `${NAME:-default}` in `text`.
pub(crate) fn interpolate(text: &str, env: EnvLookup<'_>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed `${{` in `{text}`"))?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "`${{{inner}}}` is not a valid environment reference"
            ));
        }
        match (env(name).filter(|v| !v.is_empty()), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => {
                return Err(format!(
                    "environment variable {name} is not set (use ${{{name}:-default}} for a default)"
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "SET").then(|| "value".to_owned())
    }

    #[test]
    fn interpolates_and_defaults() {
        assert_eq!(interpolate("a${SET}b", &env).as_deref(), Ok("avalueb"));
        assert_eq!(
            interpolate("${UNSET:-http://x:1}", &env).as_deref(),
            Ok("http://x:1")
        );
        assert_eq!(interpolate("${SET:-other}", &env).as_deref(), Ok("value"));
        assert!(
            interpolate("${UNSET}", &env)
                .expect_err("UNSET has no default")
                .contains("UNSET is not set")
        );
        assert!(interpolate("${bad name}", &env).is_err());
    }
}
