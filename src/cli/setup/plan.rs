//! The plan and its execution: one [`Step`] per resource (what it is, what it would become and
//! why), made by the step's own read; with `--apply` the write follows at once, and after a
//! failed write every later step is only planned, so the report shows what the next run does.

use serde::Serialize;
use serde_json::{Value, json};

use super::Learned;
use super::wiring::Wiring;
use crate::cli::graph::{Graph, GraphError, mask_secrets, mask_secrets_in};
use crate::printable::Printable;

/// What a step does to its resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Action {
    Create,
    Update,
    None,
}

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum State {
    /// A plan: nothing was written.
    Planned,
    /// Written (or nothing to write).
    Done,
    /// The write failed.
    Failed,
    /// Not written: an earlier write failed, or the step is blocked.
    NotDone,
}

/// One resource of the plan.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Step {
    pub(crate) resource: &'static str,
    pub(crate) name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
    pub(crate) action: Action,
    pub(crate) state: State,
    /// What changes, or why nothing does.
    pub(crate) changes: Vec<String>,
    /// How the change is (or was) made, where there is more than one way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) via: Option<String>,
    /// Why the step cannot be done (it is left as it is, and the run fails).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) problem: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) warnings: Vec<String>,
    /// Why the write failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
}

impl Step {
    pub(crate) fn new(resource: &'static str, name: impl Into<String>, action: Action) -> Self {
        Self {
            resource,
            name: name.into(),
            id: None,
            action,
            state: State::Planned,
            changes: Vec::new(),
            via: None,
            problem: None,
            warnings: Vec::new(),
            error: None,
        }
    }

    pub(crate) fn id(mut self, id: Option<impl Into<String>>) -> Self {
        self.id = id.map(Into::into);
        self
    }

    pub(crate) fn change(mut self, change: impl Into<String>) -> Self {
        self.changes.push(change.into());
        self
    }

    pub(crate) fn changes(mut self, changes: Vec<String>) -> Self {
        self.changes.extend(changes);
        self
    }

    pub(crate) fn via(mut self, via: impl Into<String>) -> Self {
        self.via = Some(via.into());
        self
    }

    /// A step that cannot be done: planned as nothing, and the run fails.
    pub(crate) fn blocked(
        resource: &'static str,
        name: impl Into<String>,
        problem: String,
    ) -> Self {
        let mut step = Self::new(resource, name, Action::None);
        step.problem = Some(problem);
        step
    }
}

/// What a run created, and how to remove it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Created {
    pub(crate) resource: &'static str,
    pub(crate) name: String,
    pub(crate) id: String,
    pub(crate) remove: String,
}

/// What `validateAuthenticationConfiguration` said of one extension.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Validation {
    pub(crate) extension: String,
    pub(crate) id: String,
    pub(crate) errors: Vec<String>,
    pub(crate) warnings: Vec<String>,
    /// The call itself failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) failure: Option<String>,
}

/// A plan being made, or carried out.
pub(crate) struct Run<'g> {
    pub(crate) graph: &'g Graph,
    apply: bool,
    /// The first failed write: everything after it is only planned.
    halted: bool,
    pub(crate) steps: Vec<Step>,
    pub(crate) created: Vec<Created>,
    pub(crate) validation: Vec<Validation>,
    pub(crate) warnings: Vec<String>,
    /// A read that ended the run, or a failure of the app settings.
    pub(crate) errors: Vec<String>,
    /// The Azure CLI's answer to --set-app-settings.
    pub(crate) settings_set: Option<bool>,
    pub(crate) learned: Learned,
}

impl<'g> Run<'g> {
    pub(crate) fn new(graph: &'g Graph, apply: bool) -> Self {
        Self {
            graph,
            apply,
            halted: false,
            steps: Vec::new(),
            created: Vec::new(),
            validation: Vec::new(),
            warnings: Vec::new(),
            errors: Vec::new(),
            settings_set: None,
            learned: Learned::default(),
        }
    }

    /// Whether writes are made: `--apply`, and no write has failed.
    pub(crate) fn writes(&self) -> bool {
        self.apply && !self.halted
    }

    /// Whether this step is to be written now.
    pub(crate) fn will_write(&self, step: &Step) -> bool {
        self.writes() && step.action != Action::None && step.problem.is_none()
    }

    pub(crate) fn warn(&mut self, warning: impl Into<String>) {
        self.warnings.push(warning.into());
    }

