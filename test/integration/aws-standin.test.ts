/**
 * The AWS stand-in (functions/sandbox/aws-standin) against the SDK's own parsing: each call the
 * watchdog makes, sent by the real SDK client through AWS_ENDPOINT_URL-style endpoint settings, must
 * come back as the SDK reads AWS's answers (values, pagination, error codes), and SSM commands must run
 * a document's script the way the agent does (sh, SSM_* variables, timeout, output cut at 2,500).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EC2Client } from '@aws-sdk/client-ec2';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import {
  GetCommandInvocationCommand,
  ListCommandInvocationsCommand,
  ListCommandsCommand,
  SendCommandCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ec2TagFinder } from '../../functions/cluster/discovery.js';
import { configFromSsm, credentialsFromSecret } from '../../functions/config/sources.js';
import { AwsStandin } from '../../functions/sandbox/aws-standin/server.js';

let standin: AwsStandin;
let dir: string;
const opts = () => ({
  endpoint: standin.url,
  region: 'eu-west-1',
  credentials: { accessKeyId: 'AKID', secretAccessKey: 'secret' },
});

beforeAll(async () => {
  standin = await new AwsStandin().start();
  dir = mkdtempSync(join(tmpdir(), 'mf-standin-'));
});

afterAll(async () => {
  await standin.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function terminal(ssm: SSMClient, commandId: string) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const page = await ssm.send(new ListCommandInvocationsCommand({ CommandId: commandId, Details: true }));
    const all = page.CommandInvocations ?? [];
    if (all.length > 0 && all.every((i) => !['Pending', 'InProgress'].includes(i.Status ?? ''))) return all;
    if (Date.now() > deadline) throw new Error('command did not end');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('AWS stand-in, read by the SDK', () => {
  it('serves SSM parameters page by page (GetParametersByPath, 10 a page)', async () => {
    for (let i = 0; i < 12; i++)
      standin.putParameter(`/mf/t/timeouts/k${String(i).padStart(2, '0')}`, String(i));
    standin.putParameter('/mf/t/config', '{"clusterName":"shop"}');
    const raw = await configFromSsm(new SSMClient(opts()), '/mf/t');
    expect(raw.clusterName).toBe('shop');
    expect(Object.keys(raw.timeouts as object)).toHaveLength(12);
    expect(standin.calls.filter((c) => c === 'GetParametersByPath')).toHaveLength(2);
  });

  it('serves a secret, and answers an unknown one with ResourceNotFoundException', async () => {
    standin.putSecret('mf/db', '{"username":"watchdog","password":"pw1"}');
    const sm = new SecretsManagerClient(opts());
    expect(await credentialsFromSecret(sm, 'arn:aws:secretsmanager:eu-west-1:1:secret:mf/db-AbCdEf')).toEqual(
      {
        user: 'watchdog',
        password: 'pw1',
      },
    );
    const error = await credentialsFromSecret(sm, 'mf/none').catch((e: unknown) => e);
    expect(((error as Error).cause as Error).name).toBe('ResourceNotFoundException');
  });

  it('answers DescribeInstances by tag and state, and an EC2 error the SDK names', async () => {
    standin.instances.push(
      {
        instanceId: 'i-0aaaaaaaaaaaaaaa1',
        privateIp: '10.0.3.11',
        tags: { g: 'web' },
        state: 'running',
        dir,
      },
      {
        instanceId: 'i-0aaaaaaaaaaaaaaa2',
        privateIp: '10.0.3.12',
        tags: { g: 'web' },
        state: 'stopped',
        dir,
      },
      {
        instanceId: 'i-0aaaaaaaaaaaaaaa3',
        privateIp: '10.0.3.13',
        tags: { g: 'api' },
        state: 'running',
        dir,
      },
    );
    const find = ec2TagFinder(new EC2Client(opts()));
    expect(await find({ key: 'g', value: 'web' })).toEqual([
      { instanceId: 'i-0aaaaaaaaaaaaaaa1', privateIp: '10.0.3.11' },
    ]);
    standin.fail(
      'DescribeInstances',
      'UnauthorizedOperation',
      'You are not authorized to perform this operation.',
      1,
    );
    const error = await find({ key: 'g', value: 'web' }).catch((e: unknown) => e);
    expect((error as Error).name).toBe('UnauthorizedOperation');
    expect((error as Error).message).toBe('You are not authorized to perform this operation.');
  });

  it('publishes to SNS and accepts an asynchronous Lambda invoke', async () => {
    const sent = await new SNSClient(opts()).send(
      new PublishCommand({ TopicArn: 'arn:aws:sns:eu-west-1:1:t', Subject: 's', Message: 'm & <x>' }),
    );
    expect(sent.MessageId).toMatch(/^[0-9a-f-]{36}$/);
    expect(standin.published.at(-1)).toEqual({
      topicArn: 'arn:aws:sns:eu-west-1:1:t',
      subject: 's',
      message: 'm & <x>',
    });
    const invoked = await new LambdaClient(opts()).send(
      new InvokeCommand({ FunctionName: 'f', InvocationType: 'Event', Payload: Buffer.from('{"a":1}') }),
    );
    expect(invoked.StatusCode).toBe(202);
    expect(standin.invokes.at(-1)).toEqual({
      functionName: 'f',
      invocationType: 'Event',
      payload: '{"a":1}',
    });
  });

  it('runs a document with sh and SSM_* variables, cuts the listed output at 2,500 characters, and times a step out', async () => {
    standin.documents.set('Doc', {
      schemaVersion: '2.2',
      parameters: {
        Word: { type: 'String', allowedPattern: '^[a-z]+$', interpolationType: 'ENV_VAR' },
        Sleep: { type: 'String', default: '0', allowedPattern: '^[0-9]+$', interpolationType: 'ENV_VAR' },
        ExecutionTimeout: { type: 'String', default: '2', allowedPattern: '^[0-9]+$' },
      },
      mainSteps: [
        {
          action: 'aws:runShellScript',
          name: 'step',
          inputs: {
            timeoutSeconds: '{{ ExecutionTimeout }}',
            runCommand: [
              // dash, not bash: the agent runs the script with sh
              '[ -z "$BASH_VERSION" ] || exit 9',
              'sleep "$SSM_Sleep"',
              'printf "%s" "$SSM_Word"; i=0; while [ $i -lt 3000 ]; do printf x; i=$((i+1)); done; echo',
              'echo "$AWS_SSM_INSTANCE_ID" >&2',
              '[ "$SSM_Word" = fail ] && exit 3; exit 0',
            ],
          },
        },
      ],
    });
    const ssm = new SSMClient(opts());
    const sent = await ssm.send(
      new SendCommandCommand({
        DocumentName: 'Doc',
        InstanceIds: ['i-0aaaaaaaaaaaaaaa1'],
        Parameters: { Word: ['hello'] },
      }),
    );
    const [ok] = await terminal(ssm, sent.Command!.CommandId!);
    expect(ok!.Status).toBe('Success');
    expect(ok!.CommandPlugins![0]!.Output).toHaveLength(2_500);
    expect(ok!.CommandPlugins![0]!.Output!.startsWith('helloxxx')).toBe(true);
    const full = await ssm.send(
      new GetCommandInvocationCommand({
        CommandId: sent.Command!.CommandId!,
        InstanceId: 'i-0aaaaaaaaaaaaaaa1',
      }),
    );
    expect(full.StandardOutputContent).toHaveLength('hello'.length + 3000 + 1);
    expect(full.StandardErrorContent?.trim()).toBe('i-0aaaaaaaaaaaaaaa1');

    const failed = await ssm.send(
      new SendCommandCommand({
        DocumentName: 'Doc',
        Targets: [{ Key: 'tag:g', Values: ['web'] }],
        Parameters: { Word: ['fail'] },
      }),
    );
    const [bad] = await terminal(ssm, failed.Command!.CommandId!);
    expect([bad!.InstanceId, bad!.Status, bad!.CommandPlugins![0]!.ResponseCode]).toEqual([
      'i-0aaaaaaaaaaaaaaa1',
      'Failed',
      3,
    ]);
    const listed = await ssm.send(new ListCommandsCommand({ CommandId: failed.Command!.CommandId! }));
    expect(listed.Commands?.[0]).toMatchObject({ Status: 'Failed', ErrorCount: 1, TargetCount: 1 });

    const slow = await ssm.send(
      new SendCommandCommand({
        DocumentName: 'Doc',
        InstanceIds: ['i-0aaaaaaaaaaaaaaa1'],
        Parameters: { Word: ['late'], Sleep: ['30'], ExecutionTimeout: ['1'] },
      }),
    );
    const [late] = await terminal(ssm, slow.Command!.CommandId!);
    expect([late!.Status, late!.StatusDetails]).toEqual(['TimedOut', 'ExecutionTimedOut']);

    const refused = await ssm
      .send(
        new SendCommandCommand({
          DocumentName: 'Doc',
          InstanceIds: ['i-0aaaaaaaaaaaaaaa1'],
          Parameters: { Word: ['a;b'] },
        }),
      )
      .catch((e: unknown) => e);
    expect((refused as Error).name).toBe('InvalidParameters');
  });
});
