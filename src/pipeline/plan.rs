//! The fast path for a row: the body as pre-serialised constant text with holes.
//!
//! Every row of a template has the same shape (keys are never templated), so the parts of the
//! body that hold no expression are serialised, given their constants and validated once.
//! For each row only the holes are rendered, normalised and checked, each against its own
//! subschema, and written between the constant segments. This is equivalent to validating
//! the whole body because [`BodyValidator::hole_schema`] only lets a hole be checked alone when
//! no rule elsewhere looks at its value; a template where one does, or whose shape is itself
//! invalid, gets no plan and every row takes the full path.
//!
//! With a Flow (`flow_json`), a hole under `flow_action_payload.data` is also checked against
//! the type its screen declares; the template's constant values were checked against the Flow
//! once, when it was linked, and a template whose screen or data is itself a hole gets no plan.

use serde_json::Value;

use crate::approved::ApprovedCheck;
use crate::compile::{self, apply_rule, field_rule, FieldRule, Warning};
use crate::flow::{DeclaredType, HoleCheck, PayloadCheck};
use crate::phone::normalise_recipients;
use crate::render::Renderer;
use crate::template::MessageKind;
use crate::validate::{BodyValidator, HoleSchema, ValueCheck};

use super::keys::{BodyKeys, KeyPlaces, NoteKeys};

/// Marks a hole in the skeleton; private-use characters that serde_json writes as they are.
const MARK: char = '\u{E000}';

pub(super) struct BodyPlan {
    /// One more segment than holes: `segments[i]`, hole i, ..., the last segment.
    segments: Vec<Vec<u8>>,
    holes: Vec<Hole>,
    /// What normalising the constant fields noted (a long constant `flow_cta`): every row's.
    constant_warnings: Vec<Warning>,
    /// A template message's hydrated texts: the characters every row has (the approved text's
    /// and constant values'), and the limit, by slot (see [`ApprovedCheck::counted`]).
    budgets: Vec<(usize, usize)>,
    /// The keys every row's body has from the template's constants; `None` when the plan
    /// cannot tell where the keys are (only the body can).
    constant_keys: Option<BodyKeys>,
}

struct Hole {
    leaf: usize,
    rule: FieldRule,
    check: Option<Box<ValueCheck>>,
    /// The type the template's Flow declares for the value.
    flow_type: Option<DeclaredType>,
    /// Whether text fits that type: a hole of plain text then needs no check.
    text_fits_flow: bool,
    /// The hydrated text the value counts in, and how many times it is shown there.
    counted: Option<(usize, usize)>,
    /// Which of the body's keys the value is, if one.
    key: Option<usize>,
}

impl BodyPlan {
    pub(super) fn new(
        renderer: &Renderer,
        validator: &BodyValidator,
        flow: Option<&PayloadCheck>,
        approved: Option<&ApprovedCheck>,
        template_text: &str,
        kind: MessageKind,
    ) -> Option<BodyPlan> {
        if template_text.contains(MARK) {
            return None;
        }
        let pointers: Vec<String> = renderer.leaf_pointers().map(str::to_owned).collect();
        if pointers
            .iter()
            .any(|pointer| compile::constants(kind).iter().any(|(at, _)| at == pointer))
        {
            return None;
        }
        let mut skeleton = renderer.skeleton(|index| Value::String(format!("{MARK}{index}{MARK}")));
        compile::fill_constants(&mut skeleton, kind).ok()?;
        // The constant fields are normalised once, as the full path does for every body.
        let mut constant_warnings = Vec::new();
        for (pointer, rule) in compile::RULES {
            if pointers.iter().any(|hole| hole == pointer) {
                continue;
            }
            if let Some(value) = skeleton.pointer_mut(pointer) {
                apply_rule(*rule, value, &mut constant_warnings).ok()?;
            }
        }
        let places = KeyPlaces::of(&skeleton, &pointers, kind);
        let constant_keys = places
            .as_ref()
            .and_then(|places| places.constants(&skeleton, &pointers));
        if !validator.shape_violations(&skeleton, &pointers).is_empty() {
            return None;
        }
        let mut budgets: Vec<(usize, usize)> = approved.map(|check| check.budgets().collect()).unwrap_or_default();
        let counted: Vec<(usize, String, usize)> = approved.map(|check| check.counted().collect()).unwrap_or_default();
        for (slot, pointer, uses) in &counted {
            if !pointers.contains(pointer) {
                let chars = skeleton
                    .pointer(pointer)
                    .and_then(Value::as_str)
                    .map_or(0, |text| text.chars().count());
                budgets[*slot].0 += chars * uses;
            }
        }
        let text = serde_json::to_string(&skeleton).ok()?;
        let opening = format!("\"{MARK}");
        let closing = format!("{MARK}\"");
        let mut segments = Vec::with_capacity(pointers.len() + 1);
        let mut holes = Vec::with_capacity(pointers.len());
        let mut rest = text.as_str();
        while let Some(start) = rest.find(&opening) {
            let after = &rest[start + opening.len()..];
            let end = after.find(&closing)?;
            let leaf: usize = after[..end].parse().ok()?;
            let pointer = pointers.get(leaf)?;
            let rule = field_rule(pointer);
            let check = match validator.hole_schema(pointer, &skeleton, &pointers) {
                HoleSchema::Any => None,
                // Normalising `to` gives text of the very form its rule asks for: no check is left.
                HoleSchema::Check(check)
                    if rule == FieldRule::Recipients && check.implied_by_normalised_recipients() =>
                {
                    None
                }
                HoleSchema::Check(check) => Some(check),
                HoleSchema::Dependent => return None,
            };
            let flow_type = match flow.map_or(HoleCheck::Free, |flow| flow.hole_check(pointer)) {
                HoleCheck::Free => None,
                HoleCheck::Typed(ty) => Some(ty.clone()),
                HoleCheck::Dependent => return None,
            };
            segments.push(rest.as_bytes()[..start].to_vec());
            holes.push(Hole {
                leaf,
                rule,
                check,
                text_fits_flow: flow_type
                    .as_ref()
                    .is_none_or(|ty| ty.mismatch(&Value::String(String::new())).is_none()),
                flow_type,
                counted: counted
                    .iter()
                    .find(|(_, at, _)| at == pointer)
                    .map(|(slot, _, uses)| (*slot, *uses)),
                key: places.as_ref().and_then(|places| places.at(pointer)),
            });
            rest = &after[end + closing.len()..];
        }
        segments.push(rest.as_bytes().to_vec());
        (holes.len() == pointers.len()).then_some(BodyPlan {
            segments,
            holes,
            constant_warnings,
            budgets,
            constant_keys,
        })
    }

