#!/usr/bin/env python3
"""Offline checks of the deployment assets: infra/azuredeploy.json (the Deploy-to-Azure template),
infra/azuredeploy.parameters.json and .github/workflows/*.yml.

1. The template deploys what the handler needs on Flex Consumption: the custom handler runtime on
   FC1; every setting the handler reads (the settings tables of docs/settings.md and
   docs/invitations.md) set as an app setting, or named below with the reason its default is
   right in Azure; the storage account without key access; the managed identity's roles at their
   scopes; no setting or site property Flex Consumption has deprecated; secrets only in
   secureString parameters; the code deployment conditional; the README's button pointing at
   the release the template deploys.
2. The template and each resource against Microsoft's ARM schemas in tests/infra/arm-schemas
   (every $ref answered locally), and the parameters file against its schema.
3. The workflows against GitHub's workflow schema (check-jsonschema's built-in copy).
4. A self-test: each rule is run against a copy of the template broken on purpose and must
   complain, so no rule here can pass whatever the template says.

Run by scripts/check-infra.sh (part of `bash scripts/test.sh`), which installs the pinned
validators into .tools/venv. Exit status 0 when everything holds, 1 with one line per problem.
"""

import copy
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.parse

import jsonschema
import referencing
import referencing.exceptions
from referencing.jsonschema import DRAFT4

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEMPLATE = "infra/azuredeploy.json"
PARAMETERS = "infra/azuredeploy.parameters.json"
WORKFLOWS = ".github/workflows"
SCHEMA_DIR = os.path.join(ROOT, "tests", "infra", "arm-schemas")
SCHEMA_BASE = "https://schema.management.azure.com/schemas/"
TEMPLATE_SCHEMA = SCHEMA_BASE + "2019-04-01/deploymentTemplate.json#"
PARAMETERS_SCHEMA = SCHEMA_BASE + "2019-04-01/deploymentParameters.json#"
SETTINGS_DOCS = ("docs/settings.md", "docs/invitations.md")

# Built-in roles the app's identity needs, and the resource type each is granted on.
ROLES = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": (
        "Storage Blob Data Owner", "Microsoft.Storage/storageAccounts"),
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": (
        "Storage Queue Data Contributor", "Microsoft.Storage/storageAccounts"),
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": (
        "Storage Table Data Contributor", "Microsoft.Storage/storageAccounts"),
    "3913510d-42f4-4e42-8a64-420c390055eb": (
        "Monitoring Metrics Publisher", "Microsoft.Insights/components"),
}

# https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations
DEPRECATED_SETTINGS = {
    "FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_WORKER_RUNTIME_VERSION", "FUNCTIONS_EXTENSION_VERSION",
    "FUNCTIONS_MAX_HTTP_CONCURRENCY", "FUNCTIONS_WORKER_PROCESS_COUNT",
    "FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED", "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING", "WEBSITE_CONTENTSHARE", "WEBSITE_CONTENTOVERVNET",
    "WEBSITE_SKIP_CONTENTSHARE_VALIDATION", "WEBSITE_DNS_SERVER",
    "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT", "WEBSITE_NODE_DEFAULT_VERSION",
    "WEBSITE_VNET_ROUTE_ALL", "SCM_DO_BUILD_DURING_DEPLOYMENT", "ENABLE_ORYX_BUILD",
}
DEPRECATED_SITE_PROPERTIES = {
    "alwaysOn", "containerSize", "dnsConfiguration", "ftpsState", "isReserved", "IsXenon",
    "javaVersion", "linuxFxVersion", "netFrameworkVersion", "powerShellVersion",
    "functionAppScaleLimit", "preWarmedInstanceCount", "use32BitWorkerProcess",
    "vnetBackupRestoreEnabled", "vnetContentShareEnabled", "vnetImagePullEnabled",
    "vnetRouteAllEnabled", "windowsFxVersion",
}

