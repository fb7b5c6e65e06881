"""Token size and claim types are checked before any signature work (issue #18): validly signed tokens of
16 KB, 80 KB and 600 KB, and tokens whose dates are JSON strings or whose subject is not a string, are refused."""

from __future__ import annotations

import pytest

from api.auth.jwt import MAX_TOKEN_BYTES, StaticKeySource, TokenVerifier
from api.problems import domain_error_response
from core.errors import AuthenticationFailed
from tests.jwt_tools import SigningKey, claims_for, encode, mint

ISS, AUD, SUB = "https://idp.example/realms/coc", "chain-of-care", "idp-subject-1"


@pytest.fixture(scope="module")
def signer() -> SigningKey:
    """An independent issuer's key the verifier trusts."""
    return SigningKey.generate("ES256", "es256-key-1")


def verifier_for(signer: SigningKey) -> TokenVerifier:
    """A verifier trusting exactly `signer`."""
    return TokenVerifier(StaticKeySource([signer.public_jwk]), issuer=ISS, audience=AUD)


@pytest.mark.parametrize("size", [16_000, 80_000, 600_000])
def test_validly_signed_oversized_tokens_are_refused(signer, size):
    """A padded claim makes a genuine, validly signed token of `size` bytes: refused for its size, 401."""
    token = mint(signer, SUB, iss=ISS, aud=AUD, pad="x" * size)
    assert len(token) > size > MAX_TOKEN_BYTES
    with pytest.raises(AuthenticationFailed, match=f"longer than {MAX_TOKEN_BYTES} bytes") as info:
        verifier_for(signer).verify(token)
    assert domain_error_response(info.value).status_code == 401


def test_a_token_just_under_the_cap_is_still_accepted(signer):
    """The cap leaves room for real tokens with many claims."""
    token = mint(signer, SUB, iss=ISS, aud=AUD, pad="x" * (MAX_TOKEN_BYTES // 2))
    assert len(token) < MAX_TOKEN_BYTES
    assert verifier_for(signer).verify(token)["sub"] == SUB


@pytest.mark.parametrize(("claim", "value"), [("exp", "STRING"), ("iat", "STRING"), ("nbf", "STRING"),
                                              ("exp", True), ("exp", None), ("iat", [1]), ("nbf", {"t": 1})])
def test_dates_must_be_numbers(signer, claim, value):
    """`exp` given as a JSON string (e.g. "1999999999"), a boolean, null, a list or an object: refused, naming it."""
    claims = claims_for(SUB, iss=ISS, aud=AUD)
    claims[claim] = str(claims["exp"]) if value == "STRING" else value  # None stays a JSON null
    token = encode({"alg": "ES256", "typ": "JWT", "kid": signer.kid}, claims, signer)
    with pytest.raises(AuthenticationFailed, match=f"'{claim}' claim must be a number") as info:
        verifier_for(signer).verify(token)
    assert domain_error_response(info.value).status_code == 401


@pytest.mark.parametrize("sub", [12345, ["a"], {"id": "a"}, True, ""])
def test_subject_must_be_a_non_empty_string(signer, sub):
    """A numeric, list, object, boolean or empty `sub` is refused before the signature is checked."""
    with pytest.raises(AuthenticationFailed, match="'sub' claim must be a non-empty string"):
        verifier_for(signer).verify(mint(signer, sub, iss=ISS, aud=AUD))  # type: ignore[arg-type]


def test_claim_types_are_checked_before_the_signature(signer):
    """A string `exp` under a WRONG signature still gets the type message: the check runs first (no crypto)."""
    other = SigningKey.generate("ES256", signer.kid)
    token = mint(other, SUB, iss=ISS, aud=AUD, exp="9999999999")
    with pytest.raises(AuthenticationFailed, match="'exp' claim must be a number"):
        verifier_for(signer).verify(token)
