//! `@from(path:)`: the dotted path of its parent's JSON a field reads.

use async_graphql::parser::types::ConstDirective;
use async_graphql::{Positioned, Value as ConstValue};

use super::Loader;
use crate::config::directives::DirectiveArgs;
use crate::config::vocabulary;

impl Loader<'_> {
    /// The path's segments, for the field `coordinate`; a root field has no
    /// parent to read from.
    pub(super) fn from(
        &mut self,
        directive: &Positioned<ConstDirective>,
        coordinate: &str,
        is_root: bool,
    ) -> Vec<String> {
        let args = DirectiveArgs::new(directive, &vocabulary::arg_names("from"), &mut self.diags);
        let path = args
            .required_string("path", &mut self.diags)
            .map(|(p, _)| p.split('.').map(str::to_owned).collect())
            .unwrap_or_default();
        if is_root {
            self.error(
                directive.pos,
                format!("`{coordinate}` is a root field: it has no parent to read from"),
            );
        }
        path
    }
}

/// The `path` of the first `@from` among `directives`, as written, without a
/// diagnostic: the walk needs every field's JSON key before it reads any
/// field (a `{$parent.X}` may name a later one), and [`Loader::from`] reports
/// what is wrong with the directive when the field itself is read.
pub(super) fn from_path(directives: &[Positioned<ConstDirective>]) -> Option<String> {
    directives
        .iter()
        .find(|d| d.node.name.node == "from")
        .and_then(|d| d.node.get_argument("path"))
        .and_then(|v| match &v.node {
            ConstValue::String(s) => Some(s.clone()),
            _ => None,
        })
}
