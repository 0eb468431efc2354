"""Kubernetes names for projects and environments (README "How it converges").

Every name made here is a lowercase DNS-1123 label (``[a-z0-9]([-a-z0-9]*[a-z0-9])?``)
within its limit:

- project slug      ≤ 40  (``gitlabhq/gitlab-test`` → ``gitlabhq-gitlab-test``)
- ENV key           ≤ 53  (``<slug>-mr-<iid>`` / ``<slug>-<branch-slug>``)
- Helm release      ≤ 53  (= ENV)
- namespace         ≤ 63  (``preview-<ENV>``)

ENV keys are capped at 53, not 63, so that the release is always exactly ENV and
the namespace always exactly ``preview-`` + ENV: the bot can read ENV back from a
namespace name when it rebuilds its registry from the cluster. A name over its
limit is cut, without a trailing ``-``, and gets ``-`` + the first 6 hex digits of
the sha256 of the full, unshortened name, so shortening is stable and two long
names that share a prefix still differ.

Slugs are 40 characters at most so that ``<slug>-mr-<iid>`` needs no shortening
for any realistic MR number; when a longer slug is passed anyway, the slug (not
the ``-mr-<iid>`` tail) is shortened, so two MRs of one project never collide.

Never two inputs onto one name — what holds and what is left:

- Branch slugs are lossy (``Feature/X`` and ``feature-x`` both slug to
  ``feature-x``). A branch that already is a clean slug keeps its name; any
  other branch gets ``-<hash6 of the raw branch>`` appended. Clean names that
  *look* generated (ending in ``-`` + 6 hex digits) or that end like an MR key
  (``mr-7``, ``web-mr-7``) are hashed too, so clean and hashed names never meet, and a
  branch never takes the key of an MR, of the same project or of another one whose
  slug extends this one's (``app`` branch ``web-mr-7`` vs ``app-web`` ``!7``).
- Residual risk: two different raw branches whose 24-bit hashes collide, which
  someone could craft on purpose with a few million tries. Keys from different
  projects can also meet (project ``a`` branch ``b-c`` vs. project ``a-b``
  branch ``c``). Such a key is never shared: the engine gives the second
  identity the key with a stable hash of its identity appended
  (:func:`identity_key`), so a collision is told apart, never merged.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from bot.domain.errors import PermanentError
from bot.domain.messages import ENV_REF_FORMS, quoted

DNS_LABEL_MAX = 63
PROJECT_SLUG_MAX = 40
ENV_KEY_MAX = 53
RELEASE_MAX = 53
NAMESPACE_MAX = DNS_LABEL_MAX
NAMESPACE_PREFIX = "preview-"
HASH_LEN = 6
MR_IID_MAX = 10**12 - 1  # GitLab iids are 32-bit; this only stops absurd input

_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?")
_NOT_SLUG_CHARS = re.compile(r"[^a-z0-9]+")
# Clean branch names of these shapes would be mistaken for generated ones: an MR key
# (``mr-7``, and ``web-mr-7``, which after another project's slug ``…-web`` would be
# that project's ``!7``) or a shortened name (``…-<6 hex>``).
_LOOKS_GENERATED = re.compile(rf"(?:.*-)?mr-[0-9]+|.*-[0-9a-f]{{{HASH_LEN}}}")
# GitLab path segment: letters, digits, '_', '.', '-'; never '@' or '!'.
_PROJECT_PATH = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_.][A-Za-z0-9_.-]*)*")
_MR_IID = re.compile(r"[0-9]{1,12}")
_NOT_REF_SLUG_CHAR = re.compile(r"[^a-z0-9]")
_BRANCH_MAX = 255


def is_dns_label(text: str, max_len: int = DNS_LABEL_MAX) -> bool:
    """True when ``text`` is a lowercase DNS-1123 label of at most ``max_len`` characters."""
    return len(text) <= max_len and _LABEL.fullmatch(text) is not None


def hash6(text: str) -> str:
    """First 6 hex digits of sha256 of ``text`` (lone surrogates from JSON included)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_LEN]


