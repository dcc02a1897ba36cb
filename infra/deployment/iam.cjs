// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${...} are CloudFormation Fn::Sub placeholders.
'use strict';
/**
 * One IAM role per backend group, least privilege: each statement names the resources of this
 * deployment (and of this group, except Run Command on the cluster's backends) only. The few actions AWS cannot scope to a resource use
 * `Resource: "*"`; each is listed with its reason in docs/deployment.md, and the template tests fail
 * on any other wildcard.
 */

const { backendPutEventsStatement } = require('./detect.cjs');

const sub = (template) => ({ 'Fn::Sub': template });
const ARN_PREFIX = 'arn:${AWS::Partition}';
const REGION_ACCOUNT = '${AWS::Region}:${AWS::AccountId}';

/** SSM parameter ARNs drop the path's leading slash: /a/b -> parameter/a/b. */
function parameterArns(configSsmPath) {
  const base = `${ARN_PREFIX}:ssm:${REGION_ACCOUNT}:parameter${configSsmPath}`;
  return [sub(base), sub(`${base}/*`)];
}

/** A secret given by name is matched with the six random characters Secrets Manager appends. */
function secretArn(ref) {
  if (ref.startsWith('arn:')) return ref;
  return sub(`${ARN_PREFIX}:secretsmanager:${REGION_ACCOUNT}:secret:${ref}-??????`);
}

function bucketArn() {
  return { 'Fn::GetAtt': ['DumpsBucket', 'Arn'] };
}

function statementsFor(d, group) {
  const statements = [
    {
      Sid: 'OwnLogGroup',
      Effect: 'Allow',
      Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      Resource: [sub(`${ARN_PREFIX}:logs:${REGION_ACCOUNT}:log-group:/aws/lambda/${group.functionName}:*`)],
    },
    {
      Sid: 'ReadConfigParameters',
      Effect: 'Allow',
      Action: ['ssm:GetParametersByPath', 'ssm:GetParameters', 'ssm:GetParameter'],
      Resource: parameterArns(d.configSsmPath),
    },
    {
      Sid: 'ReadDatabaseSecrets',
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue'],
      Resource: [secretArn(d.secrets.database), secretArn(d.secrets.replication)],
    },
  ];
  if (d.secrets.kmsKeyArn) {
    statements.push({
      Sid: 'DecryptSecretsAndParameters',
      Effect: 'Allow',
      Action: ['kms:Decrypt'],
      Resource: [d.secrets.kmsKeyArn],
      Condition: {
        StringEquals: {
          'kms:ViaService': [
            sub('secretsmanager.${AWS::Region}.amazonaws.com'),
            sub('ssm.${AWS::Region}.amazonaws.com'),
          ],
        },
      },
    });
  }
  statements.push(
    {
      Sid: 'DumpObjects',
      Effect: 'Allow',
      // No s3:DeleteObject (nor DeleteObjectVersion): salvage and audit records cannot be deleted by the
      // function, and with versioning an overwrite keeps the earlier version.
      Action: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
      Resource: [{ 'Fn::Join': ['', [bucketArn(), `/${d.dumps.prefix}/*`]] }],
    },
    {
      Sid: 'ListDumpPrefix',
      Effect: 'Allow',
      Action: ['s3:ListBucket'],
      Resource: [bucketArn()],
      Condition: { StringLike: { 's3:prefix': [d.dumps.prefix, `${d.dumps.prefix}/*`] } },
    },
  );
  if (d.dumps.encryption === 'SSE-KMS') {
    statements.push({
      Sid: 'DumpsKmsKey',
      Effect: 'Allow',
      Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
      Resource: [d.dumps.kmsKeyArn],
      Condition: { StringEquals: { 'kms:ViaService': sub('s3.${AWS::Region}.amazonaws.com') } },
    });
  }
  statements.push(
    {
      Sid: 'PublishNotifications',
      Effect: 'Allow',
      Action: ['sns:Publish'],
      Resource: [{ Ref: 'NotificationsTopic' }],
    },
    ...(d.notifications.kmsKeyArn
      ? [
          {
            Sid: 'NotificationsKmsKey',
            Effect: 'Allow',
            Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
            Resource: [d.notifications.kmsKeyArn],
            Condition: { StringEquals: { 'kms:ViaService': sub('sns.${AWS::Region}.amazonaws.com') } },
          },
        ]
      : []),
    {
      Sid: 'RunRouterSwitchDocument',
      Effect: 'Allow',
      Action: ['ssm:SendCommand'],
      Resource: ['Haproxy', 'Mysqlrouter', 'Proxysql'].map((kind) =>
        sub(`${ARN_PREFIX}:ssm:${REGION_ACCOUNT}:document/\${RouterSwitch${kind}Document}`),
      ),
    },
    {
      // The backends of every group of this cluster, not only the function's own: the master of an
      // operation switches every group's routers, so a group whose own function did not run or failed
      // is not left on the old primary. Instances without one of this deployment's group tags are out.
      Sid: 'RunCommandOnClusterBackends',
      Effect: 'Allow',
      Action: ['ssm:SendCommand'],
      Resource: [sub(`${ARN_PREFIX}:ec2:${REGION_ACCOUNT}:instance/*`)],
      Condition: {
        StringEquals: { [`ssm:resourceTag/${d.routers.tagKey}`]: d.groups.map((g) => g.name) },
      },
    },
    {
      Sid: 'ReadCommandResults',
      Effect: 'Allow',
      // The router adapter polls ListCommandInvocations, reads the command's own status (ListCommands:
      // tag targets resolve asynchronously) and fetches long output with GetCommandInvocation.
      Action: ['ssm:ListCommandInvocations', 'ssm:ListCommands', 'ssm:GetCommandInvocation'],
      Resource: '*',
    },
    {
      Sid: 'ContinueInNewInvocation',
      Effect: 'Allow',
      Action: ['lambda:InvokeFunction'],
      Resource: [sub(`${ARN_PREFIX}:lambda:${REGION_ACCOUNT}:function:${group.functionName}`)],
    },
  );
  statements.push(...hookStatements(d));
  if (d.routers.discoverByTag) {
    statements.push({
      Sid: 'DiscoverBackendsByTag',
      Effect: 'Allow',
      Action: ['ec2:DescribeInstances'],
      Resource: '*',
    });
  }
  if (d.vpc) {
    // Lambda creates the function's network interfaces with the execution role. Describe* cannot be
    // scoped; creating is limited to this deployment's subnets and security groups.
    const ec2 = (type, id) => sub(`${ARN_PREFIX}:ec2:${REGION_ACCOUNT}:${type}/${id}`);
    statements.push(
      {
        Sid: 'VpcDescribeNetworkInterfaces',
        Effect: 'Allow',
        Action: ['ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets'],
        Resource: '*',
      },
      {
        Sid: 'VpcCreateNetworkInterface',
        Effect: 'Allow',
        Action: ['ec2:CreateNetworkInterface'],
        Resource: [
          ec2('network-interface', '*'),
          ...d.vpc.subnetIds.map((id) => ec2('subnet', id)),
          ...d.vpc.securityGroupIds.map((id) => ec2('security-group', id)),
        ],
      },
      {
        Sid: 'VpcManageNetworkInterfaces',
        Effect: 'Allow',
        Action: [
          'ec2:DeleteNetworkInterface',
          'ec2:AssignPrivateIpAddresses',
          'ec2:UnassignPrivateIpAddresses',
        ],
        Resource: [ec2('network-interface', '*')],
      },
    );
  }
  return statements;
}

