//! Every setting, described once: its name, what it means, its default, the values it takes,
//! and where it belongs. The settings are read through these descriptions ([`Setting::read`] and
//! friends), the start-up report and `handler doctor` show the defaults in force from them, a name
//! close to one of them is reported as a likely typo, and docs/settings.md is checked against
//! them. The per-application settings are described in [`crate::policy::settings`] and take
//! their place here.

use crate::policy::settings::POLICY_SETTINGS;
use crate::setting::Environment;
#[cfg(test)]
use crate::setting::Section;
use crate::setting::settings;
pub(crate) use crate::setting::{Kind, Setting};

settings! {
    GENERAL;
    POLICY_FILE: SignUp, Kind::Text, None,
        "a TOML file of per-application rules and messages, relative to the function app root, reloaded when it \
         changes; a missing, empty or bad file stops start-up ([policy.md](policy.md))",
        "none: these settings apply to every application";
    DISPOSABLE_DOMAINS_FILE: SignUp, Kind::Text, None,
        "a text file of the site's own disposable domains, relative to the function app root, read at start-up: \
         one domain a line (its subdomains too), `!domain` for an exception to the shipped list, `#` for a \
         comment; a missing or bad file stops start-up naming the line. `BLOCK_DISPOSABLE_DOMAINS` switches the \
         refusal on ([policy.md](policy.md#disposable-domains-and-sub-addresses))",
        "none: the shipped list alone";
    ORGANIZATION_NAME: Wording, Kind::Wording, None,
        "named in user-facing messages; `ORGANIZATION_NAME_<LANGUAGE>` gives it in one language \
         (`ORGANIZATION_NAME_DE=Stadt Wien`, [languages.md](languages.md#your-own-wording))",
        "`Contoso`";
    BLOCK_PAGE_TITLE: Wording, Kind::Wording, None,
        "title of the Entra block page, shown as written in every language; `BLOCK_PAGE_TITLE_<LANGUAGE>` for \
         one language (`BLOCK_PAGE_TITLE_PT_BR`)",
        "`Invitation required`, in the user's language";
    BLOCK_PAGE_MESSAGE: Wording, Kind::Wording, None,
        "message of the Entra block page, likewise with `BLOCK_PAGE_MESSAGE_<LANGUAGE>`",
        "`Sign-up for <ORGANIZATION_NAME> is by invitation only. Please ask your contact at \
         <ORGANIZATION_NAME> to invite you.`, in the user's language";
    DECISION_DEADLINE_MS: Invitations, Kind::Whole(1..=10_000, "milliseconds"), Some("700"),
        "how long a decision may wait for the invitation store, 1 to 10000",
        "`700` (inside Entra's 1000 ms budget)";
    API_CONNECTOR_AUTH: Callers, Kind::Choice(&["basic", "none"]), Some("basic"),
        "how the API connector (`SignUpValidation`) is called: `basic` or `none`; `none` is refused in Azure \
         (`WEBSITE_SITE_NAME` set)",
        "`basic`";
    BASIC_AUTH_USERNAME: Callers, Kind::Text, None,
        "the user name the API connector sends",
        "none: with `basic` every call is refused with 401 (and an error is logged at start-up) until both are set";
    BASIC_AUTH_PASSWORD: Callers, Kind::Secret, None,
        "the password the API connector sends (16 characters or more)",
        "none (see above)";
    AUTH_EVENTS_TOKEN_VALIDATION: Callers, Kind::Choice(&["jwt", "easyauth", "none"]), Some("jwt"),
        "caller check of the Entra functions: `jwt` (validate the bearer token here), `easyauth` (trust App \
         Service authentication; needs `WEBSITE_AUTH_ENABLED=True`), `none` (no check; refused in Azure, warned \
         about on every start)",
        "`jwt`";
    AUTH_EVENTS_TENANT_ID: Callers, Kind::Guid, None,
        "the external tenant's id (GUID); without it (or the client id) the Entra functions refuse every call \
         with 401, the rest runs",
        "none";
    AUTH_EVENTS_CLIENT_ID: Callers, Kind::Guid, None,
        "the application (client) id of the custom authentication extension's app registration (GUID)",
        "none";
    AUTH_EVENTS_AUTHORITY: Callers, Kind::Text, None,
        "where the signing keys are found (`<authority>/.well-known/openid-configuration` → `jwks_uri`); https, \
         or http for loopback hosts only, no user name or password",
        "`https://<tenant id>.ciamlogin.com/<tenant id>/v2.0`";
    AUTH_EVENTS_KEY_REFRESH_HOURS: Callers, Kind::Whole(1..=168, "hours"), Some("24"),
        "how often the key set is refreshed when nothing forces it, 1 to 168",
        "`24`";
    WEBSITE_AUTH_ENABLED: Callers, Kind::Flag, None,
        "set by App Service when its authentication (Easy Auth) is on; `easyauth` needs it",
        "unset";
    REQUEST_READ_TIMEOUT_MS: Connections, Kind::Whole(100..=120_000, "milliseconds"), Some("10000"),
        "how long a request's body may take to arrive once its head has (a late body gets 408), 100 to 120000",
        "`10000`";
    CONNECTION_IDLE_TIMEOUT_MS: Connections, Kind::Whole(100..=3_600_000, "milliseconds"), Some("130000"),
        "how long a connection may stay idle or take to send a request head before it is closed, 100 to \
         3600000; longer than the host keeps idle connections in its pool, so the handler never closes one the \
         host is about to reuse",
        "`130000`";
    MAX_CONNECTIONS: Connections, Kind::Whole(1..=100_000, "connections"), Some("1024"),
        "connections served at once, 1 to 100000; further ones wait in the listen queue (4096 long) until one \
         closes. A connection that has not sent its first byte costs about 1.5 KB",
        "`1024`";
    RUST_LOG: Telemetry, Kind::Text, None,
        "log filter of the server (`info`, `debug`, `signup_gate=debug,warn`, ...); a `handler` command \
         (`invitations`, `doctor`) logs only warnings and errors unless its own environment sets it",
        "`info`";
    APPLICATIONINSIGHTS_CONNECTION_STRING: Telemetry, Kind::Secret, None,
        "where decisions and metrics are sent (Azure sets it when Application Insights is enabled for the app); \
         a string Application Insights would refuse is logged and the handler runs without telemetry \
         ([telemetry.md](telemetry.md))",
        "none: nothing is sent";
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: Telemetry, Kind::Text, None,
        "how uploads to Application Insights authenticate: `Authorization=AAD` (the system-assigned managed \
         identity) or `Authorization=AAD;ClientId=<client id>` (a user-assigned one) sends each with the \
         identity's token for Azure Monitor, which a component with local authentication off requires (the \
         identity needs the Monitoring Metrics Publisher role on it)",
        "unset: the instrumentation key alone";
    IDENTITY_ENDPOINT: Platform, Kind::Text, None,
        "set by the platform where the app has a managed identity: where its tokens are fetched (the table, \
         Entra-authenticated telemetry)",
        "unset: no managed identity";
    IDENTITY_HEADER: Platform, Kind::Secret, None,
        "set by the platform with `IDENTITY_ENDPOINT`: the secret that proves a token request comes from the app",
        "unset";
    FUNCTIONS_CUSTOMHANDLER_PORT: Platform, Kind::Whole(0..=65_535, "port"), None,
        "set by the Functions host: the loopback port to listen on (0: one the system chooses, named on the \
         `listening on` line; the host never sends 0, a test harness may)",
        "unset: standalone";
    AzureFunctionsJobHost__customHandler__description__defaultExecutablePath: Platform, Kind::Text, None,
        "overrides `host.json`'s executable for a local run: the `func: host start` task of `.vscode/tasks.json` \
         sets it in that run's environment (to `target/release/handler`) so that the root `handler` stays the \
         build for Azure. Never in `local.settings.json` (publishing with `--publish-local-settings` or VS Code's \
         Upload settings would copy it to Azure, where that path does not exist) and never in Azure: `handler \
         doctor` fails on either",
        "unset: `handler`, as `host.json` says";
    WEBSITE_SITE_NAME: Platform, Kind::Text, None,
        "set by the platform in Azure only: the function app's name; some local conveniences are refused \
         where it is set",
        "unset: not in Azure";
}

