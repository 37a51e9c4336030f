//! Rendering: every string value of a template is a handlebars template, compiled once.
//!
//! Rendering works on the parsed YAML tree, never on its text, so no data value can change the
//! document's structure. Each string leaf is compiled once per run into the cheapest form that
//! keeps handlebars' semantics (strict variables, no HTML escaping):
//! - text without expressions is a constant;
//! - exactly `{{var}}` takes the variable's value with its type (a number stays a number);
//! - text with plain `{{var}}` references is concatenated directly;
//! - anything else (helpers, blocks, dotted paths) goes through the handlebars registry.
//!
//! Variables are checked against `vars` here, before any data is read. A template with
//! problems still gets a renderer, so that the rest of it can be checked in the same run: an
//! undeclared variable renders as empty text, and a value that does not compile at all stays
//! as written. Both are listed as [`BrokenLeaf`]s, whose findings depend on what the fix will be.

mod checks;
mod compiler;

use handlebars::{handlebars_helper, Context, Handlebars, JsonRender};
use serde_json::{Map, Value};

use crate::limits::{MAX_HANDLEBARS_NESTING, MAX_RENDERED_BYTES};
use crate::template::{Template, VarDecl};
use crate::words;
use crate::yaml::Span;

pub(crate) use self::compiler::sole_variable_at;
use self::compiler::LeafCompiler;

/// Helpers available in templates, besides handlebars' built-ins (`if`, `unless`, `each`,
/// `with`, `eq`, `len`, ...). Documented in docs/guide.md (Helpers).
pub(crate) const HELPERS: &[&str] = &["upper", "lower", "trim", "truncate", "default"];

const BUILT_IN_HELPERS: &[&str] = &[
    "if", "unless", "each", "with", "lookup", "raw", "log", "eq", "ne", "gt", "gte", "lt", "lte", "and", "or", "not",
    "len",
];

/// A template problem found while compiling its string values.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LeafError {
    #[error("undeclared variable `{name}`")]
    Undeclared { name: String, span: Span, help: String },
    #[error("unknown helper `{name}`")]
    UnknownHelper { name: String, span: Span, help: String },
    #[error("invalid handlebars expression: {message}")]
    Syntax { message: String, span: Span },
    #[error("{what} are not supported in templates")]
    Unsupported { what: &'static str, span: Span },
    #[error("handlebars blocks and subexpressions nest deeper than {MAX_HANDLEBARS_NESTING} levels")]
    TooDeep { span: Span },
    /// `{{city}`, `{city}}`, `{{city`, `{{city}}}`: handlebars either fails with a parser's
    /// message or, for the last two, renders the braces as text.
    #[error("`{written}` {problem}: write `{fixed}`")]
    Unbalanced {
        written: String,
        fixed: String,
        problem: &'static str,
        span: Span,
    },
    /// `{{Flow-ID}}`, `{{Flow ID}}`, pasted from a sample: handlebars takes the first for a
    /// name `vars` cannot declare, the second for a helper call.
    #[error(
        "`{{{{{written}}}}}` is not a variable name: {}",
        crate::template::VARIABLE_NAME_RULE
    )]
    BadName { written: String, span: Span, help: String },
}

impl LeafError {
    pub fn span(&self) -> Span {
        match self {
            LeafError::Undeclared { span, .. }
            | LeafError::UnknownHelper { span, .. }
            | LeafError::Syntax { span, .. }
            | LeafError::Unsupported { span, .. }
            | LeafError::TooDeep { span }
            | LeafError::Unbalanced { span, .. }
            | LeafError::BadName { span, .. } => *span,
        }
    }
}

/// A row's variable that has no usable value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("required variable `{name}` is {}", if *.empty { "empty" } else { "missing" })]
pub struct MissingVar {
    pub name: String,
    pub empty: bool,
}

/// A leaf whose rendering failed at run time (a helper given a value it cannot take).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct RenderFailure {
    pub pointer: String,
    pub message: String,
}

