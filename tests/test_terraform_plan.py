"""Terraform plan discovery: modules, actions, joins, unknown and sensitive values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regops.discovery.live import jsonable
from regops.discovery.terraform_plan import SENSITIVE_TEXT, UNKNOWN_TEXT, PlanError, discover_plan, overlay
from regops.model import UNKNOWN
from tests.plans import TAGS, Change, compliant_bucket, refer, write_plan


def discover(tmp_path: Path, *changes: Change, **kwargs: Any) -> dict[str, Any]:
    discovery = discover_plan(write_plan(tmp_path / "plan.json", *changes, **kwargs), "acceptance")
    return {r.id: r for r in discovery.resources} | {"__report__": discovery.report}


def test_split_bucket_blocks_are_joined_into_the_bucket(tmp_path: Path) -> None:
    found = discover(tmp_path, *compliant_bucket("card"))
    assert sorted(k for k in found if k != "__report__") == ["aws_s3_bucket.card"]
    bucket = found["aws_s3_bucket.card"]
    assert bucket.kind == "object_store"
    assert bucket.region == "eu-central-1"
    assert dict(bucket.facts) == {
        "encrypted_at_rest": True,
        "encryption_cmk": True,
        "public": False,
        "https_only": False,
        "versioning": True,
        "access_logging": False,
        "taggable": True,
        "planned_action": "create",
    }
    assert sorted(bucket.components) == [
        "aws_s3_bucket_public_access_block.card",
        "aws_s3_bucket_server_side_encryption_configuration.card",
        "aws_s3_bucket_versioning.card",
    ]


def test_joins_inside_nested_module_instances(tmp_path: Path) -> None:
    changes = []
    for key in ("a", "b"):
        prefix = f'module.vault["{key}"].module.bucket'
        for change in compliant_bucket("this"):
            change.address = f"{prefix}.{change.address}"
            changes.append(change)
    # module b's bucket allows public ACLs: the join must not mix up the two instances
    changes[-2].after = {**changes[-2].after, "block_public_acls": False}  # type: ignore[dict-item]
    changes[-4].after = {**changes[-4].after, "acl": "public-read"}  # type: ignore[dict-item]
    found = discover(tmp_path, *changes)
    a = found['module.vault["a"].module.bucket.aws_s3_bucket.this']
    b = found['module.vault["b"].module.bucket.aws_s3_bucket.this']
    assert a.facts["public"] is False
    assert b.facts["public"] is True
    assert len(found) == 3


def test_security_group_rules_from_separate_resources(tmp_path: Path) -> None:
    sg = "aws_security_group.bastion"
    found = discover(
        tmp_path,
        Change(
            sg, "aws_security_group", {"name": "bastion", "ingress": [], "tags": TAGS}, unknown={"id": True}
        ),
        Change(
            "aws_vpc_security_group_ingress_rule.ssh",
            "aws_vpc_security_group_ingress_rule",
            {"cidr_ipv4": "0.0.0.0/0", "from_port": 22, "to_port": 22, "ip_protocol": "tcp"},
            unknown={"security_group_id": True},
            expressions={"security_group_id": refer(f"{sg}.id", sg)},
        ),
        Change(
            "aws_vpc_security_group_ingress_rule.internal",
            "aws_vpc_security_group_ingress_rule",
            {"cidr_ipv4": "10.0.0.0/8", "from_port": 5432, "to_port": 5432, "ip_protocol": "tcp"},
            unknown={"security_group_id": True},
            expressions={"security_group_id": refer(f"{sg}.id", sg)},
        ),
    )
    assert found[sg].facts["internet_ingress_ports"] == [[22, 22]]
    assert len(found) == 2


def test_planned_delete_is_not_in_the_inventory_but_replacement_is(tmp_path: Path) -> None:
    found = discover(
        tmp_path,
        Change("aws_s3_bucket.old", "aws_s3_bucket", None, actions=("delete",)),
        Change(
            "aws_s3_bucket.new", "aws_s3_bucket", {"bucket": "n", "tags": TAGS}, actions=("delete", "create")
        ),
        Change("aws_s3_bucket.same", "aws_s3_bucket", {"bucket": "s", "tags": TAGS}, actions=("no-op",)),
    )
    assert sorted(k for k in found if k != "__report__") == [
        "aws_s3_bucket.new",
        "aws_s3_bucket.old",
        "aws_s3_bucket.same",
    ]
    # Deleting a bucket deletes its data: only DEL-002 looks at what is left of it.
    old = found["aws_s3_bucket.old"]
    assert (old.kind, dict(old.facts)) == (
        "planned_deletion",
        {"planned_action": "delete", "deleted_kind": "object_store"},
    )
    assert found["__report__"].notes == (
        "1 planned deletion(s) left out of the inventory, 1 of them stateful and kept as planned_deletion",
    )


def test_a_deleted_resource_that_holds_no_data_is_left_out(tmp_path: Path) -> None:
    found = discover(
        tmp_path, Change("aws_security_group.old", "aws_security_group", None, actions=("delete",))
    )
    assert [k for k in found if k != "__report__"] == []
    assert found["__report__"].notes == ("1 planned deletion(s) left out of the inventory",)


def test_unknown_values_give_no_facts(tmp_path: Path) -> None:
    found = discover(
        tmp_path,
        Change(
            "aws_db_instance.ledger",
            "aws_db_instance",
            {"engine": "postgres", "storage_encrypted": None, "tags": TAGS, "backup_retention_period": 7},
            unknown={"storage_encrypted": True, "publicly_accessible": True},
        ),
    )
    db = found["aws_db_instance.ledger"]
    assert "encrypted_at_rest" not in db.facts
    assert "public" not in db.facts
    assert db.facts["backup_days"] == 7
    assert db.attributes["storage_encrypted"] == UNKNOWN_TEXT


def test_sensitive_values_are_redacted_and_give_no_facts(tmp_path: Path) -> None:
    found = discover(
        tmp_path,
        Change(
            "aws_db_instance.ledger",
            "aws_db_instance",
            {"engine": "postgres", "password": "hunter2-secret", "storage_encrypted": True, "tags": TAGS},
            sensitive={"password": True, "storage_encrypted": True},
        ),
    )
    db = found["aws_db_instance.ledger"]
    assert db.attributes["password"] == SENSITIVE_TEXT
    assert "encrypted_at_rest" not in db.facts
    assert "hunter2-secret" not in json.dumps(db.to_dict())


def test_region_from_provider_alias(tmp_path: Path) -> None:
    found = discover(
        tmp_path, Change("aws_kms_key.uk", "aws_kms_key", {"tags": TAGS}, provider_key="aws.london")
    )
    assert found["aws_kms_key.uk"].region == "eu-west-2"


def test_unknown_provider_types_are_kept_as_other(tmp_path: Path) -> None:
    found = discover(
        tmp_path, Change("random_password.db", "random_password", {"result": "x"}, sensitive={"result": True})
    )
    resource = found["random_password.db"]
    assert (resource.provider, resource.kind, dict(resource.facts)) == ("terraform", "other", {})
    assert resource.attributes["result"] == SENSITIVE_TEXT


def test_orphan_split_block_is_kept_and_noted(tmp_path: Path) -> None:
    found = discover(
        tmp_path,
        Change(
            "aws_s3_bucket_versioning.elsewhere",
            "aws_s3_bucket_versioning",
            {"bucket": "not-in-this-plan", "versioning_configuration": [{"status": "Enabled"}]},
        ),
    )
    assert found["aws_s3_bucket_versioning.elsewhere"].kind == "other"
    assert "is not in this plan" in found["__report__"].notes[0]


def test_plan_without_resource_changes_walks_planned_values(tmp_path: Path) -> None:
    document = {
        "format_version": "1.2",
        "planned_values": {
            "root_module": {
                "resources": [],
                "child_modules": [
                    {
                        "address": "module.a",
                        "resources": [],
                        "child_modules": [
                            {
                                "address": "module.a.module.b",
                                "resources": [
                                    {
                                        "address": "module.a.module.b.aws_kms_key.k",
                                        "mode": "managed",
                                        "type": "aws_kms_key",
                                        "name": "k",
                                        "values": {"enable_key_rotation": True, "tags": TAGS},
                                        "sensitive_values": {},
                                    }
                                ],
                            }
                        ],
                    }
                ],
            }
        },
    }
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(document))
    (key,) = discover_plan(path, "system").resources
    assert key.id == "module.a.module.b.aws_kms_key.k"
    assert key.facts["rotation_enabled"] is True


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("", "not valid JSON"),
        ('{"format_version": "1.2", "resource_changes": [', "not valid JSON"),
        ("[]", "not a Terraform plan: no `format_version`"),
        ('{"format_version": "1.2"}', "no `resource_changes`, `planned_values` or `values`"),
        ('{"format_version": "1.2", "resource_changes": {}}', "`resource_changes` is not a list"),
        (
            '{"format_version": "1.2", "resource_changes": [], "prior_state": []}',
            "`prior_state` is not an object",
        ),
        (
            '{"format_version": "1.2", "resource_changes": [], '
            '"prior_state": {"values": {"root_module": "x"}}}',
            "unexpected plan structure",
        ),
        (
            '{"format_version": "1.2", "resource_changes": [{"type": "x"}]}',
            "resource_changes[0] has no address",
        ),
        ('{"format_version": "2.0", "resource_changes": []}', "format_version '2.0' is not one regops reads"),
        ('{"format_version": null, "resource_changes": []}', "format_version None is not one regops reads"),
        (
            '{"format_version": "1.2", "resource_changes": [{"address": "aws_s3_bucket.a", '
            '"type": "aws_s3_bucket", "change": {"actions": "create", "after": {}}}]}',
            "resource_changes[0] (aws_s3_bucket.a) has actions 'create', not a list of",
        ),
        (
            '{"format_version": "1.2", "resource_changes": [{"address": "aws_s3_bucket.a", '
            '"type": "aws_s3_bucket", "change": {"actions": [{}], "after": {}}}]}',
            "resource_changes[0] (aws_s3_bucket.a) has actions [{}], not a list of",
        ),
        # Left out, the bucket would go unjudged while the source reads complete.
        (
            '{"format_version": "1.2", "resource_changes": [{"address": "aws_s3_bucket.a", '
            '"type": "aws_s3_bucket", "change": {"actions": ["create"]}}]}',
            "resource_changes[0] (aws_s3_bucket.a) plans ['create'] but has no `after` object",
        ),
    ],
)
def test_malformed_plans_name_the_file_and_the_problem(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "broken.json"
    path.write_text(content)
    with pytest.raises(PlanError) as raised:
        discover_plan(path, "acceptance")
    assert str(raised.value).startswith(f"{path}: ")
    assert problem in str(raised.value)


def test_a_plan_nested_too_deeply_is_bad_input_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"format_version": "1.2", "values": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(PlanError, match="nested too deeply"):
        discover_plan(path, "acceptance")


def test_errored_plan_is_an_incomplete_source(tmp_path: Path) -> None:
    path = write_plan(tmp_path / "plan.json", *compliant_bucket())
    document = json.loads(path.read_text())
    document["errored"] = True
    path.write_text(json.dumps(document))
    report = discover_plan(path, "acceptance").report
    assert report.complete is False
    assert "errored" in report.errors[0]


def test_incomplete_plan_is_an_incomplete_source(tmp_path: Path) -> None:
    path = write_plan(tmp_path / "plan.json", *compliant_bucket())
    document = json.loads(path.read_text())
    document["complete"] = False
    path.write_text(json.dumps(document))
    report = discover_plan(path, "acceptance").report
    assert report.complete is False
    assert report.errors == ("the plan reports complete: false; it does not cover the whole configuration",)


def test_a_forgotten_resource_is_left_out_like_a_deleted_one(tmp_path: Path) -> None:
    found = discover(tmp_path, Change("aws_s3_bucket.kept", "aws_s3_bucket", None, actions=("forget",)))
    assert [k for k in found if k != "__report__"] == []
    assert found["__report__"].notes == ("1 planned deletion(s) left out of the inventory",)


def test_secret_bearing_values_the_provider_does_not_mark_are_withheld(tmp_path: Path) -> None:
    found = discover(
        tmp_path,
        Change(
            "aws_lambda_function.payments",
            "aws_lambda_function",
            {
                "function_name": "payments",
                "tags": {**TAGS, "api_token": "tag-6"},
                "environment": [{"variables": {"API_TOKEN": "lit-TOKEN-1", "DB_URL": "pg://u:pw-2@db"}}],
            },
        ),
        Change(
            "aws_instance.worker",
            "aws_instance",
            {"ami": "ami-1", "tags": TAGS, "user_data": "export PGPASSWORD=boot-3", "metadata_options": []},
        ),
        Change(
            "google_compute_instance.batch",
            "google_compute_instance",
            {
                "name": "batch",
                "labels": TAGS,
                "metadata": {"db-password": "meta-4", "enable-oslogin": "TRUE"},
                "metadata_startup_script": "mysql -pscript-5",
            },
        ),
    )
    written = json.dumps([found[k].to_dict() for k in found if k != "__report__"])
    for secret in ("lit-TOKEN-1", "pw-2", "boot-3", "meta-4", "script-5", "tag-6"):
        assert secret not in written
    function = found["aws_lambda_function.payments"]
    assert function.attributes["environment"] == [
        {"variables": {"API_TOKEN": "(value withheld)", "DB_URL": "(value withheld)"}}
    ]
    # Facts still come from the values: KMS-004 sees the literal.
    assert function.facts["plaintext_secrets"] == ["API_TOKEN"]
    assert found["google_compute_instance.batch"].attributes["metadata"]["enable-oslogin"] == "TRUE"


def test_an_environment_variable_named_like_a_secret_is_withheld_wherever_it_sits(tmp_path: Path) -> None:
    """Types regops does not model are inventoried with their values: a name/value pair keeps
    its secret in `value`, and a task's environment sits inside JSON text."""
    container_definitions = json.dumps(
        [{"name": "api", "image": "api:1", "environment": [{"name": "API_TOKEN", "value": "ecs-7"}]}]
    )
    found = discover(
        tmp_path,
        Change(
            "google_cloud_run_v2_service.api",
            "google_cloud_run_v2_service",
            {
                "name": "api",
                "labels": TAGS,
                "template": [
                    {
                        "containers": [
                            {
                                "env": [
                                    {"name": "DB_PASSWORD", "value": "run-8"},
                                    {"name": "MODE", "value": "live"},
                                ]
                            }
                        ]
                    }
                ],
            },
        ),
        Change(
            "aws_ecs_task_definition.api",
            "aws_ecs_task_definition",
            {"family": "api", "tags": TAGS, "container_definitions": container_definitions},
        ),
        Change(
            "aws_elastic_beanstalk_environment.web",
            "aws_elastic_beanstalk_environment",
            {
                "name": "web",
                "tags": TAGS,
                "setting": [{"namespace": "env", "name": "SECRET_KEY", "value": "eb-9"}],
            },
        ),
        Change(
            "azurerm_linux_web_app.portal",
            "azurerm_linux_web_app",
            {
                "name": "portal",
                "tags": TAGS,
                "connection_string": [
                    {"name": "Ledger", "type": "SQLAzure", "value": "Server=db;Password=cs-11"}
                ],
            },
        ),
    )
    written = json.dumps([found[k].to_dict() for k in found if k != "__report__"])
    for secret in ("ecs-7", "run-8", "eb-9", "cs-11"):
        assert secret not in written
    env = found["google_cloud_run_v2_service.api"].attributes["template"][0]["containers"][0]["env"]
    assert env == [{"name": "DB_PASSWORD", "value": "(value withheld)"}, {"name": "MODE", "value": "live"}]
    definitions = json.loads(found["aws_ecs_task_definition.api"].attributes["container_definitions"])
    assert definitions[0]["environment"] == [{"name": "API_TOKEN", "value": "(value withheld)"}]
    assert definitions[0]["image"] == "api:1"