# Settings the handler reads that the template leaves unset, and why the default is right in
# Azure. A setting the docs no longer list must leave this list too.
LEFT_AT_DEFAULT = {
    "API_CONNECTOR_AUTH": "basic is the default and the only mode the handler accepts in Azure",
    "BLOCKED_EMAIL_DOMAINS": "an optional deny-list; unset refuses no domain that ALLOWED_EMAIL_DOMAINS admits",
    "BLOCKED_LOCAL_PARTS": "an optional deny-list; unset refuses no local part",
    "BLOCK_DISPOSABLE_DOMAINS": "an optional deny-list switch; off refuses no disposable provider",
    "BLOCK_SUBADDRESSES": "an optional deny-list switch; off refuses no + sub-address",
    "DISPOSABLE_DOMAINS_FILE": "the release package holds no site list; unset, the shipped list alone applies",
    "INVITATION_CODE_ATTRIBUTE": "codes are opt-in: set it once the user flow collects a code attribute",
    "INVITATION_DEFAULT_DAYS": "unset, an invitation added without --days does not expire, as before codes",
    "INVITATION_SINGLE_USE": "unset, an invitation admits its address until revoked, as before codes",
    "WAITLIST": "opt-in; the template's table store can hold requests once it is turned on",
    "WAITLIST_MAX": "the documented cap (10,000 open requests per application) applies",
    "WAITLIST_MAX_PER_DOMAIN": "the documented cap (100 per domain) applies",
    "WAITLIST_RETENTION_DAYS": "the documented retention (90 days) applies",
    "WAITLIST_DENY_DAYS": "the documented time a denial is kept (30 days) applies",
    "INVITATION_REQUESTS_TABLE": "the default table (InvitationRequests) sits beside the invitations' table, "
                                 "which the app's identity may already write",
    "POLICY_FILE": "the release package holds no policy file; unset, these settings apply to every application",
    "MIN_JOB_TITLE_LENGTH": "the documented default (4) applies",
    "REQUIRE_JOB_TITLE": "a Job Title stays optional unless the user flow collects it",
    "INVITATIONS_FILE": "read only with INVITATION_STORE=file, where invitations.csv is the file a package carries",
    "DECISION_DEADLINE_MS": "the default (700 ms) leaves room inside Entra's default 1000 ms timeout",
    "BLOCK_PAGE_TITLE": "the default title is given in the user's language",
    "BLOCK_PAGE_MESSAGE": "the default message names ORGANIZATION_NAME, in the user's language",
    "AUTH_EVENTS_TOKEN_VALIDATION": "jwt checks Entra's token in the handler; easyauth needs App Service "
                                    "authentication, which the template does not set up; none is refused in Azure",
    "AUTH_EVENTS_AUTHORITY": "derived from AUTH_EVENTS_TENANT_ID (https://<tenant>.ciamlogin.com/<tenant>/v2.0)",
    "AUTH_EVENTS_KEY_REFRESH_HOURS": "the default refresh of the tenant's keys applies",
    "REQUEST_READ_TIMEOUT_MS": "the default applies; the Functions host is the only client",
    "CONNECTION_IDLE_TIMEOUT_MS": "the default is chosen to outlast the host's idle connections",
    "MAX_CONNECTIONS": "the default applies; the Functions host is the only client",
    "RUST_LOG": "info: one decision line per call, which the host records",
    "WEBSITE_AUTH_ENABLED": "the platform sets it when App Service authentication is on; the "
                            "template does not turn that on (the handler checks Entra's token itself)",
    "AzureWebJobsStorage__tableServiceUri": "INVITATIONS_TABLE_ENDPOINT names the table endpoint",
    "WEBSITE_SITE_NAME": "the platform sets it to the function app's name in Azure",
    "IDENTITY_ENDPOINT": "the platform sets it for the app's managed identity",
    "IDENTITY_HEADER": "the platform sets it with IDENTITY_ENDPOINT",
}

# Settings that must never be app settings, and why.
NEVER_SET = {
    "FUNCTIONS_CUSTOMHANDLER_PORT": "the Functions host sets it each time it starts the handler",
    "AzureFunctionsJobHost__customHandler__description__defaultExecutablePath":
        "a local-run override of host.json's executable; in Azure the packaged ./handler must run",
    "INVITATIONS_TABLE_CONNECTION": "a connection string authenticates with an account key, and the "
                                    "account has key access off; INVITATIONS_TABLE_ENDPOINT and the "
                                    "managed identity are used instead",
    "AzureWebJobsStorage": "a connection string authenticates with an account key, and the account "
                           "has key access off; the host uses AzureWebJobsStorage__accountName",
}

# App settings for the platform (the Functions host, Application Insights' ingestion) that the
# handler's settings tables need not list.
PLATFORM_SETTINGS = {
    "AzureWebJobsStorage__accountName": "the host's storage, reached with the managed identity",
    "AzureWebJobsStorage__credential": "managedidentity: the host authenticates with the identity",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "Entra-authenticated ingestion with the user-assigned identity",
}

SECRET_NAME = re.compile(r"password|secret|key|token|connectionstring", re.IGNORECASE)
SETTING_NAME = re.compile(r"`([A-Z][A-Z0-9_]*|AzureWebJobsStorage\w*|AzureFunctionsJobHost\w*)`")
BUTTON = re.compile(r"\]\(https://portal\.azure\.com/#create/Microsoft\.Template/uri/([^)\s]+)\)")


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def is_expression(value):
    return isinstance(value, str) and value.startswith("[") and not value.startswith("[[") \
        and value.endswith("]")


# ------------------------------------------------------------------ what the handler reads

def documented_settings():
    """{name: "file:line"} for each setting in the first column of a settings table (a table whose
    first header cell is `variable` or `setting`) of docs/settings.md and docs/invitations.md."""
    found = {}
    for doc in SETTINGS_DOCS:
        header = None
        for number, line in enumerate(read(doc).splitlines(), 1):
            if not line.startswith("|"):
                header = None
                continue
            first = line.split("|")[1].strip()
            if header is None:
                header = first.lower()
                continue
            if header not in ("variable", "setting") or set(first) <= set("-: "):
                continue
            for match in SETTING_NAME.finditer(first):
                found.setdefault(match.group(1), f"{doc}:{number}")
    return found


# ------------------------------------------------------------------ the template's meaning

