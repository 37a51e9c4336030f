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

use handlebars::template::{HelperTemplate, Parameter, Template as HbTemplate, TemplateElement};
use handlebars::{handlebars_helper, Context, Handlebars, JsonRender, Path as HbPath, PathSeg};
use saphyr_parser::ScalarStyle;
use serde_json::{Map, Value};

use crate::limits::{MAX_HANDLEBARS_NESTING, MAX_RENDERED_BYTES};
use crate::suggest::did_you_mean;
use crate::template::{Template, VarDecl};
use crate::words;
use crate::yaml::{Node, NodeKind, Span};

/// Helpers available in templates, besides handlebars' built-ins (`if`, `unless`, `each`,
/// `with`, `eq`, `len`, ...). Documented in docs/guide.md (Helpers).
pub const HELPERS: &[&str] = &["upper", "lower", "trim", "truncate", "default"];

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

pub struct Renderer {
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
pub fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// The handlebars context of one row, built only if a leaf needs the engine.
pub struct RowContext<'a> {
    names: &'a [String],
    values: &'a [Value],
    built: Option<Context>,
}

impl RowContext<'_> {
    fn get(&mut self) -> Result<&Context, String> {
        if self.built.is_none() {
            let map: Map<String, Value> = self.names.iter().cloned().zip(self.values.iter().cloned()).collect();
            self.built = Some(Context::wraps(map).map_err(|error| error.to_string())?);
        }
        self.built.as_ref().ok_or_else(String::new)
    }
}

