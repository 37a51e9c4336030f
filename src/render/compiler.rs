//! The leaf compiler: each string leaf of a template compiled once into the cheapest form that
//! keeps handlebars' semantics (a constant, one typed variable, a concatenation, or the registry).

use handlebars::template::{HelperTemplate, Parameter, Template as HbTemplate, TemplateElement};
use handlebars::{Handlebars, Path as HbPath, PathSeg};
use saphyr_parser::ScalarStyle;
use serde_json::Value;

use crate::render::checks::{collapse_map, collapse_seq, too_deep_at, unbalanced, Places};
use crate::render::{is_helper, BrokenLeaf, Compiled, Leaf, LeafError, LeafKind, Part, BUILT_IN_HELPERS, HELPERS};
use crate::suggest::did_you_mean;
use crate::template::{Template, VarDecl};
use crate::yaml::{Node, NodeKind, Span};

pub(super) struct LeafCompiler<'a> {
    pub(super) registry: Handlebars<'static>,
    pub(super) vars: &'a [VarDecl],
    pub(super) source: &'a str,
    pub(super) errors: Vec<LeafError>,
    pub(super) leaves: Vec<Leaf>,
    /// Names used but not declared, in order of first use: placeholders after the variables.
    pub(super) undeclared: Vec<String>,
    pub(super) broken: Vec<BrokenLeaf>,
}

