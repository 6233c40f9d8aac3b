//! apollo-compiler's diagnostics, placed where graphql-js places them:
//! both definitions of a duplicate name, a variable usage with its
//! definition, the selection set of a leaf, the pair (or the chain of
//! fields above the pair) of a field conflict. Follow-on diagnostics
//! graphql-js does not give (an argument "not provided" that was given as
//! `null`, a spread of a fragment whose type is unknown) are dropped, and
//! what apollo-compiler does not check (input field uniqueness) is added.

use super::index::{Index, Named};

/// One validation error: its message and where it is (byte offsets).
#[derive(Debug, Clone)]
pub(super) struct Located {
    pub(super) message: String,
    pub(super) at: Vec<usize>,
    pub(super) syntax: bool,
}

/// The first `"..."` of `message`.
fn quoted(message: &str) -> Option<&str> {
    let start = message.find('"')? + 1;
    let len = message[start..].find('"')?;
    Some(&message[start..start + len])
}

/// Every `"..."` of `message`, in order.
fn all_quoted(message: &str) -> Vec<&str> {
    message.split('"').skip(1).step_by(2).collect()
}

/// Where graphql-js puts the diagnostic `name` (apollo-compiler's rule
/// name) with `message` found at `main`; `None` drops it.
pub(super) fn locate(
    index: &Index,
    types: &dyn Fn(&str) -> Option<bool>,
    name: &str,
    message: &str,
    main: Option<usize>,
) -> Option<Vec<usize>> {
    let at = main.unwrap_or(0);
    let same_names = |list: &[&Named], wanted: &str| -> Vec<usize> {
        list.iter()
            .filter(|n| n.name == wanted)
            .map(|n| n.at)
            .collect()
    };
    let keep = || Some(main.into_iter().collect::<Vec<_>>());
    match name {
        "OperationNameCollision" => {
            let names: Vec<&Named> = index
                .operations
                .iter()
                .filter_map(|o| o.name.as_ref())
                .collect();
            Some(same_names(&names, quoted(message)?))
        }
        "FragmentNameCollision" => {
            let names: Vec<&Named> = index.fragments.iter().map(|f| &f.name).collect();
            Some(same_names(&names, quoted(message)?))
        }
        "UniqueArgument" => {
            let wanted = quoted(message)?;
            let list = index
                .arguments
                .iter()
                .find(|l| l.iter().any(|(n, _)| n.at == at && n.name == wanted))?;
            Some(
                list.iter()
                    .filter(|(n, _)| n.name == wanted)
                    .map(|(n, _)| n.at)
                    .collect(),
            )
        }
        "UniqueDirective" => {
            let wanted = quoted(message)?.trim_start_matches('@');
            let list = index
                .directives
                .iter()
                .find(|l| l.iter().any(|d| d.at == at))?;
            Some(
                list.iter()
                    .filter(|d| d.name == wanted)
                    .map(|d| d.at)
                    .collect(),
            )
        }
        "UniqueVariable" => {
            let wanted = quoted(message)?.trim_start_matches('$');
            let op = index.operation_of(at)?;
            Some(
                op.variables
                    .iter()
                    .filter(|(n, _, _)| n.name == wanted)
                    .map(|(n, _, _)| n.at)
                    .collect(),
            )
        }
        // A variable's type that is unknown or not an input type: at the type.
        "VariableInputType" | "UndefinedDefinition" => {
            let op = index.operation_of(at);
            match op.and_then(|op| op.variables.iter().find(|(_, start, _)| *start == at)) {
                Some((_, _, ty)) => Some(vec![*ty]),
                None => keep(),
            }
        }
        "UndefinedVariable" => {
            let op = index.operation_of(at)?;
            Some(vec![at, op.start])
        }
        "DisallowedVariableUsage" => {
            let wanted = quoted(message)?.trim_start_matches('$');
            let op = index.operation_of(at)?;
            let (_, definition, _) = op.variables.iter().find(|(n, _, _)| n.name == wanted)?;
            let usage = index
                .usages
                .iter()
                .filter(|u| u.name == wanted && u.at >= at)
                .map(|u| u.at)
                .min()
                .unwrap_or(at);
            Some(vec![*definition, usage])
        }
        "RecursiveFragmentDefinition" => {
            // "Cannot spread fragment "A" within itself via "B", "C"."
            let names = all_quoted(message);
            let (first, via) = names.split_first()?;
            // apollo-compiler's trace names the fragment itself too.
            let via: Vec<&str> = via.iter().copied().filter(|n| n != first).collect();
            let chain: Vec<&str> = std::iter::once(*first)
                .chain(via.iter().copied())
                .chain(std::iter::once(*first))
                .collect();
            let mut spots = Vec::new();
            for pair in chain.windows(2) {
                let fragment = index.fragments.iter().find(|f| f.name.name == pair[0])?;
                let spread = fragment.spreads.iter().find(|s| s.name == pair[1])?;
                spots.push(spread.at);
            }
            Some(spots)
        }
        "UndefinedFragment" => {
            let wanted = quoted(message)?;
            // A fragment that is defined but unusable (its type is unknown)
            // is reported as that, not again at its spreads.
            if index.fragments.iter().any(|f| f.name.name == wanted) {
                return None;
            }
            // At the spread's name, after `...`.
            Some(vec![name_after_dots(index, at)])
        }
        "InvalidFragmentTarget" => {
            if let Some(f) = index.fragments.iter().find(|f| f.start == at) {
                return Some(vec![f.type_condition.at]);
            }
            match index.inline_fragments.iter().find(|i| i.start == at) {
                Some(i) => Some(vec![i.type_condition.as_ref().map_or(at, |t| t.at)]),
                None => keep(),
            }
        }
        // A spread of a fragment on a leaf type, or a field asked of one:
        // graphql-js reports the fragment's type alone.
        "InvalidFragmentSpread" => {
            let target = all_quoted(message).last().copied()?;
            if types(target) == Some(false) {
                None
            } else {
                keep()
            }
        }
        "UndefinedField" => {
            let on = all_quoted(message).get(1).copied()?;
            if types(on) == Some(false) {
                None
            } else {
                keep()
            }
        }
        "SubselectionOnScalarType" | "SubselectionOnEnumType" => {
            match index.fields.iter().find(|f| f.start == at) {
                Some(f) => Some(vec![f.selection.unwrap_or(at)]),
                None => keep(),
            }
        }
        // Given, as `null`: the value's own error says so.
        "RequiredArgument" => {
            let wanted = all_quoted(message).get(1).copied()?;
            if argument_of(index, at, wanted) {
                None
            } else {
                keep()
            }
        }
        "RequiredField" => {
            let field = quoted(message)?.rsplit('.').next()?;
            let object = index.objects.iter().find(|(start, _)| *start == at);
            match object {
                Some((_, fields)) if fields.iter().any(|(n, _)| n.name == field) => None,
                _ => keep(),
            }
        }
        // An unknown input field: at its name, not its value.
        "UndefinedInputValue" => {
            let found = index
                .objects
                .iter()
                .flat_map(|(_, fields)| fields.iter())
                .find(|(_, value)| *value == at);
            match found {
                Some((n, _)) => Some(vec![n.at]),
                None => keep(),
            }
        }
        "ConflictingFieldType" | "ConflictingFieldName" | "ConflictingFieldArgument" => {
            Some(conflict(index, at))
        }
        _ => keep(),
    }
}

