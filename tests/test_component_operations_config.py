"""Operations settings: validation of the args, and the stack config keys that reach the alarms, metrics, tracing."""

from __future__ import annotations

import pytest

from components import MnistPredictorArgs
from test_component_operations import alarms
from test_component_program import run_program, trained_function_dir  # noqa: F401 - a fixture


@pytest.mark.parametrize("settings, message", [
    ({"alarm_email": "not an address"}, "alarm_email must be one email address"),
    ({"alarm_email": "a@b@c"}, "alarm_email must be one email address"),
    ({"metrics_namespace": "AWS/Lambda"}, "metrics_namespace must be"),
    ({"metrics_namespace": "bad{name}"}, "metrics_namespace must be"),
    ({"alarm_duration_percent": 0}, "alarm_duration_percent must be a whole number between 1 and 100"),
    ({"alarm_api_5xx_threshold": 0}, "alarm_api_5xx_threshold must be a whole number 1 or more"),
    ({"alarm_queue_age_seconds": 30}, "alarm_queue_age_seconds must be a whole number between 60 and 1209600"),
])
def test_bad_operations_settings_fail_fast_naming_the_field(settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MnistPredictorArgs(**settings)


def test_stack_config_keys_reach_the_operations(trained_function_dir: None) -> None:
    deployment = run_program({
        "alarmEmail": "ops@example.com", "alarmApi5xxThreshold": "9", "alarmErrorsThreshold": "2",
        "alarmThrottlesThreshold": "3", "alarmDurationPercent": "50", "alarmQueueAgeSeconds": "120",
        "metricsNamespace": "Team/Mnist", "tracing": "true"})
    mocks, found = deployment.mocks, alarms(deployment)
    assert mocks.one("aws:sns/topicSubscription:TopicSubscription")["endpoint"] == "ops@example.com"
    assert [found[f"mnist-{role}"]["threshold"] for role in ("api-5xx", "fn-errors", "fn-throttles", "fn-duration")] \
        == [9, 2, 3, 7_500]
    fn = mocks.one("aws:lambda/function:Function")
    assert fn["environment"]["variables"]["METRICS_NAMESPACE"] == "Team/Mnist"
    assert fn["tracingConfig"]["mode"] == "Active"
    assert deployment.outputs["dashboard_url"].endswith("#dashboards:name=mnist-fn-0d1e")
    assert alarms(run_program({"alarms": "false"})) == {}


def test_bad_operations_config_names_the_key(trained_function_dir: None) -> None:
    with pytest.raises(Exception, match="mnist:alarmEmail: alarm_email must be one email address"):
        run_program({"alarmEmail": "nobody"})
