"""templates/dynatrace-ingest.yaml, Dynatrace's log and event ingest in one region (docs/ingest.md),
and a rollout of one account in several regions: the Dynatrace member template in the home
region, the ingest template in each ingest region, with no name colliding."""

import json
import re

import pytest

from cfn import ACCOUNT_ID, INGEST, MEMBER, Stack, as_list, check_complete, load, statements

INGEST_SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:registrar/dynatrace-ingest-AbCdEf"
MRK_ARN = "arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab"
PRODUCTION_URL = "https://abc12345.apps.dynatrace.com"
HOME = "eu-west-1"
THREE_REGIONS = ("eu-west-1", "us-east-1", "ap-southeast-2")
LOG_RESOURCES = {"LogBackupBucket", "LogDeliveryRole", "LogStream", "LogErrorLogGroup", "LogErrorDestinationStream",
                 "LogErrorBackupStream"}
EVENT_RESOURCES = {"EventConnection", "EventDestination", "EventDeliveryRole", "EventRule"}
REQUIRED = {"EnvironmentUrl": PRODUCTION_URL, "IngestSecretArn": INGEST_SECRET_ARN, "SecretKmsKeyArn": MRK_ARN}
# The name property of each type these templates create; None: the type takes no name.
NAME_PROPERTY = {
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::Logs::LogStream": None,  # named within its own log group only
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Lambda::EventInvokeConfig": None,
    "AWS::S3::Bucket": "BucketName",
    "AWS::KMS::Key": None,
    "AWS::KinesisFirehose::DeliveryStream": "DeliveryStreamName",
    "AWS::Events::Connection": "Name",
    "AWS::Events::ApiDestination": "Name",
    "AWS::Events::Rule": "Name",
    "AWS::CloudFormation::WaitConditionHandle": None,
    "Custom::VendorRegistration": None,
    "Custom::VendorRoleBinding": None,
}
# Names that are global (one namespace for every region of an account, or of all AWS).
GLOBAL_NAMES = {"AWS::IAM::Role", "AWS::IAM::ManagedPolicy", "AWS::S3::Bucket"}


@pytest.fixture(scope="module")
def template():
    return load(INGEST)


def ingest_stack(template, region="us-east-1", logs="false", events="false", key="false", **more):
    return Stack(template, region=region, **{**REQUIRED, "LogIngest": logs, "EventIngest": events,
                                             "UseCustomerManagedKey": key, **more})


def regional(arn, region):
    parts = arn.split(":")
    return ":".join(parts[:3] + [region] + parts[4:])


COMBINATIONS = [
    (logs, events, key)
    for logs in ("false", "true")
    for events in ("false", "true")
    for key in ("false", "true")
    if not (key == "true" and logs == "false")  # the key only exists with log ingest
]


def combination_id(combination):
    logs, events, key = combination
    return f"logs:{logs}-events:{events}-key:{key}"


@pytest.mark.parametrize("combination", COMBINATIONS, ids=combination_id)
def test_every_combination_creates_exactly_its_resources(template, combination):
    logs, events, key = combination
    stack = ingest_stack(template, logs=logs, events=events, key=key)
    failures = stack.rule_failures()
    if "true" not in (logs, events):
        (message,) = failures
        assert "LogIngest or EventIngest" in message
        return
    assert failures == []
    expected = (LOG_RESOURCES if logs == "true" else set()) | (EVENT_RESOURCES if events == "true" else set())
    expected |= {"IngestKey"} if key == "true" else set()
    resources = stack.resources()
    assert set(resources) == expected
    check_complete(stack)
    for name in resources:
        if resources[name]["Type"] == "AWS::IAM::Role":
            check_least_privilege(stack, name)


def check_least_privilege(stack, role):
    """Every role's grants: named resources, no wildcard actions."""
    properties = stack.resources()[role]["Properties"]
    assert "ManagedPolicyArns" not in properties
    for policy in properties.get("Policies", []):
        for grant in statements(policy["PolicyDocument"]):
            assert grant["Effect"] == "Allow" and "NotAction" not in grant and "NotResource" not in grant, (role, grant)
            assert not [a for a in as_list(grant["Action"]) if a == "*" or a.endswith(":*")], (role, grant)
            assert "*" not in json.dumps(grant.get("Resource")).replace("/*", ""), (role, grant)


