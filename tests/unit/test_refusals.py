"""Explaining an AMQP refusal: the permission from the broker's text (4.x) or from the step refused (3.x)."""

from __future__ import annotations

from visualiser.sources.refusals import Step, explain

BIND = Step("binding queue 'q' to exchange 'celeryev'", (("queue", "q", "write"), ("exchange", "celeryev", "read")))


def test_rabbitmq_3_names_the_resource_and_the_step_names_the_permission() -> None:
    message = "Queue.bind: (403) ACCESS_REFUSED - access to exchange 'celeryev' in vhost 'v' refused for user 'u'"
    assert explain(BIND, message) == (
        "the user lacks read permission on exchange 'celeryev' (needed for binding queue 'q' to exchange 'celeryev')"
    )
    message = "Queue.bind: (403) ACCESS_REFUSED - access to queue 'q' in vhost 'v' refused for user 'u'"
    assert explain(BIND, message).startswith("the user lacks write permission on queue 'q'")


def test_rabbitmq_4_names_the_permission_itself() -> None:
    message = "(403) ACCESS_REFUSED - configure access to queue 'q' in vhost 'v' refused for user 'u'"
    assert explain(Step("declaring queue 'q'"), message).startswith("the user lacks configure permission on queue 'q'")


def test_a_resource_the_step_does_not_know_is_named_without_guessing() -> None:
    message = "ACCESS_REFUSED - access to queue 'other' in vhost 'v' refused for user 'u'"
    assert (
        explain(BIND, message)
        == "the broker refused access to queue 'other' (binding queue 'q' to exchange 'celeryev')"
    )


def test_login_and_vhost_refusals() -> None:
    assert explain(Step("connecting"), "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN") == (
        "the broker refused the user name or password"
    )
    assert explain(Step("connecting"), "(530) NOT_ALLOWED - access to vhost 'orders' refused for user 'u'") == (
        "the user has no permissions on vhost 'orders'"
    )
