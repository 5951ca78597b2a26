"""Live AWS discovery through boto3 against a moto server on 127.0.0.1, faults included."""

from __future__ import annotations

import io
import json
import socket
import threading
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from regops.discovery.aws import AwsSource, discover_aws
from regops.model import Resource
from regops.normalize.aws import PLANNED
from tests.aws_server import Clients, DenyingProxy, aws, moto_endpoint  # noqa: F401
from tests.helpers import load_evidence, only_bundle, run_project_suites

boto3 = pytest.importorskip("boto3")
STAGE_TAGS = [{"Key": "stage", "Value": "acceptance"}]
BLOCK_ALL = dict.fromkeys(
    ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
)


def source(clients: Clients, **kwargs: Any) -> AwsSource:
    return AwsSource(regions=("eu-central-1", "eu-west-1"), endpoint_url=clients.endpoint, **kwargs)


def by_id(resources: tuple[Resource, ...]) -> dict[str, Resource]:
    return {r.id: r for r in resources}


def platform(aws: Clients) -> dict[str, str]:  # noqa: F811
    """A small stage in moto: what a plan would describe, created through boto3."""
    s3 = aws("s3")
    key = aws("kms").create_key(Tags=[{"TagKey": "stage", "TagValue": "acceptance"}])["KeyMetadata"]
    aws("kms").enable_key_rotation(KeyId=key["KeyId"])
    s3.create_bucket(Bucket="card-vault", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    s3.put_bucket_tagging(Bucket="card-vault", Tagging={"TagSet": STAGE_TAGS})
    s3.put_public_access_block(Bucket="card-vault", PublicAccessBlockConfiguration=BLOCK_ALL)
    s3.put_bucket_versioning(Bucket="card-vault", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket="card-vault",
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": key["Arn"],
                    }
                }
            ]
        },
    )
    s3.create_bucket(Bucket="untagged", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    ireland = aws("s3", "eu-west-1")
    ireland.create_bucket(
        Bucket="reports-eu-west-1", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    ireland.put_bucket_tagging(Bucket="reports-eu-west-1", Tagging={"TagSet": STAGE_TAGS})
    ec2 = aws("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    sg = ec2.create_security_group(
        GroupName="bastion",
        Description="ops",
        VpcId=vpc,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": STAGE_TAGS}],
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=sg,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
            {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
        ],
    )
    aws("rds").create_db_instance(
        DBInstanceIdentifier="ledger",
        Engine="postgres",
        EngineVersion="16.3",
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        MasterUsername="ledger",
        MasterUserPassword="not-a-real-password",
        StorageEncrypted=True,
        KmsKeyId=key["Arn"],
        BackupRetentionPeriod=7,
        MultiAZ=False,
        DeletionProtection=True,
        PubliclyAccessible=False,
        Tags=STAGE_TAGS,
    )
    aws("cloudtrail").create_trail(
        Name="platform",
        S3BucketName="card-vault",
        IsMultiRegionTrail=True,
        EnableLogFileValidation=True,
        KmsKeyId=key["Arn"],
    )
    aws("cloudtrail").start_logging(Name="platform")
    iam = aws("iam")
    iam.create_user(UserName="deployer", Tags=STAGE_TAGS)
    admin = iam.create_policy(
        PolicyName="everything",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        ),
    )["Policy"]["Arn"]
    iam.attach_user_policy(UserName="deployer", PolicyArn=admin)
    iam.create_user(UserName="someone-else", Tags=[{"Key": "stage", "Value": "production"}])
    return {"key": key["Arn"], "sg": sg}


def test_discovers_the_stage_by_tag_with_its_facts(aws: Clients) -> None:  # noqa: F811
    ids = platform(aws)
    messages: list[str] = []
    discovery = discover_aws(source(aws), "acceptance", messages.append)
    assert discovery.report.complete, discovery.report.errors
    found = by_id(discovery.resources)
    bucket = found["arn:aws:s3:::card-vault"]
    assert (bucket.kind, bucket.region, bucket.tags) == (
        "object_store",
        "eu-central-1",
        {"stage": "acceptance"},
    )
    assert dict(bucket.facts) == {
        "encrypted_at_rest": True,
        "encryption_cmk": True,
        "public": False,
        "https_only": False,
        "versioning": True,
        "access_logging": False,
    }
    assert found["arn:aws:s3:::reports-eu-west-1"].region == "eu-west-1"
    assert "arn:aws:s3:::untagged" not in found
    sg = found[f"arn:aws:ec2:eu-central-1:123456789012:security-group/{ids['sg']}"]
    assert sg.facts["internet_ingress_ports"] == [[22, 22]]
    db = found["arn:aws:rds:eu-central-1:123456789012:db:ledger"]
    assert db.facts["encryption_cmk"] is True
    assert db.facts["tls_enforced"] is True
    assert db.facts["deletion_protection"] is True
    assert found[ids["key"]].facts["rotation_enabled"] is True
    trail = found["arn:aws:cloudtrail:eu-central-1:123456789012:trail/platform"]
    assert (trail.facts["enabled"], trail.facts["covers_all_regions"]) == (True, True)
    user = found["arn:aws:iam::123456789012:user/deployer"]
    assert (user.facts["admin"], user.facts["mfa_enabled"]) == (True, False)
    assert "arn:aws:iam::123456789012:user/someone-else" not in found
    assert found["arn:aws:iam::123456789012:account-password-policy"].facts["password_policy"] is False
    assert sorted(m.split(":")[0] for m in messages) == ["aws eu-central-1", "aws eu-west-1"]
    assert "not-a-real-password" not in json.dumps([r.to_dict() for r in discovery.resources])


def test_a_user_is_admin_through_a_group(aws: Clients) -> None:  # noqa: F811
    platform(aws)
    iam = aws("iam")
    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    for group in ("operators", "breakglass"):
        iam.create_group(GroupName=group)
    iam.put_group_policy(GroupName="operators", PolicyName="all", PolicyDocument=json.dumps(everything))
    managed = iam.create_policy(PolicyName="all-managed", PolicyDocument=json.dumps(everything))["Policy"][
        "Arn"
    ]
    iam.attach_group_policy(GroupName="breakglass", PolicyArn=managed)
    for user, group in (("alice", "operators"), ("bob", "breakglass")):
        iam.create_user(UserName=user, Tags=STAGE_TAGS)
        iam.add_user_to_group(GroupName=group, UserName=user)
    found = by_id(discover_aws(source(aws), "acceptance").resources)
    for user in ("alice", "bob"):
        facts = found[f"arn:aws:iam::123456789012:user/{user}"].facts
        assert (facts["admin"], facts["direct_policies"]) == (True, False)
    denied = _http_error(403, "AccessDenied", "ListGroupsForUser")
    discovery = discover_aws(
        source(aws), "acceptance", session_factory=_session_with("before-send.iam.ListGroupsForUser", denied)
    )
    assert "admin" not in by_id(discovery.resources)["arn:aws:iam::123456789012:user/alice"].facts


def test_a_trail_without_management_events_is_not_logging_the_control_plane(aws: Clients) -> None:  # noqa: F811
    platform(aws)
    trail = "arn:aws:cloudtrail:eu-central-1:123456789012:trail/platform"
    assert by_id(discover_aws(source(aws), "acceptance").resources)[trail].facts["enabled"] is True
    aws("cloudtrail").put_event_selectors(
        TrailName="platform",
        EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": False}],
    )
    assert by_id(discover_aws(source(aws), "acceptance").resources)[trail].facts["enabled"] is False
    denied = _http_error(403, "AccessDenied", "GetEventSelectors")
    discovery = discover_aws(
        source(aws),
        "acceptance",
        session_factory=_session_with("before-send.cloudtrail.GetEventSelectors", denied),
    )
    assert "enabled" not in by_id(discovery.resources)[trail].facts


def test_live_and_planned_facts_agree(aws: Clients) -> None:  # noqa: F811
    ids = platform(aws)
    found = by_id(discover_aws(source(aws), "acceptance").resources)
    planned_bucket = PLANNED["aws_s3_bucket"].facts(
        {"bucket": "card-vault"},
        {
            "aws_s3_bucket_server_side_encryption_configuration": [
                {
                    "rule": [
                        {
                            "apply_server_side_encryption_by_default": [
                                {"sse_algorithm": "aws:kms", "kms_master_key_id": ids["key"]}
                            ]
                        }
                    ]
                }
            ],
            "aws_s3_bucket_public_access_block": [
                {
                    "block_public_acls": True,
                    "block_public_policy": True,
                    "ignore_public_acls": True,
                    "restrict_public_buckets": True,
                }
            ],
            "aws_s3_bucket_versioning": [{"versioning_configuration": [{"status": "Enabled"}]}],
        },
    )
    assert dict(found["arn:aws:s3:::card-vault"].facts) == planned_bucket
    planned_sg = PLANNED["aws_security_group"].facts(
        {
            "ingress": [
                {"from_port": 22, "to_port": 22, "protocol": "tcp", "cidr_blocks": ["0.0.0.0/0"]},
                {"from_port": 5432, "to_port": 5432, "protocol": "tcp", "cidr_blocks": ["10.0.0.0/8"]},
            ]
        },
        {},
    )
    assert (
        dict(found[f"arn:aws:ec2:eu-central-1:123456789012:security-group/{ids['sg']}"].facts) == planned_sg
    )
    planned_db = PLANNED["aws_db_instance"].facts(
        {
            "engine": "postgres",
            "engine_version": "16.3",
            "storage_encrypted": True,
            "kms_key_id": ids["key"],
            "publicly_accessible": False,
            "backup_retention_period": 7,
            "multi_az": False,
            "deletion_protection": True,
        },
        {},
    )
    # Where a database's data came from is declared in the plan only.
    assert planned_db.pop("restored_from") is None
    assert dict(found["arn:aws:rds:eu-central-1:123456789012:db:ledger"].facts) == planned_db
    live_key, planned_key = (
        found[ids["key"]].facts,
        PLANNED["aws_kms_key"].facts({"enable_key_rotation": True}, {}),
    )
    for fact in ("rotation_enabled", "rotation_period_days", "deletion_protected", "rotatable"):
        assert live_key[fact] == planned_key[fact], fact
    planned_trail = PLANNED["aws_cloudtrail"].facts(
        {
            "enable_logging": True,
            "is_multi_region_trail": True,
            "enable_log_file_validation": True,
            "kms_key_id": ids["key"],
        },
        {},
    )
    assert dict(found["arn:aws:cloudtrail:eu-central-1:123456789012:trail/platform"].facts) == planned_trail


def test_function_environments_are_judged_without_keeping_their_values(aws: Clients) -> None:  # noqa: F811
    role = aws("iam").create_role(RoleName="payments", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handle(event, context):\n    return None\n")
    reference = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:payments-api"
    environments = {
        "payments": {"DB_PASSWORD": "hunter2-literal", "API_TOKEN": reference, "LOG_LEVEL": "debug-level"},
        "reports": None,
    }
    for name, variables in environments.items():
        aws("lambda").create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="handler.handle",
            Code={"ZipFile": code.getvalue()},
            Tags={"stage": "acceptance"},
            **({"Environment": {"Variables": variables}} if variables else {}),
        )
    discovery = discover_aws(source(aws), "acceptance")
    assert discovery.report.complete, discovery.report.errors
    found = by_id(discovery.resources)
    function = "arn:aws:lambda:eu-central-1:123456789012:function:"
    assert found[function + "payments"].facts["plaintext_secrets"] == ["DB_PASSWORD"]
    assert found[function + "reports"].facts["plaintext_secrets"] == []
    evidence = json.dumps([r.to_dict() for r in discovery.resources])
    assert "hunter2-literal" not in evidence
    assert "debug-level" not in evidence
    assert found[function + "payments"].attributes["description"]["Environment"] == {
        "Variables": {
            "DB_PASSWORD": "(value withheld)",
            "API_TOKEN": reference,
            "LOG_LEVEL": "(value withheld)",
        }
    }


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


def _http_error(status: int, code: str, operation: str, *, json_protocol: bool = False) -> Callable[..., Any]:
    """A before-send handler answering with an HTTP error in the service's wire format."""
    from botocore.awsrequest import AWSResponse

    if json_protocol:
        body = json.dumps({"__type": code, "message": f"injected {code}"}).encode()
        content_type = "application/x-amz-json-1.1"
    else:
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>injected {code}</Message>"
            f"</Error><RequestId>1</RequestId></ErrorResponse>"
        ).encode()
        content_type = "text/xml"
    calls: list[str] = []

    def respond(request: Any, **_: Any) -> Any:
        calls.append(operation)
        return AWSResponse(request.url, status, {"Content-Type": content_type}, _Raw(body))

    respond.calls = calls  # type: ignore[attr-defined]
    return respond