def test_live_payloads_withhold_name_value_pairs_named_like_secrets() -> None:
    payload = {"Settings": [{"Name": "DB_PASSWORD", "Value": "live-10"}, {"Name": "REGION", "Value": "eu"}]}
    assert jsonable(payload, redact=False) == {
        "Settings": [{"Name": "DB_PASSWORD", "Value": "(redacted)"}, {"Name": "REGION", "Value": "eu"}]
    }
    nested = {"connectionStrings": {"ledger": {"value": "Server=db;Password=live-12", "type": "SQLAzure"}}}
    assert jsonable(nested) == {
        "connectionStrings": {"ledger": {"value": "(redacted)", "type": "(redacted)"}}
    }


# --- properties -------------------------------------------------------------------------

SECRET = "zz-SECRET-value-91"
names = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)
leaves = st.one_of(st.booleans(), st.integers(-5, 70000), st.text(max_size=8), st.none())
values = st.recursive(
    leaves,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(names, inner, max_size=4)),
    max_leaves=12,
)


@st.composite
def masked(draw: st.DrawFn) -> tuple[Any, Any, Any]:
    """A value, and unknown/sensitive masks of the same shape marking random nodes."""
    value = draw(st.dictionaries(names, values, min_size=1, max_size=5))

    def mask(node: Any) -> Any:
        if draw(st.integers(0, 4)) == 0:
            return True
        if isinstance(node, dict):
            return {k: mask(v) for k, v in node.items()}
        if isinstance(node, list):
            return [mask(v) for v in node]
        return False

    return value, mask(value), mask(value)


