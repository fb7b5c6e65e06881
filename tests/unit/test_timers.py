"""Pure parts of timed waits: the pathway's wait key and wake time, the shared file clock, and its setting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet

from core.clock import FileClock
from core.errors import ConfigError
from core.settings import load_settings
from flows.pathway import PassResult, Timer

T0 = datetime(2027, 1, 1, tzinfo=UTC)


def test_a_decision_comes_before_a_timer_in_the_key_and_the_earliest_timer_sets_the_wake():
    r = PassResult(open=["release-consent"], timers=[Timer("notice", T0 + timedelta(days=9)),
                                                     Timer("followup-1w", T0 + timedelta(days=2))])
    assert r.waiting and r.wait_key(3) == "release-consent-3"
    assert r.wake_at() == T0 + timedelta(days=2)
    only_timers = PassResult(timers=[Timer("notice", T0 + timedelta(days=9)), Timer("followup-1w", T0)])
    assert only_timers.wait_key(1) == "followup-1w-1"
    assert PassResult(open=["medical-consent"]).wake_at() is None
    assert not PassResult(done=["intake"]).waiting


def test_the_file_clock_shifts_the_wall_clock_and_never_goes_back(tmp_path):
    path = tmp_path / "clock"
    clock = FileClock(path)
    assert abs((clock.now() - datetime.now(UTC)).total_seconds()) < 5  # no file: the wall clock
    later = clock.advance(timedelta(days=365 * 20))
    assert later - datetime.now(UTC) > timedelta(days=365 * 20 - 1)
    other_process = FileClock(path)  # another process reads the same offset
    assert abs((other_process.now() - clock.now()).total_seconds()) < 5
    with pytest.raises(ValueError, match="never goes backwards"):
        clock.advance(timedelta(seconds=-1))
    path.write_text("5")  # someone wrote a smaller offset: refused, time does not run back
    with pytest.raises(ValueError, match="went back"):
        other_process.now()


def test_the_shared_clock_is_refused_in_production(tmp_path):
    with pytest.raises(ConfigError, match="COC_CLOCK_FILE"):
        load_settings(mode="production", clock_file=tmp_path / "clock", database_url="postgresql://x/y",
                      s3_endpoint="s3:9000", s3_access_key="a", s3_secret_key="b", prefect_api_url="http://p/api",
                      jwt_issuer="https://coc", jwt_jwks_url="https://coc/jwks",
                      identity_key=Fernet.generate_key().decode())
