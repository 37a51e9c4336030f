//! The stages wired together for one template: bind a row's values → render → compile →
//! validate. Everything that can be prepared once (the leaf templates, the schema) is
//! prepared in [`MessageCompiler::new`]; the per-row path only does per-row work.

use serde_json::Value;

use crate::compile::{self, CompileError, Warning};
use crate::data::Row;
use crate::render::{self, LeafError, MissingVar, RenderFailure, Renderer};
use crate::template::Template;
use crate::validate::{BodyValidator, Violation};

/// A request body ready to send, and what the user should know about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub body: Value,
    pub warnings: Vec<Warning>,
}

/// Why one set of values did not give a valid body.
#[derive(Debug, Clone)]
pub enum Problem {
    Missing(MissingVar),
    Render(RenderFailure),
    Compile(CompileError),
    Invalid(Vec<Violation>),
}

/// A template whose string values do not compile, with every problem found.
#[derive(Debug)]
pub struct Rejected {
    pub template: Template,
    pub errors: Vec<LeafError>,
}

pub struct MessageCompiler {
    template: Template,
    renderer: Renderer,
    validator: BodyValidator,
    required: Vec<bool>,
    var_names: Vec<String>,
}

impl MessageCompiler {
    pub fn new(template: Template) -> Result<MessageCompiler, Box<Rejected>> {
        let renderer = match Renderer::new(&template) {
            Ok(renderer) => renderer,
            Err(errors) => return Err(Box::new(Rejected { template, errors })),
        };
        Ok(MessageCompiler {
            required: template.vars.iter().map(|var| var.is_required()).collect(),
            var_names: template.vars.iter().map(|var| var.name.clone()).collect(),
            renderer,
            validator: BodyValidator::new(),
            template,
        })
    }

    pub fn template(&self) -> &Template {
        &self.template
    }

    pub fn var_names(&self) -> &[String] {
        &self.var_names
    }

    /// Whether each variable (in declaration order) must have a value in every row.
    pub fn required(&self) -> &[bool] {
        &self.required
    }

    /// The body for a data row: its values bound to the variables, defaults filled.
    pub fn compile_row(&self, row: Row) -> Result<Message, Problem> {
        let values = render::bind_values(&self.template.vars, row.values).map_err(Problem::Missing)?;
        self.compile_values(&values)
    }

    /// The body for values given in the order of `vars`.
    pub fn compile_values(&self, values: &[Value]) -> Result<Message, Problem> {
        let mut body = self.renderer.render(values).map_err(Problem::Render)?;
        let mut warnings = Vec::new();
        compile::compile(&mut body, &mut warnings).map_err(Problem::Compile)?;
        let violations = self.validator.validate(&body);
        if !violations.is_empty() {
            return Err(Problem::Invalid(violations));
        }
        Ok(Message { body, warnings })
    }

    pub fn schema_version(&self) -> &str {
        self.validator.schema_version()
    }
}
