//! The message against its Flow: `flow_action_payload.screen` names a screen of the Flow (the
//! entry screen when it is left out), every key of `flow_action_payload.data` is one that screen
//! declares, every key it declares is given, and each value has the declared type.
//!
//! The same rules run twice: once on the template as written, where keys, the screen and
//! constant values are known (a problem there is the template's, reported once), and once per
//! row on the rendered body for what only a row decides: the values of holes (`"{{weeks}}"`),
//! or everything when the action, the screen or the data itself is a hole.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::issue::{FlowIssue, Place, ScreenRef};
use super::model::{has_hole, is_hole, suggest, DeclaredType, Flow};

/// Where Meta's Flow parameters are in the body.
pub(crate) const PARAMETERS: &str = "/messaging_object/interactive/action/parameters";
const PAYLOAD: &str = "/messaging_object/interactive/action/parameters/flow_action_payload";
const DATA: &str = "/messaging_object/interactive/action/parameters/flow_action_payload/data";

/// What is left to check per row, prepared once from the template.
#[derive(Debug)]
pub(crate) struct PayloadCheck {
    flow: Arc<Flow>,
    rows: PerRow,
    data: DataAt,
}

/// Where the message gives the screen its data, and how findings name it: a Flow message's
/// `flow_action_payload.data`, or a template message's Flow button `flow_action_data`, whose
/// screen is the approved button's `navigate_screen`.
#[derive(Debug, Clone)]
pub(crate) struct DataAt {
    pub pointer: String,
    pub field: &'static str,
    /// The screen the approved FLOW button opens (a template message), by index.
    pub button_screen: Option<usize>,
}

impl DataAt {
    fn payload() -> DataAt {
        DataAt {
            pointer: DATA.to_owned(),
            field: "flow_action_payload.data",
            button_screen: None,
        }
    }

    fn key_pointer(&self, key: &str) -> String {
        format!("{}/{}", self.pointer, key.replace('~', "~0").replace('/', "~1"))
    }
}

#[derive(Debug)]
enum PerRow {
    /// Nothing a row can change is checked against the Flow.
    Nothing,
    /// The screen is fixed; the values of these keys (indexes into its `data`) hold holes.
    Keys {
        screen: usize,
        entry: bool,
        keys: Vec<usize>,
    },
    /// The action, the payload, the screen or the data is itself a hole: all of it per row.
    Whole,
}

/// How a hole of the body (a value rendered per row) is checked against the Flow.
pub(crate) enum HoleCheck<'a> {
    /// The Flow says nothing about it.
    Free,
    /// Its value must have this type.
    Typed(&'a DeclaredType),
    /// Only the whole body can tell: no fast path.
    Dependent,
}

/// The screen a body opens, for drawing it.
pub(crate) struct Opened<'a> {
    pub flow: &'a Flow,
    pub screen: usize,
    /// Opened as the entry screen, `flow_action_payload.screen` being left out.
    pub entry: bool,
    /// Opened through the Flow's endpoint (`data_exchange`), which chooses the screen and its
    /// data: the entry screen is shown with its `__example__` data.
    pub endpoint: bool,
    pub data: Map<String, Value>,
}

impl PayloadCheck {
    /// The rules the template breaks as written, and what is left for each row.
    pub(crate) fn new(flow: Arc<Flow>, body: &Value) -> (PayloadCheck, Vec<FlowIssue>) {
        let data = DataAt::payload();
        let examined = examine(&flow, body.pointer(PARAMETERS), true, &data);
        (
            PayloadCheck {
                flow,
                rows: examined.rows,
                data,
            },
            examined.issues,
        )
    }

