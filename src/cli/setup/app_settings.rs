//! What the function app needs to know of the set-up (its caller check compares Entra's tokens
//! with them): printed, or set with the Azure CLI (`--set-app-settings`).

use std::time::Duration;

use super::Learned;
use super::plan::Run;
use super::wiring::Wiring;

/// How long the Azure CLI may take to set them.
const AZ_DEADLINE: Duration = Duration::from_secs(120);

/// The settings, with a placeholder for what is not known yet.
pub(super) fn settings(tenant: Option<&str>, learned: &Learned) -> Vec<(&'static str, String)> {
    vec![
        (
            "AUTH_EVENTS_TENANT_ID",
            tenant.unwrap_or("<the external tenant's id>").to_owned(),
        ),
        (
            "AUTH_EVENTS_CLIENT_ID",
            learned
                .app_id()
                .unwrap_or("<the app registration's application id>")
                .to_owned(),
        ),
    ]
}

/// The Azure CLI command that sets them.
pub(super) fn command_line(wiring: &Wiring, settings: &[(&'static str, String)]) -> String {
    let pairs: Vec<String> = settings
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    format!(
        "az functionapp config appsettings set --name {} --resource-group {} --settings {}",
        wiring.function_app.as_deref().unwrap_or("<function app>"),
        wiring
            .resource_group
            .as_deref()
            .unwrap_or("<resource group>"),
        pairs.join(" ")
    )
}

/// Sets them with the Azure CLI, after an apply that went through and knows them all.
pub(super) async fn set(wiring: &Wiring, settings: &[(&'static str, String)], run: &mut Run<'_>) {
    if !run.writes() {
        if wiring.apply {
            run.warn("--set-app-settings: not set, as the set-up did not go through");
        } else {
            run.warn("--set-app-settings takes effect with --apply");
        }
        return;
    }
    if settings.iter().any(|(_, value)| value.starts_with('<')) {
        run.errors.push(
            "--set-app-settings: the tenant's id is not known (give --tenant, or a token that names its tenant)"
                .to_owned(),
        );
        run.settings_set = Some(false);
        return;
    }
    let (Some(app), Some(group)) = (&wiring.function_app, &wiring.resource_group) else {
        return;
    };
    let mut command = tokio::process::Command::new("az");
    command
        .args(["functionapp", "config", "appsettings", "set", "--name", app])
        .args(["--resource-group", group, "--output", "none", "--settings"])
        .args(
            settings
                .iter()
                .map(|(name, value)| format!("{name}={value}")),
        )
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let outcome = tokio::time::timeout(AZ_DEADLINE, command.output()).await;
    let failure = match outcome {
        Err(_) => Some(format!(
            "the Azure CLI did not finish within {} s",
            AZ_DEADLINE.as_secs()
        )),
        Ok(Err(error)) => Some(format!(
            "cannot run the Azure CLI (az): {error}; set the settings yourself"
        )),
        Ok(Ok(output)) if !output.status.success() => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let last = stderr
                .lines()
                .rev()
                .find(|line| !line.trim().is_empty())
                .unwrap_or("");
            Some(format!(
                "the Azure CLI failed ({}): {}",
                output.status,
                last.chars().take(300).collect::<String>()
            ))
        }
        Ok(Ok(_)) => None,
    };
    match failure {
        None => run.settings_set = Some(true),
        Some(failure) => {
            run.errors.push(format!("--set-app-settings: {failure}"));
            run.settings_set = Some(false);
        }
    }
}