/// Every setting but the per-application ones ([`POLICY_SETTINGS`]): the general ones, then
/// those of the invitation stores.
pub(crate) fn all() -> impl Iterator<Item = &'static Setting> {
    GENERAL
        .iter()
        .chain(
            crate::invitations::SETTINGS
                .iter()
                .flat_map(|list| list.iter()),
        )
        .copied()
}

/// Names of the platform's and the host's own settings (or prefixes of them), which are not
/// ours and never a typo of ours.
const FOREIGN: &[&str] = &[
    "WEBSITE_",
    "FUNCTIONS_",
    "AzureWebJobs",
    "AzureFunctionsJobHost",
    "APPSETTING_",
    "APPINSIGHTS_",
    "IDENTITY_",
    "MSI_",
    "CONTAINER_",
    "DOTNET_",
    "ASPNETCORE_",
    "SCM_",
    "ENABLE_ORYX",
    "HOME",
    "PATH",
];

/// Prefixes only this product's settings use: a name with one of them that is not a setting
/// is a mistake.
const OURS: &[&str] = &[
    "ALLOWED_",
    "BLOCKED_",
    "BLOCK_",
    "DISPOSABLE_",
    "BASIC_AUTH_",
    "AUTH_EVENTS_",
    "API_CONNECTOR_",
    "INVITATION_",
    "INVITATIONS_",
    "ORGANIZATION_",
    "DECISION_",
    "POLICY_",
    "REQUIRE_JOB",
    "MIN_JOB",
    "SIGNUP_GATE_",
];

