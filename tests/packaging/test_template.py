"""template.yaml lints clean, and deploys what the issue asks for: least-privilege roles, an
optional JWT authorizer on every route, optional VPC, migrations on deploy, a scheduled reconcile.

What CloudFormation would deploy is checked on the transformed template (sam_translate.py),
for a minimal and a fully optioned set of parameters."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from local.routes import load_routes, read_template
from tests.packaging.support import ROOT, TEMPLATE, sam

SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:imageapi-db-AbCdEf"
MINIMAL = {"DatabaseUrl": "postgresql://user:pass@db.example:5432/images"}
FULL = {
    "DatabaseSecretArn": SECRET,
    "BucketName": "existing-images",
    "JwtIssuer": "https://issuer.example.com",
    "JwtAudience": "client-a,client-b",
    "SubnetIds": "subnet-1,subnet-2",
    "SecurityGroupIds": "sg-1",
    "DatabaseProxyEndpoint": "images.proxy-abc.eu-west-1.rds.amazonaws.com",
    "AlarmTopicArn": "arn:aws:sns:eu-west-1:123456789012:alarms",
}
CLUSTER = "images-cluster"
# Every option that adds resources, on: the proxy, the CDN, reserved concurrency, the alarms.
SCALED = {
    **FULL,
    "DatabaseProxyEndpoint": "",
    "CreateDatabaseProxy": "true",
    "DatabaseClusterIdentifier": CLUSTER,
    "CreateCdn": "true",
    "BucketName": "",
    "JwtIssuer": "",
    "UploadImageReservedConcurrency": "50",
    "ThumbnailReservedConcurrency": "0",
}
FUNCTIONS = {
    "ListImagesFunction",
    "GetImageFunction",
    "UpdateImageFunction",
    "UploadImageFunction",
    "DownloadImageFunction",
    "CreateUploadFunction",
    "CompleteUploadFunction",
    "ThumbnailFunction",
    "DeleteImageFunction",
    "GalleryFunction",
    "MigrateFunction",
    "ReconcileFunction",
}
API_FUNCTIONS = FUNCTIONS - {"MigrateFunction", "ReconcileFunction"}  # SnapStart: latency matters
VPC_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"


@pytest.fixture(scope="module")
def deployed() -> dict[str, dict[str, Any]]:
    """Resources CloudFormation would receive, by parameter set."""
    sets = {
        "minimal": MINIMAL,
        "full": FULL,
        "snapstart": {**MINIMAL, "SnapStart": "true"},
        "scaled": SCALED,
    }
    result = sam(
        "python",
        str(ROOT / "tests" / "packaging" / "sam_translate.py"),
        str(TEMPLATE),
        json.dumps(list(sets.values())),
    )
    assert result.returncode == 0, result.stderr
    return dict(zip(sets, json.loads(result.stdout), strict=True))


def statements(resources: dict[str, Any], function: str) -> list[dict[str, Any]]:
    role = resources[f"{function}Role"]["Properties"]
    return [s for policy in role.get("Policies", []) for s in policy["PolicyDocument"]["Statement"]]


def actions(resources: dict[str, Any], function: str, prefix: str) -> set[str]:
    return {a for s in statements(resources, function) for a in s["Action"] if a.startswith(prefix)}


def test_sam_validate_lint_reports_no_errors() -> None:
    result = sam("sam", "validate", "--lint", "--template", str(TEMPLATE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout


def test_sam_validate_accepts_the_transforms() -> None:
    """Plain validation runs the SAM transform itself, after LanguageExtensions."""
    result = sam("sam", "validate", "--language-extensions", "--template", str(TEMPLATE))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def snapstart_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """template.yaml with SnapStart on by default, so the linters check that branch too."""
    text = TEMPLATE.read_text()
    on = text.replace(
        '  SnapStart:\n    Type: String\n    Default: "false"',
        '  SnapStart:\n    Type: String\n    Default: "true"',
    )
    assert on != text
    path = tmp_path_factory.mktemp("snapstart") / "template.yaml"
    path.write_text(on)
    return str(path)


def with_defaults(text: str, defaults: dict[str, str]) -> str:
    """template.yaml with other parameter defaults, so the linters check those branches too."""
    for name, value in defaults.items():
        text, count = re.subn(
            rf"(\n  {name}:\n    Type: \w+\n(?:    NoEcho: true\n)?    Default: )[^\n]*",
            rf'\g<1>"{value}"',
            text,
        )
        assert count == 1, name
    return text


@pytest.fixture(scope="module")
def scaled_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Every option on at once, the database an RDS instance (the cluster is `deployed["scaled"]`)."""
    defaults = {**SCALED, "DatabaseClusterIdentifier": "", "DatabaseInstanceIdentifier": "images-db"}
    defaults |= {"SnapStart": "true", "JwtIssuer": FULL["JwtIssuer"], "ListImagesReservedConcurrency": "5"}
    path = tmp_path_factory.mktemp("scaled") / "template.yaml"
    path.write_text(with_defaults(TEMPLATE.read_text(), defaults))
    return str(path)


