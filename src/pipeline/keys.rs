//! What a body is recognised by, as the plan writes it: its recipient, and what the provider's
//! callbacks carry back. The plan knows which holes and constants land at these places, so a
//! caller that needs them (the pre-flight) gets them with the body instead of reading the body
//! again.

use serde_json::Value;

/// Where each key is in a body, in the order [`BodyKeys::set`] numbers them.
const POINTERS: [&str; 5] = [
    "/messaging_object/to",
    "/messaging_object/interactive/action/parameters/flow_token",
    "/extra_info/ref",
    "/extra_info/ref1",
    "/extra_info/ref2",
];

/// A body's keys: the text at each place, as the body holds it (a value that is not text is
/// none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BodyKeys {
    /// `messaging_object.to`; empty when the body has none.
    pub recipient: String,
    pub flow_token: Option<String>,
    /// `extra_info.ref`, `ref1`, `ref2`.
    pub refs: [Option<String>; 3],
}

impl BodyKeys {
    /// Sets the key numbered `key` (see [`POINTERS`]).
    pub(super) fn set(&mut self, key: usize, text: &str) {
        match key {
            0 => text.clone_into(&mut self.recipient),
            1 => self.flow_token = Some(text.to_owned()),
            _ => {
                if let Some(slot) = self.refs.get_mut(key - 2) {
                    *slot = Some(text.to_owned());
                }
            }
        }
    }

    /// The keys every body of a skeleton has (its constants), with the holes' left unset; `None`
    /// when a hole holds a key's parent (a typed value, an object only the row gives).
    pub(super) fn constants(skeleton: &Value, holes: &[String]) -> Option<BodyKeys> {
        let mut keys = BodyKeys::default();
        for (key, pointer) in POINTERS.iter().enumerate() {
            if holes
                .iter()
                .any(|hole| hole != pointer && super::at_or_under(pointer, hole))
            {
                return None;
            }
            if holes.iter().any(|hole| hole == pointer) {
                continue;
            }
            if let Some(text) = skeleton.pointer(pointer).and_then(Value::as_str) {
                keys.set(key, text);
            }
        }
        Some(keys)
    }

    /// The key a value at `pointer` is, if it is one.
    pub(super) fn at(pointer: &str) -> Option<usize> {
        POINTERS.iter().position(|key| *key == pointer)
    }
}

/// Where the plan notes a body's keys as it writes the body: nowhere (`()`, a render that does
/// not need them, which then costs nothing), or a row's [`BodyKeys`].
pub(super) trait NoteKeys {
    /// Starts a body: its keys are the template's constants until a hole sets one.
    fn start(&mut self, constants: &BodyKeys);
    /// The key numbered `key`, if any, is `text`.
    fn note(&mut self, key: Option<usize>, text: &str);
}

impl NoteKeys for () {
    fn start(&mut self, _: &BodyKeys) {}

    fn note(&mut self, _: Option<usize>, _: &str) {}
}

impl NoteKeys for &mut BodyKeys {
    fn start(&mut self, constants: &BodyKeys) {
        self.clone_from(constants);
    }

    fn note(&mut self, key: Option<usize>, text: &str) {
        if let Some(key) = key {
            self.set(key, text);
        }
    }
}