# The ingest roles, statement by statement: what they may do, on what.
LOG_DELIVERY_GRANTS = {
    "WriteFailedRecords": {"s3:AbortMultipartUpload", "s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket",
                           "s3:ListBucketMultipartUploads", "s3:PutObject"},
    "ReadIngestSecret": {"secretsmanager:GetSecretValue"},
    "DecryptIngestSecret": {"kms:Decrypt"},
    "UseIngestKey": {"kms:Decrypt", "kms:GenerateDataKey"},
    "WriteErrorLogs": {"logs:PutLogEvents"},
}


def grants_of(stack, role):
    (policy,) = stack.resources()[role]["Properties"]["Policies"]
    return {grant["Sid"]: grant for grant in statements(policy["PolicyDocument"])}


@pytest.mark.parametrize("key", ["false", "true"])
@pytest.mark.parametrize("region", THREE_REGIONS)
def test_log_delivery_role_only_writes_its_bucket_and_reads_its_secret_here(template, region, key):
    stack = ingest_stack(template, region, logs="true", key=key)
    assert stack.rule_failures() == []
    role = stack.resources()["LogDeliveryRole"]["Properties"]
    # The central ingest secret's policy (foundation.yaml) trusts this path, and only this one.
    assert role["Path"] == "/registrar/ingest/"
    assert "RoleName" not in role, "named by CloudFormation: no collision between regions"
    (trust,) = statements(role["AssumeRolePolicyDocument"])
    assert trust["Principal"] == {"Service": "firehose.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    # Firehose assumes its delivery role with this account's id as external ID (its documented trust).
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": ACCOUNT_ID}}, "no confused deputy"
    grants = grants_of(stack, "LogDeliveryRole")
    expected = {"WriteFailedRecords", "ReadIngestSecret", "DecryptIngestSecret", "WriteErrorLogs"} | (
        {"UseIngestKey"} if key == "true" else set())
    assert set(grants) == expected
    for sid, grant in grants.items():
        assert set(as_list(grant["Action"])) == LOG_DELIVERY_GRANTS[sid], sid
    assert grants["WriteFailedRecords"]["Resource"] == [
        {"Fn::GetAtt": ["LogBackupBucket", "Arn"]},
        "${LogBackupBucket.Arn}/*",  # Fn::Sub of the bucket's own ARN
    ]
    # The replica in this very region: the same ARN but for the region (Secrets Manager's rule).
    assert grants["ReadIngestSecret"]["Resource"] == regional(INGEST_SECRET_ARN, region)
    assert grants["DecryptIngestSecret"]["Resource"] == regional(MRK_ARN, region)
    assert grants["DecryptIngestSecret"]["Condition"] == {
        "StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}
    }
    if key == "true":
        assert grants["UseIngestKey"]["Resource"] == {"Fn::GetAtt": ["IngestKey", "Arn"]}
        assert grants["UseIngestKey"]["Condition"] == {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}}


@pytest.mark.parametrize("region", THREE_REGIONS)
def test_event_delivery_role_only_invokes_its_api_destination(template, region):
    stack = ingest_stack(template, region, events="true")
    role = stack.resources()["EventDeliveryRole"]["Properties"]
    assert "RoleName" not in role and "Path" not in role, "no path the ingest secret trusts: it reads nothing"
    (trust,) = statements(role["AssumeRolePolicyDocument"])
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}
    assert grants_of(stack, "EventDeliveryRole") == {
        "InvokeDynatrace": {
            "Sid": "InvokeDynatrace",
            "Effect": "Allow",
            "Action": "events:InvokeApiDestination",
            "Resource": {"Fn::GetAtt": ["EventDestination", "Arn"]},
        }
    }
    rule = stack.resources()["EventRule"]["Properties"]
    assert rule["Targets"] == [
        {"Id": "dynatrace", "Arn": {"Fn::GetAtt": ["EventDestination", "Arn"]}, "RoleArn": {"Fn::GetAtt": ["EventDeliveryRole", "Arn"]}}
    ]


