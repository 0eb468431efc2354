"""examples/: the application pipeline pushes an image tagged with the commit sha,
and the Argo CD Application deploys the bot's chart from this repository."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[3]


def load(path: str) -> Any:
    return yaml.safe_load((REPO / path).read_text())


def test_the_pipeline_builds_and_pushes_the_commit_sha() -> None:
    pipeline = load("examples/gitlab-ci/.gitlab-ci.yml")
    assert pipeline["variables"]["IMAGE_TAG"] == "$CI_COMMIT_SHA"
    job = pipeline["build-image"]
    script = "\n".join(job["script"])
    assert 'docker push "$IMAGE:$IMAGE_TAG"' in script
    assert '--tag "$IMAGE:$IMAGE_TAG"' in script
    assert "--password-stdin" in script and "-p " not in script  # no password on argv
    conditions = [rule["if"] for rule in job["rules"]]
    assert '$CI_PIPELINE_SOURCE == "merge_request_event"' in conditions
    assert job["stage"] in pipeline["stages"]


def test_the_argocd_application_deploys_this_chart() -> None:
    application = load("examples/argocd/application.yaml")
    assert (application["apiVersion"], application["kind"]) == ("argoproj.io/v1alpha1",
                                                                "Application")
    source = application["spec"]["source"]
    chart = REPO / source["path"]
    assert source["path"] == "charts/previewbot" and (chart / "Chart.yaml").exists()
    for values_file in source["helm"]["valueFiles"]:
        assert (chart / values_file).resolve().is_file(), values_file
    assert source["targetRevision"] == "main"
    sync = application["spec"]["syncPolicy"]
    assert sync["automated"] == {"prune": True, "selfHeal": True}