@pytest.mark.parametrize("linter", ["cfn-lint", "sam"])
def test_linters_report_no_errors_with_every_option_on(scaled_template: str, linter: str) -> None:
    command = ["sam", "validate", "--lint", "--template"] if linter == "sam" else ["cfn-lint"]
    result = sam(*command, scaled_template)
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_validate_lint_reports_no_errors_with_snapstart_on(snapstart_template: str) -> None:
    result = sam("sam", "validate", "--lint", "--template", snapstart_template)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_reports_no_errors_with_snapstart_on(snapstart_template: str) -> None:
    result = sam("cfn-lint", snapstart_template)
    assert result.returncode == 0, result.stdout + result.stderr


def test_snapstart_publishes_versions_behind_an_alias_the_api_calls(
    deployed: dict[str, dict[str, Any]],
) -> None:
    off, on = deployed["minimal"], deployed["snapstart"]
    assert not [r for r in off.values() if r["Type"] in ("AWS::Lambda::Version", "AWS::Lambda::Alias")]
    for function in API_FUNCTIONS:
        assert "SnapStart" not in off[function]["Properties"]
        assert on[function]["Properties"]["SnapStart"] == {"ApplyOn": "PublishedVersions"}
        [alias] = [
            r["Properties"]
            for r in on.values()
            if r["Type"] == "AWS::Lambda::Alias" and r["Properties"]["FunctionName"] == {"Ref": function}
        ]
        assert alias["Name"] == "live"
    uris = json.dumps(on["HttpApi"]["Properties"]["Body"]["paths"])
    unaliased = json.dumps(off["HttpApi"]["Properties"]["Body"]["paths"])
    routed = {r.function for r in load_routes()}
    for function in routed:
        assert f"${{{function}.Arn}}" in unaliased, function
        assert f"${{{function}Aliaslive}}" in uris, function  # the integration invokes the alias
        assert f"${{{function}.Arn}}" not in uris, function
    permissions = [r["Properties"] for r in on.values() if r["Type"] == "AWS::Lambda::Permission"]
    for function in routed:
        assert any(p["FunctionName"] == {"Ref": f"{function}Aliaslive"} for p in permissions), function


def test_cfn_lint_reports_no_errors() -> None:
    result = sam("cfn-lint", str(TEMPLATE))
    assert result.returncode & 2 == 0, result.stdout  # bit 2: errors (4: warnings, 8: informational)


