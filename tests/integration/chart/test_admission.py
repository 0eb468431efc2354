"""The ValidatingAdmissionPolicy on the real API server: requests made with the bot's
own token (TokenRequest), straight through the Kubernetes client, so the guard is
shown to hold whatever previewbot's code does."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from kubernetes import client

from tests.integration.chart.admission import (
    MANAGED,
    RESTRICTED,
    binding,
    denied,
    exists,
    namespace,
    ours,
)
from tests.integration.chart.bot_chart import InstalledBot


def test_creating_a_namespace_needs_the_label_and_the_prefix(
        bot: InstalledBot, as_bot: client.ApiClient, kube_api: client.ApiClient) -> None:
    core = client.CoreV1Api(as_bot)
    unlabelled = f"preview-adm-{uuid.uuid4().hex[:8]}"
    denied(bot, lambda: core.create_namespace(namespace(unlabelled, None)),
           "may only create namespaces labelled app.kubernetes.io/managed-by=previewbot")
    assert not exists(kube_api, unlabelled)
    elsewhere = f"team-{uuid.uuid4().hex[:8]}"
    denied(bot, lambda: core.create_namespace(namespace(elsewhere, ours(bot))), "named preview-")
    assert not exists(kube_api, elsewhere)
    # Without this installation's instance label (an old version's, or another's): denied.
    other = f"preview-adm-{uuid.uuid4().hex[:8]}"
    for labels in (MANAGED | RESTRICTED, ours(bot) | {"previewbot/instance": "production"}):
        denied(bot, lambda labels=labels: core.create_namespace(namespace(other, labels)),
               f"previewbot/instance={bot.instance}")
    assert not exists(kube_api, other)

    labelled = f"preview-adm-{uuid.uuid4().hex[:8]}"
    core.create_namespace(namespace(labelled, ours(bot)))
    assert exists(kube_api, labelled)
    core.delete_namespace(labelled)  # its own: allowed
    assert not exists(kube_api, labelled)


def test_deleting_or_updating_an_unlabelled_namespace_is_denied(
        bot: InstalledBot, as_bot: client.ApiClient, kube_api: client.ApiClient,
        admin_namespace: Callable[..., str]) -> None:
    core = client.CoreV1Api(as_bot)
    stranger = admin_namespace("team")
    denied(bot, lambda: core.delete_namespace(stranger),
           "may only delete namespaces labelled app.kubernetes.io/managed-by=previewbot")
    assert exists(kube_api, stranger)
    # Adopting it by adding the label is an update of an unlabelled namespace: denied.
    denied(bot, lambda: core.patch_namespace(stranger, {"metadata": {"labels": MANAGED}}),
           "may only update namespaces labelled")
    assert client.CoreV1Api(kube_api).read_namespace(stranger).metadata.labels.get(
        "app.kubernetes.io/managed-by") is None


def test_a_labelled_namespace_may_be_annotated_and_deleted_but_not_unlabelled(
        bot: InstalledBot, as_bot: client.ApiClient, kube_api: client.ApiClient,
        admin_namespace: Callable[..., str]) -> None:
    core = client.CoreV1Api(as_bot)
    managed = admin_namespace(labels=ours(bot))
    core.patch_namespace(managed, {"metadata": {"annotations": {"previewbot/owner": "alice"}}})
    for label in ("app.kubernetes.io/managed-by", "previewbot/instance"):
        denied(bot, lambda label=label: core.patch_namespace(
            managed, {"metadata": {"labels": {label: None}}}), "and not remove those labels")
    core.delete_namespace(managed)
    assert not exists(kube_api, managed)


def test_role_bindings_only_in_managed_namespaces_and_only_the_namespace_role_to_itself(
        bot: InstalledBot, as_bot: client.ApiClient, kube_api: client.ApiClient,
        admin_namespace: Callable[..., str]) -> None:
    rbac = client.RbacAuthorizationV1Api(as_bot)
    stranger = admin_namespace("team")
    # `bind` on the namespace role is allowed by RBAC everywhere; the policy is what
    # keeps it out of namespaces previewbot does not manage.
    denied(bot, lambda: rbac.create_namespaced_role_binding(
        stranger, binding(bot, bot.namespace_role)),
        "may only write RoleBindings in namespaces labelled")
    denied(bot, lambda: rbac.create_namespaced_role_binding(
        "kube-system", binding(bot, bot.namespace_role)),
        "may only write RoleBindings in namespaces labelled")

    # Another installation's namespace (the same managed-by label): not this bot's to bind.
    theirs = admin_namespace(labels=ours(bot) | {"previewbot/instance": "production"})
    denied(bot, lambda: rbac.create_namespaced_role_binding(
        theirs, binding(bot, bot.namespace_role)),
        f"may only write RoleBindings in namespaces labelled app.kubernetes.io/managed-by="
        f"previewbot and previewbot/instance={bot.instance}")

    managed = admin_namespace(labels=ours(bot))
    denied(bot, lambda: rbac.create_namespaced_role_binding(
        managed, binding(bot, bot.namespace_role, account="someone-else")),
        f"may only bind ClusterRole {bot.namespace_role} to its own service account")
    rbac.create_namespaced_role_binding(managed, binding(bot, bot.namespace_role))
    assert client.RbacAuthorizationV1Api(kube_api).read_namespaced_role_binding(
        "previewbot", managed).role_ref.name == bot.namespace_role


def test_other_users_are_not_affected(kube_api: client.ApiClient,
                                      admin_namespace: Callable[..., str],
                                      bot: InstalledBot) -> None:
    stranger = admin_namespace("team")  # the admin creates an unlabelled namespace...
    client.CoreV1Api(kube_api).delete_namespace(stranger)  # ...and deletes it
    assert not exists(kube_api, stranger)