/// Whether `name` is a setting of ours (by its name, a per-application setting's, or a
/// wording's language variant).
pub(crate) fn known(name: &str) -> bool {
    all().any(|setting| {
        setting.name.eq_ignore_ascii_case(name)
            || (setting.kind == Kind::Wording
                && name.len() > setting.name.len() + 1
                && name[..setting.name.len()].eq_ignore_ascii_case(setting.name)
                && name.as_bytes()[setting.name.len()] == b'_')
    }) || POLICY_SETTINGS
        .iter()
        .any(|setting| setting.env.eq_ignore_ascii_case(name))
}

/// Every name a setting can be known by.
fn names() -> impl Iterator<Item = &'static str> {
    all()
        .map(|setting| setting.name)
        .chain(POLICY_SETTINGS.iter().map(|setting| setting.env))
}

/// Names in the environment that look like a setting of ours but are none (a typo, most
/// likely): each with the setting it is closest to, if one is close. Such a name is ignored,
/// and the setting it was meant for keeps its default.
pub(crate) fn unknown(env: &Environment) -> Vec<(String, Option<&'static str>)> {
    let mut found = Vec::new();
    for name in env.names() {
        if known(name)
            || FOREIGN
                .iter()
                .any(|prefix| starts_with_ignoring_case(name, prefix))
        {
            continue;
        }
        let closest = names()
            .map(|known| {
                (
                    distance(&name.to_ascii_uppercase(), &known.to_ascii_uppercase()),
                    known,
                )
            })
            .min_by_key(|(distance, _)| *distance)
            .filter(|(distance, known)| *distance <= 2.max(known.len() / 8))
            .map(|(_, known)| known);
        let ours = OURS
            .iter()
            .any(|prefix| starts_with_ignoring_case(name, prefix));
        if closest.is_some() || ours {
            found.push((name.to_owned(), closest));
        }
    }
    found
}

fn starts_with_ignoring_case(name: &str, prefix: &str) -> bool {
    name.get(..prefix.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
}

/// Levenshtein distance (names are short ASCII).
fn distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, &x) in a.iter().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, &y) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(x != y);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

/// A line of the report on an unknown setting.
pub(crate) fn describe_unknown(name: &str, closest: Option<&str>) -> String {
    match closest {
        Some(closest) => format!(
            "{name} is not a setting (did you mean {closest}?): it is ignored, and {closest} keeps its value or default"
        ),
        None => format!("{name} is not a setting of this handler: it is ignored"),
    }
}

