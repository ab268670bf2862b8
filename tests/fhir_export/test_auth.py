"""SMART Backend Services: discovery, the token endpoint and every way it refuses, and who sees what."""

import base64
import time
from datetime import timedelta
from io import StringIO

import orjson
import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from pytest_httpserver import HTTPServer
from rest_framework.test import APIClient

from clinic.models import AuditEvent
from fhir_export import services
from fhir_export.models import BackendAccessToken, BackendClient
from tests.conftest import bearer_client, enroll
from tests.fhir_export.conftest import post_form, public_jwk, token_request
from tests.fhir_export.fhir import parsed

TOKEN_URL = "/fhir/auth/token"


def post_token(data: dict) -> tuple[int, dict]:
    response = post_form(TOKEN_URL, data)
    return response.status_code, response.json()


def test_smart_configuration_advertises_backend_services(db):
    response = APIClient().get("/fhir/.well-known/smart-configuration")

    body = response.json()
    assert response.status_code == 200
    assert body["token_endpoint"].endswith("/fhir/auth/token")
    assert body["grant_types_supported"] == ["client_credentials"]
    assert body["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert set(body["token_endpoint_auth_signing_alg_values_supported"]) == {"RS384", "ES384"}
    assert "client-confidential-asymmetric" in body["capabilities"]


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_signed_assertion_gets_a_short_lived_token(ehr, sign, alg):
    status, body = post_token(token_request(sign(ehr, alg=alg), "system/Observation.rs system/Patient.read"))

    assert status == 200
    assert body["token_type"] == "bearer"
    assert body["expires_in"] <= 300
    assert body["scope"] == "system/Observation.rs system/Patient.read"
    token = BackendAccessToken.objects.get()
    assert token.digest != body["access_token"]  # only the digest is stored
    assert token.expires_at <= timezone.now() + timedelta(seconds=300)


def test_token_endpoint_answers_no_store(ehr, sign):
    response = post_form(TOKEN_URL, token_request(sign(ehr)))

    assert response["Cache-Control"] == "no-store"


def test_token_request_is_audited_under_the_clients_name(ehr, sign):
    post_token(token_request(sign(ehr)))

    event = AuditEvent.objects.get(action="token")
    assert (event.actor_label, event.clinic_id, event.actor_id) == ("Riverside EHR", ehr.clinic_id, None)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"client_assertion_type": "urn:other"}, "invalid_request"),
        ({"client_assertion": ""}, "invalid_request"),
        ({"client_assertion": "not-a-jwt"}, "invalid_client"),
        ({"scope": ""}, "invalid_scope"),
    ],
)
def test_malformed_token_requests_are_refused(ehr, sign, change, error):
    status, body = post_token({**token_request(sign(ehr)), **change})

    assert (status, body["error"]) == (400, error)
    assert body["error_description"]


def unsigned(assertion: str) -> str:
    """The same claims with ``alg: none`` and no signature: the oldest trick against JWT verifiers."""
    _, claims, _ = assertion.split(".")
    header = base64.urlsafe_b64encode(orjson.dumps({"alg": "none", "typ": "JWT", "kid": "rsa-1"})).rstrip(b"=")
    return f"{header.decode()}.{claims}."


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda ehr, sign, other: sign(ehr, iss="someone-else"), "client_id"),
        (lambda ehr, sign, other: sign(ehr, sub="someone-else"), "sub"),
        (lambda ehr, sign, other: sign(ehr, aud="https://elsewhere.example/token"), "aud"),
        (lambda ehr, sign, other: sign(ehr, exp=int(time.time()) - 10), "expired"),
        (lambda ehr, sign, other: sign(ehr, exp=int(time.time()) + 600), "5 minutes"),
        (lambda ehr, sign, other: sign(ehr, exp=None), "exp"),
        (lambda ehr, sign, other: sign(ehr, jti=None), "jti"),
        (lambda ehr, sign, other: sign(ehr, kid=""), "kid"),
        (lambda ehr, sign, other: sign(ehr, kid="unknown-kid"), "kid"),
        (lambda ehr, sign, other: sign(ehr, key=other), "not valid"),
        (lambda ehr, sign, other: sign(ehr, alg="RS256"), "RS384 or ES384"),
        (
            lambda ehr, sign, other: sign(ehr, alg="HS384", key="s" * 64),
            "RS384",
        ),
        (lambda ehr, sign, other: unsigned(sign(ehr)), "RS384"),
    ],
    ids=[
        "iss",
        "sub",
        "aud",
        "expired",
        "exp-too-far",
        "no-exp",
        "no-jti",
        "no-kid",
        "unknown-kid",
        "wrong-key",
        "RS256",
        "HS384",
        "alg-none",
    ],
)
def test_bad_assertions_are_invalid_client(ehr, sign, make, words):
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    status, body = post_token(token_request(make(ehr, sign, other)))

    assert (status, body["error"]) == (400, "invalid_client")
    assert words in body["error_description"]
    assert not BackendAccessToken.objects.exists()


