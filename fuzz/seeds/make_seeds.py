#!/usr/bin/env python3
"""Writes the committed seed corpus of every fuzz target (fuzz/corpus/<target>/).

Bearer tokens are signed with a key made afresh on every run; only its public half is kept
(fuzz/seeds/bearer_key.json, read by the bearer_token target). Needs `cryptography`
(pip install cryptography) for that target's seeds only.
"""
import base64
import hashlib
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
FIXTURES = ROOT.parent / "tests" / "fixtures"
TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "66666666-7777-8888-9999-000000000000"
EVENTS_APP = "99045fe1-7639-4a75-9d4a-577b6ca3810f"


def write(target, seeds):
    """Replaces the target's seeds; inputs a run once found (regression-*) are kept."""
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        if not old.name.startswith("regression-"):
            old.unlink()
    for seed in seeds:
        data = seed if isinstance(seed, bytes) else json.dumps(seed).encode()
        (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def connector():
    base = {"step": "PostAttributeCollection", "client_id": "00000000-0000-0000-0000-00000000000a",
            "ui_locales": "en-US", "jobTitle": "Engineer"}
    seeds = []
    for email in ["ada@fabrikam.com", "ADA@Invited.Example", "old@invited.example",
                  "x@sub.contoso.com", "nobody@elsewhere.example", "not an address", ""]:
        seeds.append({**base, "email": email})
        seeds.append({**base, "email": email, "step": "PostFederationSignup", "jobTitle": "ab"})
    seeds.append({"step": "PreTokenIssuance", "identities": [
        {"signInType": "emailAddress", "issuer": "contoso.onmicrosoft.com", "issuerAssignedId": "ada@fabrikam.com"}]})
    seeds.append({"email": "app@invited.example", "client_id": "other", "step": "PostAttributeCollection"})
    seeds += [b"[]", b"null", b"{", b'{"email": 5}', b'{"email": ["ada@fabrikam.com"]}']
    write("api_connector_body", seeds)


def events():
    for target, prefix in [("attribute_collection_start", "start_"), ("attribute_collection_submit", "submit_")]:
        seeds = []
        for fixture in sorted(FIXTURES.glob(prefix + "*.json")):
            text = fixture.read_text()
            seeds.append(text.encode())
            for email in ["ada@invited.example", "app@invited.example", "old@invited.example",
                          "someone@fabrikam.com", "nobody@elsewhere.example"]:
                seeds.append(text.replace("ada@fabrikam.com", email).replace("contoso@fabrikam.com", email).encode())
        seeds += [b"{}", b"[]", b'{"type": "microsoft.graph.authenticationEvent.attributeCollectionStart"}']
        write(target, seeds)


def tokens():
    """Token-issuance events: the documented one for each kind of address the harness knows."""
    text = (FIXTURES / "token_issuance_documented.json").read_text()
    seeds = [text.encode()]
    for email in ["ada@invited.example", "ADA@Invited.Example", "app@invited.example", "old@invited.example",
                  "nobody@elsewhere.example", "not an address"]:
        seeds.append(text.replace("ada@contoso.com", email).encode())
    app_a = text.replace("ada@contoso.com", "app@invited.example").replace(
        "44445555-eeee-6666-ffff-7777aaaa8888", "00000000-0000-0000-0000-00000000000a")
    seeds += [app_a.encode(), b"{}", b"[]", b'{"type": "microsoft.graph.authenticationEvent.attributeCollectionStart"}']
    write("token_issuance_start", seeds)


def basic():
    good = base64.b64encode(b"gate-user:s3cret:with:colons")
    write("basic_authorization", [
        b"Basic " + good, b"basic  " + good.rstrip(b"=") + b"  ", b"BASIC " + good,
        b"Basic " + base64.b64encode(b"gate-user:wrong"), b"Basic " + base64.b64encode(b"no colon"),
        b"Basic !!!", b"Bearer " + good, b"Basic", b"",
    ])


def bearer():
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = key.public_key().public_numbers()
    as_bytes = lambda n: n.to_bytes((n.bit_length() + 7) // 8, "big")
    jwk = {"kty": "RSA", "use": "sig", "kid": "fuzz-key", "n": b64url(as_bytes(numbers.n)),
           "e": b64url(as_bytes(numbers.e)), "tenant": TENANT, "client": CLIENT}
    (ROOT / "seeds" / "bearer_key.json").write_text(json.dumps(jwk, indent=2) + "\n")

    def token(header, claims):
        signed = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
        signature = key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signed + "." + b64url(signature)

    claims = {"aud": CLIENT, "azp": EVENTS_APP, "tid": TENANT, "iss": f"https://{TENANT}.ciamlogin.com/{TENANT}/v2.0",
              "exp": 4102444800, "nbf": 1700000000}
    header = {"alg": "RS256", "kid": "fuzz-key", "typ": "JWT"}
    tokens = [
        token(header, claims),
        token(header, {**claims, "aud": [f"api://auth.contoso.com/{CLIENT}"]}),
        token(header, {**claims, "exp": 1700000000}),
        token(header, {**claims, "tid": "other"}),
        token({**header, "alg": "HS256"}, claims),
        token({**header, "kid": "other"}, claims),
    ]
    write("bearer_token", [f"Bearer {t}".encode() for t in tokens] + [b"Bearer a.b.c", b"Bearer", b"Basic abc"])


def claims():
    """Token payloads and Easy Auth principals for the claim checks, reached without a signature."""
    good = {"aud": CLIENT, "azp": EVENTS_APP, "tid": TENANT, "iss": f"https://{TENANT}.ciamlogin.com/{TENANT}/v2.0",
            "exp": 4102444800, "nbf": 1700000000}
    principal = lambda claims: {"auth_typ": "aad", "claims": [{"typ": t, "val": v} for t, v in claims],
                                "name_typ": "name", "role_typ": "roles"}
    write("caller_claims", [
        good,
        {**good, "aud": [f"api://auth.contoso.com/{CLIENT}"], "azp": None, "appid": EVENTS_APP},
        {**good, "aud": f"abcde\u00e9-{CLIENT}"},
        {**good, "iss": f"https://sts.windows.net/{TENANT}/"},
        {**good, "exp": 1700000000},
        {**good, "tid": "other"},
        principal([("aud", CLIENT), ("azp", EVENTS_APP), ("tid", TENANT),
                   ("iss", f"https://login.microsoftonline.com/{TENANT}/v2.0")]),
        principal([("aud", f"api://x/{CLIENT}"), ("http://schemas.microsoft.com/identity/claims/appid", EVENTS_APP),
                   ("http://schemas.microsoft.com/identity/claims/tenantid", TENANT),
                   ("http://schemas.microsoft.com/identity/claims/identityprovider", f"https://sts.windows.net/{TENANT}/")]),
        b"{}", b"[]", b"null",
    ])


def csv():
    write("invitation_csv", [
        b"email,application_id,expires_at,displayName,!jobTitle\nada@fabrikam.com,,,Ada,Engineer\n",
        b"\xef\xbb\xbfemail\nA@B.example\n",
        b'email,expires_at,city\n"x@y.example",2030-01-01T00:00:00Z,"Oslo, Norway"\n',
        b"email,application_id\nbad address,\nada@fabrikam.com,app\nada@fabrikam.com,app\n",
        b"name,email\n",
        b"email,application_id,expires_at,extension_0a1b_Level:int,!extension_0a1b_News:Boolean,x:string\n"
        b"ada@fabrikam.com,,,3,true,a\nbob@fabrikam.com,,,-7,FALSE,\ncarol@fabrikam.com,,,x,maybe,\n",
        b"",
    ])


if __name__ == "__main__":
    connector()
    events()
    tokens()
    basic()
    csv()
    claims()
    bearer()