def _leaves(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return [leaf for v in node.values() for leaf in _leaves(v)]
    if isinstance(node, list):
        return [leaf for v in node for leaf in _leaves(v)]
    return [node]


@given(masked())
def test_overlay_masks_exactly_what_is_marked(case: tuple[Any, Any, Any]) -> None:
    value, unknown, sensitive = case
    view, display = overlay(value, unknown, sensitive)

    def check(v: Any, u: Any, s: Any, out_view: Any, out_display: Any) -> None:
        if s is True:
            assert out_view is UNKNOWN
            assert out_display == SENSITIVE_TEXT
        elif u is True:
            assert out_view is UNKNOWN
            assert out_display == UNKNOWN_TEXT
        elif isinstance(v, dict):
            for key in v:
                check(v[key], u.get(key), s.get(key), out_view[key], out_display[key])
        elif isinstance(v, list):
            for i, item in enumerate(v):
                check(item, u[i], s[i], out_view[i], out_display[i])
        else:
            assert out_view == v
            assert out_display == v

    check(value, unknown, sensitive, view, display)


module_keys = st.one_of(st.none(), st.integers(0, 3), st.from_regex(r"[a-z]{1,4}", fullmatch=True))


@st.composite
def module_prefix(draw: st.DrawFn) -> str:
    parts = []
    for name in draw(st.lists(names, max_size=4)):
        key = draw(module_keys)
        suffix = "" if key is None else (f"[{key}]" if isinstance(key, int) else f'["{key}"]')
        parts.append(f"module.{name}{suffix}")
    return ".".join(parts)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=module_prefix(), sensitive_flags=st.lists(st.booleans(), min_size=4, max_size=4))
