"""Fixtures of the FHIR tests: EHR clients with real key pairs, signed assertions, and a patient
with one of everything the export maps."""

import time
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from rest_framework.test import APIClient

from clinic.models import Clinic, Patient
from diary.models import AdherenceLog, Alert, DiaryEntry
from diary.trends.services import trends_recompute_now
from fhir_export import services
from fhir_export.auth import ASSERTION_TYPE, token_url
from fhir_export.models import BackendClient
from tests.factories import (
    BotulinumSessionFactory,
    GoalFactory,
    GoalRatingFactory,
    InjectionSiteFactory,
    ItbDoseFactory,
    ItbPumpFactory,
    MedicationDoseFactory,
    MedicationRegimenFactory,
    OrthoticPlanVersionFactory,
    TherapyActivityFactory,
    TherapyPlanVersionFactory,
)


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


def public_jwk(private_key: Any, kid: str) -> dict[str, Any]:
    algorithm = (
        jwt.algorithms.RSAAlgorithm if isinstance(private_key, rsa.RSAPrivateKey) else jwt.algorithms.ECAlgorithm
    )
    jwk = algorithm.to_jwk(private_key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig"}


@pytest.fixture
def jwks(rsa_key, ec_key) -> dict[str, Any]:
    return {"keys": [public_jwk(rsa_key, "rsa-1"), public_jwk(ec_key, "ec-1")]}


@pytest.fixture
def ehr(clinic: Clinic, jwks) -> BackendClient:
    return services.backend_client_register(clinic=clinic, name="Riverside EHR", scopes="system/*.rs", jwks=jwks)


@pytest.fixture
def sign(rsa_key, ec_key) -> Callable[..., str]:
    """A client assertion as an EHR makes it; keyword arguments change claims or the header."""

    def make(
        client: BackendClient, *, alg: str = "RS384", kid: str | None = None, key: Any = None, **claims: Any
    ) -> str:
        now = int(time.time())
        body = {
            "iss": client.client_id,
            "sub": client.client_id,
            "aud": token_url(),
            "exp": now + 240,
            "iat": now,
            "jti": str(uuid.uuid4()),
        }
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        signing_key = key or (rsa_key if alg.startswith("RS") else ec_key)
        headers = {"kid": kid if kid is not None else ("rsa-1" if alg.startswith("RS") else "ec-1")}
        if kid == "":
            headers = {}
        return jwt.encode(body, signing_key, algorithm=alg, headers=headers)

    return make


FORM = "application/x-www-form-urlencoded"


def post_form(url: str, data: dict[str, str]) -> Any:
    return APIClient().post(url, urlencode(data), content_type=FORM)


def token_request(assertion: str, scope: str = "system/*.rs", **fields: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        "scope": scope,
        **fields,
    }


@pytest.fixture
def ehr_api(ehr, sign) -> Callable[..., APIClient]:
    """An API client holding an access token from the real token endpoint."""

    def make(client: BackendClient | None = None, scope: str = "system/*.rs") -> APIClient:
        client = client or ehr
        response = post_form("/fhir/auth/token", token_request(sign(client), scope))
        assert response.status_code == 200, response.content
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access_token']}")
        return api

    return make


def diary_entry(patient: Patient, *, when: datetime | None = None, **fields: Any) -> DiaryEntry:
    occurred = when or datetime(2026, 11, 20, 7, 30, tzinfo=timezone(timedelta(hours=-5)))
    offset = int(occurred.utcoffset().total_seconds() // 60)  # type: ignore[union-attr]
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "patient": patient,
        "occurred_at": occurred,
        "utc_offset_minutes": offset,
        "local_date": occurred.date(),
        "local_hour": occurred.hour,
        "severity": 6,
        "spasm_count": 4,
        "body_regions": ["left_calf"],
        "triggers": ["cold"],
        "relief": {"stretching": 2},
        "impact_walking": 2,
    }
    values.update(fields)
    return DiaryEntry.objects.create(**values)


@pytest.fixture
def full_patient(patient: Patient) -> Patient:
    """A patient with one of everything: diary, adherence, alert, medicines, pump, toxin, plans,
    goals, trend summaries."""
    entry = diary_entry(patient)
    AdherenceLog.objects.create(
        id=uuid.uuid4(), patient=patient, date=date(2026, 11, 19), therapy_minutes={"stretching": 20}
    )
    Alert.objects.create(
        clinic=patient.clinic,
        patient=patient,
        kind="red_flag",
        priority="urgent",
        title="Red flag: Fever",
        diary_entry=entry,
    )
    MedicationDoseFactory(regimen=MedicationRegimenFactory(patient=patient), dose_mg=Decimal("10"))
    ItbDoseFactory(pump=ItbPumpFactory(patient=patient))
    InjectionSiteFactory(session=BotulinumSessionFactory(patient=patient))
    TherapyActivityFactory(version=TherapyPlanVersionFactory(plan__patient=patient))
    GoalRatingFactory(goal=GoalFactory(patient=patient))
    OrthoticPlanVersionFactory(plan__patient=patient)
    trends_recompute_now(patient=patient)  # the week's and the month's diary summaries
    return patient
