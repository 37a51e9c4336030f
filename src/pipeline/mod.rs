//! The stages wired together for one template: bind a row's values → render → compile →
//! validate. Everything that can be prepared once (the leaf templates, the schema) is
//! prepared in [`MessageCompiler::new`]; the per-row path only does per-row work.

mod keys;
mod ordered;
mod plan;

use std::sync::OnceLock;

pub(crate) use keys::flow_button_token;
pub use keys::BodyKeys;
pub use ordered::{compile_in_order, compile_in_order_with, Flow, RowOutcome};

use serde_json::Value;

use crate::approved::ApprovedCheck;
use crate::compile::{self, CompileError, Warning};
use crate::data::Row;
use crate::flow::{FlowIssue, PayloadCheck, Place};
use crate::render::{self, BrokenLeaf, LeafError, MissingVar, RenderFailure, Renderer};
use crate::template::Template;
use crate::validate::{BodyValidator, Violation};

use self::plan::BodyPlan;

/// A request body ready to send, and what the user should know about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub body: Value,
    pub warnings: Vec<Warning>,
}

/// What [`MessageCompiler::inspect`] found: everything, not only the first stage's problem.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The body, with the values that failed to render left empty.
    pub body: Value,
    pub warnings: Vec<Warning>,
    pub problem: Option<Problem>,
}

/// Why one set of values did not give a valid body.
#[derive(Debug, Clone)]
pub enum Problem {
    Missing(MissingVar),
    /// Every value that failed to render, every compile error and every schema violation of
    /// the body. What a failure at an earlier stage already explains is left out of the later
    /// ones: the schema's word on the bad `to` compiling refused, anything about a value that
    /// failed to render (it was left empty).
    Invalid {
        render: Vec<RenderFailure>,
        compile: Vec<CompileError>,
        schema: Vec<Violation>,
    },
    /// The body does not fit the template's Flow (a value of the wrong type). Only a body
    /// with no other problem is compared with the Flow.
    Flow(Vec<FlowIssue>),
}

/// A template whose string values do not compile, with every problem found. Its compiler
/// still inspects the rest of the template ([`MessageCompiler::inspect`]), leaving out what
/// depends on the values that do not compile; it must not be used to send.
pub struct Rejected {
    pub compiler: MessageCompiler,
    pub errors: Vec<LeafError>,
}

impl std::fmt::Debug for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rejected")
            .field("errors", &self.errors)
            .finish_non_exhaustive()
    }
}

pub struct MessageCompiler {
    template: Template,
    renderer: Renderer,
    validator: BodyValidator,
    /// Built on the first data row: a single body (and startup) does not need it.
    plan: OnceLock<Option<BodyPlan>>,
    required: Vec<bool>,
    var_names: Vec<String>,
    /// What is read from a data file for each variable (`--column` maps one to a column).
    fields: crate::data::Fields,
    /// The template's Flow, when it names one: what each body is checked against.
    flow: Option<PayloadCheck>,
    /// A template message's approved template, when it names one: each row's hydrated lengths.
    approved: Option<ApprovedCheck>,
}

impl MessageCompiler {
    pub fn new(template: Template) -> Result<MessageCompiler, Box<Rejected>> {
        let (renderer, errors) = Renderer::new(&template);
        let validator = BodyValidator::for_kind(template.kind);
        let required: Vec<bool> = template
            .vars
            .iter()
            .map(super::template::VarDecl::is_required)
            .collect();
        let var_names: Vec<String> = template.vars.iter().map(|var| var.name.clone()).collect();
        let compiler = MessageCompiler {
            fields: crate::data::Fields::new(var_names.clone(), required.clone()),
            required,
            var_names,
            renderer,
            validator,
            plan: OnceLock::new(),
            flow: None,
            approved: None,
            template,
        };
        if errors.is_empty() {
            Ok(compiler)
        } else {
            Err(Box::new(Rejected { compiler, errors }))
        }
    }

    /// The values of the template that do not compile (none once [`MessageCompiler::new`] succeeded).
    pub fn broken(&self) -> &[BrokenLeaf] {
        self.renderer.broken()
    }

    /// Checks every body against the template's Flow from now on (before the first row).
    pub(crate) fn set_flow(&mut self, check: PayloadCheck) {
        self.plan = OnceLock::new();
        self.flow = Some(check);
    }

    pub(crate) fn flow(&self) -> Option<&PayloadCheck> {
        self.flow.as_ref()
    }

    /// Checks every body of a template message against its approved template from now on.
    pub(crate) fn set_approved(&mut self, check: ApprovedCheck) {
        self.plan = OnceLock::new();
        self.approved = Some(check);
    }

    pub(crate) fn approved(&self) -> Option<&ApprovedCheck> {
        self.approved.as_ref()
    }

    pub fn template(&self) -> &Template {
        &self.template
    }

    pub fn var_names(&self) -> &[String] {
        &self.var_names
    }

    /// What is read from a data file for each variable.
    pub fn fields(&self) -> &crate::data::Fields {
        &self.fields
    }

    /// Reads `var` from the data file's column `column`; `false` when `var` is not declared.
    pub fn map_column(&mut self, var: &str, column: &str) -> bool {
        self.fields.map(var, column)
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
        self.write_row(row, out, None)
    }

    /// [`MessageCompiler::compile_row_into`], and the body's keys in `keys` when the plan wrote
    /// it and knows where they are (`None`: only the body tells them).
    pub fn compile_row_with_keys(
        &self,
        row: Row,
        out: &mut Vec<u8>,
        keys: &mut Option<BodyKeys>,
    ) -> Result<Vec<Warning>, Problem> {
        self.write_row(row, out, Some(keys))
    }

