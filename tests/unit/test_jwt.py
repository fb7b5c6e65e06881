"""Bearer JWT validation: the attack set is refused, independently minted ES256/RS256 tokens are accepted,
and a JWKS URL is refetched once on an unknown kid (key rotation)."""

from __future__ import annotations

import pytest

from api.auth.jwt import JWKSKeySource, StaticKeySource, TokenVerifier
from api.problems import domain_error_response
from core.errors import AuthenticationFailed
from tests.jwt_tools import SigningKey, attack_tokens, jwks_server, mint

ISS, AUD, SUB = "https://idp.example/realms/coc", "chain-of-care", "idp-subject-1"


@pytest.fixture(scope="module", params=["ES256", "RS256"])
def signer(request) -> SigningKey:
    """An independent issuer's key."""
    return SigningKey.generate(request.param, f"{request.param.lower()}-key-1")


def verifier_for(*keys: SigningKey) -> TokenVerifier:
    """A verifier trusting exactly `keys`."""
    return TokenVerifier(StaticKeySource([k.public_jwk for k in keys]), issuer=ISS, audience=AUD)


def test_independently_minted_token_is_accepted(signer):
    """A token built by hand with cryptography (as an external IdP would) verifies."""
    claims = verifier_for(signer).verify(mint(signer, SUB, iss=ISS, aud=AUD))
    assert claims["sub"] == SUB and claims["aud"] == AUD and claims["iss"] == ISS


ATTACKS = sorted(attack_tokens(SigningKey.generate("ES256", "k"), SUB, iss=ISS, aud=AUD))


@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_tokens_are_refused_with_401(signer, attack):
    """Every token of the attack set raises AuthenticationFailed, which the API maps to 401 + WWW-Authenticate."""
    token = attack_tokens(signer, SUB, iss=ISS, aud=AUD)[attack]
    with pytest.raises(AuthenticationFailed) as info:
        verifier_for(signer).verify(token)
    response = domain_error_response(info.value)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_rsa_token_with_the_kid_of_an_ec_key_is_refused():
    """The key's type must match the token's algorithm (no cross-family confusion)."""
    ec_key, rsa_key = SigningKey.generate("ES256", "shared"), SigningKey.generate("RS256", "shared")
    with pytest.raises(AuthenticationFailed):
        verifier_for(ec_key).verify(mint(rsa_key, SUB, iss=ISS, aud=AUD))


def test_symmetric_algorithms_cannot_be_configured():
    """HS* in the allow-list would reopen algorithm confusion: refused at construction."""
    with pytest.raises(ValueError):
        TokenVerifier(StaticKeySource([]), issuer=ISS, audience=AUD, algorithms=["ES256", "HS256"])


def test_small_leeway_tolerates_clock_skew(signer):
    """A token that expired a few seconds ago is still accepted within the leeway (clock skew)."""
    import time

    now = int(time.time())
    token = mint(signer, SUB, iss=ISS, aud=AUD, iat=now - 100, nbf=now - 100, exp=now - 5)
    assert verifier_for(signer).verify(token)["sub"] == SUB


def test_jwks_url_keys_are_cached_and_refetched_once_on_unknown_kid(signer):
    """JWKS from a real local HTTP server: cached; rotation (new kid) → one refetch; a bogus kid → one refetch, 401."""
    new_key = SigningKey.generate(signer.alg, "rotated-key-2")
    with jwks_server([signer.public_jwk]) as srv:
        source = JWKSKeySource(srv.url, min_refetch_interval_s=0)
        verifier = TokenVerifier(source, issuer=ISS, audience=AUD)
        assert verifier.verify(mint(signer, SUB, iss=ISS, aud=AUD))["sub"] == SUB
        assert verifier.verify(mint(signer, SUB, iss=ISS, aud=AUD))["sub"] == SUB
        assert srv.hits == 1  # cached

        srv.keys = [signer.public_jwk, new_key.public_jwk]  # the IdP rotates
        assert verifier.verify(mint(new_key, SUB, iss=ISS, aud=AUD))["sub"] == SUB
        assert srv.hits == 2  # exactly one refetch for the unknown kid

        bogus = attack_tokens(signer, SUB, iss=ISS, aud=AUD)["unknown-kid"]
        with pytest.raises(AuthenticationFailed):
            verifier.verify(bogus)
        assert srv.hits == 3  # one refetch, then refused


def test_jwks_refetch_is_throttled_against_random_kids(signer):
    """Within the minimum refetch interval, unknown kids do not make us hit the IdP again."""
    with jwks_server([signer.public_jwk]) as srv:
        verifier = TokenVerifier(JWKSKeySource(srv.url, min_refetch_interval_s=3600), issuer=ISS, audience=AUD)
        verifier.verify(mint(signer, SUB, iss=ISS, aud=AUD))
        for _ in range(5):
            with pytest.raises(AuthenticationFailed):
                verifier.verify(attack_tokens(signer, SUB, iss=ISS, aud=AUD)["unknown-kid"])
        assert srv.hits == 1
