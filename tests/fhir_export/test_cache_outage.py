"""An EHR whose keys live at a JWKS URL still gets tokens while the cache's Redis is down."""

from fhir_export import services
from tests.fhir_export.conftest import post_form, public_jwk, token_request

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def test_jwks_keys_are_fetched_without_the_cache_while_redis_is_down(clinic, rsa_key, sign, httpserver, settings):
    settings.REDIS_URL = DEAD_REDIS
    settings.CACHES = {"default": {"BACKEND": "config.cache.FailSafeRedisCache", "LOCATION": DEAD_REDIS}}
    httpserver.expect_request("/jwks.json").respond_with_json({"keys": [public_jwk(rsa_key, "rsa-1")]})
    client = services.backend_client_register(
        clinic=clinic, name="Remote", scopes="system/*.rs", jwks_url=httpserver.url_for("/jwks.json")
    )

    first = post_form("/fhir/auth/token", token_request(sign(client)))
    second = post_form("/fhir/auth/token", token_request(sign(client)))

    assert (first.status_code, second.status_code) == (200, 200)
    assert len(httpserver.log) == 2  # nothing could be cached, so each token fetched the keys
