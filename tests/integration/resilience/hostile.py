"""Hostile webhook deliveries: GitLab's documented payloads (tests/fixtures/gitlab), made
to point at a real project and MR, then mutated — fields removed, wrong types, huge
strings, deep nesting, unicode (lone surrogates, NUL, right-to-left marks), broken
bytes, a wrong or missing event header or content type.

`must_not_queue` is the test's own reading of GitLab's documented payloads: the fields
without which a delivery cannot mean anything (which project, which MR, what happened).
A delivery with one of those broken must never be queued (202): nothing may be created
from it. It is deliberately one-sided: a delivery it lets pass may still be refused.
"""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from tests.integration.resilience.support import Project
from tests.integration.webhook_support import fixture

MR_HOOK, PIPELINE_HOOK, PUSH_HOOK = "Merge Request Hook", "Pipeline Hook", "Push Hook"
HANDLED = (MR_HOOK, PIPELINE_HOOK, PUSH_HOOK)
MR_ACTIONS = ("open", "reopen", "update", "close", "merge")
BASES = (("merge_request_open", MR_HOOK), ("merge_request_update_commits", MR_HOOK),
         ("merge_request_update_labels", MR_HOOK), ("merge_request_close", MR_HOOK),
         ("merge_request_merge", MR_HOOK), ("merge_request_approved", MR_HOOK),
         ("pipeline_success_mr", PIPELINE_HOOK), ("pipeline_success_branch", PIPELINE_HOOK),
         ("pipeline_failed", PIPELINE_HOOK), ("push_branch_deleted", PUSH_HOOK),
         ("push_commits", PUSH_HOOK))
MAX_BODY = 1024 * 1024


@dataclass(frozen=True)
class HostileDelivery:
    event_type: str
    body: bytes
    content_type: str
    what: str  # the mutations, for a failure message

    @property
    def payload(self) -> Any:
        """The JSON as the server reads it (None: it cannot)."""
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):
            return None


def based_on(name: str, project: Project, iid: int, sha: str) -> dict[str, Any]:
    """A documented payload, about ``project``'s MR ``iid`` at ``sha``."""
    payload = copy.deepcopy(fixture(name))
    payload["project"].update(id=project.id, path_with_namespace=project.path,
                              default_branch="main")
    attributes = payload.get("object_attributes", {})
    if payload.get("merge_request"):
        payload["merge_request"].update(iid=iid, source_branch=f"feature-{iid}",
                                        target_branch="main")
        attributes.update(sha=sha, ref=f"feature-{iid}")
    elif name.startswith("merge_request"):
        attributes.update(iid=iid, source_branch=f"feature-{iid}", target_branch="main")
        attributes.setdefault("last_commit", {})["id"] = sha
    elif name.startswith("pipeline"):
        attributes.update(sha=sha, ref=f"feature-{iid}")
    else:
        payload.update(ref=f"refs/heads/feature-{iid}", project_id=project.id)
    return payload


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:3]):
            found += _paths(item, (*prefix, index))
    return found


def _set(payload: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = payload
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return payload


def _delete(payload: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return {}
    parent = payload
    for step in path[:-1]:
        parent = parent[step]
    del parent[path[-1]]
    return payload


# Lone surrogates ("\ud800") have their own test (test_a_lone_surrogate_is_never_a_5xx).
NASTY_TEXT = ["", " ", "\u0000", "\u202egnp.exe", "\ufeff", "\u2028",
              "../../etc/passwd", "--set x=y", "$(reboot)", "`id`", "{{ .Values }}",
              "<!channel>", "' OR 1=1 --", "🚀" * 10, "\uff46\uff55\uff4c\uff4c", "a\nb", "\t",
              "null", "main", "refs/heads/main", "0" * 40, "x" * 300]
WRONG_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(NASTY_TEXT),
    st.text(max_size=40), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3))


