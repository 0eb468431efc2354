from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.errors import PermanentError
from bot.domain.naming import (
    ENV_KEY_MAX,
    NAMESPACE_MAX,
    PROJECT_SLUG_MAX,
    RELEASE_MAX,
    EnvRef,
    branch_env_key,
    branch_slug,
    ci_ref_slug,
    identity_key,
    mr_env_key,
    namespace_name,
    parse_env_ref,
    project_slug,
    release_name,
)

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def h6(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:6]


def assert_label(name: str, limit: int) -> None:
    assert DNS_LABEL.fullmatch(name), name
    assert len(name) <= limit, name


# --- tables: README "How it converges" examples and the rules around them ---------------------


@pytest.mark.parametrize(
    ("path", "configured", "expected"),
    [
        ("gitlabhq/gitlab-test", None, "gitlabhq-gitlab-test"),
        ("Group/My_App", None, "group-my-app"),
        ("group/sub.group/app--x", None, "group-sub-group-app-x"),
        ("group/app", "shop", "shop"),
        ("___/___", None, f"p-{h6('___/___')}"),
        ("g/" + "a" * 60, None, ("g-" + "a" * 31) + "-" + h6("g-" + "a" * 60)),
    ],
)
def test_project_slug(path: str, configured: str | None, expected: str) -> None:
    assert project_slug(path, configured) == expected


@pytest.mark.parametrize("configured", ["", "Shop", "-shop", "shop-", "sh op", "shöp", "a" * 41])
def test_project_slug_rejects_bad_configured_slug(configured: str) -> None:
    with pytest.raises(PermanentError, match="lowercase letters"):
        project_slug("group/app", configured)


@pytest.mark.parametrize(
    ("slug", "branch", "expected"),
    [
        ("group-app", "feature-x", "group-app-feature-x"),
        ("group-app", "main", "group-app-main"),
        ("group-app", "Feature/X", f"group-app-feature-x-{h6('Feature/X')}"),
        ("group-app", "feature--x", f"group-app-feature-x-{h6('feature--x')}"),
        ("group-app", "🎉", f"group-app-b-{h6('🎉')}"),
        ("group-app", "", f"group-app-b-{h6('')}"),
        # would pass for an MR key or for a generated name: hashed too
        ("group-app", "mr-7", f"group-app-mr-7-{h6('mr-7')}"),
        ("group-app", "fix-abc123", f"group-app-fix-abc123-{h6('fix-abc123')}"),
        ("group-app", "MR", f"group-app-b-mr-{h6('MR')}"),
        # another project "gitlabhq/gitlab-test-web" has key gitlabhq-gitlab-test-web-mr-7
        ("gitlabhq-gitlab-test", "web-mr-7",
         f"gitlabhq-gitlab-test-web-mr-7-{h6('web-mr-7')}"),
    ],
)
def test_branch_env_key(slug: str, branch: str, expected: str) -> None:
    assert branch_env_key(slug, branch) == expected


def test_mr_env_key_and_derived_names() -> None:
    env = mr_env_key("gitlabhq-gitlab-test", 7)
    assert env == "gitlabhq-gitlab-test-mr-7"
    assert namespace_name(env) == "preview-gitlabhq-gitlab-test-mr-7"
    assert release_name(env) == env


def test_long_branch_key_is_cut_without_trailing_dash_and_hashed() -> None:
    slug = "app"
    # the cut at 46 characters lands right after a '-': it must not stay before the hash
    branch = "a" * 41 + "-" + "b" * 40
    full = f"{slug}-{branch}"
    assert full[45] == "-"
    assert branch_env_key(slug, branch) == "app-" + "a" * 41 + "-" + h6(full)


def test_long_slug_keeps_the_mr_tail() -> None:
    slug = "s" * 60
    assert mr_env_key(slug, 12) == "s" * 40 + "-" + h6(slug) + "-mr-12"


def test_namespace_and_release_of_a_long_user_given_env() -> None:
    env = "e" * 63
    assert namespace_name(env) == ("preview-" + "e" * 48) + "-" + h6("preview-" + env)
    assert release_name(env) == "e" * 46 + "-" + h6(env)


@pytest.mark.parametrize("iid", [0, -1, 10**12, True])
def test_mr_env_key_rejects_bad_iid(iid: int) -> None:
    with pytest.raises(PermanentError, match="positive number"):
        mr_env_key("app", iid)


@pytest.mark.parametrize("env", ["", "Bad", "a_b", "-a", "a" * 64])
def test_names_reject_invalid_env_keys(env: str) -> None:
    with pytest.raises(PermanentError, match="not a valid name"):
        namespace_name(env)
    with pytest.raises(PermanentError):
        release_name(env)


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("feature/X", "feature-x"),
        ("--a__b--", "a--b"),  # per character, like GitLab's CI_COMMIT_REF_SLUG
        ("x" * 70, "x" * 63),
    ],
)
def test_ci_ref_slug(ref: str, expected: str) -> None:
    assert ci_ref_slug(ref) == expected