def _session_with(event: str, handler: Callable[..., Any]) -> Callable[[], Any]:
    def factory() -> Any:
        session = boto3.Session()
        session.events.register(event, handler)
        return session

    return factory


def test_access_denied_makes_the_source_incomplete_and_the_facts_unknown(aws: Clients) -> None:  # noqa: F811
    platform(aws)
    denied = _http_error(403, "AccessDenied", "DescribeDBInstances")
    discovery = discover_aws(
        source(aws),
        "acceptance",
        session_factory=_session_with("before-send.rds.DescribeDBInstances", denied),
    )
    assert discovery.report.complete is False
    assert (
        "eu-central-1 rds.describe_db_instances: AccessDenied: injected AccessDenied"
        in discovery.report.errors
    )
    found = by_id(discovery.resources)
    db = found["arn:aws:rds:eu-central-1:123456789012:db:ledger"]
    assert dict(db.facts) == {}
    assert db.attributes["description"] == "(could not be read)"
    assert found["arn:aws:s3:::card-vault"].facts["public"] is False  # the rest is still discovered


def test_a_bucket_whose_location_is_unreadable_has_every_fact_unknown(aws: Clients) -> None:  # noqa: F811
    platform(aws)
    denied = _http_error(403, "AccessDenied", "GetBucketLocation")
    discovery = discover_aws(
        source(aws),
        "acceptance",
        session_factory=_session_with("before-send.s3.GetBucketLocation", denied),
    )
    assert discovery.report.complete is False
    assert any("s3.get_bucket_location: AccessDenied" in e for e in discovery.report.errors)
    buckets = [r for r in discovery.resources if r.native_type == "aws_s3_bucket"]
    # Both regions' tagging APIs list both buckets; each is reported once.
    assert sorted(b.id for b in buckets) == ["arn:aws:s3:::card-vault", "arn:aws:s3:::reports-eu-west-1"]
    for bucket in buckets:
        assert dict(bucket.facts) == {}
        assert bucket.attributes["policy"] == "(could not be read)"
        # Not "global": AST-002 must error, not find the bucket outside any region.
        assert bucket.region is None


