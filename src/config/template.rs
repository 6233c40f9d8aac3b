//! Request templates: `"/products/{$parent.id}"`, `"{$args.id}"`, `"{$header.x-zip}"`.
//!
//! A template is parsed once at start-up into literal pieces and typed
//! expressions, so rendering on the request path is a walk over a vector.

use std::fmt;

/// Where an expression reads its value from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The field's own arguments (defaults applied).
    Args,
    /// The parent object's upstream JSON.
    Parent,
    /// An inbound request header the operator allowed.
    Header,
}

impl Source {
    fn name(self) -> &'static str {
        match self {
            Source::Args => "$args",
            Source::Parent => "$parent",
            Source::Header => "$header",
        }
    }
}

/// `{$parent.a.b}`: a source and a path into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expr {
    pub source: Source,
    /// Object keys (or list indices) below the source. For headers, one
    /// lower-cased header name.
    pub path: Vec<String>,
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{}", self.source.name())?;
        for segment in &self.path {
            write!(f, ".{segment}")?;
        }
        f.write_str("}")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Lit(String),
    Expr(Expr),
}

/// A parsed template string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub pieces: Vec<Piece>,
}

impl Template {
    /// Parses `text`. A `{` that does not start `{$` is literal text.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("{$") {
            literal.push_str(&rest[..start]);
            let after = &rest[start + 1..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("unclosed placeholder in template `{text}`"))?;
            let expr = parse_expr(&after[..end])?;
            if !literal.is_empty() {
                pieces.push(Piece::Lit(std::mem::take(&mut literal)));
            }
            pieces.push(Piece::Expr(expr));
            rest = &after[end + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            pieces.push(Piece::Lit(literal));
        }
        Ok(Template { pieces })
    }

    pub fn exprs(&self) -> impl Iterator<Item = &Expr> {
        self.pieces.iter().filter_map(|piece| match piece {
            Piece::Expr(expr) => Some(expr),
            Piece::Lit(_) => None,
        })
    }

    /// The expression, when the template is exactly one placeholder (such a
    /// template keeps the value's JSON type in a body).
    pub fn single_expr(&self) -> Option<&Expr> {
        match self.pieces.as_slice() {
            [Piece::Expr(expr)] => Some(expr),
            _ => None,
        }
    }

    pub fn is_literal(&self) -> bool {
        self.exprs().next().is_none()
    }
}

fn parse_expr(inner: &str) -> Result<Expr, String> {
    let inner = inner.trim();
    let mut parts = inner.split('.');
    let head = parts.next().unwrap_or_default();
    let source = match head {
        "$args" => Source::Args,
        "$parent" => Source::Parent,
        "$header" => Source::Header,
        other => {
            return Err(format!(
                "unknown template source `{other}`; use $args, $parent or $header"
            ));
        }
    };
    let path: Vec<String> = match source {
        // Header names contain dots rarely but dashes often; keep the rest whole.
        Source::Header => {
            let name = inner[head.len()..].trim_start_matches('.');
            if name.is_empty() {
                Vec::new()
            } else {
                vec![name.to_ascii_lowercase()]
            }
        }
        _ => parts.map(str::to_owned).collect(),
    };
    if path.is_empty() || path.iter().any(String::is_empty) {
        return Err(format!(
            "placeholder `{{{inner}}}` needs a name after {}, e.g. {{{}.id}}",
            source.name(),
            source.name()
        ));
    }
    Ok(Expr { source, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_literals_and_expressions() {
        let t = Template::parse("/products/{$parent.id}/recs?x={").expect("parses");
        assert_eq!(
            t.pieces,
            vec![
                Piece::Lit("/products/".into()),
                Piece::Expr(Expr {
                    source: Source::Parent,
                    path: vec!["id".into()]
                }),
                Piece::Lit("/recs?x={".into()),
            ]
        );
        assert!(t.single_expr().is_none());
        let h = Template::parse("{$header.X-Zip}").expect("parses");
        assert_eq!(
            h.single_expr().map(|e| e.path.clone()),
            Some(vec!["x-zip".to_string()])
        );
    }

    #[test]
    fn rejects_bad_placeholders() {
        assert!(Template::parse("{$args}").is_err());
        assert!(Template::parse("{$nope.x}").is_err());
        assert!(Template::parse("{$args.id").is_err());
        assert!(Template::parse("{$args..x}").is_err());
    }
}