    /// For a template message: `flow_action_data` at `pointer` against the screen the approved
    /// FLOW button opens (`screen`, named at `screen_at` in the approved template's file).
    pub(crate) fn for_button(
        flow: Arc<Flow>,
        body: &Value,
        pointer: &str,
        screen: &str,
        screen_at: Place,
    ) -> (Option<PayloadCheck>, Vec<FlowIssue>) {
        let Some(index) = flow.screens.iter().position(|known| known.id == screen) else {
            let issue = FlowIssue::UnknownScreen {
                field: "navigate_screen",
                screen: screen.to_owned(),
                file: flow.source.name.clone(),
                suggestion: suggest(screen, &flow.screen_ids().collect::<Vec<_>>()),
                known: flow.screen_ids().map(str::to_owned).collect(),
                at: screen_at,
                screens: Place::Flow(flow.source.clone(), flow.screens_at),
            };
            return (None, vec![issue]);
        };
        let data = DataAt {
            pointer: pointer.to_owned(),
            field: "flow_action_data",
            button_screen: Some(index),
        };
        let examined = examine_button(&flow, body, true, &data);
        (
            Some(PayloadCheck {
                flow,
                rows: examined.rows,
                data,
            }),
            examined.issues,
        )
    }

    /// The errors of one rendered body.
    pub(crate) fn check_body(&self, body: &Value) -> Vec<FlowIssue> {
        match &self.rows {
            PerRow::Nothing => Vec::new(),
            PerRow::Whole => match self.data.button_screen {
                Some(_) => examine_button(&self.flow, body, false, &self.data),
                None => examine(&self.flow, body.pointer(PARAMETERS), false, &self.data),
            }
            .issues
            .into_iter()
            .filter(FlowIssue::is_error)
            .collect(),
            PerRow::Keys { screen, entry, keys } => {
                let screen_ref = ScreenRef {
                    id: self.flow.screens[*screen].id.clone(),
                    entry: *entry,
                    button: self.data.button_screen.is_some(),
                };
                let data = body.pointer(&self.data.pointer).and_then(Value::as_object);
                keys.iter()
                    .filter_map(|&index| {
                        let declared = &self.flow.screens[*screen].data[index];
                        let value = data?.get(&declared.key)?;
                        wrong_type(&self.flow, &screen_ref, declared, value, false, &self.data)
                    })
                    .collect()
            }
        }
    }

    /// How the hole at `pointer` of the body is checked against the Flow.
    pub(crate) fn hole_check(&self, pointer: &str) -> HoleCheck<'_> {
        match &self.rows {
            PerRow::Nothing => HoleCheck::Free,
            PerRow::Whole if self.data.button_screen.is_none() && pointer.starts_with(PARAMETERS) => {
                HoleCheck::Dependent
            }
            PerRow::Whole if pointer.starts_with(&self.data.pointer) => HoleCheck::Dependent,
            PerRow::Whole => HoleCheck::Free,
            PerRow::Keys { screen, keys, .. } => {
                let Some(below) = pointer
                    .strip_prefix(self.data.pointer.as_str())
                    .and_then(|rest| rest.strip_prefix('/'))
                else {
                    return HoleCheck::Free;
                };
                let segments: Vec<String> = below
                    .split('/')
                    .map(|segment| segment.replace("~1", "/").replace("~0", "~"))
                    .collect();
                let Some((key, rest)) = segments.split_first() else {
                    return HoleCheck::Free;
                };
                let screen = &self.flow.screens[*screen];
                let declared = keys
                    .iter()
                    .map(|&index| &screen.data[index])
                    .find(|declared| declared.key == *key);
                let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
                match declared.and_then(|declared| declared.ty.at(&rest)) {
                    Some(ty) => HoleCheck::Typed(ty),
                    None => HoleCheck::Free,
                }
            }
        }
    }

    /// The screen a rendered body opens and the data it gives it; `None` when the body names
    /// no screen of the Flow.
    pub(crate) fn opened(&self, body: Option<&Value>) -> Option<Opened<'_>> {
        let flow = &*self.flow;
        if let Some(screen) = self.data.button_screen {
            return Some(Opened {
                flow,
                screen,
                entry: false,
                endpoint: false,
                data: body
                    .and_then(|body| body.pointer(&self.data.pointer))
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default(),
            });
        }
        let parameters = body.and_then(|body| body.pointer(PARAMETERS));
        let endpoint = parameters
            .and_then(|parameters| parameters.get("flow_action"))
            .and_then(Value::as_str)
            == Some("data_exchange");
        let named = parameters
            .and_then(|parameters| parameters.pointer("/flow_action_payload/screen"))
            .and_then(Value::as_str)
            .filter(|_| !endpoint);
        let screen = match named {
            Some(id) => flow.screens.iter().position(|screen| screen.id == id)?,
            None => flow.entry,
        };
        let data = if endpoint {
            flow.screens[screen]
                .data
                .iter()
                .filter_map(|declared| Some((declared.key.clone(), declared.example.clone()?)))
                .collect()
        } else {
            parameters
                .and_then(|parameters| parameters.pointer("/flow_action_payload/data"))
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default()
        };
        Some(Opened {
            flow,
            screen,
            entry: named.is_none(),
            endpoint,
            data,
        })
    }
}

