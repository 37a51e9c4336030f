//! The stages wired together for one template: bind a row's values → render → compile →
//! validate. Everything that can be prepared once (the leaf templates, the schema) is
//! prepared in [`MessageCompiler::new`]; the per-row path only does per-row work.

mod ordered;
mod plan;

use std::sync::OnceLock;

pub use ordered::{compile_in_order, compile_in_order_with, Flow, RowOutcome};

use serde_json::Value;

use crate::compile::{self, CompileError, Warning};
use crate::data::Row;
use crate::flow::{FlowIssue, PayloadCheck};
use crate::render::{self, LeafError, MissingVar, RenderFailure, Renderer};
use crate::template::Template;
use crate::validate::{BodyValidator, Violation};

use self::plan::BodyPlan;

/// A request body ready to send, and what the user should know about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub body: Value,
    pub warnings: Vec<Warning>,
}

/// What [`MessageCompiler::inspect`] found.
#[derive(Debug, Clone)]
pub struct Inspection {
    pub body: Option<Value>,
    pub warnings: Vec<Warning>,
    pub problem: Option<Problem>,
}

/// Why one set of values did not give a valid body.
#[derive(Debug, Clone)]
pub enum Problem {
    Missing(MissingVar),
    Render(RenderFailure),
    Compile(CompileError),
    Invalid(Vec<Violation>),
    /// The body does not fit the template's Flow (a value of the wrong type).
    Flow(Vec<FlowIssue>),
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
    /// Built on the first data row: a single body (and startup) does not need it.
    plan: OnceLock<Option<BodyPlan>>,
    required: Vec<bool>,
    var_names: Vec<String>,
    /// The template's Flow, when it names one: what each body is checked against.
    flow: Option<PayloadCheck>,
}

impl MessageCompiler {
    pub fn new(template: Template) -> Result<MessageCompiler, Box<Rejected>> {
        let renderer = match Renderer::new(&template) {
            Ok(renderer) => renderer,
            Err(errors) => return Err(Box::new(Rejected { template, errors })),
        };
        let validator = BodyValidator::new();
        Ok(MessageCompiler {
            required: template.vars.iter().map(|var| var.is_required()).collect(),
            var_names: template.vars.iter().map(|var| var.name.clone()).collect(),
            renderer,
            validator,
            plan: OnceLock::new(),
            flow: None,
            template,
        })
    }

    /// Checks every body against the template's Flow from now on (before the first row).
    pub(crate) fn set_flow(&mut self, check: PayloadCheck) {
        self.plan = OnceLock::new();
        self.flow = Some(check);
    }

    pub(crate) fn flow(&self) -> Option<&PayloadCheck> {
        self.flow.as_ref()
    }

    pub fn template(&self) -> &Template {
        &self.template
    }

    pub fn var_names(&self) -> &[String] {
        &self.var_names
    }

