"""The OpenFeature provider answers exactly what ``route()`` answers, through the real SDK."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

from cmo.adapters.openfeature_provider import FLAG_KEYS, CMOFlagProvider
from cmo.domain.flags import (
    LIGHTRAG,
    Availability,
    Experiment,
    FlagContext,
    FlagState,
    Variant,
    route,
    select_variant,
)


class Box:
    """A mutable holder standing in for ControlState: ``state`` is read on every evaluation."""

    def __init__(self, state: FlagState) -> None:
        self.state = state


@pytest.fixture
def box() -> Box:
    return Box(FlagState(version=7, rollout_percentage=30))


@pytest.fixture
def client(box: Box) -> Iterator[OpenFeatureClient]:
    # set_provider() initialises on a background thread in openfeature-sdk 0.10; waiting makes
    # the provider READY before the first evaluation (otherwise: PROVIDER_NOT_READY).
    api.set_provider_and_wait(CMOFlagProvider(lambda: box.state))
    yield api.get_client()
    api.clear_providers()


def ctx(user: str) -> EvaluationContext:
    return EvaluationContext(targeting_key=user)


def test_metadata_names_the_provider(client: OpenFeatureClient) -> None:
    assert api.get_provider_metadata().name == "CMOFlagProvider"
    assert client.get_metadata().domain is None  # the default (unnamed) domain


def test_answers_equal_route_for_500_users_at_rollout_30(client: OpenFeatureClient,
                                                         box: Box) -> None:
    provider_cohort, route_cohort = set(), set()
    for i in range(500):
        user = f"user-{i}"
        expected = route(box.state, FlagContext(user_id=user))
        on = client.get_boolean_value("lightrag.route", False, ctx(user))
        assert on == (expected.backend == LIGHTRAG)
        assert client.get_string_value("backend", "none", ctx(user)) == expected.backend
        assert client.get_integer_value("lightrag.bucket", 0, ctx(user)) == expected.bucket
        if on:
            provider_cohort.add(user)
        if expected.backend == LIGHTRAG:
            route_cohort.add(user)
    assert provider_cohort == route_cohort
    assert 0.22 < len(provider_cohort) / 500 < 0.38


def test_session_id_attribute_is_the_session(client: OpenFeatureClient, box: Box) -> None:
    for key in ("sessionId", "session_id"):
        for i in range(50):
            expected = route(box.state, FlagContext(session_id=f"s{i}"))
            got = client.get_integer_value("lightrag.bucket", 0,
                                           EvaluationContext(attributes={key: f"s{i}"}))
            assert got == expected.bucket


def test_state_change_is_reflected_immediately(client: OpenFeatureClient, box: Box) -> None:
    box.state = FlagState(version=1, rollout_percentage=0)
    assert client.get_boolean_value("lightrag.route", True, ctx("u1")) is False
    assert client.get_string_value("backend", "none", ctx("u1")) == "perplexity"
    box.state = replace(box.state, version=2, rollout_percentage=100)
    details = client.get_boolean_details("lightrag.route", False, ctx("u1"))
    assert details.value is True
    assert details.reason == Reason.SPLIT and details.variant == "on"
    assert details.flag_metadata["flag_version"] == 2
    box.state = replace(box.state, version=3, kill_switch=True)
    details = client.get_boolean_details("lightrag.route", True, ctx("u1"))
    assert details.value is False and details.reason == Reason.DISABLED
    assert details.variant == "off" and details.flag_metadata["reason"] == "kill-switch"
    assert client.get_boolean_value("lightrag.kill_switch", False) is True
    assert client.get_boolean_value("lightrag.enabled", True) is False


def test_details_carry_flag_version_and_route_reason(client: OpenFeatureClient,
                                                     box: Box) -> None:
    for flag, call in (("lightrag.route", client.get_boolean_details),
                       ("lightrag.shadow_mode", client.get_boolean_details)):
        details = call(flag, False, ctx("u1"))
        assert details.error_code is None
        assert details.flag_metadata["flag_version"] == 7
        assert details.flag_metadata["reason"] == "rollout"
    pct = client.get_float_details("lightrag.rollout_percentage", 0.0)
    assert pct.value == 30.0 and pct.reason == Reason.STATIC
    assert pct.flag_metadata["flag_version"] == 7


def test_integer_percentage_is_still_a_float(client: OpenFeatureClient, box: Box) -> None:
    box.state = replace(box.state, rollout_percentage=25)
    value = client.get_float_value("lightrag.rollout_percentage", 0.0)
    assert isinstance(value, float) and value == 25.0


@pytest.mark.parametrize("change, reason, flag_reason", [
    ({"allow_users": frozenset({"u1"})}, Reason.TARGETING_MATCH, "allowlist"),
    ({"deny_users": frozenset({"u1"})}, Reason.TARGETING_MATCH, "denylist"),
    ({"lightrag_enabled": False}, Reason.DISABLED, "disabled"),
    ({"canary_percentage": 100.0}, Reason.SPLIT, "canary"),
    ({"breakers": {"lightrag": "open"}}, Reason.STATIC, "breaker-open"),
    ({"budget_stop": True}, Reason.STATIC, "budget"),
])
def test_route_reasons_map_to_openfeature_reasons(client: OpenFeatureClient, box: Box,
                                                  change: dict[str, object], reason: Reason,
                                                  flag_reason: str) -> None:
    box.state = replace(box.state, **change)  # type: ignore[arg-type]
    for details in (client.get_boolean_details("lightrag.route", False, ctx("u1")),
                    client.get_string_details("backend", "none", ctx("u1"))):
        assert details.reason == reason
        assert details.flag_metadata["reason"] == flag_reason


def test_availability_is_passed_to_route() -> None:
    state = FlagState(rollout_percentage=0)
    api.set_provider_and_wait(CMOFlagProvider(lambda: state, Availability(perplexity=False)))
    try:
        details = api.get_client().get_string_details("backend", "none", ctx("u1"))
        assert details.value == "lightrag" and details.reason == Reason.STATIC
        assert details.flag_metadata["reason"] == "perplexity-unavailable"
    finally:
        api.clear_providers()


def test_ab_variant_matches_select_variant(client: OpenFeatureClient, box: Box) -> None:
    exp = Experiment("lightrag-vs-perplexity",
                     (Variant("lightrag-a", 50, "lightrag"), Variant("perplexity-b", 50, "perplexity")))
    box.state = replace(box.state, experiment=exp)
    for i in range(200):
        user = f"user-{i}"
        chosen = select_variant(exp, FlagContext(user_id=user))
        assert chosen is not None
        details = client.get_string_details("ab.variant", "none", ctx(user))
        assert details.value == chosen.name == details.variant
        assert details.reason == Reason.TARGETING_MATCH
        on = client.get_boolean_details("lightrag.route", False, ctx(user))
        assert on.variant == chosen.name and on.reason == Reason.TARGETING_MATCH
        assert on.value == (chosen.backend == LIGHTRAG)
        backend = client.get_string_details("backend", "none", ctx(user))
        assert backend.variant == chosen.name


def test_ab_variant_without_experiment_is_the_default(client: OpenFeatureClient) -> None:
    details = client.get_string_details("ab.variant", "control", ctx("u1"))
    assert details.value == "control" and details.reason == Reason.DEFAULT
    assert details.error_code is None


def test_unknown_flag_is_default_and_not_found(client: OpenFeatureClient) -> None:
    assert "nope" not in FLAG_KEYS
    cases = [(client.get_boolean_details, True), (client.get_string_details, "dflt"),
             (client.get_integer_details, 42), (client.get_float_details, 4.2),
             (client.get_object_details, {"k": "v"})]
    for call, default in cases:
        details = call("nope", default, ctx("u1"))  # type: ignore[operator]
        assert details.value == default
        assert details.error_code == ErrorCode.FLAG_NOT_FOUND
        assert details.reason == Reason.ERROR


def test_wrong_type_is_default_and_type_mismatch(client: OpenFeatureClient) -> None:
    cases = [(client.get_string_details, "lightrag.route", "x"),
             (client.get_boolean_details, "backend", True),
             (client.get_integer_details, "lightrag.rollout_percentage", 5),
             (client.get_float_details, "lightrag.bucket", 0.5),
             (client.get_object_details, "backend", ["x"])]
    for call, flag, default in cases:
        details = call(flag, default, ctx("u1"))  # type: ignore[operator]
        assert details.value == default
        assert details.error_code == ErrorCode.TYPE_MISMATCH


def test_bad_context_attribute_is_invalid_context(client: OpenFeatureClient) -> None:
    bad = EvaluationContext(targeting_key="u1", attributes={"sessionId": 12})
    details = client.get_boolean_details("lightrag.route", True, bad)
    assert details.value is True and details.error_code == ErrorCode.INVALID_CONTEXT


def test_clear_providers_restores_the_no_op_provider(box: Box) -> None:
    api.set_provider_and_wait(CMOFlagProvider(lambda: box.state))
    api.clear_providers()
    assert api.get_provider_metadata().name != "CMOFlagProvider"