def test_routes_are_the_api_functions_and_the_gallery() -> None:
    routes = {(r.method, r.path, r.function) for r in load_routes()}
    assert routes == {
        ("GET", "/api/v1/images", "ListImagesFunction"),
        ("HEAD", "/api/v1/images", "ListImagesFunction"),
        ("POST", "/api/v1/images", "UploadImageFunction"),
        ("GET", "/api/v1/images/{image_id}", "GetImageFunction"),
        ("HEAD", "/api/v1/images/{image_id}", "GetImageFunction"),
        ("PATCH", "/api/v1/images/{image_id}", "UpdateImageFunction"),
        ("GET", "/api/v1/images/{image_id}/file", "DownloadImageFunction"),
        ("HEAD", "/api/v1/images/{image_id}/file", "DownloadImageFunction"),
        ("POST", "/api/v1/uploads", "CreateUploadFunction"),
        ("POST", "/api/v1/uploads/{upload_id}/complete", "CompleteUploadFunction"),
        ("GET", "/api/v1/images/{image_id}/thumbnail", "ThumbnailFunction"),
        ("HEAD", "/api/v1/images/{image_id}/thumbnail", "ThumbnailFunction"),
        ("DELETE", "/api/v1/images/{image_id}", "DeleteImageFunction"),
        ("GET", "/", "GalleryFunction"),
        ("HEAD", "/", "GalleryFunction"),
    }


def test_every_get_route_has_its_head_route_to_the_same_function(
    deployed: dict[str, dict[str, Any]],
) -> None:
    """An HTTP API's GET route does not match HEAD: each needs its own, with the same authorizer."""
    routes = {(r.method, r.path): r.function for r in load_routes()}
    gets = {path: function for (method, path), function in routes.items() if method == "GET"}
    heads = {path: function for (method, path), function in routes.items() if method == "HEAD"}
    assert heads == gets
    for resources in deployed.values():
        for path, operations in resources["HttpApi"]["Properties"]["Body"]["paths"].items():
            if "get" in operations:
                assert operations["head"].get("security") == operations["get"].get("security"), path