impl LeafCompiler<'_> {
    pub(super) fn compile(&mut self, node: &Node, pointer: &mut String) -> Compiled {
        match &node.kind {
            NodeKind::Str { value, style } if value.contains("{{") => {
                self.compile_leaf(value, *style, node.span, pointer)
            }
            // `{city}}` is text to handlebars: without this check it would be sent as written.
            NodeKind::Str { value, style } if value.contains("}}") => {
                self.check_braces(value, *style, node.span);
                Compiled::Constant(node.to_json())
            }
            NodeKind::Seq(items) => {
                let mut compiled = Vec::with_capacity(items.len());
                for (index, item) in items.iter().enumerate() {
                    let len = pointer.len();
                    pointer.push_str(&format!("/{index}"));
                    compiled.push(self.compile(item, pointer));
                    pointer.truncate(len);
                }
                collapse_seq(compiled)
            }
            NodeKind::Map(entries) => {
                let mut compiled = Vec::with_capacity(entries.len());
                for entry in entries {
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&entry.key.replace('~', "~0").replace('/', "~1"));
                    compiled.push((entry.key.clone(), self.compile(&entry.value, pointer)));
                    pointer.truncate(len);
                }
                collapse_map(compiled)
            }
            _ => Compiled::Constant(node.to_json()),
        }
    }

    /// Records an expression whose braces do not pair; `true` if there is one.
    pub(super) fn check_braces(&mut self, text: &str, style: ScalarStyle, span: Span) -> bool {
        let Some(found) = unbalanced(text) else {
            return false;
        };
        let before = &text[..found.at];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |last| last.chars().count()) + 1;
        let mut at = Places::new(self.source, text, style, span).at(line, column);
        if at != span {
            at.len = found.written.len();
        }
        self.errors.push(LeafError::Unbalanced {
            written: found.written,
            fixed: found.fixed,
            problem: found.problem,
            span: at,
        });
        true
    }

    pub(super) fn compile_leaf(&mut self, text: &str, style: ScalarStyle, span: Span, pointer: &str) -> Compiled {
        if self.check_braces(text, style, span) {
            return Compiled::Constant(Value::String(text.to_owned()));
        }
        if let Some(at) = too_deep_at(text) {
            let before = &text[..at];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |last| last.chars().count()) + 1;
            self.errors.push(LeafError::TooDeep {
                span: Places::new(self.source, text, style, span).at(line, column),
            });
            return Compiled::Constant(Value::String(text.to_owned()));
        }
        let parsed = match HbTemplate::compile(text) {
            Ok(parsed) => parsed,
            Err(error) => {
                let span = match error.pos() {
                    Some((line, column)) => Places::new(self.source, text, style, span).at(line, column),
                    None => span,
                };
                self.errors.push(LeafError::Syntax {
                    message: error.reason().to_string(),
                    span,
                });
                return self.keep_as_written(text, pointer, span);
            }
        };
        let before = self.errors.len();
        let places = Places::new(self.source, text, style, span);
        self.check_references(&parsed, &places, 0);
        let new_errors = &self.errors[before..];
        let broken = !new_errors.is_empty();
        if !new_errors
            .iter()
            .all(|error| matches!(error, LeafError::Undeclared { .. }))
        {
            return self.keep_as_written(text, pointer, span);
        }
        let kind = self.fast_path(&parsed).unwrap_or(LeafKind::Engine);
        if broken {
            self.broken.push(BrokenLeaf {
                pointer: pointer.to_owned(),
                span,
                shortest: matches!(kind, LeafKind::Typed(_) | LeafKind::Parts(_)),
            });
        }
        let index = self.leaves.len();
        let name = format!("leaf{index}");
        self.registry.register_template(&name, parsed);
        self.leaves.push(Leaf {
            kind,
            name,
            pointer: pointer.to_owned(),
            broken,
        });
        Compiled::Leaf(index)
    }

    /// A value that cannot be rendered stays as written, as a placeholder.
    pub(super) fn keep_as_written(&mut self, text: &str, pointer: &str, span: Span) -> Compiled {
        self.broken.push(BrokenLeaf {
            pointer: pointer.to_owned(),
            span,
            shortest: false,
        });
        Compiled::Constant(Value::String(text.to_owned()))
    }

    /// The direct forms for leaves made only of text and plain `{{var}}` references.
    pub(super) fn fast_path(&self, parsed: &HbTemplate) -> Option<LeafKind> {
        let mut parts = Vec::with_capacity(parsed.elements.len());
        for element in &parsed.elements {
            match element {
                TemplateElement::RawString(text) => parts.push(Part::Text(text.clone())),
                TemplateElement::Expression(helper) | TemplateElement::HtmlExpression(helper) => {
                    let index = self.plain_variable(helper)?;
                    parts.push(Part::Var(index));
                }
                TemplateElement::Comment(_) => {}
                _ => return None,
            }
        }
        match parts.as_slice() {
            [Part::Var(index)] => Some(LeafKind::Typed(*index)),
            _ => Some(LeafKind::Parts(parts)),
        }
    }

    pub(super) fn plain_variable(&self, helper: &HelperTemplate) -> Option<usize> {
        if !helper.params.is_empty() || !helper.hash.is_empty() || helper.block || helper.template.is_some() {
            return None;
        }
        let name = match &helper.name {
            Parameter::Name(name) => name.as_str(),
            Parameter::Path(HbPath::Relative((segments, _))) => match segments.as_slice() {
                [PathSeg::Named(name)] => name.as_str(),
                _ => return None,
            },
            _ => return None,
        };
        if is_helper(name) {
            return None;
        }
        self.vars.iter().position(|var| var.name == name).or_else(|| {
            let placeholder = self.undeclared.iter().position(|undeclared| undeclared == name)?;
            Some(self.vars.len() + placeholder)
        })
    }

    pub(super) fn check_references(&mut self, parsed: &HbTemplate, places: &Places<'_>, depth: usize) {
        for (index, element) in parsed.elements.iter().enumerate() {
            let at = || match parsed.mapping.get(index) {
                Some(mapping) => places.at(mapping.0, mapping.1),
                None => places.span,
            };
            match element {
                TemplateElement::RawString(_) | TemplateElement::Comment(_) => {}
                TemplateElement::Expression(helper) | TemplateElement::HtmlExpression(helper) => {
                    let at = at();
                    self.check_helper(helper, at, depth);
                }
                TemplateElement::HelperBlock(helper) => {
                    let at = at();
                    self.check_helper(helper, at, depth);
                    // `each` and `with` change what a bare name refers to: inside them it is
                    // a field of the item, not a template variable, so checking stops there.
                    let inner_depth = match helper.name.as_name() {
                        Some("each" | "with") => depth + 1,
                        _ => depth,
                    };
                    for inner in [&helper.template, &helper.inverse].into_iter().flatten() {
                        self.check_references(inner, places, inner_depth);
                    }
                }
                TemplateElement::PartialExpression(_) | TemplateElement::PartialBlock(_) => {
                    let span = at();
                    self.errors.push(LeafError::Unsupported { what: "partials", span });
                }
                TemplateElement::DecoratorExpression(_) | TemplateElement::DecoratorBlock(_) => {
                    let span = at();
                    self.errors.push(LeafError::Unsupported {
                        what: "decorators",
                        span,
                    });
                }
                _ => {
                    let span = at();
                    self.errors.push(LeafError::Unsupported {
                        what: "these expressions",
                        span,
                    });
                }
            }
        }
    }

    pub(super) fn check_helper(&mut self, helper: &HelperTemplate, at: Span, depth: usize) {
        let is_call = !helper.params.is_empty() || !helper.hash.is_empty() || helper.block;
        match &helper.name {
            Parameter::Name(name) if is_helper(name) => {}
            Parameter::Name(name) if is_call => {
                let known = BUILT_IN_HELPERS.iter().chain(HELPERS).copied();
                if let Some(words) = self.words_of_a_name(helper, name) {
                    self.bad_name(&words, at);
                    return;
                }
                self.errors.push(LeafError::UnknownHelper {
                    name: name.clone(),
                    span: at,
                    help: did_you_mean(name, known)
                        .unwrap_or_else(|| format!("the helpers are {}", HELPERS.join(", "))),
                });
            }
            Parameter::Name(name) => self.check_variable(name, at, depth),
            Parameter::Path(path) => self.check_path(path, at, depth),
            Parameter::Subexpression(_) => self.check_parameter(&helper.name, at, depth),
            _ => {}
        }
        for parameter in helper.params.iter().chain(helper.hash.values()) {
            self.check_parameter(parameter, at, depth);
        }
    }

    pub(super) fn check_parameter(&mut self, parameter: &Parameter, at: Span, depth: usize) {
        match parameter {
            Parameter::Path(path) => self.check_path(path, at, depth),
            Parameter::Name(name) => self.check_variable(name, at, depth),
            Parameter::Subexpression(sub) => match sub.as_element() {
                TemplateElement::Expression(helper) | TemplateElement::HelperBlock(helper) => {
                    self.check_helper(helper, at, depth);
                }
                _ => {}
            },
            _ => {}
        }
    }

    pub(super) fn check_path(&mut self, path: &HbPath, at: Span, depth: usize) {
        if let HbPath::Relative((segments, raw)) = path {
            if raw.starts_with("this") || raw.starts_with('.') || raw.starts_with('@') {
                return;
            }
            if let Some(PathSeg::Named(first)) = segments.first() {
                self.check_variable(first, at, depth);
            }
        }
    }

    pub(super) fn check_variable(&mut self, name: &str, at: Span, depth: usize) {
        if depth > 0 || self.vars.iter().any(|var| var.name == name) {
            return;
        }
        if !self.undeclared.iter().any(|undeclared| undeclared == name) {
            self.undeclared.push(name.to_owned());
        }
        if !crate::template::is_identifier(name) {
            self.bad_name(name, at);
            return;
        }
        let declared = self.vars.iter().map(|var| var.name.as_str());
        self.errors.push(LeafError::Undeclared {
            name: name.to_owned(),
            span: at,
            help: did_you_mean(name, declared)
                .unwrap_or_else(|| format!("declare it under `vars:`, e.g. `{name}: {{ example: \"...\" }}`")),
        });
    }
}