impl Renderer {
    /// Compiles every string leaf of the template, with every problem found, not just the
    /// first. The renderer works even when there are problems (see the module's notes), for
    /// checking the rest of the template; it must not be used to send.
    pub fn new(template: &Template) -> (Renderer, Vec<LeafError>) {
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
    pub fn broken(&self) -> &[BrokenLeaf] {
        &self.broken
    }

    /// The context for rendering leaves one by one with [`Renderer::render_leaf`].
    pub fn context<'a>(&'a self, values: &'a [Value]) -> RowContext<'a> {
        RowContext {
            names: &self.var_names,
            values,
            built: None,
        }
    }

    /// Renders the body for one set of values, given in the order of `vars`, with every leaf
    /// that failed: a failed leaf is left as empty text, since the rest of the body is still
    /// worth checking.
    pub fn render(&self, values: &[Value]) -> (Value, Vec<RenderFailure>) {
        let values = if values.len() < self.var_names.len() {
            let mut all = values.to_vec();
            all.resize(self.var_names.len(), Value::String(String::new()));
            std::borrow::Cow::Owned(all)
        } else {
            std::borrow::Cow::Borrowed(values)
        };
        let mut context = self.context(&values);
        let mut failures = Vec::new();
        let body = self.build(&self.root, &mut |index| match self.render_leaf(index, &mut context) {
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
    pub fn skeleton(&self, placeholder: impl Fn(usize) -> Value) -> Value {
        self.build(&self.root, &mut |index| Ok(placeholder(index)))
            .unwrap_or(Value::Null)
    }

    /// The JSON pointer of each leaf, by leaf index.
    pub fn leaf_pointers(&self) -> impl Iterator<Item = &str> {
        self.leaves.iter().map(|leaf| leaf.pointer.as_str())
    }

    fn build(
        &self,
        node: &Compiled,
        leaf: &mut impl FnMut(usize) -> Result<Value, RenderFailure>,
    ) -> Result<Value, RenderFailure> {
        match node {
            Compiled::Constant(value) => Ok(value.clone()),
            Compiled::Seq(items) => items
                .iter()
                .map(|item| self.build(item, leaf))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Compiled::Map(entries) => {
                let mut out = Map::with_capacity(entries.len());
                for (key, value) in entries {
                    out.insert(key.clone(), self.build(value, leaf)?);
                }
                Ok(Value::Object(out))
            }
            Compiled::Leaf(index) => leaf(*index),
        }
    }

    /// Renders a leaf of plain text and `{{var}}` references into `text` (cleared first), without
    /// allocating; `false` when the leaf needs [`Renderer::render_leaf`].
    pub fn render_text_into(&self, index: usize, values: &[Value], text: &mut String) -> bool {
        text.clear();
        match &self.leaves[index].kind {
            LeafKind::Parts(parts) => concatenate_into(parts, values, text) == Concatenated::Text,
            LeafKind::Typed(_) | LeafKind::Engine => false,
        }
    }

    /// Renders one leaf for the row whose context is given.
    pub fn render_leaf(&self, index: usize, context: &mut RowContext<'_>) -> Result<Value, RenderFailure> {
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
        let context = context.get().map_err(fail)?;
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

struct LeafCompiler<'a> {
    registry: Handlebars<'static>,
    vars: &'a [VarDecl],
    source: &'a str,
    errors: Vec<LeafError>,
    leaves: Vec<Leaf>,
    /// Names used but not declared, in order of first use: placeholders after the variables.
    undeclared: Vec<String>,
    broken: Vec<BrokenLeaf>,
}

impl LeafCompiler<'_> {
    fn compile(&mut self, node: &Node, pointer: &mut String) -> Compiled {
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
    fn check_braces(&mut self, text: &str, style: ScalarStyle, span: Span) -> bool {
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

    fn compile_leaf(&mut self, text: &str, style: ScalarStyle, span: Span, pointer: &str) -> Compiled {
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
    fn keep_as_written(&mut self, text: &str, pointer: &str, span: Span) -> Compiled {
        self.broken.push(BrokenLeaf {
            pointer: pointer.to_owned(),
            span,
            shortest: false,
        });
        Compiled::Constant(Value::String(text.to_owned()))
    }

    /// The direct forms for leaves made only of text and plain `{{var}}` references.
    fn fast_path(&self, parsed: &HbTemplate) -> Option<LeafKind> {
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

    fn plain_variable(&self, helper: &HelperTemplate) -> Option<usize> {
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

    fn check_references(&mut self, parsed: &HbTemplate, places: &Places<'_>, depth: usize) {
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

    fn check_helper(&mut self, helper: &HelperTemplate, at: Span, depth: usize) {
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

    fn check_parameter(&mut self, parameter: &Parameter, at: Span, depth: usize) {
        match parameter {
            Parameter::Path(path) => self.check_path(path, at, depth),
            Parameter::Name(name) => self.check_variable(name, at, depth),
            Parameter::Subexpression(sub) => match sub.as_element() {
                TemplateElement::Expression(helper) | TemplateElement::HelperBlock(helper) => {
                    self.check_helper(helper, at, depth)
                }
                _ => {}
            },
            _ => {}
        }
    }

    fn check_path(&mut self, path: &HbPath, at: Span, depth: usize) {
        if let HbPath::Relative((segments, raw)) = path {
            if raw.starts_with("this") || raw.starts_with('.') || raw.starts_with('@') {
                return;
            }
            if let Some(PathSeg::Named(first)) = segments.first() {
                self.check_variable(first, at, depth);
            }
        }
    }

    fn check_variable(&mut self, name: &str, at: Span, depth: usize) {
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
    fn words_of_a_name(&self, helper: &HelperTemplate, name: &str) -> Option<String> {
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
    fn bad_name(&mut self, written: &str, at: Span) {
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
fn variable_name_for(written: &str) -> String {
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

/// An expression whose braces do not pair, found in a string value.
struct Unbalanced {
    /// Where it starts, in bytes of the string.
    at: usize,
    written: String,
    fixed: String,
    problem: &'static str,
}

/// The first `{{name}`, `{name}}`, `{{name` or `{{name}}}` of `text`, where `name` looks like
/// a variable or helper call (letters, digits, `_`, `-`, `.`, spaces): braces around anything
/// else are left to handlebars, which says more about them.
fn unbalanced(text: &str) -> Option<Unbalanced> {
    let bytes = text.as_bytes();
    let looks_like_name = |inner: &str| {
        inner.chars().any(|c| c.is_alphabetic())
            && inner
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' '))
    };
    let mut at = 0;
    while let Some(found) = text[at..].find('{') {
        let start = at + found;
        let inner_start = start + bytes[start..].iter().take_while(|&&byte| byte == b'{').count();
        let inner_end = text[inner_start..]
            .find(['{', '}'])
            .map_or(text.len(), |end| inner_start + end);
        let closed = inner_end + bytes[inner_end..].iter().take_while(|&&byte| byte == b'}').count();
        let (opening, closing) = (inner_start - start, closed - inner_end);
        at = closed.max(inner_start);
        let inner = &text[inner_start..inner_end];
        let problem = match (opening, closing) {
            (2, 1) => "is missing a closing `}`",
            (1, 2) => "is missing an opening `{`",
            (2, 3) => "has one `}` too many",
            (2, 0) => "is missing its closing `}}`",
            _ => continue,
        };
        // `{{city is ready`: the expression is the first word.
        let (inner, closed) = if closing == 0 {
            let word = inner.split(' ').next().unwrap_or_default();
            (word, inner_start + word.len())
        } else {
            (inner, closed)
        };
        if !looks_like_name(inner) {
            continue;
        }
        return Some(Unbalanced {
            at: start,
            written: text[start..closed].to_owned(),
            fixed: format!("{{{{{}}}}}", inner.trim()),
            problem,
        });
    }
    None
}

/// Where blocks (`{{#if}}`) and subexpressions (`(upper name)`) in `text` first nest deeper
/// than [`MAX_HANDLEBARS_NESTING`]: the byte offset of the opening that goes over. Found by
/// scanning the text, because handlebars parses by recursion and overflows the stack first.
fn too_deep_at(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut blocks = 0usize;
    let mut at = 0;
    while let Some(found) = text[at..].find("{{") {
        let open = at + found;
        let mut next = open + 2;
        // `{{{x}}}` and raw blocks `{{{{raw}}}}` open with more braces; `~` trims space.
        while matches!(bytes.get(next), Some(b'{' | b'~')) {
            next += 1;
        }
        match bytes.get(next) {
            Some(b'!') => {
                let end = if text[next..].starts_with("!--") { "--}}" } else { "}}" };
                match text[next..].find(end) {
                    Some(close) => {
                        at = next + close + end.len();
                        continue;
                    }
                    None => return None,
                }
            }
            // `{{^}}` alone is `else`; `{{^name}}` opens an inverted block.
            Some(b'#' | b'^') if !matches!(bytes.get(next + 1), Some(b'}' | b'~')) => {
                blocks += 1;
                if blocks > MAX_HANDLEBARS_NESTING {
                    return Some(open);
                }
            }
            Some(b'/') => blocks = blocks.saturating_sub(1),
            _ => {}
        }
        let mut parens = 0usize;
        let mut quote = None;
        loop {
            match (bytes.get(next), quote) {
                (None, _) => return None,
                (Some(&byte), Some(open_quote)) if byte == open_quote => quote = None,
                (Some(_), Some(_)) => {}
                (Some(&byte @ (b'"' | b'\'')), None) => quote = Some(byte),
                (Some(b'('), None) => {
                    parens += 1;
                    if blocks + parens > MAX_HANDLEBARS_NESTING {
                        return Some(next);
                    }
                }
                (Some(b')'), None) => parens = parens.saturating_sub(1),
                (Some(b'}'), None) if bytes.get(next + 1) == Some(&b'}') => break,
                (Some(_), None) => {}
            }
            next += 1;
        }
        at = next + 2;
    }
    None
}

/// A list or map whose members are all constant is one constant, built once.
fn collapse_seq(items: Vec<Compiled>) -> Compiled {
    if items.iter().all(|item| matches!(item, Compiled::Constant(_))) {
        Compiled::Constant(Value::Array(
            items
                .into_iter()
                .filter_map(|item| match item {
                    Compiled::Constant(value) => Some(value),
                    _ => None,
                })
                .collect(),
        ))
    } else {
        Compiled::Seq(items)
    }
}

fn collapse_map(entries: Vec<(String, Compiled)>) -> Compiled {
    if entries.iter().all(|(_, value)| matches!(value, Compiled::Constant(_))) {
        Compiled::Constant(Value::Object(
            entries
                .into_iter()
                .filter_map(|(key, value)| match value {
                    Compiled::Constant(value) => Some((key, value)),
                    _ => None,
                })
                .collect(),
        ))
    } else {
        Compiled::Map(entries)
    }
}

/// Where the expressions of one string value are in the source, prepared once per value (a
/// value may hold thousands of them). A place is exact when the value is written on one line
/// exactly as it reads (plain, or quoted without escapes), or in a block (`|`, `>`) on one of
/// its lines; otherwise (an escape, an expression folded over two lines) it is the start of the
/// value, which is still the right line to look at, never a wrong place.
struct Places<'t> {
    text: &'t str,
    span: Span,
    /// The value is ASCII: a column is a byte count.
    ascii: bool,
    /// The byte each line of the value starts at.
    line_starts: Vec<usize>,
    /// The pieces of the value written unchanged in the source, in the value's order; none
    /// when no place inside the value can be told exactly.
    pieces: Vec<Piece>,
}

/// A piece of a value written, unchanged, on one line of the source.
struct Piece {
    value: usize,
    source: usize,
    len: usize,
    line: usize,
    column: usize,
}

impl<'t> Places<'t> {
    fn new(source: &str, text: &'t str, style: ScalarStyle, span: Span) -> Places<'t> {
        let pieces = match style {
            ScalarStyle::Plain => one_line_piece(source, text, span, 0),
            ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => one_line_piece(source, text, span, 1),
            ScalarStyle::Literal | ScalarStyle::Folded => block_pieces(source, text, span),
        }
        .unwrap_or_default();
        let line_starts = if pieces.is_empty() {
            Vec::new()
        } else {
            std::iter::once(0)
                .chain(text.match_indices('\n').map(|(at, _)| at + 1))
                .collect()
        };
        Places {
            text,
            span,
            ascii: text.is_ascii(),
            line_starts,
            pieces,
        }
    }

    /// The source place of the expression at (line, column) of the value (1-based, in
    /// characters, as handlebars counts).
    fn at(&self, line: usize, column: usize) -> Span {
        self.exact(line, column).unwrap_or(self.span)
    }

    fn exact(&self, line: usize, column: usize) -> Option<Span> {
        let text = self.text;
        let start = *self.line_starts.get(line.checked_sub(1)?)?;
        let end = self.line_starts.get(line).map_or(text.len(), |next| next - 1);
        let column = column.saturating_sub(1);
        let byte = if self.ascii {
            (start + column).min(end)
        } else {
            text[start..end]
                .char_indices()
                .nth(column)
                .map_or(end, |(byte, _)| start + byte)
        };
        let rest = &text[byte..];
        let len = rest.find("}}").map_or(rest.len(), |end| end + 2);
        let index = self
            .pieces
            .partition_point(|piece| piece.value <= byte)
            .checked_sub(1)?;
        let piece = &self.pieces[index];
        if byte + len > piece.value + piece.len {
            return None;
        }
        let within = &text[piece.value..byte];
        let chars = if self.ascii {
            within.len()
        } else {
            within.chars().count()
        };
        Some(Span {
            offset: piece.source + (byte - piece.value),
            len,
            line: piece.line,
            column: piece.column + chars,
        })
    }
}

/// A value written on one line as it reads, after `quote` opening characters.
fn one_line_piece(source: &str, text: &str, span: Span, quote: usize) -> Option<Vec<Piece>> {
    let written = source.get(span.offset + quote..span.offset + quote + text.len())?;
    (written == text && !text.contains('\n')).then(|| {
        vec![Piece {
            value: 0,
            source: span.offset + quote,
            len: text.len(),
            line: span.line,
            column: span.column + quote,
        }]
    })
}

/// The lines of a block scalar found in its value. The parser's span of a block starts on its
/// first line that is not blank, after the block's indentation; the value is its lines without
/// that indentation, joined by line breaks (`|`) or by spaces where lines fold (`>`), blank
/// lines as line breaks. Each source line is found in the value where it must be, text for
/// text, or there are no pieces.
fn block_pieces(source: &str, text: &str, span: Span) -> Option<Vec<Piece>> {
    let indent = span.column.checked_sub(1)?;
    let first = span.offset.checked_sub(indent)?;
    let at_line_start = first == 0 || source.as_bytes().get(first - 1) == Some(&b'\n');
    if !at_line_start || !source.get(first..span.offset)?.bytes().all(|byte| byte == b' ') {
        return None;
    }
    let mut pieces = Vec::new();
    let mut at = 0;
    let mut line_start = first;
    for (number, written) in (span.line..).zip(source[first..].split('\n')) {
        let start = line_start;
        line_start += written.len() + 1;
        if at >= text.len() {
            break;
        }
        let written = written.strip_suffix('\r').unwrap_or(written);
        if written.bytes().all(|byte| byte == b' ') {
            continue;
        }
        // A line indented less than the block's ends it.
        let Some(content) = written
            .get(indent..)
            .filter(|_| written.as_bytes()[..indent].iter().all(|byte| *byte == b' '))
        else {
            break;
        };
        // What lies between two lines in the value is a line break or a folding space.
        while !text[at..].starts_with(content) {
            match text.as_bytes().get(at) {
                Some(b'\n' | b' ') => at += 1,
                _ => return None,
            }
        }
        pieces.push(Piece {
            value: at,
            source: start + indent,
            len: content.len(),
            line: number,
            column: indent + 1,
        });
        at += content.len();
    }
    // Only line breaks (and the spaces of blank lines) may be left: the value was read whole.
    text[at..]
        .bytes()
        .all(|byte| byte == b'\n' || byte == b' ')
        .then_some(pieces)
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

fn collect_elements(parsed: &HbTemplate, vars: &[VarDecl], found: &mut Vec<usize>) {
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

fn collect_helper(helper: &HelperTemplate, vars: &[VarDecl], found: &mut Vec<usize>) {
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

/// Values for rendering with the template's examples: `--var` overrides, then `example`,
/// then `default`.
pub fn example_values(vars: &[VarDecl], overrides: &[(String, String)]) -> Result<Vec<Value>, String> {
    vars.iter()
        .map(|var| {
            if let Some((_, value)) = overrides.iter().rev().find(|(key, _)| *key == var.name) {
                return Ok(Value::String(value.clone()));
            }
            var.example
                .clone()
                .or_else(|| var.default.clone())
                .ok_or_else(|| var.name.clone())
        })
        .collect()
}

/// Fills defaults and refuses missing or empty required values. `row` is in the order of `vars`.
pub fn bind_values(vars: &[VarDecl], row: Vec<Option<Value>>) -> Result<Vec<Value>, MissingVar> {
    vars.iter()
        .zip(row)
        .map(|(var, value)| match value {
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