def test_each_function_has_its_own_folder_and_handler() -> None:
    resources = read_template()["Resources"]
    functions = {n: r["Properties"] for n, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    assert set(functions) == FUNCTIONS
    folders = [p["CodeUri"] for p in functions.values()]
    assert len(set(folders)) == len(folders)
    for props in functions.values():
        assert props["CodeUri"].startswith("functions/")
        assert (ROOT / props["CodeUri"] / "app.py").is_file() and props["Handler"] == "app.handler"


def test_layer_is_built_for_the_functions_runtime_and_architecture() -> None:
    template = read_template()
    defaults = template["Globals"]["Function"]
    layer = template["Resources"]["CommonLayer"]
    assert layer["Metadata"]["BuildMethod"] == defaults["Runtime"] == "python3.12"
    assert [layer["Metadata"]["BuildArchitecture"]] == defaults["Architectures"]
    assert layer["Properties"]["CompatibleArchitectures"] == defaults["Architectures"]
    for resource in template["Resources"].values():  # no function may pick another machine
        assert "Architectures" not in resource.get("Properties", {})


def test_metadata_functions_have_no_s3_access(deployed: dict[str, dict[str, Any]]) -> None:
    for resources in deployed.values():
        for function in (
            "ListImagesFunction",
            "GetImageFunction",
            "UpdateImageFunction",
            "MigrateFunction",
            "GalleryFunction",
        ):
            assert actions(resources, function, "s3:") == set()


def test_download_reads_upload_writes_reconcile_lists_and_deletes(
    deployed: dict[str, dict[str, Any]],
) -> None:
    for resources in deployed.values():
        assert actions(resources, "DownloadImageFunction", "s3:") == {"s3:GetObject", "s3:ListBucket"}
        assert actions(resources, "UploadImageFunction", "s3:") == {
            "s3:PutObject",
            "s3:AbortMultipartUpload",
            "s3:DeleteObject",
        }
        assert actions(resources, "ReconcileFunction", "s3:") == {"s3:ListBucket", "s3:DeleteObject"}
        assert actions(resources, "ThumbnailFunction", "s3:") == {
            "s3:GetObject",
            "s3:PutObject",
            "s3:DeleteObject",  # a thumbnail stored after its image was deleted
            "s3:ListBucket",
        }
        assert actions(resources, "DeleteImageFunction", "s3:") == {"s3:DeleteObject"}
    # Where each function may act on objects, by prefix; every grant names the one bucket.
    expected: dict[str, dict[str, set[str]]] = {
        "DownloadImageFunction": {"images/*": {"s3:GetObject"}, "bucket": {"s3:ListBucket"}},
        "UploadImageFunction": {"images/*": {"s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"}},
        "ThumbnailFunction": {
            "images/*": {"s3:GetObject"},
            "thumbnails/*": {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"},
            "bucket": {"s3:ListBucket"},
        },
        "DeleteImageFunction": {"images/*": {"s3:DeleteObject"}, "thumbnails/*": {"s3:DeleteObject"}},
    }
    for resources in deployed.values():
        for function, grants in expected.items():
            assert object_grants(resources, function) == grants, function


def test_secret_is_readable_only_when_configured(deployed: dict[str, dict[str, Any]]) -> None:
    assert actions(deployed["full"], "GalleryFunction", "secretsmanager:") == set()  # no database
    for function in FUNCTIONS - {"GalleryFunction"}:
        assert actions(deployed["minimal"], function, "secretsmanager:") == set()
        assert actions(deployed["full"], function, "secretsmanager:") == {"secretsmanager:GetSecretValue"}
        [granted] = [
            s
            for s in statements(deployed["full"], function)
            if "secretsmanager:GetSecretValue" in s["Action"]
        ]
        assert granted["Resource"] == {
            "Fn::Sub": ["${secretArn}", {"secretArn": {"Ref": "DatabaseSecretArn"}}]
        }


def test_vpc_only_when_configured(deployed: dict[str, dict[str, Any]]) -> None:
    for function in FUNCTIONS:
        minimal, full = (deployed[k][function]["Properties"] for k in ("minimal", "full"))
        assert "VpcConfig" not in minimal
        assert VPC_POLICY not in deployed["minimal"][f"{function}Role"]["Properties"]["ManagedPolicyArns"]
        assert full["VpcConfig"] == {
            "SubnetIds": {"Ref": "SubnetIds"},
            "SecurityGroupIds": {"Ref": "SecurityGroupIds"},
        }
        assert VPC_POLICY in deployed["full"][f"{function}Role"]["Properties"]["ManagedPolicyArns"]


def test_jwt_authorizer_guards_every_route_only_when_configured(deployed: dict[str, dict[str, Any]]) -> None:
    def operations(resources: dict[str, Any]) -> list[dict[str, Any]]:
        paths = resources["HttpApi"]["Properties"]["Body"]["paths"]
        return [op for path in paths.values() for op in path.values()]

    assert len(operations(deployed["minimal"])) == 15  # ten routes, and HEAD of the five GETs
    assert all("security" not in op for op in operations(deployed["minimal"]))
    assert "components" not in deployed["minimal"]["HttpApi"]["Properties"]["Body"]

    paths = deployed["full"]["HttpApi"]["Properties"]["Body"]["paths"]
    api = [op for path, ops in paths.items() if path != "/" for op in ops.values()]
    assert len(api) == 13
    assert all(op["security"] == [{"JwtAuthorizer": []}] for op in api)
    # The page holds no data and loads before the browser has a token: SAM's per-event
    # `Authorizer: NONE` is how a route opts out of the API's DefaultAuthorizer.
    assert paths["/"]["get"]["security"] == paths["/"]["head"]["security"] == [{"NONE": []}]
    schemes = deployed["full"]["HttpApi"]["Properties"]["Body"]["components"]["securitySchemes"]
    scheme = schemes["JwtAuthorizer"]
    assert scheme["x-amazon-apigateway-authorizer"] == {
        "type": "jwt",
        "identitySource": "$request.header.Authorization",
        "jwtConfiguration": {"issuer": {"Ref": "JwtIssuer"}, "audience": {"Ref": "JwtAudience"}},
    }


def test_migrations_run_on_deploy_and_reconcile_on_a_schedule(deployed: dict[str, dict[str, Any]]) -> None:
    for resources in deployed.values():
        migrations = resources["Migrations"]["Properties"]
        assert migrations["ServiceToken"] == {"Fn::GetAtt": ["MigrateFunction", "Arn"]}
        [layer] = [n for n, r in resources.items() if r["Type"] == "AWS::Lambda::LayerVersion"]
        assert migrations["LayerVersion"] == {"Ref": layer}  # a new layer (new SQL) re-runs them
        [rule] = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Events::Rule"]
        assert rule["ScheduleExpression"] == {"Ref": "ReconcileSchedule"}
        [target] = rule["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": ["ReconcileFunction", "Arn"]}
        assert json.loads(target["Input"]) == {"apply": True}


def test_created_bucket_is_private_encrypted_and_kept(deployed: dict[str, dict[str, Any]]) -> None:
    conditions = read_template()["Conditions"]
    assert conditions["CreateBucket"] == {"Equals": [{"Ref": "BucketName"}, ""]}  # else used as it is
    bucket = deployed["minimal"]["ImagesBucket"]
    assert bucket["Condition"] == "CreateBucket"
    assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
    props = bucket["Properties"]
    [rule] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    block = props["PublicAccessBlockConfiguration"]
    assert block == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    # its only policy denies plain HTTP; no statement grants the bucket to anyone
    [deny] = deployed["minimal"]["ImagesBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert (deny["Effect"], deny["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})


def object_grants(resources: dict[str, Any], function: str) -> dict[str, set[str]]:
    """Object actions by the prefix they apply to (images/*, incoming/*), ListBucket as "bucket";
    asserts that every resource is the stack's one bucket."""
    grants: dict[str, set[str]] = {}
    for statement in statements(resources, function):
        if not statement["Action"][0].startswith("s3:"):
            continue
        resource = statement["Resource"]
        for sub in resource if isinstance(resource, list) else [resource]:
            pattern, variables = sub["Fn::Sub"]
            assert variables["Bucket"] in ({"Ref": "ImagesBucket"}, {"Ref": "BucketName"})  # created or given
            where = pattern.rpartition("}/")[2] if "}/" in pattern else "bucket"
            grants.setdefault(where, set()).update(statement["Action"])
    return grants


def test_upload_sessions_least_privilege(deployed: dict[str, dict[str, Any]]) -> None:
    for resources in deployed.values():
        # create signs a PUT to incoming/ and reads nothing
        assert object_grants(resources, "CreateUploadFunction") == {"incoming/*": {"s3:PutObject"}}
        # complete reads and deletes incoming/, streams to images/ (removing its object on failure)
        assert object_grants(resources, "CompleteUploadFunction") == {
            "incoming/*": {"s3:GetObject", "s3:DeleteObject"},
            "images/*": {"s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"},
            "bucket": {"s3:ListBucket"},
        }
        assert object_grants(resources, "ReconcileFunction") == {
            "bucket": {"s3:ListBucket"},
            "images/*": {"s3:DeleteObject"},
            "incoming/*": {"s3:DeleteObject"},
            "thumbnails/*": {"s3:DeleteObject"},
        }


def test_bucket_expires_incoming_and_allows_configured_origins(deployed: dict[str, dict[str, Any]]) -> None:
    rules = {
        r["Id"]: r
        for r in deployed["minimal"]["ImagesBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    }
    assert rules["ExpireIncoming"] == {
        "Id": "ExpireIncoming",
        "Status": "Enabled",
        "Prefix": "incoming/",
        "ExpirationInDays": 1,
    }
    assert rules["AbortIncompleteUploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    cors = read_template()["Resources"]["ImagesBucket"]["Properties"]["CorsConfiguration"]
    assert cors["If"][0] == "AllowUploadOrigins"  # none unless UploadAllowedOrigins is set
    [rule] = cors["If"][1]["CorsRules"]
    assert rule["AllowedOrigins"] == {"Ref": "UploadAllowedOrigins"}
    assert set(rule["AllowedMethods"]) == {"PUT", "GET"}
    assert "x-amz-checksum-sha256" in rule["AllowedHeaders"]


def test_lambda_redirects_downloads_above_its_response_ceiling() -> None:
    template = read_template()
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["DOWNLOAD_REDIRECT_BYTES"] == {"Ref": "DownloadRedirectBytes"}
    assert variables["MAX_SESSION_UPLOAD_BYTES"] == {"Ref": "MaxSessionUploadBytes"}
    assert template["Parameters"]["DownloadRedirectBytes"]["Default"] == 4_600_000
    assert template["Parameters"]["MaxSessionUploadBytes"]["Default"] == 200 * 1024 * 1024


def test_telemetry_throttling_and_alarms(deployed: dict[str, dict[str, Any]]) -> None:
    for name, resources in deployed.items():
        for function in FUNCTIONS:
            assert resources[function]["Properties"]["TracingConfig"] == {"Mode": "Active"}, function
            env = resources[function]["Properties"]["Environment"]["Variables"]
            assert env["METRICS_NAMESPACE"] == {"Ref": "MetricsNamespace"}, function
        [stage] = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Stage"]
        assert "$context.integrationErrorMessage" in stage["AccessLogSettings"]["Format"]
        assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == {"Ref": "ThrottlingRateLimit"}
        [invoke] = [
            r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::EventInvokeConfig"
        ]
        assert invoke["MaximumRetryAttempts"] == 0 and "OnFailure" in invoke["DestinationConfig"]
        alarms = {k: r["Properties"] for k, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
        watched = {"DatabaseConnectionsAlarm"} if name == "scaled" else set()  # a database was named
        assert set(alarms) == {"Api5xxAlarm", "ThrottlesAlarm", "ReconcileFailedAlarm"} | watched
        for alarm in alarms.values():  # they notify only where a topic is given
            assert ("AlarmActions" in alarm) == (name in ("full", "scaled")), name
    connections = deployed["scaled"]["DatabaseConnectionsAlarm"]["Properties"]
    assert connections["Namespace"] == "AWS/RDS" and connections["MetricName"] == "DatabaseConnections"
    assert connections["Dimensions"] == [
        {"Name": "DBClusterIdentifier", "Value": {"Ref": "DatabaseClusterIdentifier"}}
    ]


# Globals keep their Fn::If (LanguageExtensions resolves Resources only): CloudFormation
# chooses, and it may name DatabaseProxy or Cdn there because the condition is theirs.
PROXY_ENDPOINT = {
    "Fn::If": ["CreateProxy", {"Fn::GetAtt": ["DatabaseProxy", "Endpoint"]}, {"Ref": "DatabaseProxyEndpoint"}]
}


def test_the_proxy_endpoint_reaches_every_function(deployed: dict[str, dict[str, Any]]) -> None:
    for function in FUNCTIONS:
        env = deployed["full"][function]["Properties"]["Environment"]["Variables"]
        assert env["DATABASE_PROXY_ENDPOINT"] == PROXY_ENDPOINT


def test_rds_proxy_fronts_the_database_when_asked(deployed: dict[str, dict[str, Any]]) -> None:
    for name in ("minimal", "full"):
        assert not [r for r in deployed[name].values() if r["Type"].startswith("AWS::RDS::")], name
    resources = deployed["scaled"]
    proxy = resources["DatabaseProxy"]["Properties"]
    assert proxy["EngineFamily"] == "POSTGRESQL" and proxy["RequireTLS"] is True
    assert proxy["Auth"] == [
        {"AuthScheme": "SECRETS", "SecretArn": {"Ref": "DatabaseSecretArn"}, "IAMAuth": "DISABLED"}
    ]
    role = resources["DatabaseProxyRole"]["Properties"]
    statement, decrypt = role["Policies"][0]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "secretsmanager:GetSecretValue"  # the secret, and nothing else
    assert statement["Resource"] == {"Ref": "DatabaseSecretArn"}
    assert decrypt["Action"] == "kms:Decrypt" and "kms:ViaService" in decrypt["Condition"]["StringEquals"]
    group = resources["DatabaseProxyTargetGroup"]["Properties"]
    assert group["DBClusterIdentifiers"] == [{"Ref": "DatabaseClusterIdentifier"}]
    assert "DBInstanceIdentifiers" not in group
    timeout = read_template()["Globals"]["Function"]["Timeout"]
    borrow = group["ConnectionPoolConfigurationInfo"]["ConnectionBorrowTimeout"]
    assert borrow < timeout  # a waiting environment answers before Lambda's timeout
    for function in FUNCTIONS:
        env = resources[function]["Properties"]["Environment"]["Variables"]
        assert env["DATABASE_PROXY_ENDPOINT"] == PROXY_ENDPOINT, function
    assert read_template()["Conditions"]["CreateProxy"]["And"][0] == {
        "Equals": [{"Ref": "CreateDatabaseProxy"}, "true"]
    }


def test_reserved_concurrency_only_where_a_value_is_given(deployed: dict[str, dict[str, Any]]) -> None:
    for function in FUNCTIONS:
        assert "ReservedConcurrentExecutions" not in deployed["full"][function]["Properties"], function
    scaled = deployed["scaled"]
    assert scaled["UploadImageFunction"]["Properties"]["ReservedConcurrentExecutions"] == {
        "Ref": "UploadImageReservedConcurrency"
    }
    assert "ReservedConcurrentExecutions" in scaled["ThumbnailFunction"]["Properties"]  # 0: switched off
    assert "ReservedConcurrentExecutions" not in scaled["ListImagesFunction"]["Properties"]
    parameters = read_template()["Parameters"]
    for function in API_FUNCTIONS:
        assert parameters[f"{function.removesuffix('Function')}ReservedConcurrency"]["Default"] == -1


def test_cdn_caches_thumbnails_and_files_only(deployed: dict[str, dict[str, Any]]) -> None:
    assert "Cdn" not in deployed["full"]
    resources = deployed["scaled"]
    config = resources["Cdn"]["Properties"]["DistributionConfig"]
    cached = {b["PathPattern"]: b for b in config["CacheBehaviors"]}
    assert set(cached) == {"/api/v1/images/*/thumbnail", "/api/v1/images/*/file"}
    for behaviour in cached.values():
        assert behaviour["CachePolicyId"] == {"Ref": "ImagesCachePolicy"}
        assert behaviour["AllowedMethods"] == ["GET", "HEAD"]
    assert config["DefaultCacheBehavior"]["CachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
    key = resources["ImagesCachePolicy"]["Properties"]["CachePolicyConfig"][
        "ParametersInCacheKeyAndForwardedToOrigin"
    ]
    assert key["QueryStringsConfig"]["QueryStrings"] == ["size"]
    assert key["HeadersConfig"]["Headers"] == ["Authorization"]  # one token's answers never reach another
    env = resources["ListImagesFunction"]["Properties"]["Environment"]["Variables"]
    # No function names the distribution: CloudFront depends on the API, which depends on them.
    assert env["PUBLIC_BASE_URL"] == {"Ref": "PublicBaseUrl"}
    assert "Cdn" not in json.dumps(
        {k: r for k, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    )
