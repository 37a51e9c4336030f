//! What a body is recognised by, as the plan writes it: its recipient, and what the provider's
//! callbacks carry back. The plan knows which holes and constants land at these places, so a
//! caller that needs them (the pre-flight) gets them with the body instead of reading the body
//! again.

use std::borrow::Cow;

use serde_json::Value;

use crate::template::MessageKind;

/// Where each key is in a body, in the order [`BodyKeys::set`] numbers them. The `flow_token`
/// here is an interactive Flow message's; a template message's is in its FLOW button, whose
/// place among the components each template decides ([`KeyPlaces::of`]).
const POINTERS: [&str; 5] = [
    "/messaging_object/to",
    "/messaging_object/interactive/action/parameters/flow_token",
    "/extra_info/ref",
    "/extra_info/ref1",
    "/extra_info/ref2",
];

/// The number [`BodyKeys::set`] gives the `flow_token`.
const FLOW_TOKEN: usize = 1;

/// A template message's components.
const COMPONENTS: &str = "/messaging_object/template/components";

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
            FLOW_TOKEN => self.flow_token = Some(text.to_owned()),
            _ => {
                if let Some(slot) = self.refs.get_mut(key - 2) {
                    *slot = Some(text.to_owned());
                }
            }
        }
    }
}

/// Where the keys are in every body of one template: the fixed places, and its `flow_token`'s
/// (nowhere when a template message has no FLOW button).
pub(super) struct KeyPlaces {
    flow_token: Option<Cow<'static, str>>,
}

impl KeyPlaces {
    /// The places for the bodies of `skeleton` (its holes at `holes`); `None` when a hole decides
    /// where a key is (which component is the FLOW button): only each body can tell.
    pub(super) fn of(skeleton: &Value, holes: &[String], kind: MessageKind) -> Option<KeyPlaces> {
        let flow_token = match kind {
            MessageKind::Flow => Some(Cow::Borrowed(POINTERS[FLOW_TOKEN])),
            MessageKind::Template => {
                let is_hole = |place: &str| holes.iter().any(|hole| super::at_or_under(place, hole));
                flow_button_token(skeleton, is_hole).ok()?.map(Cow::Owned)
            }
        };
        Some(KeyPlaces { flow_token })
    }

    /// The places, in the order [`BodyKeys::set`] numbers them.
    fn pointers(&self) -> impl Iterator<Item = (usize, &str)> {
        POINTERS.iter().enumerate().filter_map(|(key, pointer)| {
            if key == FLOW_TOKEN {
                self.flow_token.as_deref().map(|pointer| (key, pointer))
            } else {
                Some((key, *pointer))
            }
        })
    }

    /// The keys every body of a skeleton has (its constants), with the holes' left unset; `None`
    /// when a hole holds a key's parent (a typed value, an object only the row gives).
    pub(super) fn constants(&self, skeleton: &Value, holes: &[String]) -> Option<BodyKeys> {
        let mut keys = BodyKeys::default();
        for (key, pointer) in self.pointers() {
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
    pub(super) fn at(&self, pointer: &str) -> Option<usize> {
        self.pointers()
            .find_map(|(key, place)| (place == pointer).then_some(key))
    }
}

/// A hole decides where a template message's `flow_token` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Undecided;

/// Where a template message's `flow_token` is: the `action.flow_token` of the first `action`
/// parameter of the first component that is a FLOW button (`type: button`, `sub_type: flow`; a
/// template has at most one); `None` without one. `is_hole` says which places only a row fills:
/// one that decides which component or parameter it is gives [`Undecided`].
pub(crate) fn flow_button_token(body: &Value, is_hole: impl Fn(&str) -> bool) -> Result<Option<String>, Undecided> {
    let constant = |place: &str| if is_hole(place) { Err(Undecided) } else { Ok(()) };
    constant(COMPONENTS)?;
    let Some(components) = body.pointer(COMPONENTS).and_then(Value::as_array) else {
        return Ok(None);
    };
    let text = |object: &Value, field: &str| object.get(field).and_then(Value::as_str).map(str::to_owned);
    for (index, component) in components.iter().enumerate() {
        let at = format!("{COMPONENTS}/{index}");
        constant(&at)?;
        constant(&format!("{at}/type"))?;
        constant(&format!("{at}/sub_type"))?;
        if text(component, "type").as_deref() != Some("button")
            || text(component, "sub_type").as_deref() != Some("flow")
        {
            continue;
        }
        let parameters_at = format!("{at}/parameters");
        constant(&parameters_at)?;
        let Some(parameters) = component.get("parameters").and_then(Value::as_array) else {
            return Ok(None);
        };
        for (index, parameter) in parameters.iter().enumerate() {
            let at = format!("{parameters_at}/{index}");
            constant(&at)?;
            constant(&format!("{at}/type"))?;
            if text(parameter, "type").as_deref() == Some("action") {
                return Ok(Some(format!("{at}/action/flow_token")));
            }
        }
        return Ok(None);
    }
    Ok(None)
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
