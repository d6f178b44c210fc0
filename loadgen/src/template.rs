//! Client-id and topic templates: `%i` is the connection's index within its
//! role, `%s` its shard, `%r` its role (`pub`, `sub`, `conn`), `%%` a `%`.

use std::fmt::Write;

/// What a template is expanded for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TemplateVars<'a> {
    /// `%i`: the connection's index within its role.
    pub index: u32,
    /// `%s`: the shard it runs on.
    pub shard: usize,
    /// `%r`: its role.
    pub role: &'a str,
}

/// Expands `template`; an unknown `%x` is kept as written.
pub fn expand(template: &str, vars: TemplateVars<'_>) -> String {
    let mut out = String::with_capacity(template.len() + 8);
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('i') => write!(out, "{}", vars.index).expect("writing to a String"),
            Some('s') => write!(out, "{}", vars.shard).expect("writing to a String"),
            Some('r') => out.push_str(vars.role),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const VARS: TemplateVars<'static> = TemplateVars {
        index: 42,
        shard: 3,
        role: "pub",
    };

    #[test]
    fn index_shard_and_role_are_substituted() {
        assert_eq!(expand("lg-%r-%i@%s", VARS), "lg-pub-42@3");
    }

    #[test]
    fn percent_escape_and_unknown_directives_are_kept() {
        assert_eq!(expand("100%% %x end%", VARS), "100% %x end%");
    }

    #[test]
    fn template_without_directives_is_unchanged() {
        assert_eq!(expand("sensors/a/b", VARS), "sensors/a/b");
    }

    #[test]
    fn repeated_directives_all_expand() {
        assert_eq!(expand("%i/%i/%s", VARS), "42/42/3");
    }
}