@pytest.mark.parametrize(
    "environment_url, ingest_host",
    [
        ("https://abc12345.apps.dynatrace.com", "abc12345.live.dynatrace.com"),
        ("https://abc12345.live.dynatrace.com/", "abc12345.live.dynatrace.com"),
        ("https://abc12345.sprint.apps.dynatracelabs.com", "abc12345.sprint.dynatracelabs.com"),
        ("https://xyz-9.dev.dynatracelabs.com", "xyz-9.dev.dynatracelabs.com"),
    ],
)
def test_ingest_goes_to_the_environments_documented_endpoints(template, environment_url, ingest_host):
    stack = ingest_stack(template, logs="true", events="true", EnvironmentUrl=environment_url)
    assert stack.rule_failures() == []
    resources = stack.resources()
    destination = resources["LogStream"]["Properties"]["HttpEndpointDestinationConfiguration"]
    # Dynatrace's Firehose log ingest endpoint, with the token as Firehose's access key.
    assert destination["EndpointConfiguration"] == {"Name": "Dynatrace", "Url": f"https://{ingest_host}/api/v2/logs/ingest/aws_firehose"}
    assert destination["SecretsManagerConfiguration"] == {
        "Enabled": True,
        "SecretARN": regional(INGEST_SECRET_ARN, "us-east-1"),
        "RoleARN": {"Fn::GetAtt": ["LogDeliveryRole", "Arn"]},
    }
    assert "AccessKey" not in destination["EndpointConfiguration"], "the token never sits in the template"
    assert destination["S3BackupMode"] == "FailedDataOnly"
    assert destination["S3Configuration"]["BucketARN"] == {"Fn::GetAtt": ["LogBackupBucket", "Arn"]}
    assert destination["BufferingHints"] == {"IntervalInSeconds": 60, "SizeInMBs": 1}
    assert destination["RequestConfiguration"] == {"ContentEncoding": "GZIP"}
    api = resources["EventDestination"]["Properties"]
    assert api["InvocationEndpoint"] == f"https://{ingest_host}/platform/ingest/v1/events"
    assert api["HttpMethod"] == "POST"


def test_the_environment_url_is_the_member_templates(template):
    member = load(MEMBER["dynatrace"])["Parameters"]["EnvironmentUrl"]
    assert template["Parameters"]["EnvironmentUrl"]["AllowedPattern"] == member["AllowedPattern"]
    assert template["Conditions"]["DynatraceProductionEnvironment"] == load(MEMBER["dynatrace"])["Conditions"]["DynatraceProductionEnvironment"]


def test_event_connection_takes_the_token_from_the_regional_secret(template):
    for region in THREE_REGIONS:
        stack = ingest_stack(template, region, events="true", EventSources="aws.health,aws.ec2")
        connection = stack.resources()["EventConnection"]["Properties"]
        assert connection["AuthorizationType"] == "API_KEY"
        assert connection["AuthParameters"] == {
            "ApiKeyAuthParameters": {
                "ApiKeyName": "Authorization",
                # An access token (logs.ingest, openpipeline.events) on the Api-Token scheme.
                "ApiKeyValue": "Api-Token {{resolve:secretsmanager:" + regional(INGEST_SECRET_ARN, region) + ":SecretString:api_key}}",
            }
        }
        assert stack.resources()["EventRule"]["Properties"]["EventPattern"] == {"source": ["aws.health", "aws.ec2"]}
    assert template["Parameters"]["EventSources"]["Default"] == "aws.health", "Dynatrace's default event source"


