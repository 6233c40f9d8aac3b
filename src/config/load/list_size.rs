//! `@listSize(assumedSize:, slicingArguments:)` on a list field: the size the
//! cost analysis assumes for it.

use async_graphql::Positioned;
use async_graphql::parser::types::{BaseType, ConstDirective, Type};

use super::Loader;
use crate::config::directives::DirectiveArgs;
use crate::config::{ArgDef, ListSize, vocabulary};

impl Loader<'_> {
    /// The size of the list field `coordinate`, whose slicing arguments must
    /// be Int arguments among `args`. `None`, with a diagnostic, when the
    /// field is not a list or the directive gives no size.
    pub(super) fn list_size(
        &mut self,
        directive: &Positioned<ConstDirective>,
        coordinate: &str,
        ty: &Type,
        args: &[ArgDef],
    ) -> Option<ListSize> {
        let reader = DirectiveArgs::new(
            directive,
            &vocabulary::arg_names("listSize"),
            &mut self.diags,
        );
        if !matches!(ty.base, BaseType::List(_)) {
            self.error(
                directive.pos,
                format!("@listSize on `{coordinate}`: the field is not a list"),
            );
            return None;
        }
        let assumed = reader
            .usize("assumedSize", &mut self.diags)
            .map(|n| u64::try_from(n).unwrap_or(u64::MAX));
        let mut slicing = Vec::new();
        for (name, pos) in reader.strings("slicingArguments", &mut self.diags) {
            match args.iter().find(|a| a.name.as_str() == name) {
                Some(arg) if matches!(&arg.ty.base, BaseType::Named(n) if n == "Int") => {
                    slicing.push(name.to_owned())
                }
                Some(arg) => self.error(
                    pos,
                    format!(
                        "@listSize on `{coordinate}`: slicing argument `{name}` is `{}`, not Int",
                        arg.ty
                    ),
                ),
                None => self.error(
                    pos,
                    format!("@listSize on `{coordinate}`: the field has no argument `{name}`"),
                ),
            }
        }
        if assumed.is_none() && slicing.is_empty() {
            self.error(
                directive.pos,
                format!("@listSize on `{coordinate}` needs `assumedSize` or `slicingArguments`"),
            );
            return None;
        }
        Some(ListSize { assumed, slicing })
    }
}