    /// Records a step that is not written now (a plan, nothing to change, blocked, or after a
    /// failure).
    pub(crate) fn plan(&mut self, mut step: Step) {
        step.state = match (self.apply, step.action, &step.problem) {
            (false, _, _) => State::Planned,
            (true, _, Some(_)) => State::NotDone,
            (true, Action::None, None) => State::Done,
            (true, _, None) => State::NotDone,
        };
        self.steps.push(step);
    }

    /// Records a step whose write went through.
    pub(crate) fn done(&mut self, mut step: Step) {
        step.state = State::Done;
        self.steps.push(step);
    }

    /// Records a step whose write failed, and stops writing.
    pub(crate) fn failed(&mut self, mut step: Step, error: &GraphError) {
        step.state = State::Failed;
        step.error = Some(error.to_string());
        self.halted = true;
        self.steps.push(step);
    }

    /// Records what a write created.
    pub(crate) fn created(
        &mut self,
        resource: &'static str,
        name: impl Into<String>,
        id: impl Into<String>,
        remove: impl Into<String>,
    ) {
        self.created.push(Created {
            resource,
            name: name.into(),
            id: id.into(),
            remove: remove.into(),
        });
    }

    /// A read failed and ended the run.
    pub(crate) fn fail_with(&mut self, error: String) {
        self.errors.push(error);
        self.halted = true;
    }