@pytest.mark.parametrize("key", ["false", "true"])
def test_customer_managed_key_encrypts_the_stream_and_the_backup_bucket(template, key):
    resources = ingest_stack(template, logs="true", key=key).resources()
    stream = resources["LogStream"]["Properties"]
    bucket = resources["LogBackupBucket"]
    assert bucket["DeletionPolicy"] == "Retain", "failed records are not lost with the stack"
    assert "BucketName" not in bucket["Properties"]
    if key == "true":
        assert resources["IngestKey"]["Properties"]["EnableKeyRotation"] is True
        assert stream["DeliveryStreamEncryptionConfigurationInput"] == {"KeyType": "CUSTOMER_MANAGED_CMK", "KeyARN": {"Fn::GetAtt": ["IngestKey", "Arn"]}}
        (rule,) = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Fn::GetAtt": ["IngestKey", "Arn"]}}
    else:
        assert "DeliveryStreamEncryptionConfigurationInput" not in stream
        assert "BucketEncryption" not in bucket["Properties"], "S3's default encryption (SSE-S3)"


@pytest.mark.parametrize("key", ["false", "true"])
def test_firehose_logs_its_delivery_errors_to_its_own_log_group(template, key):
    stack = ingest_stack(template, logs="true", key=key, stack_name="StackSet-registrar-ingest-1")
    resources = stack.resources()
    group = resources["LogErrorLogGroup"]["Properties"]
    assert group["LogGroupName"] == "/aws/kinesisfirehose/StackSet-registrar-ingest-1-dynatrace"
    assert group["RetentionInDays"] == 30
    assert [resources[s]["Properties"] for s in ("LogErrorDestinationStream", "LogErrorBackupStream")] == [
        {"LogGroupName": {"Ref": "LogErrorLogGroup"}, "LogStreamName": "DestinationDelivery"},
        {"LogGroupName": {"Ref": "LogErrorLogGroup"}, "LogStreamName": "BackupDelivery"}]
    destination = resources["LogStream"]["Properties"]["HttpEndpointDestinationConfiguration"]
    assert destination["CloudWatchLoggingOptions"] == {
        "Enabled": True, "LogGroupName": {"Ref": "LogErrorLogGroup"}, "LogStreamName": {"Ref": "LogErrorDestinationStream"}}
    assert destination["S3Configuration"]["CloudWatchLoggingOptions"] == {
        "Enabled": True, "LogGroupName": {"Ref": "LogErrorLogGroup"}, "LogStreamName": {"Ref": "LogErrorBackupStream"}}
    # The delivery role writes those two streams and nothing else of CloudWatch Logs.
    write = grants_of(stack, "LogDeliveryRole")["WriteErrorLogs"]
    prefix = "arn:aws:logs:us-east-1:" + ACCOUNT_ID + ":log-group:${LogErrorLogGroup}:log-stream:"
    assert write["Resource"] == [prefix + "${LogErrorDestinationStream}", prefix + "${LogErrorBackupStream}"]
    if key == "true":
        assert group["KmsKeyId"] == {"Fn::GetAtt": ["IngestKey", "Arn"]}
        policy = resources["IngestKey"]["Properties"]["KeyPolicy"]
        logs = {g["Sid"]: g for g in statements(policy)}["LogsEncryptTheErrorLogGroup"]
        assert logs["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
        # Only for this log group: the encryption context CloudWatch Logs uses.
        assert logs["Condition"] == {"ArnLike": {"kms:EncryptionContext:aws:logs:arn":
            "arn:aws:logs:us-east-1:" + ACCOUNT_ID + ":log-group:" + group["LogGroupName"]}}
    else:
        assert "KmsKeyId" not in group


@pytest.mark.parametrize("bus", [None, "org-events"])
def test_the_event_rule_listens_on_the_chosen_bus(template, bus):
    more = {} if bus is None else {"EventBusName": bus}
    rule = ingest_stack(template, events="true", **more).resources()["EventRule"]["Properties"]
    assert rule["EventBusName"] == (bus or "default"), "Dynatrace's default: the default bus"
    assert re.fullmatch(template["Parameters"]["EventBusName"]["AllowedPattern"], "org-events")
    assert not re.fullmatch(template["Parameters"]["EventBusName"]["AllowedPattern"], "arn:aws:events:x bus")


@pytest.mark.parametrize("partition", ["aws-cn", "aws-us-gov"])
def test_ingest_is_refused_outside_the_aws_partition(template, partition):
    (message,) = Stack(template, partition=partition, **REQUIRED, LogIngest="true").rule_failures()
    assert partition in message


@pytest.mark.parametrize(
    "parameter, value, accepted",
    [
        ("IngestSecretArn", INGEST_SECRET_ARN, True),
        ("IngestSecretArn", "", False),
        ("IngestSecretArn", "arn:aws:secretsmanager:eu-west-1:111122223333:secret:registrar/dt", False),
        ("IngestSecretArn", "arn:aws-cn:secretsmanager:cn-north-1:111122223333:secret:registrar/dt-AbCdEf", False),
        ("IngestSecretArn", "dt0s16.SECRETVALUE", False),
        ("SecretKmsKeyArn", MRK_ARN, True),
        ("SecretKmsKeyArn", "", False),
        ("SecretKmsKeyArn", "arn:aws:kms:eu-west-1:111122223333:alias/registrar", False),
        ("EventSources", "aws.health", True),
        ("EventSources", "aws.health,aws.ec2", True),
        ("EventSources", "aws.health, aws.ec2", False),
        ("EventSources", "", False),
    ],
)
def test_ingest_parameter_patterns(template, parameter, value, accepted):
    assert bool(re.fullmatch(template["Parameters"][parameter]["AllowedPattern"], value)) == accepted


def test_no_secret_in_outputs_or_defaults(template):
    for name, spec in template["Parameters"].items():
        default = str(spec.get("Default", ""))
        assert "{{resolve" not in default and not re.search(r"dt0[a-z][0-9]{2}\.", default), name
    assert "resolve:" not in json.dumps(template["Outputs"])
    # The only dynamic reference is the event connection's, to the ingest secret's api_key.
    assert json.dumps(template["Resources"]).count("{{resolve:") == 1
    assert json.dumps(template["Resources"]["EventConnection"]).count("{{resolve:secretsmanager:") == 1


# --------------------------------------------------------------------------- one account, three regions


def physical_names(stack, stack_id):
    """(namespace, name) of every resource the stack creates: the name its properties give it, or
    for an unnamed resource the one CloudFormation generates, unique to the stack and resource."""
    names = []
    for logical, resource in stack.resources().items():
        kind = resource["Type"]
        assert kind in NAME_PROPERTY, f"{logical}: teach NAME_PROPERTY the name property of {kind}"
        prop = NAME_PROPERTY[kind]
        given = resource.get("Properties", {}).get(prop) if prop else None
        name = given if given is not None else f"generated:{stack_id}:{logical}"
        namespace = "global" if kind in GLOBAL_NAMES else stack.values["AWS::Region"]
        names.append(((namespace, kind), name))
    return names


def rollout(template, home):
    """One account: the member StackSet in `home` (all three regions when `home` is None, as a
    StackSet with several regions and no HomeRegion would be), the ingest StackSet in all three."""
    member = load(MEMBER["dynatrace"])
    stacks = []
    for index, region in enumerate(THREE_REGIONS):
        stacks.append(ingest_stack(template, region, logs="true", events="true", key="true",
                                   stack_name=f"StackSet-registrar-ingest-{index}"))
        if home is None or region == home:
            stacks.append(Stack(member, region=region, EnvironmentUrl=PRODUCTION_URL, stack_name=f"StackSet-registrar-{index}"))
    return stacks


def test_three_region_rollout_of_one_account_has_no_name_collision(template):
    stacks = rollout(template, home=HOME)
    names = [entry for index, stack in enumerate(stacks) for entry in physical_names(stack, index)]
    duplicates = {entry for entry in names if names.count(entry) > 1}
    assert not duplicates, duplicates
    assert sum("DynatraceMonitoringRole" in stack.resources() for stack in stacks) == 1
    assert sum(LOG_RESOURCES | EVENT_RESOURCES <= set(stack.resources()) for stack in stacks) == 3


def test_a_member_stack_in_every_region_would_collide(template):
    # The check above can fail: a member template in every region creates the named vendor role thrice.
    stacks = rollout(template, home=None)
    names = [entry for index, stack in enumerate(stacks) for entry in physical_names(stack, index)]
    duplicates = {name for (_, kind), name in names if names.count(((_, kind), name)) > 1}
    assert duplicates == {"DynatraceMonitoringRole"}
