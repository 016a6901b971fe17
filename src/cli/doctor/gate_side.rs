//! The gate's side of Entra's calls, for `doctor --signins`: its decisions with Entra's
//! correlation id, from a log file (`--log`: the `decision` lines) or from Application Insights
//! (`--ai-app-id`, [`super::insights`]), addresses masked again.

use std::path::Path;
use std::time::Duration;

use super::callouts::mask_address;
use super::{Check, DoctorCommand};

const CHECK: &str = "sign-ins";
/// The largest decision log read.
const MAX_LOG_BYTES: u64 = 256 * 1024 * 1024;

/// A decision line of the gate: what it decided for one of Entra's correlation ids.
pub(super) struct Decision {
    pub(super) correlation_id: String,
    pub(super) line: String,
}

/// The decision lines of a log file that carry Entra's correlation id, addresses masked again.
pub(super) fn decisions(path: &Path) -> Result<Vec<Decision>, String> {
    let shown = path.display();
    let size = std::fs::metadata(path)
        .map_err(|error| format!("--log {shown}: {error}"))?
        .len();
    if size > MAX_LOG_BYTES {
        return Err(format!(
            "--log {shown}: {size} bytes, more than the {MAX_LOG_BYTES} read: give the part of the log that covers the window"
        ));
    }
    let bytes = std::fs::read(path).map_err(|error| format!("--log {shown}: {error}"))?;
    let text = String::from_utf8_lossy(&bytes);
    let mut found = Vec::new();
    for line in text.lines() {
        let Some((_, rest)) = line.split_once("decision function=") else {
            continue;
        };
        let decision = format!("decision function={rest}");
        let mut correlation = None;
        let words: Vec<String> = decision
            .split_whitespace()
            .map(|word| match word.split_once('=') {
                Some(("entra_correlation_id", id)) => {
                    correlation = Some(id.to_ascii_lowercase());
                    word.to_owned()
                }
                // Written masked; masked again in case a line came from elsewhere.
                Some(("email", address)) if address.contains('@') && !address.contains("***@") => {
                    format!("email={}", mask_address(address))
                }
                _ => word.to_owned(),
            })
            .collect();
        if let Some(correlation_id) = correlation {
            found.push(Decision {
                correlation_id,
                line: words.join(" "),
            });
        }
    }
    // The latest decision of a correlation id (Entra's retry of the same sign-up) comes first.
    found.reverse();
    Ok(found)
}

/// The gate's side: its decisions (from a log file, Application Insights, or both) and where
/// they came from.
pub(super) struct GateSide {
    pub(super) decisions: Vec<Decision>,
    pub(super) sources: Vec<String>,
}

/// The gate's decisions for the window, from `--log` and from Application Insights
/// (`--ai-app-id`); a source that cannot be read is a failed check.
pub(super) async fn gate_side(
    command: &DoctorCommand,
    window: Duration,
    secrets: &mut Vec<String>,
    checks: &mut Vec<Check>,
) -> Option<GateSide> {
    if command.log.is_none() && command.ai_app_id.is_none() {
        return None;
    }
    let mut gate = GateSide {
        decisions: Vec::new(),
        sources: Vec::new(),
    };
    if let Some(path) = &command.log {
        match decisions(path) {
            Ok(found) => {
                gate.decisions.extend(found);
                gate.sources.push(path.display().to_string());
            }
            Err(error) => checks.push(Check::fail(
                format!("{CHECK}: decision log"),
                error,
                "give a file of the function app's log lines (its `decision` lines)",
            )),
        }
    }
    if let Some(app) = &command.ai_app_id {
        const INSIGHTS: &str = "sign-ins: Application Insights";
        let variable = std::env::var(super::insights::TOKEN_VARIABLE).ok();
        let token = match crate::cli::graph::given_token(
            command.ai_token.as_deref(),
            variable.as_deref(),
            &mut crate::cli::graph::StandardInput::default(),
        ) {
            Ok(Some(token)) => Some(token),
            Ok(None) => crate::cli::graph::azure_cli_token_for(super::insights::RESOURCE).await,
            Err(error) => {
                checks.push(Check::fail(INSIGHTS, error, "give the token once, alone"));
                return Some(gate);
            }
        };
        let Some(token) = token else {
            checks.push(Check::fail(
                INSIGHTS,
                "no token for Application Insights' query API",
                "give one with --ai-token (`-` reads it from standard input) or SIGNUP_GATE_AI_TOKEN, or sign in with `az login`",
            ));
            return Some(gate);
        };
        secrets.push(token.clone());
        let found = match super::insights::check_url(&command.ai_url) {
            Ok(base) => super::insights::decisions(&base, app, &token, window).await,
            Err(error) => Err(error),
        };
        match found {
            Ok(rows) => {
                gate.decisions
                    .extend(rows.into_iter().map(|(correlation_id, line)| Decision {
                        correlation_id,
                        line,
                    }));
                gate.sources.push("Application Insights".to_owned());
            }
            Err(error) => checks.push(Check::fail(
                INSIGHTS,
                error,
                "check --ai-app-id (API Access, Application ID) and the token's access to the resource",
            )),
        }
    }
    Some(gate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_lines_are_read_by_their_correlation_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.txt");
        std::fs::write(
            &path,
            "2026-05-01T10:00:00Z [Information] decision function=OnAttributeCollectionStart outcome=showBlockPage reason=not_invited email=bob@contoso.com language=en entra_correlation_id=ABC-1 correlation_id=inv-1\n\
             decision function=SignUpValidation outcome=Continue reason=invitation email=a***@contoso.com correlation_id=inv-2\n\
             something else\n",
        )
        .unwrap();
        let found = decisions(&path).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].correlation_id, "abc-1");
        assert_eq!(
            found[0].line,
            "decision function=OnAttributeCollectionStart outcome=showBlockPage reason=not_invited email=b***@contoso.com language=en entra_correlation_id=ABC-1 correlation_id=inv-1"
        );
        assert!(decisions(&dir.path().join("missing")).is_err());
    }
}