pub(crate) struct Renderer {
    registry: Handlebars<'static>,
    /// The declared variables, then the undeclared names used (rendered empty).
    var_names: Vec<String>,
    root: Compiled,
    leaves: Vec<Leaf>,
    broken: Vec<BrokenLeaf>,
}

/// A string value of the template that does not compile (see [`Renderer::new`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenLeaf {
    /// Where the value goes in the body.
    pub pointer: String,
    /// Where it is written in the template.
    pub span: Span,
    /// Whether it renders as text and variables only, its undeclared ones empty: then any value
    /// they are given can only make it longer, and a length limit it breaks stays broken.
    pub shortest: bool,
}

/// A string value that holds expressions: how to render it, and where it goes in the body.
struct Leaf {
    kind: LeafKind,
    /// The handlebars template's name in the registry.
    name: String,
    /// The JSON pointer of the value in the rendered body.
    pointer: String,
    /// It uses an undeclared variable.
    broken: bool,
}

enum Compiled {
    Constant(Value),
    Leaf(usize),
    Seq(Vec<Compiled>),
    Map(Vec<(String, Compiled)>),
}

enum LeafKind {
    Typed(usize),
    Parts(Vec<Part>),
    Engine,
}

enum Part {
    Text(String),
    Var(usize),
}

handlebars_helper!(upper: |s: str| s.to_uppercase());
handlebars_helper!(lower: |s: str| s.to_lowercase());
handlebars_helper!(trim: |s: str| s.trim());
handlebars_helper!(truncate: |s: str, n: u64| {
    let limit = usize::try_from(n).unwrap_or(usize::MAX);
    match s.char_indices().nth(limit) {
        Some((cut, _)) => &s[..cut],
        None => s,
    }
});
handlebars_helper!(default_helper: |value: Json, fallback: Json| {
    if is_empty(value) { fallback.clone() } else { value.clone() }
});

/// Empty as a required value: null, or text with nothing but white space.
pub(crate) fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        // Only white space reads the same from either end: one scan suffices. Most values
        // begin with a visible ASCII character, which settles it at the first byte.
        Value::String(s) => {
            !s.as_bytes().first().is_some_and(|byte| (b'!'..=b'~').contains(byte)) && s.trim_start().is_empty()
        }
        _ => false,
    }
}

/// The handlebars context of one row, built only if a leaf needs the engine.
pub(crate) struct RowContext<'a> {
    names: &'a [String],
    values: &'a [Value],
    built: Option<Context>,
}

impl RowContext<'_> {
    fn get(&mut self) -> Result<&Context, handlebars::RenderError> {
        if self.built.is_none() {
            let map: Map<String, Value> = self.names.iter().cloned().zip(self.values.iter().cloned()).collect();
            self.built = Some(Context::wraps(map)?);
        }
        Ok(self.built.get_or_insert_with(Context::null))
    }
}

impl Renderer {
    /// Compiles every string leaf of the template, with every problem found, not just the
    /// first. The renderer works even when there are problems (see the module's notes), for
    /// checking the rest of the template; it must not be used to send.
    pub(crate) fn new(template: &Template) -> (Renderer, Vec<LeafError>) {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        registry.register_escape_fn(handlebars::no_escape);
        registry.register_helper("upper", Box::new(upper));
        registry.register_helper("lower", Box::new(lower));
        registry.register_helper("trim", Box::new(trim));
        registry.register_helper("truncate", Box::new(truncate));
        registry.register_helper("default", Box::new(default_helper));
        let mut compiler = LeafCompiler {
            registry,
            vars: &template.vars,
            source: &template.source.text,
            errors: Vec::new(),
            leaves: Vec::new(),
            undeclared: Vec::new(),
            broken: Vec::new(),
        };
        let root = compiler.compile(&template.body, &mut String::new());
        let renderer = Renderer {
            registry: compiler.registry,
            var_names: template
                .vars
                .iter()
                .map(|var| var.name.clone())
                .chain(compiler.undeclared)
                .collect(),
            root,
            leaves: compiler.leaves,
            broken: compiler.broken,
        };
        (renderer, compiler.errors)
    }

