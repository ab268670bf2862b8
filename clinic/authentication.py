"""Bearer-token authentication for the JSON API (staff and patient-app tokens)."""

from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from clinic import tokens
from clinic.models import AccessToken, User
from clinic.selectors import active_token_by_digest, patient_of_user


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <token>``; an unknown, expired or revoked token is a 401."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[User, AccessToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("The Authorization header must be 'Bearer <token>'.")
        try:
            secret = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The token is not valid.") from None
        token = active_token_by_digest(tokens.digest(secret))
        if token is None:
            raise exceptions.AuthenticationFailed("The token is not valid, has expired, or was revoked.")
        if token.user.is_patient:
            # Discharge revokes the phone's tokens; this also stops one that escaped that (the
            # patient came with the token's own query).
            patient = patient_of_user(token.user)
            if patient is None or not patient.is_active:
                raise exceptions.AuthenticationFailed("This patient is no longer followed by the clinic.")
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'


def request_token(request: Any) -> AccessToken | None:
    """The token the request authenticated with, if it used one."""
    return request.auth if isinstance(request.auth, AccessToken) else None


def caller(request: Request) -> User:
    """The signed-in user behind a request that a permission class has already let in."""
    user = request.user
    if not isinstance(user, User):
        raise exceptions.NotAuthenticated
    return user
