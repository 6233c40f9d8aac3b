//! `@onError(use:, value:)`: what a field becomes when it fails, checked
//! against the field's type and its upstream's cache.

use async_graphql::Positioned;
use async_graphql::parser::types::{ConstDirective, Type};

use super::shared::value_fits;
use super::{Loader, Scope};
use crate::config::directives::DirectiveArgs;
use crate::config::{FieldSource, OnError, vocabulary};

impl Loader<'_> {
    /// The policy of the field `coordinate` of type `ty`. Where the directive
    /// cannot be read it is `FAIL`, as for a field without one; the
    /// diagnostic fails the load anyway.
    pub(super) fn on_error(
        &mut self,
        directive: &Positioned<ConstDirective>,
        coordinate: &str,
        ty: &Type,
        source: &FieldSource,
        scope: &Scope<'_>,
    ) -> OnError {
        let args = DirectiveArgs::new(
            directive,
            &vocabulary::arg_names("onError"),
            &mut self.diags,
        );
        let Some((policy, pos)) = args.required_string("use", &mut self.diags) else {
            return OnError::Fail;
        };
        let value = args.get("value");
        match policy {
            "FAIL" => OnError::Fail,
            "NULL" if !ty.nullable => {
                self.error(pos, format!("`{coordinate}` is non-null ({ty}), so it cannot become null; use DEFAULT with a value, or make the field nullable"));
                OnError::Fail
            }
            "NULL" => OnError::Null,
            "DEFAULT" => match value {
                None => {
                    self.error(
                        pos,
                        format!("@onError(use: DEFAULT) on `{coordinate}` needs a `value`"),
                    );
                    OnError::Fail
                }
                Some(v) => {
                    if let Err(problem) = value_fits(&v.node, ty, scope) {
                        self.error(
                            v.pos,
                            format!("the default for `{coordinate}` does not fit {ty}: {problem}"),
                        );
                    }
                    OnError::Default(v.node.clone())
                }
            },
            "STALE" => {
                let stale_window = match source {
                    FieldSource::Rest(b) => {
                        b.upstream.policies.cache.as_ref().map(|c| c.stale_if_error)
                    }
                    _ => None,
                };
                if stale_window.is_none_or(|w| w.is_zero()) {
                    self.error(pos, format!("@onError(use: STALE) on `{coordinate}` needs its upstream's `cache: {{ staleIfError: \"...\" }}`, which bounds how old a stale answer may be"));
                }
                if let Some(v) = value
                    && let Err(problem) = value_fits(&v.node, ty, scope)
                {
                    self.error(
                        v.pos,
                        format!("the fallback for `{coordinate}` does not fit {ty}: {problem}"),
                    );
                }
                OnError::Stale {
                    fallback: value.map(|v| v.node.clone()),
                }
            }
            other => {
                self.error(
                    pos,
                    format!("unknown @onError policy `{other}`; use FAIL, NULL, DEFAULT or STALE"),
                );
                OnError::Fail
            }
        }
    }
}