    /// The values that did not compile, in template order.
    pub(crate) fn broken(&self) -> &[BrokenLeaf] {
        &self.broken
    }

    /// The context for rendering leaves one by one with [`Renderer::render_leaf`].
    pub(crate) fn context<'a>(&'a self, values: &'a [Value]) -> RowContext<'a> {
        RowContext {
            names: &self.var_names,
            values,
            built: None,
        }
    }

    /// Renders the body for one set of values, given in the order of `vars`, with every leaf
    /// that failed: a failed leaf is left as empty text, since the rest of the body is still
    /// worth checking.
    pub(crate) fn render(&self, values: &[Value]) -> (Value, Vec<RenderFailure>) {
        let values = if values.len() < self.var_names.len() {
            let mut all = values.to_vec();
            all.resize(self.var_names.len(), Value::String(String::new()));
            std::borrow::Cow::Owned(all)
        } else {
            std::borrow::Cow::Borrowed(values)
        };
        let mut context = self.context(&values);
        let mut failures = Vec::new();
        let body = Self::build(&self.root, &mut |index| match self.render_leaf(index, &mut context) {
            Ok(value) => Ok(value),
            // `{{nmae.first}}` on an empty placeholder: the value is a placeholder anyway.
            Err(_) if self.leaves[index].broken => Ok(Value::String(String::new())),
            Err(failure) => {
                failures.push(failure);
                Ok(Value::String(String::new()))
            }
        });
        (body.unwrap_or(Value::Null), failures)
    }

    /// The body with every leaf replaced by `placeholder(index)`: the shape all rows share.
    pub(crate) fn skeleton(&self, placeholder: impl Fn(usize) -> Value) -> Value {
        Self::build(&self.root, &mut |index| Ok(placeholder(index))).unwrap_or(Value::Null)
    }

    /// The JSON pointer of each leaf, by leaf index.
    pub(crate) fn leaf_pointers(&self) -> impl Iterator<Item = &str> {
        self.leaves.iter().map(|leaf| leaf.pointer.as_str())
    }

    fn build(
        node: &Compiled,
        leaf: &mut impl FnMut(usize) -> Result<Value, RenderFailure>,
    ) -> Result<Value, RenderFailure> {
        match node {
            Compiled::Constant(value) => Ok(value.clone()),
            Compiled::Seq(items) => items
                .iter()
                .map(|item| Self::build(item, leaf))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Compiled::Map(entries) => {
                let mut out = Map::with_capacity(entries.len());
                for (key, value) in entries {
                    out.insert(key.clone(), Self::build(value, leaf)?);
                }
                Ok(Value::Object(out))
            }
            Compiled::Leaf(index) => leaf(*index),
        }
    }

    /// Renders a leaf of plain text and `{{var}}` references into `text` (cleared first), without
    /// allocating; `false` when the leaf needs [`Renderer::render_leaf`].
    pub(crate) fn render_text_into(&self, index: usize, values: &[Value], text: &mut String) -> bool {
        text.clear();
        match &self.leaves[index].kind {
            LeafKind::Parts(parts) => concatenate_into(parts, values, text) == Concatenated::Text,
            LeafKind::Typed(_) | LeafKind::Engine => false,
        }
    }