def test_a_jti_is_never_accepted_twice(ehr, sign):
    assertion = sign(ehr)

    first, _ = post_token(token_request(assertion))
    second, body = post_token(token_request(assertion))

    assert (first, second) == (200, 400)
    assert body == {"error": "invalid_client", "error_description": "This client_assertion jti was already used."}
    assert BackendAccessToken.objects.count() == 1


def test_deactivated_client_is_refused(ehr, sign):
    BackendClient.objects.filter(pk=ehr.pk).update(is_active=False)

    status, body = post_token(token_request(sign(ehr)))

    assert (status, body["error"]) == (400, "invalid_client")


def test_tokens_of_a_deactivated_client_stop_working_at_once(ehr, ehr_api, patient):
    api = ehr_api()
    assert api.get(f"/fhir/Patient/{patient.pk}").status_code == 200

    BackendClient.objects.filter(pk=ehr.pk).update(is_active=False)
    response = api.get(f"/fhir/Patient/{patient.pk}")

    assert response.status_code == 401
    assert parsed(response.content).issue[0].code == "login"


@pytest.mark.parametrize(
    "scope",
    [
        "system/Observation.cruds",
        "system/*.write",
        "patient/Observation.rs",
        "system/Medication.rs",
        "openid",
        "system/Observation.rs?category=survey",
    ],
)
def test_scopes_beyond_the_registration_are_invalid_scope(ehr, sign, scope):
    status, body = post_token(token_request(sign(ehr), scope))

    assert (status, body["error"]) == (400, "invalid_scope")


def test_narrowly_registered_client_cannot_widen_its_scopes(clinic, jwks, sign):
    narrow = services.backend_client_register(clinic=clinic, name="Lab", scopes="system/Observation.read", jwks=jwks)

    ok, _ = post_token(token_request(sign(narrow), "system/Observation.rs"))
    wider, body = post_token(token_request(sign(narrow), "system/Patient.rs"))

    assert (ok, wider, body["error"]) == (200, 400, "invalid_scope")


def test_keys_are_fetched_from_a_jwks_url(clinic, rsa_key, sign, httpserver: HTTPServer):
    httpserver.expect_request("/jwks.json").respond_with_json({"keys": [public_jwk(rsa_key, "rsa-1")]})
    client = services.backend_client_register(
        clinic=clinic, name="Remote", scopes="system/*.rs", jwks_url=httpserver.url_for("/jwks.json")
    )

    status, _ = post_token(token_request(sign(client)))

    assert status == 200


def test_unreachable_jwks_url_is_invalid_client(clinic, sign, httpserver: HTTPServer):
    httpserver.expect_request("/jwks.json").respond_with_data("down", status=503)
    client = services.backend_client_register(
        clinic=clinic, name="Remote", scopes="system/*.rs", jwks_url=httpserver.url_for("/jwks.json")
    )

    status, body = post_token(token_request(sign(client)))

    assert (status, body["error"]) == (400, "invalid_client")


def test_a_json_body_is_invalid_request(ehr, sign):
    response = APIClient().post(TOKEN_URL, token_request(sign(ehr)), format="json")

    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")


# --- Using the token ------------------------------------------------------------------------------


def test_no_token_is_401_with_the_bearer_challenge(db):
    response = APIClient().get("/fhir/Patient")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert parsed(response.content).issue[0].code == "login"


def test_expired_access_token_is_401(ehr_api, patient):
    api = ehr_api()
    with time_machine.travel(timezone.now() + timedelta(seconds=301)):
        response = api.get("/fhir/Patient")

    assert response.status_code == 401