impl LeafCompiler<'_> {
    /// `{{Flow ID}}`, which handlebars reads as the helper `Flow` given `ID`: the words, when
    /// the expression is only words, none of them a helper, a near helper or a variable.
    pub(super) fn words_of_a_name(&self, helper: &HelperTemplate, name: &str) -> Option<String> {
        if helper.block || !helper.hash.is_empty() {
            return None;
        }
        let known = BUILT_IN_HELPERS.iter().chain(HELPERS).copied();
        if did_you_mean(name, known).is_some() {
            return None;
        }
        let mut words = vec![name];
        for parameter in &helper.params {
            match parameter {
                Parameter::Path(HbPath::Relative((segments, raw))) if segments.len() == 1 => {
                    if is_helper(raw) || self.vars.iter().any(|var| var.name == *raw) {
                        return None;
                    }
                    words.push(raw);
                }
                _ => return None,
            }
        }
        Some(words.join(" "))
    }

    /// A name no variable can have: what it could be instead.
    pub(super) fn bad_name(&mut self, written: &str, at: Span) {
        let suggested = variable_name_for(written);
        let help = if self.vars.iter().any(|var| var.name == suggested) {
            format!("did you mean `{{{{{suggested}}}}}`?")
        } else {
            format!(
                "write `{{{{{suggested}}}}}` and declare it under `vars:`, e.g. `{suggested}: {{ example: \"...\" }}`"
            )
        };
        self.errors.push(LeafError::BadName {
            written: written.to_owned(),
            span: at,
            help,
        });
    }
}