struct Examined {
    issues: Vec<FlowIssue>,
    rows: PerRow,
}

/// The payload rules over Meta's parameters. With `holes`, the parameters are the template's
/// as written: text holding `{{` is decided per row.
fn examine(flow: &Flow, parameters: Option<&Value>, holes: bool, at: &DataAt) -> Examined {
    let hole = |value: &Value| holes && is_hole(value);
    let done = |issues: Vec<FlowIssue>| Examined {
        issues,
        rows: PerRow::Nothing,
    };
    let whole = || Examined {
        issues: Vec::new(),
        rows: PerRow::Whole,
    };
    let Some(Value::Object(parameters)) = parameters else {
        return done(Vec::new());
    };
    // Anything else than what each step expects is the schema's to report.
    match parameters.get("flow_action") {
        Some(action) if hole(action) => return whole(),
        Some(Value::String(action)) if action == "data_exchange" => {
            let mut issues = Vec::new();
            if flow.data_api_version.is_none() {
                issues.push(FlowIssue::NoEndpoint {
                    file: flow.source.name.clone(),
                    at: Place::Pointer {
                        pointer: format!("{PARAMETERS}/flow_action"),
                        key: false,
                    },
                    flow: Place::Flow(
                        flow.source.clone(),
                        crate::yaml::Span {
                            len: flow.root.span.len.min(1),
                            ..flow.root.span
                        },
                    ),
                });
            }
            return done(issues);
        }
        None => {}
        Some(Value::String(action)) if action == "navigate" => {}
        Some(_) => return done(Vec::new()),
    }
    let payload = match parameters.get("flow_action_payload") {
        None => None,
        Some(payload) if hole(payload) => return whole(),
        Some(Value::Object(payload)) => Some(payload),
        Some(_) => return done(Vec::new()),
    };
    let (screen_index, entry) = match payload.and_then(|payload| payload.get("screen")) {
        None => (flow.entry, true),
        Some(screen) if hole(screen) => return whole(),
        Some(Value::String(id)) => match flow.screens.iter().position(|screen| screen.id == *id) {
            Some(index) => (index, false),
            None => {
                return done(vec![FlowIssue::UnknownScreen {
                    field: "flow_action_payload.screen",
                    screen: id.clone(),
                    file: flow.source.name.clone(),
                    suggestion: suggest(id, &flow.screen_ids().collect::<Vec<_>>()),
                    known: flow.screen_ids().map(str::to_owned).collect(),
                    at: Place::Pointer {
                        pointer: format!("{PAYLOAD}/screen"),
                        key: false,
                    },
                    screens: Place::Flow(flow.source.clone(), flow.screens_at),
                }])
            }
        },
        Some(_) => return done(Vec::new()),
    };
    let data = match payload.and_then(|payload| payload.get("data")) {
        None => None,
        Some(data) if hole(data) => return whole(),
        Some(Value::Object(data)) => Some(data),
        Some(_) => return done(Vec::new()),
    };
    examine_data(flow, screen_index, entry, data, holes, at)
}