# --- parse_env_ref --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("app-mr-7", EnvRef(env_key="app-mr-7")),
        ("  App-MR-7 ", EnvRef(env_key="app-mr-7")),
        ("group/app!7", EnvRef(project_path="group/app", mr_iid=7)),
        ("group/sub/app!0012", EnvRef(project_path="group/sub/app", mr_iid=12)),
        ("app!7", EnvRef(project_path="app", mr_iid=7)),  # a slug works as PROJECT too
        ("group/app@feature/x", EnvRef(project_path="group/app", branch="feature/x")),
        ("group/app@a@b", EnvRef(project_path="group/app", branch="a@b")),
        ("group/app@fix!1", EnvRef(project_path="group/app", branch="fix!1")),
    ],
)
def test_parse_env_ref(text: str, expected: EnvRef) -> None:
    assert parse_env_ref(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "a b",
        "app_mr_7",
        "a" * 64,
        "group/app",
        "group/app!",
        "group/app!x",
        "group/app!-1",
        "group/app!7@x",
        "!7",
        "@main",
        "group/app@",
        "group/app@has space",
        "group/app@new\nline",
        "gr oup/app!7",
        "group//app!7",
    ],
)
def test_parse_env_ref_rejects_with_accepted_forms(text: str) -> None:
    with pytest.raises(PermanentError) as caught:
        parse_env_ref(text)
    for form in ("ENV", "PROJECT!IID", "PROJECT@BRANCH"):
        assert form in str(caught.value)


def test_parse_env_ref_rejects_mr_zero() -> None:
    with pytest.raises(PermanentError, match="positive number"):
        parse_env_ref("group/app!0")


# --- properties -------------------------------------------------------------

nasty_branches = st.sampled_from(
    [
        "../../etc/passwd",
        "--set x=y",
        "'quoted'",
        '"dq"',
        "new\nline",
        "tab\there",
        "mr-1",
        "MR-1",
        "mr",
        "MR",
        "main",
        "Main",
        "feature-x",
        "Feature/X",
        "feature_x",
        "feature-x-" + h6("Feature/X"),
        "-",
        "",
        "🎉",
        "ünïcödé",
        "\u212a",  # Kelvin sign lowercases to ASCII 'k'
        "x" * 255,
    ]
)
branches = st.one_of(
    nasty_branches,
    st.text(max_size=255),
    st.text(min_size=200, max_size=255),
    st.from_regex(r"[a-z0-9][-a-z0-9]{0,80}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9/_.-]{1,80}", fullmatch=True),
)
slugs = st.one_of(
    st.from_regex(r"[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?", fullmatch=True),
    st.from_regex(r"[a-z0-9]([-a-z0-9]{0,120}[a-z0-9])?", fullmatch=True),
)
iids = st.integers(min_value=1, max_value=10**12 - 1)


@given(slugs, branches)
def test_branch_names_are_valid_labels_and_deterministic(slug: str, branch: str) -> None:
    env = branch_env_key(slug, branch)
    assert_label(env, ENV_KEY_MAX)
    assert_label(namespace_name(env), NAMESPACE_MAX)
    assert_label(release_name(env), RELEASE_MAX)
    assert namespace_name(env) == "preview-" + env
    assert release_name(env) == env
    assert branch_env_key(slug, branch) == env


@given(slugs, iids)
def test_mr_names_are_valid_labels(slug: str, iid: int) -> None:
    env = mr_env_key(slug, iid)
    assert_label(env, ENV_KEY_MAX)
    assert env.endswith(f"-mr-{iid}")
    assert namespace_name(env) == "preview-" + env
    assert release_name(env) == env


@given(st.text(max_size=300))
def test_project_slug_is_a_short_label(path: str) -> None:
    assert_label(project_slug(path), PROJECT_SLUG_MAX)


@given(slugs, st.lists(branches, min_size=2, max_size=40, unique=True))
def test_distinct_branches_never_share_a_key(slug: str, raw: list[str]) -> None:
    keys = {branch_env_key(slug, branch) for branch in raw}
    assert len(keys) == len(raw)


@given(st.text(min_size=1, max_size=60))
def test_spelling_variants_of_one_branch_get_distinct_keys(base: str) -> None:
    variants = {base, base.lower(), base.upper(), base.replace("-", "/"), base + "-", "-" + base}
    keys = {branch_env_key("app", variant) for variant in variants}
    assert len(keys) == len(variants)


@given(slugs, st.lists(iids, min_size=2, max_size=40, unique=True))
def test_distinct_iids_never_share_a_key(slug: str, numbers: list[int]) -> None:
    keys = {mr_env_key(slug, iid) for iid in numbers}
    assert len(keys) == len(numbers)


@given(slugs, branches, iids)
def test_a_branch_never_takes_an_mr_key(slug: str, branch: str, iid: int) -> None:
    assert branch_env_key(slug, branch) != mr_env_key(slug, iid)
    assert branch_env_key(slug, f"mr-{iid}") != mr_env_key(slug, iid)


@given(branches)
def test_clean_branches_stay_readable(branch: str) -> None:
    result = branch_slug(branch)
    clean = DNS_LABEL.fullmatch(branch) and "--" not in branch
    if clean and not re.fullmatch(r"mr-[0-9]+|.*-[0-9a-f]{6}", branch):
        assert result == branch
    else:
        raw_hash = hashlib.sha256(branch.encode("utf-8", "surrogatepass")).hexdigest()[:6]
        assert result.endswith("-" + raw_hash)


@pytest.mark.parametrize(
    ("env_key", "identity"),
    [
        ("gitlabhq-gitlab-test-web-mr-7", "42:mr:7"),
        ("a-b-c", "7:branch:b-c"),
        ("x" * 53, "1:mr:1"),
    ],
)
def test_identity_key_is_a_stable_distinct_label(env_key: str, identity: str) -> None:
    key = identity_key(env_key, identity)
    assert key == identity_key(env_key, identity)
    assert key != env_key
    assert key.endswith("-" + h6(identity))
    assert DNS_LABEL.fullmatch(key) and len(key) <= ENV_KEY_MAX
    assert identity_key(env_key, identity + "x") != key