    /// Sets the `--var` values on a data row, replacing its own.
    pub fn apply_overrides(&self, row: &mut Row, overrides: &[(String, String)]) {
        for (key, value) in overrides {
            if let Some(index) = self.template.var_index(key) {
                row.values[index] = Some(Value::String(value.clone()));
            }
        }
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

    /// Appends the compact JSON body for a data row to `out` (nothing on error), and returns
    /// the warnings. The same bytes as serialising [`MessageCompiler::compile_row`]'s body.
    pub fn compile_row_into(&self, row: Row, out: &mut Vec<u8>) -> Result<Vec<Warning>, Problem> {
        let values = render::bind_values(&self.template.vars, row.values).map_err(Problem::Missing)?;
        let start = out.len();
        let mut warnings = Vec::new();
        if let Some(plan) = self.plan() {
            if plan.write(&self.renderer, &values, out, &mut warnings) {
                return Ok(warnings);
            }
            out.truncate(start);
            warnings.clear();
        }
        let message = self.compile_values(&values)?;
        // Writing JSON into memory cannot fail.
        let _ = serde_json::to_writer(&mut *out, &message.body);
        Ok(message.warnings)
    }

    fn plan(&self) -> Option<&BodyPlan> {
        self.plan
            .get_or_init(|| {
                BodyPlan::new(
                    &self.renderer,
                    &self.validator,
                    self.flow.as_ref(),
                    &self.template.source.text,
                )
            })
            .as_ref()
    }

    /// Whether rows take the pre-serialised fast path (see [`plan`]).
    pub fn has_plan(&self) -> bool {
        self.plan().is_some()
    }

    /// The body for values given in the order of `vars`.
    pub fn compile_values(&self, values: &[Value]) -> Result<Message, Problem> {
        let inspection = self.inspect(values);
        match (inspection.problem, inspection.body) {
            (None, Some(body)) => Ok(Message {
                body,
                warnings: inspection.warnings,
            }),
            (Some(problem), _) => Err(problem),
            (None, None) => Err(Problem::Invalid(Vec::new())),
        }
    }

    /// Everything the stages produce for one set of values, even when it is not valid: the
    /// body as far as it was built, its warnings and the first stage's problem (for previews).
    pub fn inspect(&self, values: &[Value]) -> Inspection {
        let mut body = match self.renderer.render(values) {
            Ok(body) => body,
            Err(failure) => {
                return Inspection {
                    body: None,
                    warnings: Vec::new(),
                    problem: Some(Problem::Render(failure)),
                }
            }
        };
        let mut warnings = Vec::new();
        if let Err(error) = compile::compile(&mut body, &mut warnings) {
            return Inspection {
                body: Some(body),
                warnings,
                problem: Some(Problem::Compile(error)),
            };
        }
        let violations = self.validator.validate(&body);
        let problem = if !violations.is_empty() {
            Some(Problem::Invalid(violations))
        } else {
            // A body the schema refuses is not compared with the Flow: one problem at a time.
            let issues = self
                .flow
                .as_ref()
                .map(|flow| flow.check_body(&body))
                .unwrap_or_default();
            (!issues.is_empty()).then_some(Problem::Flow(issues))
        };
        Inspection {
            body: Some(body),
            warnings,
            problem,
        }
    }

    /// Binds a data row's values (defaults filled), as [`MessageCompiler::compile_row`] does.
    pub fn bind(&self, row: Row) -> Result<Vec<Value>, Problem> {
        render::bind_values(&self.template.vars, row.values).map_err(Problem::Missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(values: &[&str]) -> Row {
        Row {
            number: 2,
            values: values.iter().map(|v| Some(Value::String((*v).to_owned()))).collect(),
        }
    }

    /// The fast path writes exactly the bytes of the full path, for every shipped template.
    #[test]
    fn fast_and_full_paths_agree_on_every_shipped_template() {
        let tricky = [
            "Tom & \"Jerry\" {{x}}\n🎉",
            "+91 98765-43210",
            "Köln",
            "C-1",
            "+1 415 555 0100",
            "7",
        ];
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).expect("templates/") {
            let path = entry.expect("entry").path();
            if path.to_string_lossy().ends_with(".fixtures.yaml") {
                continue;
            }
            let template = Template::load(&path).expect("shipped templates load");
            let mut compiler = MessageCompiler::new(template).expect("shipped templates compile");
            if let Some(linked) = crate::flow::link(compiler.template()) {
                assert!(
                    linked.issues.iter().all(|issue| !issue.is_error()),
                    "{}: {:?}",
                    path.display(),
                    linked.issues
                );
                compiler.set_flow(linked.check.expect("the shipped Flows are read"));
            }
            assert!(compiler.has_plan(), "{} takes the fast path", path.display());
            let n = compiler.var_names().len();
            let values: Vec<&str> = (0..n).map(|i| tricky[i % tricky.len()]).collect();
            // Every variable gets a phone-shaped value where the template expects one.
            let values: Vec<&str> = compiler
                .var_names()
                .iter()
                .zip(values)
                .map(|(name, value)| if name == "phone" { "+91 98765-43210" } else { value })
                .collect();
            let mut fast = Vec::new();
            let fast_result = compiler.compile_row_into(row(&values), &mut fast);
            let full = compiler.compile_row(row(&values));
            match (fast_result, full) {
                (Ok(_), Ok(message)) => {
                    assert_eq!(
                        String::from_utf8(fast).expect("utf-8"),
                        serde_json::to_string(&message.body).expect("json"),
                        "{}",
                        path.display()
                    );
                }
                (Err(_), Err(_)) => assert!(fast.is_empty()),
                (fast, full) => panic!("{}: paths disagree: {fast:?} vs {full:?}", path.display()),
            }
            checked += 1;
        }
        assert!(checked >= 4);
    }

    #[test]
    fn a_hole_another_rule_looks_at_takes_the_full_path() {
        let text = "vars:\n  action: {example: navigate}\nmessaging_object:\n  to: \"+14155550100\"\n  interactive:\n    body: {text: hi}\n    action:\n      parameters: {flow_id: \"1\", flow_cta: Go, flow_action: \"{{action}}\", flow_action_payload: {screen: A}}\n";
        let template = Template::parse("t.yaml".to_owned(), text.to_owned()).expect("parses");
        let compiler = MessageCompiler::new(template).expect("compiles");
        assert!(!compiler.has_plan());
        let mut out = Vec::new();
        assert!(compiler.compile_row_into(row(&["navigate"]), &mut out).is_ok());
        out.clear();
        assert!(matches!(
            compiler.compile_row_into(row(&["data_exchange"]), &mut out),
            Err(Problem::Invalid(_))
        ));
        assert!(out.is_empty());
    }
}