def slugify(text: str) -> str:
    """Lowercase; every run of characters outside ``[a-z0-9]`` becomes one ``-``; trim ``-``."""
    return _NOT_SLUG_CHARS.sub("-", text.lower()).strip("-")


def shorten(name: str, limit: int) -> str:
    """``name`` if it fits, else its head cut to fit plus ``-<hash6(name)>``.

    ``name`` must be a DNS label (so the cut head is never empty).
    """
    if len(name) <= limit:
        return name
    head = name[: limit - HASH_LEN - 1].rstrip("-")
    return f"{head}-{hash6(name)}"


def project_slug(path_with_namespace: str, configured_slug: str | None = None) -> str:
    """The project's slug: ``configured_slug`` if given (validated), else derived from the path.

    A derived slug over 40 characters is shortened with a hash; a path with no
    letters or digits at all gives ``p-<hash6(path)>``.
    """
    if configured_slug is not None:
        if not is_dns_label(configured_slug, PROJECT_SLUG_MAX):
            raise PermanentError(bad_project_slug(configured_slug, PROJECT_SLUG_MAX))
        return configured_slug
    slug = slugify(path_with_namespace) or f"p-{hash6(path_with_namespace)}"
    return shorten(slug, PROJECT_SLUG_MAX)


def branch_slug(branch: str) -> str:
    """The branch part of a branch ENV key: readable, and distinct for distinct branches.

    A clean branch (already a slug, not looking generated) stays as it is; any
    other gets ``-<hash6(branch)>``. No letters or digits at all → ``b-<hash>``.
    Not length-limited: the ENV key is shortened as a whole.
    """
    slug = slugify(branch)
    if slug and slug == branch and _LOOKS_GENERATED.fullmatch(slug) is None:
        return slug
    # "mr" + a hash of only digits would look like an MR key: prefix it too.
    head = f"b-{slug}".rstrip("-") if slug in ("", "mr") else slug
    return f"{head}-{hash6(branch)}"


def ci_ref_slug(ref: str) -> str:
    """GitLab's ``CI_COMMIT_REF_SLUG`` of ``ref``, to match image tags CI pushed.

    Lowercase, each character outside ``[a-z0-9]`` → ``-``, first 63 characters,
    leading/trailing ``-`` trimmed (GitLab's ``Gitlab::Utils.slugify``).
    """
    return _NOT_REF_SLUG_CHAR.sub("-", ref.lower())[:DNS_LABEL_MAX].strip("-")


def _require_slug(project_slug: str) -> None:
    if not is_dns_label(project_slug, max_len=10**6):
        raise PermanentError(bad_project_slug(project_slug, PROJECT_SLUG_MAX))


def _require_env_key(env_key: str) -> None:
    if not is_dns_label(env_key):
        raise PermanentError(bad_env_key(env_key))


def mr_env_key(project_slug: str, iid: int) -> str:
    """``<slug>-mr-<iid>``; a long slug is shortened, the ``-mr-<iid>`` tail never."""
    _require_slug(project_slug)
    if isinstance(iid, bool) or not 1 <= iid <= MR_IID_MAX:
        raise PermanentError(bad_mr_iid(iid))
    tail = f"-mr-{iid}"
    return shorten(project_slug, ENV_KEY_MAX - len(tail)) + tail


def branch_env_key(project_slug: str, branch: str) -> str:
    """``<slug>-<branch-slug>``, shortened with a hash when over 53 characters."""
    _require_slug(project_slug)
    return shorten(f"{project_slug}-{branch_slug(branch)}", ENV_KEY_MAX)