    /// The text a leaf that is exactly `{{var}}` renders to, when the variable's value is text:
    /// the value itself, as [`Renderer::render_leaf`] would copy it.
    pub(crate) fn sole_text<'a>(&self, index: usize, values: &'a [Value]) -> Option<&'a str> {
        match &self.leaves[index].kind {
            LeafKind::Typed(var) => values.get(*var).and_then(Value::as_str),
            LeafKind::Parts(_) | LeafKind::Engine => None,
        }
    }

    /// Renders one leaf for the row whose context is given.
    pub(crate) fn render_leaf(&self, index: usize, context: &mut RowContext<'_>) -> Result<Value, RenderFailure> {
        let leaf = &self.leaves[index];
        let values = context.values;
        match &leaf.kind {
            LeafKind::Typed(var) => Ok(values[*var].clone()),
            LeafKind::Parts(parts) => {
                let mut text = String::new();
                match concatenate_into(parts, values, &mut text) {
                    Concatenated::Text => Ok(Value::String(text)),
                    Concatenated::NeedsEngine => self.render_engine(leaf, context),
                    Concatenated::TooLarge => Err(RenderFailure {
                        pointer: leaf.pointer.clone(),
                        message: too_large_message(),
                    }),
                }
            }
            LeafKind::Engine => self.render_engine(leaf, context),
        }
    }

    fn render_engine(&self, leaf: &Leaf, context: &mut RowContext<'_>) -> Result<Value, RenderFailure> {
        let fail = |message: String| RenderFailure {
            pointer: leaf.pointer.clone(),
            message,
        };
        let context = context.get().map_err(|error| fail(error.to_string()))?;
        let mut output = CappedOutput::default();
        match self
            .registry
            .render_with_context_to_write(&leaf.name, context, &mut output)
        {
            Ok(()) => String::from_utf8(output.bytes)
                .map(Value::String)
                .map_err(|error| fail(error.to_string())),
            Err(_) if output.over => Err(fail(too_large_message())),
            Err(error) => Err(fail(render_error_message(&error))),
        }
    }
}

/// Where the engine renders a leaf: refuses to grow past [`MAX_RENDERED_BYTES`], which stops
/// the rendering at once, however long the loop that writes.
#[derive(Default)]
struct CappedOutput {
    bytes: Vec<u8>,
    over: bool,
}