def test_https_only_from_the_live_bucket_policy(aws: Clients) -> None:  # noqa: F811
    platform(aws)
    deny_plain_http = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": ["arn:aws:s3:::card-vault", "arn:aws:s3:::card-vault/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    aws("s3").put_bucket_policy(
        Bucket="card-vault", Policy=json.dumps({"Version": "2012-10-17", "Statement": [deny_plain_http]})
    )
    found = by_id(discover_aws(source(aws), "acceptance").resources)
    assert found["arn:aws:s3:::card-vault"].facts["https_only"] is True
    assert found["arn:aws:s3:::reports-eu-west-1"].facts["https_only"] is False
    denied = _http_error(403, "AccessDenied", "GetBucketPolicy")
    discovery = discover_aws(
        source(aws), "acceptance", session_factory=_session_with("before-send.s3.GetBucketPolicy", denied)
    )
    bucket = by_id(discovery.resources)["arn:aws:s3:::card-vault"]
    assert "https_only" not in bucket.facts
    assert bucket.facts["public"] is False  # its public access block blocks everything


def test_throttling_past_the_retries_is_an_error(aws: Clients) -> None:  # noqa: F811
    platform(aws)
    throttled = _http_error(400, "ThrottlingException", "GetKeyRotationStatus", json_protocol=True)
    discovery = discover_aws(
        source(aws, max_attempts=3),
        "acceptance",
        session_factory=_session_with("before-send.kms.GetKeyRotationStatus", throttled),
    )
    assert any("kms.get_key_rotation_status: ThrottlingException" in e for e in discovery.report.errors)
    assert len(throttled.calls) >= 3  # retried before giving up  # type: ignore[attr-defined]
    key = next(r for r in discovery.resources if r.kind == "key")
    assert "rotation_enabled" not in key.facts
    assert key.facts["deletion_protected"] is True