/// A template message's `flow_action_data` against the approved button's screen.
fn examine_button(flow: &Flow, body: &Value, holes: bool, at: &DataAt) -> Examined {
    let screen = at.button_screen.unwrap_or(flow.entry);
    let data = match body.pointer(&at.pointer) {
        None => None,
        Some(data) if holes && is_hole(data) => {
            return Examined {
                issues: Vec::new(),
                rows: PerRow::Whole,
            }
        }
        Some(Value::Object(data)) => Some(data),
        Some(_) => {
            return Examined {
                issues: Vec::new(),
                rows: PerRow::Nothing,
            }
        }
    };
    examine_data(flow, screen, false, data, holes, at)
}

/// The data given to a screen against what the screen declares.
fn examine_data(
    flow: &Flow,
    screen_index: usize,
    entry: bool,
    data: Option<&Map<String, Value>>,
    holes: bool,
    at: &DataAt,
) -> Examined {
    let screen = &flow.screens[screen_index];
    let screen_ref = ScreenRef {
        id: screen.id.clone(),
        entry,
        button: at.button_screen.is_some(),
    };
    let declared_keys: Vec<&str> = screen.data.iter().map(|declared| declared.key.as_str()).collect();
    let declared_set: HashSet<&str> = declared_keys.iter().copied().collect();
    let mut issues = Vec::new();
    for key in data.into_iter().flat_map(Map::keys) {
        if !declared_set.contains(key.as_str()) {
            issues.push(FlowIssue::UndeclaredKey {
                field: at.field,
                key: key.clone(),
                screen: screen_ref.clone(),
                file: flow.source.name.clone(),
                suggestion: suggest(key, &declared_keys),
                declared: declared_keys.iter().map(|key| (*key).to_owned()).collect(),
                at: Place::Pointer {
                    pointer: at.key_pointer(key),
                    key: true,
                },
                data: Place::Flow(flow.source.clone(), screen.data_at),
            });
        }
    }
    let mut per_row = Vec::new();
    for (index, declared) in screen.data.iter().enumerate() {
        match data.and_then(|data| data.get(&declared.key)) {
            None => issues.push(FlowIssue::MissingKey {
                field: at.field,
                key: declared.key.clone(),
                screen: screen_ref.clone(),
                file: flow.source.name.clone(),
                at: Place::Pointer {
                    pointer: at.pointer.clone(),
                    key: false,
                },
                declared: Place::Flow(flow.source.clone(), declared.at),
            }),
            Some(value) => {
                issues.extend(wrong_type(flow, &screen_ref, declared, value, holes, at));
                if holes && has_hole(value) {
                    per_row.push(index);
                }
            }
        }
    }
    Examined {
        issues,
        rows: if per_row.is_empty() {
            PerRow::Nothing
        } else {
            PerRow::Keys {
                screen: screen_index,
                entry,
                keys: per_row,
            }
        },
    }
}

fn wrong_type(
    flow: &Flow,
    screen: &ScreenRef,
    declared: &super::model::Declared,
    value: &Value,
    holes: bool,
    at: &DataAt,
) -> Option<FlowIssue> {
    let mismatch = declared.ty.mismatch_with(value, holes)?;
    let pointer = mismatch.pointer_below(&at.key_pointer(&declared.key));
    Some(FlowIssue::WrongType {
        field: at.field,
        path: mismatch.dotted(&declared.key),
        screen: screen.clone(),
        file: flow.source.name.clone(),
        expected: mismatch.expected,
        found: mismatch.found,
        text_for_typed: mismatch.text_for_typed,
        at: Place::Pointer { pointer, key: false },
        declared: Place::Flow(flow.source.clone(), declared.at),
    })
}