def test_any_nesting_joins_and_never_leaks(tmp_path: Path, prefix: str, sensitive_flags: list[bool]) -> None:
    changes = compliant_bucket("this")
    for change in changes:
        change.address = f"{prefix}.{change.address}" if prefix else change.address
    # Mark the public-access flags sensitive at random and put the secret in a tag value.
    block = changes[2]
    flags = ["block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"]
    block.sensitive = {flag: True for flag, on in zip(flags, sensitive_flags, strict=True) if on}
    changes[0].after = {**changes[0].after, "tags": {**TAGS, "token": SECRET}}  # type: ignore[dict-item]
    changes[0].sensitive = {"tags": {"token": True}, "tags_all": True}
    path = write_plan(tmp_path / "plan.json", *changes)
    discovery = discover_plan(path, "acceptance")
    (bucket,) = discovery.resources
    assert bucket.id == changes[0].address
    assert len(bucket.components) == 3
    assert SECRET not in json.dumps(bucket.to_dict())
    assert "token" not in bucket.tags
    if any(sensitive_flags):
        assert "public" not in bucket.facts  # never guessed from a redacted value
    else:
        assert bucket.facts["public"] is False


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
plan_keys = st.sampled_from(
    [
        "resource_changes",
        "planned_values",
        "configuration",
        "address",
        "type",
        "change",
        "actions",
        "after",
        "after_unknown",
        "after_sensitive",
        "module_address",
        "root_module",
        "resources",
        "child_modules",
        "values",
        "expressions",
        "references",
        "provider_config",
    ]
)
plan_like = st.recursive(
    json_values,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(plan_keys, inner, max_size=5)),
    max_leaves=25,
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.dictionaries(plan_keys, plan_like, max_size=4))
def test_arbitrary_documents_give_a_discovery_or_a_plan_error(tmp_path: Path, body: dict[str, Any]) -> None:
    path = tmp_path / "fuzz.json"
    path.write_text(json.dumps({"format_version": "1.2", **body}))
    try:
        discovery = discover_plan(path, "system")
    except PlanError as exc:
        problem = str(exc)
    else:
        problem = ""
        assert discovery.report.resource_count == len(discovery.resources)
    assert not problem or problem.startswith(f"{path}: ")