def test_one_unreachable_region(aws: Clients) -> None:  # noqa: F811
    from botocore.exceptions import EndpointConnectionError

    platform(aws)

    def unreachable(request: Any, **_: Any) -> Any:
        if "/eu-west-1/" in request.headers.get("Authorization", b"").decode():
            raise EndpointConnectionError(endpoint_url=request.url)
        return None

    discovery = discover_aws(
        source(aws, max_attempts=1), "acceptance", session_factory=_session_with("before-send", unreachable)
    )
    assert discovery.report.complete is False
    assert any(
        e.startswith("eu-west-1 resourcegroupstaggingapi.get_resources: EndpointConnectionError")
        for e in discovery.report.errors
    )
    assert "arn:aws:s3:::card-vault" in by_id(discovery.resources)


def test_unreachable_endpoint_gives_nothing_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    discovery = discover_aws(
        AwsSource(
            regions=("eu-central-1",),
            endpoint_url=f"http://127.0.0.1:{port}",
            max_attempts=1,
            connect_timeout=1,
        ),
        "acceptance",
    )
    assert (discovery.resources, discovery.report.complete) == ((), False)
    assert "sts.get_caller_identity: EndpointConnectionError" in discovery.report.errors[0]


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections and never answers: every read times out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    listener.close()