impl std::io::Write for CappedOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > MAX_RENDERED_BYTES {
            self.over = true;
            return Err(std::io::Error::other(too_large_message()));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn too_large_message() -> String {
    format!(
        "the value renders to more than {}, the limit for a value",
        words::size(MAX_RENDERED_BYTES as u64)
    )
}

/// What [`concatenate_into`] made of a leaf's parts.
#[derive(Debug, PartialEq, Eq)]
enum Concatenated {
    Text,
    /// A value is a list or a mapping: handlebars renders those its own way.
    NeedsEngine,
    /// The text would be longer than [`MAX_RENDERED_BYTES`].
    TooLarge,
}

/// Appends the parts to `text` (partly written unless the outcome is [`Concatenated::Text`]).
fn concatenate_into(parts: &[Part], values: &[Value], text: &mut String) -> Concatenated {
    for part in parts {
        let rendered;
        let piece = match part {
            Part::Text(literal) => literal.as_str(),
            Part::Var(index) => match &values[*index] {
                Value::String(s) => s.as_str(),
                value @ (Value::Number(_) | Value::Bool(_) | Value::Null) => {
                    rendered = value.render();
                    rendered.as_str()
                }
                Value::Array(_) | Value::Object(_) => return Concatenated::NeedsEngine,
            },
        };
        if text.len() + piece.len() > MAX_RENDERED_BYTES {
            return Concatenated::TooLarge;
        }
        text.push_str(piece);
    }
    Concatenated::Text
}

fn render_error_message(error: &handlebars::RenderError) -> String {
    error.reason().to_string()
}

fn is_helper(name: &str) -> bool {
    HELPERS.contains(&name) || BUILT_IN_HELPERS.contains(&name)
}

/// A variable without a value to render the template's examples with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("variable `{name}` has no `example` or `default` to render with")]
pub(crate) struct MissingExample {
    pub name: String,
}

impl MissingExample {
    pub(crate) fn help(&self) -> Option<String> {
        Some(format!(
            "add `example:` to its declaration, or pass --var {}=VALUE",
            self.name
        ))
    }
}

/// Values for rendering with the template's examples: `--var` overrides, then `example`,
/// then `default`.
pub(crate) fn example_values(vars: &[VarDecl], overrides: &[(String, String)]) -> Result<Vec<Value>, MissingExample> {
    vars.iter()
        .map(|var| {
            if let Some((_, value)) = overrides.iter().rev().find(|(key, _)| *key == var.name) {
                return Ok(Value::String(value.clone()));
            }
            var.example
                .clone()
                .or_else(|| var.default.clone())
                .ok_or_else(|| MissingExample { name: var.name.clone() })
        })
        .collect()
}

/// Fills defaults and refuses missing or empty required values. `row` is in the order of `vars`.
pub(crate) fn bind_values(vars: &[VarDecl], row: Vec<Option<Value>>) -> Result<Vec<Value>, MissingVar> {
    // The row's own vector first: the values are then bound where they are, with no new one.
    row.into_iter()
        .zip(vars)
        .map(|(value, var)| match value {
            Some(value) if !is_empty(&value) => Ok(value),
            absent_or_empty => match &var.default {
                Some(default) => Ok(default.clone()),
                None => Err(MissingVar {
                    name: var.name.clone(),
                    empty: absent_or_empty.is_some(),
                }),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::checks::{too_deep_at, unbalanced};
    use crate::render::compiler::variable_name_for;

    #[test]
    fn unbalanced_braces_are_found_and_valid_forms_left_alone() {
        let found = |text: &str| unbalanced(text).map(|found| (found.at, found.written, found.fixed));
        assert_eq!(
            found("in {{city} now"),
            Some((3, "{{city}".to_owned(), "{{city}}".to_owned()))
        );
        assert_eq!(found("{city}}"), Some((0, "{city}}".to_owned(), "{{city}}".to_owned())));
        assert_eq!(
            found("a {{city is"),
            Some((2, "{{city".to_owned(), "{{city}}".to_owned()))
        );
        for valid in [
            "{{city}} {{{raw}}} {{#each list}}{{this}}{{/each}}",
            "{{!-- {x} --}} {{default name \"}\"}} {{~name~}}",
            "{\"a\": {\"b\": 1}}",
            "{single}",
        ] {
            assert!(unbalanced(valid).is_none(), "{valid}");
        }
    }

    #[test]
    fn a_pasted_name_becomes_a_variable_name() {
        assert_eq!(variable_name_for("Flow-ID"), "flow_id");
        assert_eq!(variable_name_for("Flow  ID"), "flow_id");
        assert_eq!(variable_name_for("2nd-date"), "_2nd_date");
    }

    #[test]
    fn nesting_counts_blocks_and_subexpressions_not_siblings_or_comments() {
        let deep = |n: usize| format!("{}x{}", "{{#if a}}".repeat(n), "{{/if}}".repeat(n));
        assert_eq!(too_deep_at(&deep(MAX_HANDLEBARS_NESTING)), None);
        assert_eq!(
            too_deep_at(&deep(MAX_HANDLEBARS_NESTING + 1)),
            Some(9 * MAX_HANDLEBARS_NESTING)
        );
        assert_eq!(too_deep_at(&"{{#if a}}{{/if}}".repeat(1000)), None);
        let parens = format!("{{{{{}a{}}}}}", "upper (".repeat(40), ")".repeat(40));
        assert!(too_deep_at(&parens).is_some());
        assert_eq!(
            too_deep_at(&format!("{{{{!-- {} --}}}}", "{{#if a}}".repeat(100))),
            None
        );
        assert_eq!(too_deep_at(&format!("{{{{default a \"{}\"}}}}", "(".repeat(100))), None);
        assert_eq!(
            too_deep_at(&format!("{}{{{{^}}}}", "{{#if a}}".repeat(MAX_HANDLEBARS_NESTING))),
            None
        );
    }
}
