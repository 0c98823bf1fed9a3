"""schemathesis against the hub's own OpenAPI description: for every operation, requests generated from
the description (bodies, path and query parameters), both ones it allows and ones it does not, are sent
over HTTP to the API served by uvicorn with an admin's token (the role that reaches the most); none gets a
server error."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from helpers import ACTOR, root_url, serve_api
from hub.tokens import issue
from hub.views.publish import publish

EXAMPLES = 15  # per operation


@pytest.fixture(scope="module")
def served(linked_hub):
    publish(linked_hub, actor=ACTOR)
    token = issue(linked_hub, role="admin", subject="fuzz", actor=ACTOR)
    with serve_api(linked_hub) as client:
        yield root_url(client), {"Authorization": f"Bearer {token}"}


def test_no_generated_request_gets_a_server_error(served):
    base, admin = served
    schema = schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json")
    failures, operations, sent = [], 0, [0]
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            @given(case=operation.as_strategy(generation_mode=mode))
            def send(case):
                response = case.call(base_url=base, headers=admin)
                sent[0] += 1
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path} {case.query}: {response.text[:200]}")

            try:
                send()
            except Unsatisfiable:  # an operation without parameters or body has no invalid form to send
                assert mode is GenerationMode.NEGATIVE
    assert operations >= 25 and sent[0] >= operations * 5
    assert failures == []