def test_scopes_limit_the_types_a_token_reads(ehr_api, full_patient):
    api = ehr_api(scope="system/Observation.rs")

    assert api.get("/fhir/Observation").status_code == 200
    denied = api.get("/fhir/Patient")
    assert denied.status_code == 403
    assert parsed(denied.content).issue[0].code == "forbidden"
    event = AuditEvent.objects.get(outcome=AuditEvent.Outcome.DENIED)
    assert (event.actor_label, event.action, event.resource_type) == ("Riverside EHR", "read", "fhir:Patient")


def test_v1_read_scope_allows_read_and_search(ehr_api, full_patient):
    api = ehr_api(scope="system/Patient.read")

    assert api.get("/fhir/Patient").status_code == 200
    assert api.get(f"/fhir/Patient/{full_patient.pk}").status_code == 200


def test_staff_token_reads_fhir_within_its_clinic(api_as, clinician, patient, other_patient):
    api = api_as(clinician)

    assert api.get(f"/fhir/Patient/{patient.pk}").status_code == 200
    assert api.get(f"/fhir/Patient/{other_patient.pk}").status_code == 404


def test_patient_app_token_cannot_use_fhir_and_the_attempt_is_audited(patient):
    response = bearer_client(enroll(patient)).get(f"/fhir/Patient/{patient.pk}")

    assert response.status_code == 403
    event = AuditEvent.objects.get(outcome=AuditEvent.Outcome.DENIED)
    assert (event.actor_id, event.patient_id, event.resource_type) == (patient.user_id, patient.pk, "fhir")


def test_staff_cannot_start_a_bulk_export(api_as, clinician):
    response = api_as(clinician).get("/fhir/$export", HTTP_PREFER="respond-async")

    assert response.status_code == 403
    event = AuditEvent.objects.get(outcome=AuditEvent.Outcome.DENIED)
    assert (event.actor_id, event.action) == (clinician.pk, "export")


# --- Registration -----------------------------------------------------------------------------------


def test_register_command_prints_the_client_id(clinic, jwks, tmp_path):
    path = tmp_path / "jwks.json"
    path.write_bytes(orjson.dumps(jwks))
    out = StringIO()

    call_command(
        "register_backend_client",
        clinic=clinic.pk,
        name="EHR",
        jwks_file=path,
        scope="system/*.rs",
        stdout=out,
        stderr=StringIO(),
    )

    client = BackendClient.objects.get()
    assert out.getvalue().strip() == client.client_id
    assert (client.clinic_id, client.scopes, client.jwks) == (clinic.pk, "system/*.rs", jwks)


def test_register_command_accepts_a_jwks_url(clinic):
    call_command(
        "register_backend_client",
        "--clinic",
        str(clinic.pk),
        "--name",
        "EHR",
        "--jwks-url",
        "https://ehr.example.org/jwks.json",
        "--scope",
        "system/*.read",
        stdout=StringIO(),
        stderr=StringIO(),
    )

    assert BackendClient.objects.get().jwks_url == "https://ehr.example.org/jwks.json"


@pytest.mark.parametrize(
    ("given_keys", "scope", "message"),
    [
        ({"keys": []}, "system/*.rs", "at least one key"),
        ({"keys": [{"kty": "oct", "kid": "x", "k": "abc"}]}, "system/*.rs", "RSA or EC"),
        (None, "system/*.cruds", "read-only"),
        (None, "system/Nonsense.rs", "Nonsense"),
    ],
)
def test_register_command_refuses_bad_keys_and_scopes(clinic, jwks, tmp_path, given_keys, scope, message):
    keys = given_keys if given_keys is not None else jwks
    path = tmp_path / "jwks.json"
    path.write_bytes(orjson.dumps(keys))

    with pytest.raises(CommandError, match=message):
        call_command(
            "register_backend_client", clinic=clinic.pk, name="EHR", jwks_file=path, scope=scope, stdout=StringIO()
        )
    assert not BackendClient.objects.exists()


def test_register_command_refuses_a_private_key(clinic, rsa_key, tmp_path):
    import jwt

    private = jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key, as_dict=True) | {"kid": "k"}
    path = tmp_path / "jwks.json"
    path.write_bytes(orjson.dumps({"keys": [private]}))

    with pytest.raises(CommandError, match="private key"):
        call_command(
            "register_backend_client",
            clinic=clinic.pk,
            name="EHR",
            jwks_file=path,
            scope="system/*.rs",
            stdout=StringIO(),
        )