def test_missing_credentials_are_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    discovery = discover_aws(
        AwsSource(regions=("eu-central-1",), endpoint_url="http://127.0.0.1:9"), "acceptance"
    )
    assert discovery.report.complete is False
    assert "NoCredentialsError" in discovery.report.errors[0]


def test_a_timeout_is_an_error(silent_server: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    discovery = discover_aws(
        AwsSource(
            regions=("eu-central-1",),
            endpoint_url=f"http://127.0.0.1:{silent_server}",
            max_attempts=1,
            read_timeout=0.2,
        ),
        "acceptance",
    )
    assert discovery.report.complete is False
    assert "ReadTimeoutError" in discovery.report.errors[0]


def test_no_tagged_resources_is_an_empty_stage(aws: Clients) -> None:  # noqa: F811
    aws("iam").create_user(UserName="untagged")
    discovery = discover_aws(source(aws), "acceptance")
    assert discovery.resources == ()
    assert "no resource is tagged stage=acceptance" in discovery.report.notes


def test_an_incomplete_live_source_fails_the_gate_end_to_end(
    aws: Clients,  # noqa: F811
    pytester: pytest.Pytester,
) -> None:
    platform(aws)
    proxy = DenyingProxy(aws.endpoint, "DescribeDBInstances")
    pytester.makepyprojecttoml(
        '[tool.regops.stages.acceptance.aws]\nregions = ["eu-central-1", "eu-west-1"]\n'
    )
    try:
        result = run_project_suites(
            pytester,
            "--stage=acceptance",
            f"--aws-endpoint={proxy.endpoint}",
            "--evidence-dir",
            "out",
        )
    finally:
        proxy.close()
    assert proxy.denied >= 1
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*source aws *is incomplete*", "*rds.describe_db_instances: AccessDenied*"])
    document = load_evidence(only_bundle(pytester.path / "out", "acceptance"))
    (source_report,) = (s for s in document["sources"] if s["kind"] == "aws")
    assert source_report["complete"] is False
    assert (
        "eu-central-1 rds.describe_db_instances: AccessDenied: not allowed by the test"
        in (source_report["errors"])
    )
    assert any("incomplete" in reason for reason in document["gate"]["reasons"])
    ledger = "arn:aws:rds:eu-central-1:123456789012:db:ledger"
    ledger_outcomes = {
        control["id"]: result["outcome"]
        for control in document["controls"]
        for result in control["results"]
        if result["resource_id"] == ledger
    }
    # What the denied call would have told is an error; what the tags tell is still judged.
    assert {ledger_outcomes[c] for c in ("ENC-003", "ENC-005", "NET-005")} == {"error"}
    assert ledger_outcomes["AST-001"] == "failed"


def test_an_instance_is_judged_by_the_encryption_of_its_volumes(aws: Clients) -> None:  # noqa: F811
    ec2 = aws("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]
    root = image["RootDeviceName"]

    def launch(encrypted: bool) -> str:
        return str(
            ec2.run_instances(
                ImageId=image["ImageId"],
                MinCount=1,
                MaxCount=1,
                BlockDeviceMappings=[{"DeviceName": root, "Ebs": {"VolumeSize": 8, "Encrypted": encrypted}}],
                TagSpecifications=[{"ResourceType": "instance", "Tags": STAGE_TAGS}],
            )["Instances"][0]["InstanceId"]
        )

    sealed, plain = launch(True), launch(False)

    def instances(**kwargs: Any) -> dict[str, Resource]:
        found = discover_aws(source(aws), "acceptance", **kwargs).resources
        return {r.id.rsplit("/", 1)[-1]: r for r in found if r.kind == "compute"}

    found = instances()
    assert (found[sealed].facts["disk_encrypted"], found[plain].facts["disk_encrypted"]) == (True, False)
    denied = _http_error(403, "AccessDenied", "DescribeVolumes")
    unread = instances(session_factory=_session_with("before-send.ec2.DescribeVolumes", denied))
    assert "disk_encrypted" not in unread[sealed].facts


def test_a_rule_that_forwards_plain_http_makes_a_redirecting_listener_plaintext(aws: Clients) -> None:  # noqa: F811
    ec2, elbv2 = aws("ec2"), aws("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.8.{i}.0/24", AvailabilityZone=f"eu-central-1{zone}")[
            "Subnet"
        ]["SubnetId"]
        for i, zone in enumerate("ab")
    ]
    balancer = elbv2.create_load_balancer(Name="edge", Subnets=subnets, Tags=STAGE_TAGS)["LoadBalancers"][0][
        "LoadBalancerArn"
    ]
    target = elbv2.create_target_group(Name="api", Protocol="HTTP", Port=8080, VpcId=vpc)["TargetGroups"][0][
        "TargetGroupArn"
    ]
    listener = elbv2.create_listener(
        LoadBalancerArn=balancer,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[
            {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "StatusCode": "HTTP_301"}}
        ],
    )["Listeners"][0]["ListenerArn"]

    def plaintext(**kwargs: Any) -> Any:
        (found,) = (
            r
            for r in discover_aws(source(aws), "acceptance", **kwargs).resources
            if r.kind == "load_balancer"
        )
        return found.facts.get("plaintext_listener")

    assert plaintext() is False
    elbv2.create_rule(
        ListenerArn=listener,
        Priority=10,
        Conditions=[{"Field": "path-pattern", "Values": ["/legacy/*"]}],
        Actions=[{"Type": "forward", "TargetGroupArn": target}],
    )
    assert plaintext() is True
    denied = _session_with(
        "before-send.elastic-load-balancing-v2.DescribeRules",
        _http_error(403, "AccessDenied", "DescribeRules"),
    )
    assert plaintext(session_factory=denied) is None
