//! The error codes Entra records when it calls a custom authentication extension (1003000 to
//! 1003027, from Microsoft's "Troubleshoot your custom authentication extension" page), each
//! with its name there, what it means, and what fixes it for this app. Microsoft's table has no
//! 1003013.

/// One code.
pub(crate) struct CalloutError {
    pub(crate) code: i64,
    /// Microsoft's name for it.
    pub(crate) name: &'static str,
    pub(crate) cause: &'static str,
    pub(crate) fix: &'static str,
}

/// The code's entry, if Microsoft's table has it.
pub(crate) fn describe(code: i64) -> Option<&'static CalloutError> {
    CODES.iter().find(|known| known.code == code)
}

const CODES: &[CalloutError] = &[
    CalloutError {
        code: 1003000,
        name: "EventHandlerUnexpectedError",
        cause: "Entra failed while handling the event, before or around the call",
        fix: "run it again; if it stays, check the user flow and listeners with `handler doctor --graph-token ...` and open a case with Microsoft",
    },
    CalloutError {
        code: 1003001,
        name: "CustomExtensionUnexpectedError",
        cause: "the call to the API failed in a way Entra does not name",
        fix: "read the function app's log at that time (the decision lines carry Entra's correlation id) and check that the app runs",
    },
    CalloutError {
        code: 1003002,
        name: "CustomExtensionInvalidHTTPStatus",
        cause: "the API answered with a status Entra does not accept (the gate answers 200 to every event it reads)",
        fix: "a 401 with a Bearer challenge is the gate refusing Entra's token (AUTH_EVENTS_TENANT_ID and AUTH_EVENTS_CLIENT_ID must be the tenant's and the extension's app); a 401 or 403 without it is Azure refusing a call without the function key (`handler setup entra --code`); a 503 from OnTokenIssuanceStart is an invitation store that did not answer",
    },
    CalloutError {
        code: 1003003,
        name: "CustomExtensionInvalidResponseBody",
        cause: "the answer's body is not in the event's schema",
        fix: "check that the extension's target URL is this event's function (a Start extension calls /api/OnAttributeCollectionStart) and that nothing in front of the app rewrites answers",
    },
    CalloutError {
        code: 1003004,
        name: "CustomExtensionThrottlingError",
        cause: "Entra throttled its own calls to custom extensions (about 50 a second per tenant)",
        fix: "nothing in the app: spread the load, or ask Microsoft about the tenant's limits",
    },
    CalloutError {
        code: 1003005,
        name: "CustomExtensionTimedOut",
        cause: "no answer within the extension's timeout (Microsoft notes it can also mean the access token was not valid)",
        fix: "keep the app warm (always-ready instances on Flex Consumption, or Premium), keep DECISION_DEADLINE_MS under 80 % of the timeout, and raise the timeout up to 2000 ms (`handler setup entra --timeout-ms 2000`)",
    },
    CalloutError {
        code: 1003006,
        name: "CustomExtensionInvalidResponseContentType",
        cause: "the answer was not application/json: usually a platform page (404, 503, a sign-in page) answered instead of the function",
        fix: "check the target URL and that the function app runs; App Service authentication must answer 401, not redirect",
    },
    CalloutError {
        code: 1003007,
        name: "CustomExtensionNullClaimsResponse",
        cause: "the token issuance answer had a null claims bag",
        fix: "check that the token extension calls /api/OnTokenIssuanceStart of this app (it always answers a claims object)",
    },
    CalloutError {
        code: 1003008,
        name: "CustomExtensionInvalidResponseApiSchemaVersion",
        cause: "the answer's schema version is not the one Entra called with",
        fix: "check that each extension's event type matches the function its target URL names",
    },
    CalloutError {
        code: 1003009,
        name: "CustomExtensionEmptyResponse",
        cause: "the answer's body was empty",
        fix: "check that the target URL reaches the function and not a proxy or an empty platform answer",
    },
    CalloutError {
        code: 1003010,
        name: "CustomExtensionInvalidNumberOfActions",
        cause: "the answer had more or fewer actions than the event takes (the gate sends exactly one)",
        fix: "check that each extension's event type matches the function its target URL names",
    },
    CalloutError {
        code: 1003011,
        name: "CustomExtensionNotFound",
        cause: "the user flow or listener names an extension that does not exist",
        fix: "select the extension again in the user flow (or run `handler setup entra --user-flow ... --apply`)",
    },
    CalloutError {
        code: 1003012,
        name: "CustomExtensionInvalidActionType",
        cause: "the answer's action is not one of the event's",
        fix: "check that each extension's event type matches the function its target URL names (a Submit extension must call /api/OnAttributeCollectionSubmit)",
    },
    CalloutError {
        code: 1003014,
        name: "CustomExtensionIncorrectResourceIdFormat",
        cause: "the app registration's identifier URI is not api://<fully qualified domain name>/<app id>",
        fix: "set it to api://<app host>/<app id> (`handler setup entra --apply` does, and points the extension at it)",
    },
    CalloutError {
        code: 1003015,
        name: "CustomExtensionDomainNameDoesNotMatch",
        cause: "the target URL and the resource id name different hosts",
        fix: "run `handler setup entra --url https://<app host> --apply`: it moves the target URLs, the identifier URI and the resource ids together",
    },
    CalloutError {
        code: 1003016,
        name: "CustomExtensionResourceServicePrincipalNotFound",
        cause: "the resource id's app has no service principal in the tenant",
        fix: "create it (`handler setup entra --apply`, or `az ad sp create --id <app id>`)",
    },
    CalloutError {
        code: 1003017,
        name: "CustomExtensionClientServicePrincipalNotFound",
        cause: "a service principal the call needs was not found in the tenant",
        fix: "create the extension app's and the authentication events service's (99045fe1-7639-4a75-9d4a-577b6ca3810f) service principals (`handler setup entra --apply`)",
    },
    CalloutError {
        code: 1003018,
        name: "CustomExtensionClientServiceDisabled",
        cause: "a service principal the call needs is disabled in the tenant",
        fix: "enable it: Enterprise applications, the app, Properties, Enabled for users to sign in",
    },
    CalloutError {
        code: 1003019,
        name: "CustomExtensionResourceServicePrincipalDisabled",
        cause: "the extension app's service principal is disabled in the tenant",
        fix: "enable it: Enterprise applications, the app, Properties, Enabled for users to sign in",
    },
    CalloutError {
        code: 1003020,
        name: "CustomExtensionIncorrectTargetUrlFormat",
        cause: "the target URL is not a valid https URL",
        fix: "give the extension https://<app host>/api/<function>?code=<key> (`handler setup entra --url ... --code ...`)",
    },
    CalloutError {
        code: 1003021,
        name: "CustomExtensionPermissionNotGrantedToServicePrincipal",
        cause: "the extension app has no admin consent for Microsoft Graph's CustomAuthenticationExtension.Receive.Payload",
        fix: "grant it (`handler setup entra --apply`, or the extension's API Authentication, Grant permission)",
    },
    CalloutError {
        code: 1003022,
        name: "CustomExtensionMsGraphServicePrincipalDisabledOrNotFound",
        cause: "Microsoft Graph's service principal is disabled or missing in the tenant",
        fix: "a tenant administrator must restore Microsoft Graph's service principal (00000003-0000-0000-c000-000000000000)",
    },
    CalloutError {
        code: 1003023,
        name: "CustomExtensionBlocked",
        cause: "Entra blocks calls to this endpoint",
        fix: "open a case with Microsoft; check that the host is the app's own",
    },
    CalloutError {
        code: 1003024,
        name: "CustomExtensionResponseSizeExceeded",
        cause: "the answer was larger than Entra takes",
        fix: "check that the target URL reaches the function (its answers are small) and not another service",
    },
    CalloutError {
        code: 1003025,
        name: "CustomExtensionResponseClaimsSizeExceeded",
        cause: "the claims in the answer exceed Entra's limit (3 KB)",
        fix: "shorten the claims of the invitations of the users it failed for (the gate keeps each invitation's claims within 3 KB as it counts them; Entra counts them in the answer)",
    },
    CalloutError {
        code: 1003026,
        name: "CustomExtensionNullOrEmptyClaimKeyNotSupported",
        cause: "a claim in the answer had an empty or null name",
        fix: "check the invitations' claim columns for an empty name",
    },
    CalloutError {
        code: 1003027,
        name: "CustomExtensionConnectionError",
        cause: "Entra could not connect to the API",
        fix: "check the host name, its TLS certificate, that the app runs, and that no access restriction or private endpoint keeps Entra out",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_of_microsofts_table_is_described_once() {
        let codes: Vec<i64> = CODES.iter().map(|known| known.code).collect();
        let expected: Vec<i64> = (1003000..=1003027)
            .filter(|code| *code != 1003013)
            .collect();
        assert_eq!(codes, expected);
        assert!(describe(1003013).is_none());
        assert_eq!(describe(1003005).unwrap().name, "CustomExtensionTimedOut");
        assert!(
            CODES
                .iter()
                .all(|known| !known.cause.is_empty() && !known.fix.is_empty())
        );
    }
}