@st.composite
def hostile_deliveries(draw: st.DrawFn, project: Project, iids: tuple[int, ...],
                       shas: dict[int, str]) -> HostileDelivery:
    name, event_type = draw(st.sampled_from(BASES))
    iid = draw(st.sampled_from(iids))
    payload: Any = based_on(name, project, iid, shas[iid])
    done: list[str] = [name]
    deep: dict[str, int] = {}
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(payload)
        path = draw(st.sampled_from(paths))
        operation = draw(st.sampled_from(
            ["delete", "wrong", "wrong", "text", "huge", "deep", "rename", "duplicate-iid"]))
        if operation == "delete":
            payload = _delete(payload, path)
        elif operation == "wrong":
            payload = _set(payload, path, draw(WRONG_VALUES))
        elif operation == "text":
            payload = _set(payload, path, draw(st.text(min_size=0, max_size=200)))
        elif operation == "huge":
            size = draw(st.sampled_from([10_000, 300_000, 1_100_000]))
            payload = _set(payload, path, draw(st.sampled_from(["x", "é", "🚀"])) * size)
        elif operation == "deep":
            token = f"__deep_{uuid.uuid4().hex}__"
            deep[token] = draw(st.sampled_from([50, 900, 5_000, 100_000]))
            payload = _set(payload, path, token)
        elif operation == "rename" and path and isinstance(path[-1], str):
            value = _get(payload, path)
            payload = _delete(payload, path)
            payload = _set(payload, (*path[:-1], path[-1].upper()), value)
        elif operation == "duplicate-iid":  # another MR of the project, still well-formed
            payload = _set(payload, path, draw(st.sampled_from(iids))) if path else payload
        done.append(f"{operation} {'.'.join(map(str, path)) or '<top>'}")
    text = json.dumps(payload, ensure_ascii=draw(st.booleans()))
    for token, depth in deep.items():
        text = text.replace(f'"{token}"', "[" * depth + "]" * depth)
    body = text.encode("utf-8", errors="surrogatepass")
    raw = draw(st.sampled_from(["none"] * 12 + ["truncate", "bad-utf8", "bom", "empty",
                                                "array", "scalar"]))
    if raw == "truncate":
        body = body[: draw(st.integers(min_value=0, max_value=max(0, len(body) - 1)))]
    elif raw == "bad-utf8":
        at = draw(st.integers(min_value=0, max_value=len(body)))
        body = body[:at] + b"\xff\xfe\xc3" + body[at:]
    elif raw == "bom":
        body = b"\xef\xbb\xbf" + body
    elif raw == "empty":
        body = b""
    elif raw == "array":
        body = b"[" + body + b"]"
    elif raw == "scalar":
        body = draw(st.sampled_from([b"42", b'"text"', b"null", b"true"]))
    header = draw(st.sampled_from(
        [event_type] * 16 + [h for h in HANDLED if h != event_type]
        + ["", "Merge Request", "merge request hook", "Note Hook", "System Hook", " " * 3,
           f" {event_type} "]))
    content_type = draw(st.sampled_from(["application/json"] * 16 + [
        "application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencoded",
        ""]))
    if raw != "none":
        done.append(raw)
    return HostileDelivery(header, body, content_type, ", ".join(done))


def _get(payload: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        payload = payload[step]
    return payload


def _text(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _commit_sha(value: Any) -> bool:
    return isinstance(value, str) and len(value) in (40, 64) \
        and all(c in "0123456789abcdef" for c in value)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def must_not_queue(delivery: HostileDelivery) -> str | None:
    """Why this delivery can mean nothing, by GitLab's documented payloads (None: it
    might be a valid event)."""
    if delivery.content_type.split(";")[0].strip().lower() != "application/json":
        return "not sent as JSON"
    payload = delivery.payload
    if not isinstance(payload, dict):
        return "not a JSON object"
    kind = delivery.event_type.strip()
    if kind not in HANDLED:
        return f"event {kind!r} is not one previewbot acts on"
    project = payload.get("project")
    if not isinstance(project, dict) or not _integer(project.get("id")) \
            or not _text(project.get("path_with_namespace")):
        return "no project"
    attributes = payload.get("object_attributes")
    if kind == MR_HOOK:
        if not isinstance(attributes, dict) or not _text(attributes.get("action")):
            return "no MR action"
        if attributes["action"] in MR_ACTIONS and not (
                _integer(attributes.get("iid")) and _text(attributes.get("source_branch"))
                and _text(attributes.get("state"))):
            return "no MR identity"
    if kind == PIPELINE_HOOK:
        if not isinstance(attributes, dict) or not _text(attributes.get("status")) \
                or not _commit_sha(attributes.get("sha")):
            return "no pipeline status or full commit sha"
        merge_request = payload.get("merge_request")
        if attributes["status"] == "success" and merge_request is not None and not (
                isinstance(merge_request, dict) and _integer(merge_request.get("iid"))):
            return "a pipeline of no MR"
    if kind == PUSH_HOOK and not (_text(payload.get("ref")) and _text(payload.get("after"))):
        return "no ref"
    return None