/// Whether the field starting at `at` has argument `name`.
fn argument_of(index: &Index, at: usize, name: &str) -> bool {
    let Some(field) = index.fields.iter().find(|f| f.start == at) else {
        return false;
    };
    let end = field.selection.unwrap_or(field.end);
    index
        .arguments
        .iter()
        .flatten()
        .any(|(n, _)| n.name == name && n.at > at && n.at < end)
}

/// Where the name of the spread at `at` starts (after `...`).
fn name_after_dots(index: &Index, at: usize) -> usize {
    index
        .fragments
        .iter()
        .flat_map(|f| f.spreads.iter())
        .find(|s| s.at == at)
        .map_or(at + 3, |s| s.at + 3)
}

/// The two fields of a conflict found at `at` (the second of them) and,
/// when they sit in different parents, the chains of fields above them up
/// to the parents that are merged (as graphql-js reports it).
fn conflict(index: &Index, at: usize) -> Vec<usize> {
    let Some(second) = index.fields.iter().find(|f| f.start == at) else {
        return vec![at];
    };
    let Some(first) = index
        .fields
        .iter()
        .filter(|f| f.path == second.path && f.start < second.start)
        .min_by_key(|f| f.start)
    else {
        return vec![at];
    };
    // The outermost level where the two are different fields.
    let chain = |f: &super::index::Field| {
        let mut all = f.ancestors.clone();
        all.push(f.start);
        all
    };
    let (a, b) = (chain(first), chain(second));
    let split = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(0);
    a[split..].iter().chain(&b[split..]).copied().collect()
}

/// Input field uniqueness (5.6.3), which apollo-compiler does not check.
pub(super) fn duplicate_input_fields(index: &Index) -> Vec<Located> {
    index
        .objects
        .iter()
        .flat_map(|(_, fields)| repeated(fields.iter().map(|(n, _)| n), "input field"))
        .collect()
}

/// "There can be only one {what} named "x"." for each name given more than
/// once among `names`, at every place it is given (graphql-js's
/// uniqueness rules).
pub(super) fn repeated<'a>(names: impl Iterator<Item = &'a Named>, what: &str) -> Vec<Located> {
    let mut groups: Vec<(&str, Vec<usize>)> = Vec::new();
    for n in names {
        match groups.iter_mut().find(|(name, _)| *name == n.name) {
            Some((_, at)) => at.push(n.at),
            None => groups.push((&n.name, vec![n.at])),
        }
    }
    groups
        .into_iter()
        .filter(|(_, at)| at.len() > 1)
        .map(|(name, at)| Located {
            message: format!("There can be only one {what} named \"{name}\"."),
            at,
            syntax: false,
        })
        .collect()
}

/// Where graphql-js reports the syntax error apollo-compiler found at
/// `at`: an unterminated string where its line ends.
pub(super) fn syntax_at(query: &str, message: &str, at: usize) -> usize {
    if !message.contains("unterminated string") {
        return at;
    }
    query
        .get(at..)
        .and_then(|rest| rest.find('\n'))
        .map_or(query.len(), |n| at + n)
}