    fn write_row(
        &self,
        row: Row,
        out: &mut Vec<u8>,
        mut keys: Option<&mut Option<BodyKeys>>,
    ) -> Result<Vec<Warning>, Problem> {
        let values = render::bind_values(&self.template.vars, row.values).map_err(Problem::Missing)?;
        let start = out.len();
        let mut warnings = Vec::new();
        if let Some(slot) = keys.as_deref_mut() {
            *slot = None;
        }
        if let Some(plan) = self.plan() {
            let written = match keys.as_deref_mut() {
                Some(slot) if plan.knows_keys() => {
                    let found = slot.insert(BodyKeys::default());
                    plan.write(&self.renderer, &values, out, &mut warnings, found)
                }
                _ => plan.write(&self.renderer, &values, out, &mut warnings, ()),
            };
            if written {
                return Ok(warnings);
            }
            if let Some(slot) = keys {
                *slot = None;
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
                if !self.renderer.broken().is_empty() {
                    return None;
                }
                BodyPlan::new(
                    &self.renderer,
                    &self.validator,
                    self.flow.as_ref(),
                    self.approved.as_ref(),
                    &self.template.source.text,
                    self.template.kind,
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
        match inspection.problem {
            None => Ok(Message {
                body: inspection.body,
                warnings: inspection.warnings,
            }),
            Some(problem) => Err(problem),
        }
    }

    /// Everything the stages produce for one set of values, even when it is not valid: the
    /// body as far as it was built, its warnings and every problem the stages found, so that
    /// one run reports them all (a bad `to` does not hide a footer that is too long).
    ///
    /// Findings at a value that did not compile ([`MessageCompiler::broken`]) are left out:
    /// they are about a placeholder, not about what the fix will render. Only a length limit
    /// broken by text rendered with its undeclared variables empty is kept, since any value
    /// they are given can only make it longer.
    pub fn inspect(&self, values: &[Value]) -> Inspection {
        let (mut body, render) = self.renderer.render(values);
        let mut warnings = Vec::new();
        let mut compile = compile::compile(&mut body, self.template.kind, &mut warnings)
            .err()
            .unwrap_or_default();
        let mut schema = self.validator.validate(&body);
        if let Some(approved) = &self.approved {
            schema.extend(approved.check_body(&body));
        }
        let failed: Vec<&str> = render.iter().map(|failure| failure.pointer.as_str()).collect();
        if !failed.is_empty() {
            let failed_at = |pointer: &str| failed.iter().any(|failed| at_or_under(pointer, failed));
            compile.retain(|error| !failed_at(&error.pointer()));
            warnings.retain(|warning| !failed_at(&warning.pointer()));
            schema.retain(|violation| !failed_at(&violation.pointer));
        }
        let explained: Vec<String> = compile.iter().map(CompileError::pointer).collect();
        schema.retain(|violation| !explained.iter().any(|pointer| at_or_under(&violation.pointer, pointer)));
        let broken = self.renderer.broken();
        if !broken.is_empty() {
            let broken_at = |pointer: &str| broken.iter().find(|leaf| at_or_under(pointer, &leaf.pointer));
            compile.retain(|error| broken_at(&error.pointer()).is_none());
            warnings.retain(|warning| broken_at(&warning.pointer()).is_none());
            schema.retain_mut(|violation| match broken_at(&violation.pointer) {
                None => true,
                Some(leaf) if leaf.shortest && violation.too_long => {
                    violation
                        .message
                        .push_str(" (counted with its undeclared variables empty)");
                    true
                }
                Some(_) => false,
            });
        }
        let problem = if !render.is_empty() || !compile.is_empty() || !schema.is_empty() {
            Some(Problem::Invalid {
                render,
                compile,
                schema,
            })
        } else {
            // A body the schema refuses is not compared with the Flow; nor is a value that did
            // not compile (it was rendered empty).
            let mut issues = self
                .flow
                .as_ref()
                .map(|flow| flow.check_body(&body))
                .unwrap_or_default();
            issues.retain(|issue| match issue.place() {
                Place::Pointer { pointer, .. } => !broken.iter().any(|leaf| at_or_under(&pointer, &leaf.pointer)),
                _ => true,
            });
            (!issues.is_empty()).then_some(Problem::Flow(issues))
        };
        Inspection {
            body,
            warnings,
            problem,
        }
    }

    /// Binds a data row's values (defaults filled), as [`MessageCompiler::compile_row`] does.
    pub fn bind(&self, row: Row) -> Result<Vec<Value>, Problem> {
        render::bind_values(&self.template.vars, row.values).map_err(Problem::Missing)
    }
}

/// Whether `pointer` is `parent` or a place inside it.
fn at_or_under(pointer: &str, parent: &str) -> bool {
    pointer
        .strip_prefix(parent)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
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
            if path.is_dir() || path.to_string_lossy().ends_with(".fixtures.yaml") {
                continue;
            }
            let template = Template::load(&path).expect("shipped templates load");
            let mut compiler = MessageCompiler::new(template).expect("shipped templates compile");
            let mut opens = None;
            if let Some((linked, button)) = crate::approved::link(compiler.template()) {
                assert!(linked.issues.is_empty(), "{}: {:?}", path.display(), linked.issues);
                compiler.set_approved(linked.check.expect("the shipped approved templates are read"));
                opens = button;
            }
            if let Some(linked) = crate::flow::link_opening(compiler.template(), opens.as_ref()) {
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
        assert!(checked >= 5);
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
            Err(Problem::Invalid { .. })
        ));
        assert!(out.is_empty());
    }
}