/// The settings' tables of docs/settings.md, one per section.
#[cfg(test)]
pub(crate) fn markdown() -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let row = |out: &mut String, name: &str, meaning: &str, default: &str| {
        let _ = writeln!(out, "| `{name}` | {meaning} | {default} |");
    };
    for section in Section::ALL {
        let _ = writeln!(out, "### {}\n", section.title());
        out.push_str("| setting | meaning | default |\n|---|---|---|\n");
        if section == Section::SignUp {
            for setting in POLICY_SETTINGS {
                per_application_row(&mut out, setting, &row);
            }
        }
        for setting in all().filter(|setting| setting.section == section) {
            row(&mut out, setting.name, setting.meaning, setting.default);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
fn per_application_row(
    out: &mut String,
    setting: &crate::policy::settings::PolicySetting,
    row: &impl Fn(&mut String, &str, &str, &str),
) {
    let meaning = format!(
        "{}; per application: `{}` in the policy file",
        setting.meaning, setting.key
    );
    row(out, setting.env, &meaning, setting.default);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Environment {
        Environment::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn misspelt_settings_are_found_with_what_was_meant() {
        let found = unknown(&env(&[
            ("ALLOWED_EMAIL_DOMAIN", "contoso.com"),
            ("BASIC_AUTH_PASWORD", "x"),
            ("INVITATIONS_TABLES", "x"),
            ("AUTH_EVENTS_SOMETHING", "x"),
            ("ALLOWED_EMAIL_DOMAINS", "contoso.com"),
            ("ORGANIZATION_NAME_DE", "Contoso"),
            ("WEBSITE_SITE_NAME", "gate"),
            ("AzureWebJobsStorage__accountName", "x"),
            ("PATH", "/usr/bin"),
            ("LANG", "C.UTF-8"),
            ("TERM", "xterm"),
        ]));
        assert_eq!(
            found,
            vec![
                (
                    "ALLOWED_EMAIL_DOMAIN".to_owned(),
                    Some("ALLOWED_EMAIL_DOMAINS")
                ),
                ("AUTH_EVENTS_SOMETHING".to_owned(), None),
                ("BASIC_AUTH_PASWORD".to_owned(), Some("BASIC_AUTH_PASSWORD")),
                ("INVITATIONS_TABLES".to_owned(), Some("INVITATIONS_TABLE")),
            ]
        );
    }

    /// The default a setting is documented with is the one in force.
    #[test]
    fn every_fallback_is_the_documented_default() {
        for setting in all() {
            if let Some(fallback) = setting.fallback {
                assert!(
                    setting.default.contains(&format!("`{fallback}`")),
                    "{}: {} does not say `{fallback}`",
                    setting.name,
                    setting.default
                );
            }
        }
    }

    #[test]
    fn names_are_unique() {
        let names: Vec<String> = names().map(str::to_ascii_uppercase).collect();
        for (index, name) in names.iter().enumerate() {
            assert!(!names[..index].contains(name), "{name}");
        }
    }

    /// docs/settings.md lists every setting with its meaning and default, as described here.
    /// With SIGNUP_GATE_WRITE_DOCS=1 this test writes the tables into the page instead.
    #[test]
    fn the_settings_page_lists_every_setting_as_described() {
        const BEGIN: &str = "<!-- settings: begin (written from src/config/catalog.rs) -->\n";
        const END: &str = "<!-- settings: end -->";
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/settings.md");
        let page = std::fs::read_to_string(path).unwrap();
        let start = page
            .find(BEGIN)
            .expect("docs/settings.md has the begin marker")
            + BEGIN.len();
        let end = page.find(END).expect("docs/settings.md has the end marker");
        let expected = markdown();
        if page[start..end] != expected {
            if std::env::var_os("SIGNUP_GATE_WRITE_DOCS").is_some() {
                let written = format!("{}{expected}{}", &page[..start], &page[end..]);
                std::fs::write(path, written).unwrap();
            } else {
                panic!(
                    "docs/settings.md does not list the settings as src/config/catalog.rs describes them; \
                     run `SIGNUP_GATE_WRITE_DOCS=1 cargo test --lib settings_page` to write them:\n{expected}"
                );
            }
        }
    }
}