/**
 * The operator hooks of the stage's `watchdog:` block (functions/config/schema.ts, core/hooks.ts): each
 * gets exactly its own target. A local `command` hook runs only in the CLI and the sandbox: no grant.
 * Hooks in a configuration stored by hand need these statements added by hand (docs/deployment.md).
 */
function hookStatements(d) {
  const hooks = d.watchdog?.hooks ?? {};
  const statements = [];
  for (const [phase, hook] of Object.entries(hooks)) {
    if (!hook || typeof hook !== 'object') continue;
    const sid = `Hook${phase[0].toUpperCase()}${phase.slice(1)}`;
    if (hook.lambda) {
      const fn = hook.lambda.startsWith('arn:')
        ? hook.lambda
        : sub(`${ARN_PREFIX}:lambda:${REGION_ACCOUNT}:function:${hook.lambda}`);
      statements.push({ Sid: sid, Effect: 'Allow', Action: ['lambda:InvokeFunction'], Resource: [fn] });
    } else if (hook.ssmDocument) {
      const doc = hook.ssmDocument.startsWith('arn:')
        ? hook.ssmDocument
        : sub(`${ARN_PREFIX}:ssm:${REGION_ACCOUNT}:document/${hook.ssmDocument}`);
      const instances = (hook.instanceIds ?? []).map((id) =>
        sub(`${ARN_PREFIX}:ec2:${REGION_ACCOUNT}:instance/${id}`),
      );
      statements.push({
        Sid: sid,
        Effect: 'Allow',
        Action: ['ssm:SendCommand'],
        Resource: [doc, ...instances],
      });
    } else if (hook.snsTopicArn) {
      statements.push({ Sid: sid, Effect: 'Allow', Action: ['sns:Publish'], Resource: [hook.snsTopicArn] });
    }
  }
  return statements;
}

/** The execution role of one group's function. */
function roleFor(d, group) {
  return {
    Type: 'AWS::IAM::Role',
    Properties: {
      Description: `mysql-failover watchdog for backend group ${group.name} (${d.stage})`,
      AssumeRolePolicyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Principal: { Service: 'lambda.amazonaws.com' },
            Action: 'sts:AssumeRole',
            // Only the Lambda service acting for this account may assume it (confused-deputy guard).
            Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
          },
        ],
      },
      Policies: [
        {
          PolicyName: 'watchdog',
          PolicyDocument: { Version: '2012-10-17', Statement: statementsFor(d, group) },
        },
      ],
      Tags: [
        { Key: 'mysql-failover:cluster', Value: d.cluster },
        { Key: 'mysql-failover:group', Value: group.name },
      ],
    },
  };
}

/** Example role and instance profile for the backends: the SSM agent needs AmazonSSMManagedInstanceCore. */
function backendInstanceProfile(d) {
  return {
    BackendInstanceRole: {
      Type: 'AWS::IAM::Role',
      Properties: {
        Description:
          'Example role for application backends: lets the SSM agent receive Run Command and the watcher send its event',
        AssumeRolePolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' },
          ],
        },
        ManagedPolicyArns: [sub('arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore')],
        // The watcher's one event, to this stack's bus only (infra/deployment/detect.cjs).
        Policies: [
          {
            PolicyName: 'watcher-events',
            PolicyDocument: { Version: '2012-10-17', Statement: [backendPutEventsStatement()] },
          },
        ],
        Tags: [{ Key: 'mysql-failover:cluster', Value: d.cluster }],
      },
    },
    BackendInstanceProfile: {
      Type: 'AWS::IAM::InstanceProfile',
      Properties: { Roles: [{ Ref: 'BackendInstanceRole' }] },
    },
  };
}

module.exports = { roleFor, statementsFor, backendInstanceProfile };