    /// Whether [`BodyPlan::write`] can give a body's keys.
    pub(super) fn knows_keys(&self) -> bool {
        self.constant_keys.is_some()
    }

    /// Appends the row's compact body to `out`, and notes its keys in `keys` (which must be `()`
    /// unless the plan [knows them](BodyPlan::knows_keys)). `false` when a value breaks a rule:
    /// the caller then takes the full path, which explains the problem.
    pub(super) fn write(
        &self,
        renderer: &Renderer,
        values: &[Value],
        out: &mut Vec<u8>,
        warnings: &mut Vec<Warning>,
        keys: impl NoteKeys,
    ) -> bool {
        // One text buffer serves every hole of every row the thread writes.
        thread_local! {
            static TEXT: std::cell::Cell<String> = const { std::cell::Cell::new(String::new()) };
        }
        TEXT.with(|cell| {
            let mut text = cell.take();
            let written = self.write_with(renderer, values, out, warnings, &mut text, keys);
            cell.set(text);
            written
        })
    }

    fn write_with(
        &self,
        renderer: &Renderer,
        values: &[Value],
        out: &mut Vec<u8>,
        warnings: &mut Vec<Warning>,
        text: &mut String,
        mut keys: impl NoteKeys,
    ) -> bool {
        warnings.extend(self.constant_warnings.iter().cloned());
        // A key is noted as the text written: JSON text reads back as it was written, so these
        // are the keys a reader of the body finds.
        if let Some(constants) = &self.constant_keys {
            keys.start(constants);
        }
        let mut context = renderer.context(values);
        // The characters each hydrated text has so far (a template message's header and body).
        let mut lengths = [0usize; 2];
        for (segment, hole) in self.segments.iter().zip(&self.holes) {
            out.extend_from_slice(segment);
            // A value that is exactly `{{var}}` of text is read where it is, not copied.
            let sole = renderer.sole_text(hole.leaf, values);
            let value = if sole.is_some() || renderer.render_text_into(hole.leaf, values, text) {
                let rendered = sole.unwrap_or(text.as_str());
                if let Some((slot, uses)) = hole.counted {
                    if let Some(length) = lengths.get_mut(slot) {
                        *length += rendered.chars().count() * uses;
                    }
                }
                if hole.check.is_none() && hole.text_fits_flow && hole.rule.keeps(rendered) {
                    if serde_json::to_writer(&mut *out, rendered).is_err() {
                        return false;
                    }
                    keys.note(hole.key, rendered);
                    continue;
                }
                if hole.rule == FieldRule::Recipients {
                    // What `apply_rule` does to text, without building its larger error: the
                    // full path explains a number that breaks the rule.
                    match normalise_recipients(rendered) {
                        Ok(number) if hole.check.is_none() && hole.flow_type.is_none() => {
                            if serde_json::to_writer(&mut *out, &number).is_err() {
                                return false;
                            }
                            keys.note(hole.key, &number);
                            continue;
                        }
                        Ok(number) => Value::String(number),
                        Err(_) => return false,
                    }
                } else {
                    let owned = match sole {
                        Some(sole) => sole.to_owned(),
                        None => std::mem::take(text),
                    };
                    let mut value = Value::String(owned);
                    if hole.rule != FieldRule::Plain && apply_rule(hole.rule, &mut value, warnings).is_err() {
                        return false;
                    }
                    value
                }
            } else {
                let Ok(mut value) = renderer.render_leaf(hole.leaf, &mut context) else {
                    return false;
                };
                if let Some((slot, uses)) = hole.counted {
                    if let Some(length) = lengths.get_mut(slot) {
                        *length += value.as_str().map_or(0, |text| text.chars().count()) * uses;
                    }
                }
                // A plain value has no rule: `apply_rule` would leave it as it is.
                if hole.rule != FieldRule::Plain && apply_rule(hole.rule, &mut value, warnings).is_err() {
                    return false;
                }
                value
            };
            if hole.check.as_ref().is_some_and(|check| !check.is_valid(&value)) {
                return false;
            }
            if hole.flow_type.as_ref().is_some_and(|ty| ty.mismatch(&value).is_some()) {
                return false;
            }
            if serde_json::to_writer(&mut *out, &value).is_err() {
                return false;
            }
            if let Value::String(written) = &value {
                keys.note(hole.key, written);
            }
            // The larger buffer serves the next holes: the row's text buffer came back, or a
            // copy of a value was made larger than it.
            match value {
                Value::String(used) if used.capacity() > text.capacity() => *text = used,
                _ => {}
            }
        }
        if self
            .budgets
            .iter()
            .zip(lengths)
            .any(|((fixed, limit), length)| fixed + length > *limit)
        {
            return false;
        }
        out.extend_from_slice(self.segments.last().map_or(&[][..], Vec::as_slice));
        true
    }
}
