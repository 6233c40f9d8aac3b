//! Parsing an upstream answer only as far as a [`Mask`] says it is read:
//! keys outside the mask are skipped while parsing, never built. The exec
//! layer works masks out from the operation (`exec::projection`); this layer
//! knows only JSON.

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The parts of a JSON value that are read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Mask {
    All,
    /// These keys of an object (of every object, in a list), each with
    /// what is read below it.
    Keys(Vec<(String, Mask)>),
}

impl Mask {
    pub(crate) fn none() -> Mask {
        Mask::Keys(Vec::new())
    }

    pub(crate) fn union(&mut self, other: Mask) {
        match (self, other) {
            (Mask::All, _) => {}
            (this, Mask::All) => *this = Mask::All,
            (Mask::Keys(keys), Mask::Keys(more)) => {
                for (key, mask) in more {
                    match keys.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, existing)) => existing.union(mask),
                        None => keys.push((key, mask)),
                    }
                }
            }
        }
    }

    /// `inner` at `path` below the root; a list index in the path (which
    /// the mask cannot tell from a key) reads everything.
    pub(crate) fn at(path: &[String], inner: Mask) -> Mask {
        if path.iter().any(|k| k.parse::<usize>().is_ok()) {
            return Mask::All;
        }
        path.iter()
            .rev()
            .fold(inner, |inner, key| Mask::Keys(vec![(key.clone(), inner)]))
    }

    fn get(&self, key: &str) -> Option<&Mask> {
        match self {
            Mask::All => Some(self),
            Mask::Keys(keys) => keys.iter().find(|(k, _)| k == key).map(|(_, m)| m),
        }
    }
}

/// Parses `body` keeping only what `mask` reads.
pub(crate) fn parse(body: &[u8], mask: &Mask) -> Result<Value, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = Masked(mask).deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

struct Masked<'m>(&'m Mask);

impl<'de> DeserializeSeed<'de> for Masked<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        match self.0 {
            Mask::All => serde::Deserialize::deserialize(d),
            keys @ Mask::Keys(_) => d.deserialize_any(MaskedVisitor(keys)),
        }
    }
}

struct MaskedVisitor<'m>(&'m Mask);

impl<'de> Visitor<'de> for MaskedVisitor<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            match self.0.get(&key) {
                Some(mask) => {
                    let value = map.next_value_seed(Masked(mask))?;
                    out.insert(key.into_owned(), value);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(out))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(Masked(self.0))? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    // A scalar where an object was expected is kept as it is: shaping
    // reports the mismatch.
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// An object key, borrowed from the body when it has no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = std::borrow::Cow<'de, str>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = std::borrow::Cow<'de, str>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(std::borrow::Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(std::borrow::Cow::Owned(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(std::borrow::Cow::Owned(v))
    }
}

#[cfg(test)]
impl Mask {
    /// A mask of these keys (tests write masks by hand).
    pub(crate) fn keys(pairs: &[(&str, Mask)]) -> Mask {
        Mask::Keys(
            pairs
                .iter()
                .map(|(k, m)| ((*k).to_owned(), m.clone()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parsing_keeps_what_the_mask_reads_and_lists_are_transparent() {
        let body =
            br#"{"data": {"items": [{"id": 1, "title": "a", "body": "x\"y", "meta": {"k": [1, 2]}},
                       {"id": 2, "title": "b", "body": "z", "meta": null}]}, "other": [1, 2, 3]}"#;
        let mask = Mask::keys(&[(
            "data",
            Mask::keys(&[(
                "items",
                Mask::keys(&[
                    ("title", Mask::All),
                    ("meta", Mask::keys(&[("k", Mask::All)])),
                ]),
            )]),
        )]);
        assert_eq!(
            parse(body, &mask).expect("valid JSON"),
            json!({"data": {"items": [{"title": "a", "meta": {"k": [1, 2]}}, {"title": "b", "meta": null}]}})
        );
        assert_eq!(
            parse(body, &Mask::All).expect("valid JSON"),
            serde_json::from_slice::<Value>(body).expect("valid JSON")
        );
        assert!(
            parse(br#"{"data": [1,}"#, &mask).is_err(),
            "bad JSON is an error"
        );
        assert!(
            parse(br#"{"a": 1} x"#, &mask).is_err(),
            "trailing bytes are an error"
        );
        assert_eq!(
            parse(br#""just a string""#, &mask).expect("valid JSON"),
            json!("just a string")
        );
    }

    #[test]
    fn unions_merge_keys_and_indices_read_everything() {
        let mut a = Mask::keys(&[("x", Mask::keys(&[("y", Mask::All)]))]);
        a.union(Mask::keys(&[
            ("x", Mask::keys(&[("z", Mask::All)])),
            ("w", Mask::All),
        ]));
        assert_eq!(
            a,
            Mask::keys(&[
                ("x", Mask::keys(&[("y", Mask::All), ("z", Mask::All)])),
                ("w", Mask::All)
            ])
        );
        a.union(Mask::All);
        assert_eq!(a, Mask::All);
        assert_eq!(
            Mask::at(&["items".into(), "0".into()], Mask::none()),
            Mask::All
        );
    }
}