def identity_of(project_id: int, *, mr_iid: int | None, branch: str) -> str:
    """What an environment is, whatever its key: the project and its MR or branch."""
    return f"{project_id}:mr:{mr_iid}" if mr_iid is not None else f"{project_id}:branch:{branch}"


def identity_key(env_key: str, identity: str) -> str:
    """The key for an identity whose plain ``env_key`` another identity already holds:
    ``env_key`` with ``-<hash6(identity)>``, shortened to fit. Stable for the identity."""
    _require_env_key(env_key)
    head = env_key[: ENV_KEY_MAX - HASH_LEN - 1].rstrip("-")
    return f"{head}-{hash6(identity)}"


def namespace_name(env_key: str) -> str:
    """``preview-<ENV>``; for keys made here (≤ 53) never shortened."""
    _require_env_key(env_key)
    return shorten(NAMESPACE_PREFIX + env_key, NAMESPACE_MAX)


def release_name(env_key: str) -> str:
    """The Helm release: ENV itself; for keys made here (≤ 53) never shortened."""
    _require_env_key(env_key)
    return shorten(env_key, RELEASE_MAX)


@dataclass(frozen=True, slots=True)
class EnvRef:
    """An environment as a person wrote it: exactly one of three forms is set.

    - ``ENV``: ``env_key``
    - ``PROJECT!IID``: ``project_path`` + ``mr_iid``
    - ``PROJECT@BRANCH``: ``project_path`` + ``branch``

    ``project_path`` is as typed: a GitLab path or a project slug; resolve it with
    ``Config.find_project``.
    """

    env_key: str | None = None
    project_path: str | None = None
    mr_iid: int | None = None
    branch: str | None = None


def parse_env_ref(text: str) -> EnvRef:
    """Parse ``ENV``, ``PROJECT!IID`` or ``PROJECT@BRANCH`` (split at the first ``@``).

    ENV is matched case-insensitively (lowercased). Raises :class:`PermanentError`
    naming the accepted forms.
    """
    stripped = text.strip()
    project, at, branch = stripped.partition("@")
    if at:
        return _branch_ref(text, project, branch)
    project, bang, iid = stripped.partition("!")
    if bang:
        return _mr_ref(text, project, iid)
    env_key = stripped.lower()
    if not is_dns_label(env_key):
        raise PermanentError(bad_env_ref(text))
    return EnvRef(env_key=env_key)


def _branch_ref(text: str, project: str, branch: str) -> EnvRef:
    usable_branch = (
        0 < len(branch) <= _BRANCH_MAX
        and branch.isprintable()
        and not any(char.isspace() for char in branch)
    )
    if _PROJECT_PATH.fullmatch(project) is None or not usable_branch:
        raise PermanentError(bad_env_ref(text))
    return EnvRef(project_path=project, branch=branch)


def _mr_ref(text: str, project: str, iid: str) -> EnvRef:
    if _PROJECT_PATH.fullmatch(project) is None or _MR_IID.fullmatch(iid) is None:
        raise PermanentError(bad_env_ref(text))
    if int(iid) < 1:
        raise PermanentError(bad_mr_iid(int(iid)))
    return EnvRef(project_path=project, mr_iid=int(iid))


# --- texts: why a name is not usable ------------------------------------------


def bad_project_slug(slug: str, max_len: int) -> str:
    return (
        f"project slug {quoted(slug)} is not usable in Kubernetes names: use lowercase "
        f"letters, digits and inner '-', at most {max_len} characters (e.g. group-app)"
    )


def bad_env_key(text: str) -> str:
    return (
        f"environment {quoted(text)} is not a valid name: environments are lowercase "
        "letters, digits and inner '-', at most 63 characters (see /preview list)"
    )


def bad_mr_iid(iid: object) -> str:
    return f"merge request number {quoted(iid)} is not valid: use a positive number, e.g. !7"


def bad_env_ref(text: str) -> str:
    return f"{quoted(text)} does not name an environment: write {ENV_REF_FORMS}"