class Template:
    """Read access to a parsed template, with variables inlined into expressions as text so
    that a rule can ask what a value refers to."""

    def __init__(self, doc):
        self.doc = doc
        self.resources = [r for r in doc.get("resources") or [] if isinstance(r, dict)]
        self.parameters = doc.get("parameters") or {}
        self.variables = doc.get("variables") or {}

    def of_type(self, rtype):
        return [r for r in self.resources if str(r.get("type", "")).lower() == rtype.lower()]

    def inline(self, value, depth=0):
        """The expression text of a value with every variables('x') replaced by x's own text."""
        if not isinstance(value, str):
            return json.dumps(value)
        text = value[1:-1] if is_expression(value) else "'" + value + "'"
        if depth > 10:
            return text

        def variable(match):
            name = match.group(1)
            for key, val in self.variables.items():
                if key.lower() == name.lower():
                    return self.inline(val, depth + 1)
            return match.group(0)

        return re.sub(r"variables\('([^']+)'\)", variable, text)

    def parameter(self, name):
        for key, val in self.parameters.items():
            if key.lower() == name.lower() and isinstance(val, dict):
                return val
        return None


def app_settings(site):
    return ((site.get("properties") or {}).get("siteConfig") or {}).get("appSettings")


def walk_keys(node, path=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, f"{path}.{key}"
            yield from walk_keys(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk_keys(value, f"{path}[{i}]")


def check_meaning(doc, documented, readme):
    """Problems with what the template deploys, one string each."""
    problems = []
    t = Template(doc)

    def one(rtype):
        found = t.of_type(rtype)
        if len(found) != 1:
            problems.append(f"expected exactly one {rtype} resource, found {len(found)}")
            return {}
        return found[0]

    plan = one("Microsoft.Web/serverfarms")
    site = one("Microsoft.Web/sites")
    storage = one("Microsoft.Storage/storageAccounts")
    identity = one("Microsoft.ManagedIdentity/userAssignedIdentities")
    insights = one("Microsoft.Insights/components")
    one("Microsoft.OperationalInsights/workspaces")
    one("Microsoft.Storage/storageAccounts/blobServices/containers")
    table = one("Microsoft.Storage/storageAccounts/tableServices/tables")

    # The plan and the runtime.
    sku = plan.get("sku") or {}
    if (sku.get("name"), sku.get("tier")) != ("FC1", "FlexConsumption"):
        problems.append(f"the plan's sku must be FC1 / FlexConsumption, is {sku.get('name')} / {sku.get('tier')}")
    if (plan.get("properties") or {}).get("reserved") is not True:
        problems.append("the plan must be Linux (properties.reserved: true)")
    props = site.get("properties") or {}
    config = props.get("functionAppConfig") or {}
    runtime = config.get("runtime")
    if runtime != {"name": "custom", "version": "1.0"}:
        problems.append(f"functionAppConfig.runtime must be {{name: custom, version: \"1.0\"}}, is {json.dumps(runtime)}")
    if site.get("kind") != "functionapp,linux":
        problems.append(f"the site's kind must be functionapp,linux, is {site.get('kind')!r}")
    if props.get("httpsOnly") is not True:
        problems.append("the site must set httpsOnly: true")
    ident = site.get("identity") or {}
    if "userassigned" not in str(ident.get("type", "")).lower() or not ident.get("userAssignedIdentities"):
        problems.append("the site must run with the user-assigned identity")
    auth = (((config.get("deployment") or {}).get("storage") or {}).get("authentication") or {})
    if auth.get("type") != "UserAssignedIdentity":
        problems.append("the deployment container must be read with the user-assigned identity "
                        f"(functionAppConfig.deployment.storage.authentication.type), is {auth.get('type')!r}")
    scale = config.get("scaleAndConcurrency") or {}
    always = t.parameter("alwaysReady") or {}
    if scale.get("alwaysReady") != "[parameters('alwaysReady')]" \
            or always.get("defaultValue") != [{"name": "http", "instanceCount": 1}]:
        problems.append("alwaysReady must come from the parameter alwaysReady, whose default is one "
                        "'http' instance (a cold start may not fit in Entra's default 1000 ms timeout)")

    # Deprecated on Flex Consumption.
    for resource in t.resources:
        if not str(resource.get("type", "")).lower().startswith("microsoft.web/sites"):
            continue
        for key, path in walk_keys(resource.get("properties") or {}, "properties"):
            if key.lower() in {p.lower() for p in DEPRECATED_SITE_PROPERTIES}:
                problems.append(f"{resource.get('type')} {path}: deprecated on Flex Consumption, remove it")
        if str(resource.get("type")).lower() == "microsoft.web/sites/config" \
                and "appsettings" in str(resource.get("name", "")).lower():
            problems.append("a sites/config appsettings resource replaces every app setting; "
                            "keep them in the site's siteConfig.appSettings")

    # App settings.
    settings = app_settings(site)
    if not isinstance(settings, list) or not all(
            isinstance(s, dict) and isinstance(s.get("name"), str) for s in settings):
        problems.append("siteConfig.appSettings must be a literal list of {name, value} "
                        "(so that every setting is always set)")
        settings = []
    values = {}
    for s in settings:
        if s["name"] in values:
            problems.append(f"app setting {s['name']} is set twice")
        values[s["name"]] = s.get("value")
    lower = {name.lower(): name for name in values}
    for name in sorted(values):
        if name.upper() in DEPRECATED_SETTINGS:
            problems.append(f"app setting {name} is deprecated on Flex Consumption, remove it")
    for name, why in NEVER_SET.items():
        if name.lower() in lower:
            problems.append(f"app setting {lower[name.lower()]} must not be set in Azure: {why}")
    for name in lower:
        if name.startswith("azurefunctionsjobhost__customhandler") and name not in {n.lower() for n in NEVER_SET}:
            problems.append(f"app setting {lower[name]} overrides host.json's custom handler, "
                            "which must run as packaged")
    for name, where in sorted(documented.items()):
        if name in values or name in NEVER_SET:
            continue
        if name not in LEFT_AT_DEFAULT:
            problems.append(f"{name} ({where}) is read by the handler but is neither an app setting "
                            "nor in tests/infra/check_template.py's LEFT_AT_DEFAULT with the reason "
                            "its default is right in Azure")
    for name in sorted(LEFT_AT_DEFAULT):
        if name in values:
            problems.append(f"{name} is an app setting but also listed in LEFT_AT_DEFAULT: drop one")
        elif name not in documented:
            problems.append(f"{name} is in LEFT_AT_DEFAULT but no settings table of "
                            f"{' or '.join(SETTINGS_DOCS)} lists it any more: drop it")
    for name in sorted(values):
        if name not in documented and name not in PLATFORM_SETTINGS and name not in NEVER_SET \
                and name.upper() not in DEPRECATED_SETTINGS:
            problems.append(f"app setting {name} is not a setting the docs list (misspelled?) "
                            "nor one of the platform's (PLATFORM_SETTINGS)")

    def setting(name, *needles, literal=None):
        if name not in values:
            problems.append(f"app setting {name} must be set")
            return
        if literal is not None:
            if values[name] != literal:
                problems.append(f"app setting {name} must be {literal!r}, is {values[name]!r}")
            return
        text = t.inline(values[name])
        for needle in needles:
            if needle not in text:
                problems.append(f"app setting {name} must refer to {needle} (is {values[name]!r})")

    identity_type = "Microsoft.ManagedIdentity/userAssignedIdentities"
    setting("AzureWebJobsStorage__accountName", t.inline(storage.get("name")))
    setting("AzureWebJobsStorage__credential", literal="managedidentity")
    setting("AzureWebJobsStorage__clientId", identity_type, ".clientId")
    setting("APPLICATIONINSIGHTS_CONNECTION_STRING", "Microsoft.Insights/components", ".ConnectionString")
    setting("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", "ClientId=", "Authorization=AAD", identity_type, ".clientId")
    setting("INVITATIONS_TABLE_ENDPOINT", "Microsoft.Storage/storageAccounts", ".primaryEndpoints.table")
    setting("AUTH_EVENTS_TENANT_ID", "parameters(")
    setting("AUTH_EVENTS_CLIENT_ID", "parameters(")
    setting("ORGANIZATION_NAME", "parameters(")
    setting("BASIC_AUTH_USERNAME", "parameters(")
    setting("BASIC_AUTH_PASSWORD", "parameters(")
    setting("INVITATION_STORE", "parameters('invitationStore')")
    setting("ALLOWED_EMAIL_DOMAINS", "parameters('allowedEmailDomains')")
    table_name = t.inline(table.get("name"))
    if "INVITATIONS_TABLE" in values and t.inline(values["INVITATIONS_TABLE"]) not in table_name:
        problems.append("INVITATIONS_TABLE must name the table the template creates")
    if "'Invitations'" not in table_name:
        problems.append("the template must create the table Invitations")

    domains = t.parameter("allowedEmailDomains") or {}
    if domains.get("defaultValue") != "none" or not domains.get("minLength"):
        problems.append("parameter allowedEmailDomains must default to 'none' (invitation only) and "
                        "refuse an empty value (minLength): an app without ALLOWED_EMAIL_DOMAINS "
                        "would admit the handler's example domains")
    store = t.parameter("invitationStore") or {}
    if store.get("defaultValue") != "table" or set(store.get("allowedValues") or []) != {"table", "file"}:
        problems.append("parameter invitationStore must default to 'table' and allow table and file")

    # Secrets.
    for name, decl in t.parameters.items():
        kind = str((decl or {}).get("type", "")).lower()
        if SECRET_NAME.search(name) and kind != "securestring":
            problems.append(f"parameter {name} holds a secret and must be of type secureString, is {decl.get('type')!r}")
        if kind in ("securestring", "secureobject") and decl.get("defaultValue") not in (None, "", {}):
            problems.append(f"parameter {name} must not carry a default secret")
    password = values.get("BASIC_AUTH_PASSWORD")
    match = re.fullmatch(r"\[parameters\('([^']+)'\)\]", password or "")
    if match and str((t.parameter(match.group(1)) or {}).get("type", "")).lower() != "securestring":
        problems.append("BASIC_AUTH_PASSWORD must come from a secureString parameter")

    # Storage without keys.
    sprops = storage.get("properties") or {}
    if sprops.get("allowSharedKeyAccess") is not False:
        problems.append("the storage account must set allowSharedKeyAccess: false (identity-based access only)")
    if sprops.get("allowBlobPublicAccess") is not False:
        problems.append("the storage account must set allowBlobPublicAccess: false")

    # Application Insights.
    disable = t.parameter("disableLocalAuth") or {}
    if (insights.get("properties") or {}).get("DisableLocalAuth") != "[parameters('disableLocalAuth')]" \
            or str(disable.get("type")).lower() != "bool" or disable.get("defaultValue") is not True:
        problems.append("Application Insights' DisableLocalAuth must come from the bool parameter "
                        "disableLocalAuth, default true")

    # Roles of the identity, at their scopes, before the site starts.
    assignments = t.of_type("Microsoft.Authorization/roleAssignments")
    identity_name = t.inline(identity.get("name"))
    site_depends = [t.inline(d) for d in site.get("dependsOn") or []]
    for role_id, (role, scope_type) in ROLES.items():
        granted = [a for a in assignments
                   if role_id in t.inline((a.get("properties") or {}).get("roleDefinitionId"))]
        if len(granted) != 1:
            problems.append(f"role {role} ({role_id}) must be assigned exactly once, is {len(granted)} times")
            continue
        a = granted[0]
        scope_resource = storage if scope_type.endswith("storageAccounts") else insights
        scope = t.inline(a.get("scope"))
        if scope_type not in scope or t.inline(scope_resource.get("name")) not in scope:
            problems.append(f"role {role} ({role_id}) must be scoped to the template's {scope_type}, is {a.get('scope')!r}")
        principal = t.inline((a.get("properties") or {}).get("principalId"))
        if identity_type not in principal or ".principalId" not in principal or identity_name not in principal:
            problems.append(f"role {role} ({role_id}) must go to the user-assigned identity's principalId")
        if (a.get("properties") or {}).get("principalType") != "ServicePrincipal":
            problems.append(f"role {role} ({role_id}) needs principalType ServicePrincipal")
        if not any(t.inline(a.get("name")) in d for d in site_depends):
            problems.append(f"the site must depend on the assignment of {role}, so that the first start has it")

    # The code: one deploy of the release package, only when a packageUri is given.
    deploys = [r for r in t.of_type("Microsoft.Web/sites/extensions")
               if re.search(r"/onedeploy(?:'|$)", str(r.get("name", "")), re.IGNORECASE)]
    if len(deploys) != 1:
        problems.append(f"expected one Microsoft.Web/sites/extensions 'onedeploy' resource, found {len(deploys)}")
    else:
        deploy = deploys[0]
        condition = str(deploy.get("condition", ""))
        if "parameters('packageUri')" not in condition or "empty(" not in condition:
            problems.append("the onedeploy resource must have a condition on a non-empty packageUri "
                            f"(is {condition!r})")
        if (deploy.get("properties") or {}).get("packageUri") != "[parameters('packageUri')]":
            problems.append("the onedeploy resource must deploy parameters('packageUri')")
    uri = str((t.parameter("packageUri") or {}).get("defaultValue", ""))
    for needle in ("parameters('repositoryOwner')", "parameters('repositoryName')",
                   "parameters('releaseTag')", "/releases/download/", "released-package.zip"):
        if needle not in uri:
            problems.append(f"packageUri's default must be the release asset built from repositoryOwner, "
                            f"repositoryName and releaseTag (missing {needle})")

    # The README's button deploys this template from the release it names.
    owner, repo, tag = (str((t.parameter(n) or {}).get("defaultValue", ""))
                        for n in ("repositoryOwner", "repositoryName", "releaseTag"))
    want = f"https://raw.githubusercontent.com/{owner}/{repo}/{tag}/infra/azuredeploy.json"
    buttons = [urllib.parse.unquote(m.group(1)) for m in BUTTON.finditer(readme)]
    if not buttons:
        problems.append("README.md has no Deploy to Azure button")
    for button in buttons:
        if button != want:
            problems.append(f"README.md's Deploy to Azure button opens {button}, but the template's "
                            f"defaults deploy the release at {want}")
    if not re.fullmatch(r"v\d+\.\d+\.\d+", tag):
        problems.append(f"parameter releaseTag must default to a release tag like v1.2.3, is {tag!r}")

    # Parameters and outputs.
    text = json.dumps(doc)
    used = {m.lower() for m in re.findall(r"parameters\('([^']+)'\)", text)}
    for name in t.parameters:
        if name.lower() not in used:
            problems.append(f"parameter {name} is declared but never used")
    declared = {name.lower() for name in t.parameters}
    for name in sorted(used - declared):
        problems.append(f"parameters('{name}') is used but not declared")
    for name in ("functionAppName", "functionAppUrl", "identityClientId"):
        if name not in (doc.get("outputs") or {}):
            problems.append(f"output {name} is missing")
    return problems


def check_parameters_file(doc, params):
    """The example parameters file names declared parameters with values of their type, and no
    secret."""
    problems = []
    t = Template(doc)
    kinds = {"string": str, "securestring": str, "int": int, "bool": bool, "array": list,
             "object": dict, "secureobject": dict}
    for name, entry in (params.get("parameters") or {}).items():
        decl = t.parameter(name)
        if decl is None:
            problems.append(f"{PARAMETERS}: the template declares no parameter {name}")
            continue
        kind = str(decl.get("type", "")).lower()
        value = (entry or {}).get("value")
        if kind in ("securestring", "secureobject") and value not in (None, "", {}):
            problems.append(f"{PARAMETERS}: {name} is a secret and must not be in the file")
        want = kinds.get(kind)
        if want and not (isinstance(value, want) and not (want is int and isinstance(value, bool))):
            problems.append(f"{PARAMETERS}: {name} must be of type {decl.get('type')}")
        elif "allowedValues" in decl and value not in decl["allowedValues"]:
            problems.append(f"{PARAMETERS}: {name} must be one of {decl['allowedValues']}")
    return problems


# ------------------------------------------------------------------ Microsoft's schemas

class Schemas:
    """Microsoft's ARM schemas from tests/infra/arm-schemas, with every $ref answered locally."""

    def __init__(self):
        self.cache = {}
        self.validators = {}
        self.registry = referencing.Registry(retrieve=self.retrieve)
        self.definitions = {}  # (type lower-case, apiVersion) -> $ref of its resource definition
        for path in sorted(glob.glob(os.path.join(SCHEMA_DIR, "*", "*.json"))):
            rel = os.path.relpath(path, SCHEMA_DIR).replace(os.sep, "/")
            for name, definition in (self.load(rel).get("resourceDefinitions") or {}).items():
                props = definition.get("properties") or {}
                types = (props.get("type") or {}).get("enum") or []
                versions = (props.get("apiVersion") or {}).get("enum") or []
                for rtype in types:
                    for version in versions:
                        self.definitions[(rtype.lower(), version)] = \
                            f"{SCHEMA_BASE}{rel}#/resourceDefinitions/{name}"

    def load(self, rel):
        if rel not in self.cache:
            path = os.path.join(SCHEMA_DIR, *rel.split("/"))
            if not os.path.isfile(path):
                raise referencing.exceptions.NoSuchResource(ref=SCHEMA_BASE + rel)
            with open(path, encoding="utf-8-sig") as f:
                self.cache[rel] = json.load(f)
        return self.cache[rel]

    def retrieve(self, uri):
        if not uri.startswith(SCHEMA_BASE):
            raise referencing.exceptions.NoSuchResource(ref=uri)
        return referencing.Resource.from_contents(
            self.load(uri[len(SCHEMA_BASE):].split("#")[0]), default_specification=DRAFT4)

    def errors(self, ref, instance, where):
        """Schema errors that remain once ARM expressions count as values of any type: ARM
        evaluates them at deployment, so a constraint on one cannot be checked here."""
        if ref not in self.validators:
            self.validators[ref] = jsonschema.Draft4Validator({"$ref": ref}, registry=self.registry)
        validator = self.validators[ref]
        found = []
        for error in validator.iter_errors(instance):
            for leaf in leaves(error):
                path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in leaf.absolute_path)
                message = leaf.message if len(leaf.message) < 300 else leaf.message[:300] + "..."
                line = f"{where}{path}: {message}"
                if line not in found:
                    found.append(line)
        return found


def leaves(error):
    if is_expression(error.instance):
        return []
    if error.validator in ("oneOf", "anyOf") and error.context:
        branches = {}
        for sub in error.context:
            branches.setdefault(sub.schema_path[0] if sub.schema_path else 0, []).append(sub)
        best = None
        for subs in branches.values():
            left = [leaf for sub in subs for leaf in leaves(sub)]
            if not left:
                return []  # one branch accepts the value once expressions are set aside
            if all(leaf.validator == "pattern" and is_expression_pattern(leaf) for leaf in left):
                continue  # the "it may be an expression" branch says nothing useful
            depth = max(len(leaf.absolute_path) for leaf in left)
            if best is None or depth > best[0]:
                best = (depth, left)
        return best[1] if best else [error]
    return [error]


def is_expression_pattern(error):
    return "\\[" in str(error.validator_value)


def check_schemas(doc, params, schemas):
    problems = []
    shell = copy.deepcopy(doc)
    shell["resources"] = []
    for decl in (shell.get("parameters") or {}).values():
        # ARM reads parameter types in any case; the schema lists one spelling.
        if isinstance(decl, dict) and str(decl.get("type")).lower() in ("securestring", "secureobject"):
            decl["type"] = {"securestring": "securestring", "secureobject": "secureObject"}[decl["type"].lower()]
    problems += [f"schema deploymentTemplate.json: {e}" for e in schemas.errors(TEMPLATE_SCHEMA, shell, "$")]
    base = TEMPLATE_SCHEMA + "/definitions/resourceBase"
    for i, resource in enumerate(doc.get("resources") or []):
        where = f"$.resources[{i}]"
        rtype, version = str(resource.get("type")), str(resource.get("apiVersion"))
        problems += [f"schema resourceBase: {e}" for e in schemas.errors(base, resource, where)]
        ref = schemas.definitions.get((rtype.lower(), version))
        if ref is None:
            have = sorted(v for (t, v) in schemas.definitions if t == rtype.lower())
            problems.append(f"{where}: no vendored schema for {rtype}@{version} (tests/infra/arm-schemas "
                            f"has {', '.join(have) or 'none for this type'}); use a vendored apiVersion")
            continue
        instance = copy.deepcopy(resource)
        # Child resources such as sites/extensions pick their shape by the name's last segment
        # (".../onedeploy"); an expression name would match every shape.
        tail = re.search(r"/([A-Za-z0-9_.-]+)'", str(resource.get("name", "")))
        if is_expression(resource.get("name")) and tail and str(resource.get("name")).startswith("[format('"):
            instance["name"] = "placeholder/" + tail.group(1)
        problems += [f"schema {rtype}@{version}: {e}" for e in schemas.errors(ref, instance, where)]
    if params is not None:
        problems += [f"schema deploymentParameters.json: {e}"
                     for e in schemas.errors(PARAMETERS_SCHEMA, params, PARAMETERS)]
    return problems


# ------------------------------------------------------------------ workflows

def check_workflows(files):
    """GitHub's workflow schema (check-jsonschema's built-in copy, no network), and what the
    deployment relies on: CI runs the README's test command, the release publishes the asset the
    template deploys, the deploy logs in with OpenID Connect and keeps no secret."""
    problems = []
    if not files:
        return [f"no workflows in {WORKFLOWS}"]
    tool = os.path.join(os.path.dirname(sys.executable), "check-jsonschema")
    run = subprocess.run([tool, "--builtin-schema", "vendor.github-workflows", *files],
                         capture_output=True, text=True, check=False)
    if run.returncode != 0:
        problems.append("check-jsonschema (GitHub workflow schema) failed:\n" + (run.stdout + run.stderr).strip())
    texts = {os.path.basename(f): open(f, encoding="utf-8").read() for f in files}
    for name, text in texts.items():
        if "secrets." in text:
            problems.append(f"{name}: uses a stored secret; log in with OpenID Connect and repository variables")
    expect = {
        "ci.yml": ["bash scripts/test.sh"],
        "release.yml": ["bash scripts/build-azure.sh", "released-package.zip"],
        "deploy.yml": ["azure/login@", "id-token: write", "Azure/functions-action@", "signup-gate.zip"],
    }
    for name, needles in expect.items():
        if name not in texts:
            problems.append(f"{WORKFLOWS}/{name} is missing")
            continue
        for needle in needles:
            if needle not in texts[name]:
                problems.append(f"{WORKFLOWS}/{name} must contain {needle!r}")
    return problems


# ------------------------------------------------------------------ self-test

def settings_of(doc):
    return app_settings(next(r for r in doc["resources"] if r["type"] == "Microsoft.Web/sites"))


def resource(doc, rtype):
    return next(r for r in doc["resources"] if r["type"] == rtype)


def role(doc, role_id):
    return next(r for r in doc["resources"] if role_id in str((r.get("properties") or {}).get("roleDefinitionId")))


def breakages():
    """(what is broken, how, a phrase the problems must contain)."""
    site = lambda d: resource(d, "Microsoft.Web/sites")  # noqa: E731
    return [
        ("runtime python", lambda d: site(d)["properties"]["functionAppConfig"]["runtime"].update(name="python"),
         "functionAppConfig.runtime"),
        ("plan Y1", lambda d: resource(d, "Microsoft.Web/serverfarms")["sku"].update(name="Y1", tier="Dynamic"),
         "FC1"),
        ("no ALLOWED_EMAIL_DOMAINS", lambda d: settings_of(d).remove(
            next(s for s in settings_of(d) if s["name"] == "ALLOWED_EMAIL_DOMAINS")), "ALLOWED_EMAIL_DOMAINS"),
        ("ALLOWED_EMAIL_DOMAINS default empty", lambda d: d["parameters"]["allowedEmailDomains"].update(
            defaultValue=""), "allowedEmailDomains"),
        ("deprecated setting", lambda d: settings_of(d).append({"name": "WEBSITE_RUN_FROM_PACKAGE", "value": "1"}),
         "deprecated"),
        ("deprecated property", lambda d: site(d)["properties"]["siteConfig"].update(linuxFxVersion="custom"),
         "deprecated"),
        ("executable override", lambda d: settings_of(d).append(
            {"name": "AzureFunctionsJobHost__customHandler__description__defaultExecutablePath", "value": "x"}),
         "must not be set in Azure"),
        ("no table endpoint", lambda d: settings_of(d).remove(
            next(s for s in settings_of(d) if s["name"] == "INVITATIONS_TABLE_ENDPOINT")), "INVITATIONS_TABLE_ENDPOINT"),
        ("no ORGANIZATION_NAME", lambda d: settings_of(d).remove(
            next(s for s in settings_of(d) if s["name"] == "ORGANIZATION_NAME")), "ORGANIZATION_NAME"),
        ("misspelled setting", lambda d: next(s for s in settings_of(d) if s["name"] == "ORGANIZATION_NAME").update(
            name="ORGANISATION_NAME"), "ORGANISATION_NAME"),
        ("shared keys on", lambda d: resource(d, "Microsoft.Storage/storageAccounts")["properties"].update(
            allowSharedKeyAccess=True), "allowSharedKeyAccess"),
        ("password as string", lambda d: d["parameters"]["basicAuthPassword"].update(type="string"), "secureString"),
        ("unconditional deploy", lambda d: resource(d, "Microsoft.Web/sites/extensions").pop("condition"),
         "condition"),
        ("Reader instead of Table Data Contributor", lambda d: role(d, "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3")[
            "properties"].update(roleDefinitionId="[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', "
                                 "'acdd72a7-3385-48ef-bd42-f606fba81ae7')]"), "0a9a7e1f"),
        ("Metrics Publisher on the storage account", lambda d: role(d, "3913510d-42f4-4e42-8a64-420c390055eb").update(
            scope="[format('Microsoft.Storage/storageAccounts/{0}', variables('storageName'))]"), "3913510d"),
        ("https off", lambda d: site(d)["properties"].update(httpsOnly=False), "httpsOnly"),
        ("scale to zero by default", lambda d: d["parameters"]["alwaysReady"].update(defaultValue=[]), "alwaysReady"),
        ("local auth on", lambda d: d["parameters"]["disableLocalAuth"].update(defaultValue=False), "disableLocalAuth"),
        ("button on another release", lambda d: d["parameters"]["releaseTag"].update(defaultValue="v9.9.9"),
         "button"),
        ("unvendored apiVersion", lambda d: site(d).update(apiVersion="2023-12-01"), "no vendored schema"),
        ("storage kind StorageV3", lambda d: resource(d, "Microsoft.Storage/storageAccounts").update(kind="StorageV3"),
         "schema Microsoft.Storage/storageAccounts"),
        ("runtime version a number", lambda d: site(d)["properties"]["functionAppConfig"]["runtime"].update(
            version=1.0), "schema Microsoft.Web/sites"),
        ("unknown top-level key", lambda d: d.update(output={}), "schema deploymentTemplate.json"),
    ]


def self_test(doc, documented, readme, schemas):
    """Each rule must fail on a template broken for it; returns the rules that did not."""
    failures = []
    for what, breaks, phrase in breakages():
        broken = copy.deepcopy(doc)
        breaks(broken)
        found = check_meaning(broken, documented, readme)
        if phrase.startswith(("schema", "no vendored")):
            found += check_schemas(broken, None, schemas)
        if not any(phrase in p for p in found):
            failures.append(f"self-test: a template with '{what}' was not caught (no problem mentions {phrase!r}; "
                            f"got {found[:3]})")
    with tempfile.TemporaryDirectory() as tmp:
        bad = os.path.join(tmp, "ci.yml")
        with open(bad, "w", encoding="utf-8") as f:
            f.write("name: ci\non:\n  pushh: {}\njobs:\n  test:\n    runs-on: ubuntu-24.04\n"
                    "    steps:\n      - run: bash scripts/test.sh\n")
        if not any("check-jsonschema" in p for p in check_workflows([bad])):
            failures.append("self-test: a workflow with an unknown event 'pushh' passed the schema check")
    return failures


# ------------------------------------------------------------------ main

def main():
    os.chdir(ROOT)
    try:
        doc = json.loads(read(TEMPLATE))
        params = json.loads(read(PARAMETERS))
    except (OSError, ValueError) as error:
        print(f"check-infra: cannot read the template or its parameters: {error}", file=sys.stderr)
        return 1
    documented = documented_settings()
    if len(documented) < 10:
        print(f"check-infra: found only {len(documented)} settings in the tables of {', '.join(SETTINGS_DOCS)}; "
              "has their layout changed?", file=sys.stderr)
        return 1
    readme = read("README.md")
    schemas = Schemas()
    workflows = sorted(glob.glob(os.path.join(WORKFLOWS, "*.yml")) + glob.glob(os.path.join(WORKFLOWS, "*.yaml")))

    sections = [
        (f"{TEMPLATE}: what it deploys ({len(documented)} documented settings)", check_meaning(doc, documented, readme)),
        (f"{TEMPLATE} and {PARAMETERS}: Microsoft's ARM schemas", check_schemas(doc, params, schemas)
         + check_parameters_file(doc, params)),
        (f"{WORKFLOWS}: GitHub's workflow schema ({len(workflows)} files)", check_workflows(workflows)),
        (f"self-test: {len(breakages()) + 1} broken copies must fail",
         self_test(doc, documented, readme, schemas)),
    ]
    failed = 0
    for title, problems in sections:
        print(f"{'FAIL' if problems else 'ok  '} {title}")
        for problem in problems:
            print(f"     {problem}")
        failed += len(problems)
    if failed:
        print(f"check-infra: {failed} problem(s)")
        return 1
    print("check-infra: the template, its parameters and the workflows hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