    pub(crate) fn report(
        &self,
        wiring: &Wiring,
        tenant: Option<&str>,
        settings: &[(&'static str, String)],
    ) -> Report {
        let count = |action: Action| {
            self.steps
                .iter()
                .filter(|step| step.action == action && step.problem.is_none())
                .count()
        };
        let blocked = self.steps.iter().filter(|step| step.problem.is_some());
        let failed = self.steps.iter().any(|step| step.state == State::Failed)
            || blocked.clone().count() > 0
            || !self.errors.is_empty()
            || self.settings_set == Some(false)
            || self
                .validation
                .iter()
                .any(|validation| !validation.errors.is_empty() || validation.failure.is_some());
        Report {
            apply: self.apply,
            failed,
            json: json!({
                "mode": if self.apply { "apply" } else { "plan" },
                "tenant": tenant,
                "url": format!("https://{}", wiring.host),
                "name": wiring.name,
                "resources": self.steps,
                "summary": {
                    "create": count(Action::Create),
                    "update": count(Action::Update),
                    "none": count(Action::None),
                    "blocked": blocked.count(),
                },
                "validation": self.validation,
                "app_settings": settings.iter().map(|(name, value)| (name.to_string(), Value::String(value.clone()))).collect::<serde_json::Map<_, _>>(),
                "app_settings_set": self.settings_set,
                "created": self.created,
                "warnings": self.warnings,
                "errors": self.errors,
            }),
            steps: self.steps.clone(),
            created: self.created.clone(),
            validation: self.validation.clone(),
            warnings: self.warnings.clone(),
            errors: self.errors.clone(),
            settings: settings.to_vec(),
            settings_set: self.settings_set,
            host: wiring.host.clone(),
            tenant: tenant.map(str::to_owned),
            set_command: super::app_settings::command_line(wiring, settings),
        }
    }
}

/// The finished run, to print.
pub(crate) struct Report {
    apply: bool,
    failed: bool,
    json: Value,
    steps: Vec<Step>,
    created: Vec<Created>,
    validation: Vec<Validation>,
    warnings: Vec<String>,
    errors: Vec<String>,
    settings: Vec<(&'static str, String)>,
    settings_set: Option<bool>,
    host: String,
    tenant: Option<String>,
    set_command: String,
}

impl Report {
    /// Whether a step failed or is blocked, a read failed, or validation found errors.
    pub(crate) fn failed(&self) -> bool {
        self.failed
    }

    /// The report as text or JSON, with no secret in it.
    pub(crate) fn render(&self, json: bool, secrets: &[String]) -> String {
        if json {
            let mut value = self.json.clone();
            mask_secrets_in(&mut value, secrets);
            serde_json::to_string_pretty(&value).unwrap_or_else(|_| "{}".to_owned())
        } else {
            mask_secrets(&self.text(), secrets)
        }
    }

    fn text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let tenant = self.tenant.as_deref().unwrap_or("(the token's)");
        let _ = writeln!(
            out,
            "{} for https://{} in tenant {tenant}:",
            if self.apply {
                "Set-up"
            } else {
                "Plan (nothing is changed without --apply)"
            },
            self.host
        );
        for step in &self.steps {
            let label = match (step.state, step.action, &step.problem) {
                (_, _, Some(_)) => "blocked",
                (State::Failed, _, _) => "failed",
                (State::NotDone, Action::Create, _) => "create (not done)",
                (State::NotDone, Action::Update, _) => "update (not done)",
                (State::Done, Action::Create, _) => "created",
                (State::Done, Action::Update, _) => "updated",
                (_, Action::Create, _) => "create",
                (_, Action::Update, _) => "update",
                (_, Action::None, _) => "none",
            };
            let id = step
                .id
                .as_deref()
                .map(|id| format!(" ({id})"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "{label:<8} {} {}{id}",
                step.resource,
                Printable(&step.name)
            );
            for change in &step.changes {
                let _ = writeln!(out, "           {}", Printable(change));
            }
            if let Some(via) = &step.via {
                let _ = writeln!(out, "           via {}", Printable(via));
            }
            if let Some(problem) = &step.problem {
                let _ = writeln!(out, "           blocked: {}", Printable(problem));
            }
            for warning in &step.warnings {
                let _ = writeln!(out, "           warning: {}", Printable(warning));
            }
            if let Some(error) = &step.error {
                let _ = writeln!(out, "           error: {}", Printable(error));
            }
        }
        for error in &self.errors {
            let _ = writeln!(out, "error: {}", Printable(error));
        }
        if !self.validation.is_empty() {
            out.push_str("\nEntra's validation (validateAuthenticationConfiguration):\n");
            for validation in &self.validation {
                let verdict = match (&validation.failure, validation.errors.is_empty()) {
                    (Some(_), _) => "failed",
                    (None, false) => "errors",
                    (None, true) if validation.warnings.is_empty() => "ok",
                    (None, true) => "warnings",
                };
                let _ = writeln!(out, "  {verdict:<8} {}", Printable(&validation.extension));
                for line in validation
                    .failure
                    .iter()
                    .chain(&validation.errors)
                    .chain(&validation.warnings)
                {
                    let _ = writeln!(out, "           {}", Printable(line));
                }
            }
        }
        if !self.warnings.is_empty() {
            out.push('\n');
            for warning in &self.warnings {
                let _ = writeln!(out, "warning: {}", Printable(warning));
            }
        }
        out.push_str("\nThe function app's settings:\n");
        for (name, value) in &self.settings {
            let _ = writeln!(out, "  {name}={}", Printable(value));
        }
        match self.settings_set {
            Some(true) => out.push_str("  (set with the Azure CLI)\n"),
            Some(false) => {
                out.push_str("  (the Azure CLI could not set them: see the error above)\n")
            }
            None => {
                let _ = writeln!(out, "  set them: {}", Printable(&self.set_command));
            }
        }
        if self.apply {
            if self.created.is_empty() {
                out.push_str("\nThis run created nothing.\n");
            } else {
                out.push_str("\nThis run created (to undo the set-up, remove them):\n");
                for created in &self.created {
                    let _ = writeln!(
                        out,
                        "  {} {} ({}): {}",
                        created.resource,
                        Printable(&created.name),
                        created.id,
                        Printable(&created.remove)
                    );
                }
            }
        }
        let blocked = self.steps.iter().filter(|s| s.problem.is_some()).count();
        let blocked = if blocked > 0 {
            format!(", {blocked} blocked")
        } else {
            String::new()
        };
        if self.apply {
            let count = |state: State, action: Option<Action>| {
                self.steps
                    .iter()
                    .filter(|step| {
                        step.state == state
                            && action.is_none_or(|action| step.action == action)
                            && step.problem.is_none()
                    })
                    .count()
            };
            let _ = write!(
                out,
                "\n{} created, {} updated, {} unchanged, {} failed, {} not done{blocked}",
                count(State::Done, Some(Action::Create)),
                count(State::Done, Some(Action::Update)),
                count(State::Done, Some(Action::None)),
                count(State::Failed, None),
                count(State::NotDone, None),
            );
            return out;
        }
        let count = |action: Action| {
            self.steps
                .iter()
                .filter(|step| step.action == action && step.problem.is_none())
                .count()
        };
        let changes = count(Action::Create) + count(Action::Update);
        let _ = write!(
            out,
            "\n{} to create, {} to update, {} unchanged{blocked}: {}",
            count(Action::Create),
            count(Action::Update),
            count(Action::None),
            if changes > 0 {
                "run it again with --apply to make these changes."
            } else {
                "nothing to do."
            }
        );
        out
    }
}