/// `flow_id` for `Flow-ID` or `Flow ID`: lower case, `_` between the words.
pub(super) fn variable_name_for(written: &str) -> String {
    let words: Vec<String> = written
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let name = words.join("_");
    match name.chars().next() {
        Some(first) if first.is_ascii_alphabetic() => name,
        _ => format!("_{name}"),
    }
}

/// The variable whose data column fills the value at `pointer` of the body: the one declared
/// variable the template's string there reads directly (not inside `{{#each}}` or `{{#with}}`,
/// where a bare name is a field of the item). A finding about a row's value names that column;
/// a value made of several variables, or of none, names no column.
pub(crate) fn sole_variable_at<'a>(template: &'a Template, pointer: &str) -> Option<&'a str> {
    let text = template.node_at(pointer)?.as_str()?;
    match variables_in(text, &template.vars).as_slice() {
        [index] => Some(template.vars[*index].name.as_str()),
        _ => None,
    }
}

/// The declared variables (indexes into `vars`) that `text` reads, as [`sole_variable_at`] counts them.
pub(crate) fn variables_in(text: &str, vars: &[VarDecl]) -> Vec<usize> {
    let mut found = Vec::new();
    if let Ok(parsed) = HbTemplate::compile(text) {
        collect_elements(&parsed, vars, &mut found);
    }
    found
}

pub(super) fn collect_elements(parsed: &HbTemplate, vars: &[VarDecl], found: &mut Vec<usize>) {
    for element in &parsed.elements {
        match element {
            TemplateElement::Expression(helper) | TemplateElement::HtmlExpression(helper) => {
                collect_helper(helper, vars, found);
            }
            TemplateElement::HelperBlock(helper) => {
                collect_helper(helper, vars, found);
                if !matches!(helper.name.as_name(), Some("each" | "with")) {
                    for inner in [&helper.template, &helper.inverse].into_iter().flatten() {
                        collect_elements(inner, vars, found);
                    }
                }
            }
            _ => {}
        }
    }
}

pub(super) fn collect_helper(helper: &HelperTemplate, vars: &[VarDecl], found: &mut Vec<usize>) {
    for parameter in std::iter::once(&helper.name)
        .chain(&helper.params)
        .chain(helper.hash.values())
    {
        let name = match parameter {
            Parameter::Name(name) if !is_helper(name) => name.as_str(),
            Parameter::Path(HbPath::Relative((segments, raw))) if !raw.starts_with(['.', '@']) => {
                match segments.first() {
                    Some(PathSeg::Named(name)) if name != "this" => name.as_str(),
                    _ => continue,
                }
            }
            Parameter::Subexpression(sub) => {
                if let TemplateElement::Expression(inner) = sub.as_element() {
                    collect_helper(inner, vars, found);
                }
                continue;
            }
            _ => continue,
        };
        if let Some(index) = vars.iter().position(|var| var.name == name) {
            if !found.contains(&index) {
                found.push(index);
            }
        }
    }
}
