/**
 * The hook runner (operations/hooks.ts), each kind against the real thing it talks to: a local command
 * through sh, and the AWS SDK against the stand-in (Lambda RequestResponse, SSM SendCommand run by the
 * stand-in's agent with sh, SNS Publish). The Hook step's veto rules (runHookStep) on top.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HookPayload, HookSpec, HookStep } from '../../functions/core/hooks.js';
import { HookVetoError } from '../../functions/errors.js';
import { hookRunner, runHookStep } from '../../functions/operations/hooks.js';
import { AwsStandin } from '../../functions/sandbox/aws-standin/server.js';

let standin: AwsStandin;
let dir: string;
const saved = { ...process.env };

beforeAll(async () => {
  standin = await new AwsStandin().start();
  dir = mkdtempSync(join(tmpdir(), 'mf-hooks-'));
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: standin.url,
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'AKID',
    AWS_SECRET_ACCESS_KEY: 'secret',
  });
});

afterAll(async () => {
  process.env = saved;
  await standin.stop();
  rmSync(dir, { recursive: true, force: true });
});

const payload: HookPayload = {
  source: 'mysql-failover.hook',
  phase: 'pre-failover',
  cluster: 'shop',
  operation: 'promote-dead',
  from: 'db1:3306',
  to: 'db2:3306',
  reason: 'the primary is gone',
  forced: false,
  openedEpoch: 42,
};

const spec = (extra: Partial<HookSpec> & Pick<HookSpec, 'via' | 'target'>): HookSpec => ({
  timeoutSeconds: 10,
  onNoAnswer: 'proceed',
  ...extra,
});

const step = (hook: HookSpec, phase: HookStep['phase'] = 'pre-failover'): HookStep => ({
  kind: 'Hook',
  phase,
  hook,
  operation: 'promote-dead',
  from: 'db1:3306',
  to: 'db2:3306',
  reason: 'the primary is gone',
  forced: false,
});

describe('a command hook', () => {
  it('gets the payload on stdin; exit 0 proceeds and its output is kept', async () => {
    const a = await hookRunner.run(
      spec({ via: 'command', target: 'cat; echo; echo "$MF_HOOK_PHASE"' }),
      payload,
    );
    expect(a.answer).toBe('proceed');
    const [json, phase] = a.output.trim().split('\n');
    expect(JSON.parse(json!)).toEqual(payload);
    expect(phase).toBe('pre-failover');
  });

  it('vetoes with any other exit, and answers nothing when killed at its timeout', async () => {
    const no = await hookRunner.run(spec({ via: 'command', target: 'echo frozen >&2; exit 3' }), payload);
    expect(no).toMatchObject({ answer: 'veto', detail: 'exit 3', output: 'frozen\n' });
    const t0 = Date.now();
    const slow = await hookRunner.run(
      spec({ via: 'command', target: 'sleep 60 & wait', timeoutSeconds: 1 }),
      payload,
    );
    expect(slow).toMatchObject({ answer: 'no-answer', detail: 'no answer within 1s' });
    // The whole process group went (the backgrounded sleep too), not only sh.
    expect(Date.now() - t0).toBeLessThan(30_000);
  });
});

describe('the Hook step', () => {
  it('fails with HookVeto on a veto, or on no answer when onNoAnswer says veto; proceeds otherwise', async () => {
    const ctx = { cluster: 'shop', openedEpoch: 42, warn: () => {} };
    await expect(
      runHookStep(step(spec({ via: 'command', target: 'echo no; exit 1' })), hookRunner, ctx),
    ).rejects.toThrow(HookVetoError);
    const silent = spec({ via: 'command', target: 'sleep 30', timeoutSeconds: 1 });
    await expect(runHookStep(step({ ...silent, onNoAnswer: 'veto' }), hookRunner, ctx)).rejects.toThrow(
      /no answer; onNoAnswer: veto/,
    );
    const went = await runHookStep(step(silent), hookRunner, ctx);
    expect(went.detail).toMatch(/did not answer, proceeding \(onNoAnswer: proceed\)/);
  });

  it('only warns when a post hook fails: the operation goes on', async () => {
    const warnings: string[] = [];
    const r = await runHookStep(
      step(spec({ via: 'command', target: 'echo "vip busy"; exit 2' }), 'post-failover'),
      hookRunner,
      { cluster: 'shop', openedEpoch: 42, warn: (w) => warnings.push(w) },
    );
    expect(r.detail).toMatch(/did not succeed: exit 2: vip busy/);
    expect(warnings).toEqual([expect.stringMatching(/post-failover hook \(command .*\) did not succeed/)]);
  });
});

describe('AWS hooks through the SDK (stand-in)', () => {
  it('invokes a Lambda function synchronously: a veto answer vetoes, a function error is no answer', async () => {
    const events: unknown[] = [];
    standin.functions.set('dns-guard', (event) => {
      events.push(event);
      return { veto: true, reason: 'change freeze' };
    });
    standin.functions.set('ok-hook', () => ({ updated: 'db2' }));
    standin.functions.set('broken-hook', () => {
      throw new Error('boom');
    });
    const veto = await hookRunner.run(spec({ via: 'lambda', target: 'dns-guard' }), payload);
    expect(veto).toMatchObject({ answer: 'veto', output: '{"veto":true,"reason":"change freeze"}' });
    expect(events).toEqual([payload]);
    expect(await hookRunner.run(spec({ via: 'lambda', target: 'ok-hook' }), payload)).toMatchObject({
      answer: 'proceed',
      detail: 'status 200',
    });
    const broken = await hookRunner.run(spec({ via: 'lambda', target: 'broken-hook' }), payload);
    expect(broken).toMatchObject({ answer: 'no-answer', detail: 'function error (Unhandled)' });
    expect(broken.output).toMatch(/boom/);
  });

  it('runs an SSM document on the named instances: all Success proceeds, a Failed instance vetoes', async () => {
    // Each instance its own disk, as two hosts have: the agent writes a command's script under its own
    // folder (a folder shared by both, rewritten by one while the other ran it, let a script run empty).
    const disk = (name: string): string => {
      const d = join(dir, name);
      mkdirSync(d, { recursive: true });
      return d;
    };
    standin.instances.push(
      {
        instanceId: 'i-0bbbbbbbbbbbbbbb1',
        privateIp: '10.0.4.1',
        tags: {},
        state: 'running',
        dir: disk('b1'),
      },
      {
        instanceId: 'i-0bbbbbbbbbbbbbbb2',
        privateIp: '10.0.4.2',
        tags: {},
        state: 'running',
        dir: disk('b2'),
      },
    );
    standin.documents.set('VipHook', {
      schemaVersion: '2.2',
      parameters: { payload: { type: 'String', interpolationType: 'ENV_VAR' } },
      mainSteps: [
        {
          action: 'aws:runShellScript',
          name: 'hook',
          inputs: {
            runCommand: [
              'echo "$SSM_payload" | grep -q "\\"to\\":\\"db2:3306\\"" || exit 4',
              'echo "vip moved on $AWS_SSM_INSTANCE_ID"',
            ],
          },
        },
      ],
    });
    const hook = spec({
      via: 'ssm',
      target: 'VipHook',
      instanceIds: ['i-0bbbbbbbbbbbbbbb1', 'i-0bbbbbbbbbbbbbbb2'],
    });
    const ok = await hookRunner.run(hook, payload);
    expect(ok.answer).toBe('proceed');
    expect(ok.detail).toBe('i-0bbbbbbbbbbbbbbb1 Success, i-0bbbbbbbbbbbbbbb2 Success');
    expect(ok.output).toMatch(/vip moved on i-0bbbbbbbbbbbbbbb1/);
    const wrong = await hookRunner.run(hook, { ...payload, to: 'db3:3306' });
    expect(wrong).toMatchObject({
      answer: 'veto',
      detail: 'i-0bbbbbbbbbbbbbbb1 Failed, i-0bbbbbbbbbbbbbbb2 Failed',
    });
  });

  it('publishes to an SNS topic', async () => {
    const topic = 'arn:aws:sns:eu-west-1:123456789012:db-moves';
    const r = await hookRunner.run(spec({ via: 'sns', target: topic }), {
      ...payload,
      phase: 'post-failover',
    });
    expect(r.answer).toBe('proceed');
    const sent = standin.published.find((m) => m.topicArn === topic);
    expect(JSON.parse(sent!.message)).toMatchObject({ phase: 'post-failover', to: 'db2:3306' });
  });
});
