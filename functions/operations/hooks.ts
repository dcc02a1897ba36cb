/**
 * Runs an operator hook (core/hooks.ts decides where hooks go in a plan). One small port, `HookRunner`,
 * with an adapter per kind of hook:
 * - `command` (the CLI, the sandbox): `sh -c COMMAND`, the payload as JSON on stdin and in
 *   `MF_HOOK_PAYLOAD`; exit 0 proceeds, any other exit vetoes; killed (its process group) at the timeout.
 * - `lambda`: a synchronous Invoke (RequestResponse) with the payload as the event; an answer
 *   `{"veto": true, "reason": "..."}` vetoes, any other answer proceeds; a function error is no answer.
 * - `ssm`: SendCommand of the document to the named instances with the payload as its `payload`
 *   parameter; every instance Success proceeds, any Failed vetoes, still running at the timeout is no
 *   answer.
 * - `sns`: Publish of the payload (post hooks only: a topic cannot answer).
 * Whatever the kind, the answer and the output go to the audit (the step's detail and data).
 */
import { spawn } from 'node:child_process';
import { awsClientOptions } from '../aws/client-options.js';
import type { HookPayload, HookSpec, HookStep } from '../core/hooks.js';
import { errorMessage, HookVetoError } from '../errors.js';
import type { StepResult } from './server-steps.js';

export interface HookAnswer {
  /** `proceed` / `veto`: what the hook said; `no-answer`: it failed to answer in time (or at all). */
  answer: 'proceed' | 'veto' | 'no-answer';
  /** What it printed or returned (cut to 4,000 characters). */
  output: string;
  /** Exit code, Lambda status, SSM statuses: one line. */
  detail: string;
}

export interface HookRunner {
  run(hook: HookSpec, payload: HookPayload, signal?: AbortSignal): Promise<HookAnswer>;
}

const cut = (text: string): string => (text.length > 4_000 ? `${text.slice(0, 4_000)}…` : text);

/** `sh -c` the command in its own process group; the payload on stdin and in MF_HOOK_PAYLOAD. */
async function runCommand(hook: HookSpec, payload: HookPayload, signal?: AbortSignal): Promise<HookAnswer> {
  const json = JSON.stringify(payload);
  const child = spawn('sh', ['-c', hook.target], {
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, MF_HOOK_PAYLOAD: json, MF_HOOK_PHASE: payload.phase },
  });
  let output = '';
  const collect = (chunk: Buffer) => {
    if (output.length < 8_000) output += chunk.toString('utf8');
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  child.stdin.on('error', () => {}); // a command that does not read its stdin
  child.stdin.end(json);
  let timedOut = false;
  const kill = () => {
    timedOut = true;
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const timer = setTimeout(kill, hook.timeoutSeconds * 1_000);
  signal?.addEventListener('abort', kill, { once: true });
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (c) => resolve(c));
    });
    if (timedOut) {
      return { answer: 'no-answer', output: cut(output), detail: `no answer within ${hook.timeoutSeconds}s` };
    }
    return {
      answer: code === 0 ? 'proceed' : 'veto',
      output: cut(output),
      detail: `exit ${code ?? 'signal'}`,
    };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', kill);
  }
}

async function invokeLambda(hook: HookSpec, payload: HookPayload, signal?: AbortSignal): Promise<HookAnswer> {
  const { InvokeCommand, LambdaClient } = await import('../aws/lambda.js');
  const client = new LambdaClient({
    ...awsClientOptions(),
    requestHandler: { ...awsClientOptions().requestHandler, requestTimeout: hook.timeoutSeconds * 1_000 },
    maxAttempts: 1,
  });
  try {
    const out = await client.send(
      new InvokeCommand({
        FunctionName: hook.target,
        InvocationType: 'RequestResponse',
        Payload: new TextEncoder().encode(JSON.stringify(payload)),
      }),
      {
        abortSignal: AbortSignal.any([
          AbortSignal.timeout(hook.timeoutSeconds * 1_000),
          ...(signal ? [signal] : []),
        ]),
      },
    );
    const text = out.Payload ? new TextDecoder().decode(out.Payload) : '';
    if (out.FunctionError) {
      return { answer: 'no-answer', output: cut(text), detail: `function error (${out.FunctionError})` };
    }
    let veto = false;
    try {
      const parsed = JSON.parse(text) as { veto?: unknown };
      veto = parsed !== null && typeof parsed === 'object' && parsed.veto === true;
    } catch {
      // not JSON: an answer all the same, and not a veto
    }
    return {
      answer: veto ? 'veto' : 'proceed',
      output: cut(text),
      detail: `status ${out.StatusCode ?? '?'}`,
    };
  } catch (error) {
    return { answer: 'no-answer', output: '', detail: `no answer: ${errorMessage(error)}` };
  } finally {
    client.destroy();
  }
}

async function runSsm(hook: HookSpec, payload: HookPayload, signal?: AbortSignal): Promise<HookAnswer> {
  const { ListCommandInvocationsCommand, SendCommandCommand, SSMClient } = await import('../aws/ssm.js');
  const client = new SSMClient(awsClientOptions());
  const deadline = Date.now() + hook.timeoutSeconds * 1_000;
  try {
    const sent = await client.send(
      new SendCommandCommand({
        DocumentName: hook.target,
        InstanceIds: hook.instanceIds ?? [],
        Parameters: { payload: [JSON.stringify(payload)] },
        TimeoutSeconds: Math.max(30, hook.timeoutSeconds),
        Comment: `mysql-failover ${payload.phase} hook`,
      }),
    );
    const id = sent.Command?.CommandId;
    if (!id) return { answer: 'no-answer', output: '', detail: 'SendCommand returned no command id' };
    const terminal = new Set(['Success', 'Failed', 'Cancelled', 'TimedOut', 'Undeliverable', 'Terminated']);
    let statuses: Array<{ instance: string; status: string; output: string }> = [];
    while (Date.now() < deadline && !signal?.aborted) {
      const list = await client.send(new ListCommandInvocationsCommand({ CommandId: id, Details: true }));
      statuses = (list.CommandInvocations ?? []).map((i) => ({
        instance: i.InstanceId ?? '?',
        status: i.Status ?? 'Pending',
        output: (i.CommandPlugins ?? []).map((p) => p.Output ?? '').join('\n'),
      }));
      if (
        statuses.length === (hook.instanceIds ?? []).length &&
        statuses.every((s) => terminal.has(s.status))
      ) {
        const output = cut(statuses.map((s) => `${s.instance}: ${s.output}`).join('\n'));
        const detail = statuses.map((s) => `${s.instance} ${s.status}`).join(', ');
        if (statuses.every((s) => s.status === 'Success')) return { answer: 'proceed', output, detail };
        if (statuses.some((s) => s.status === 'Failed')) return { answer: 'veto', output, detail };
        return { answer: 'no-answer', output, detail };
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    return {
      answer: 'no-answer',
      output: cut(statuses.map((s) => `${s.instance}: ${s.output}`).join('\n')),
      detail: `no answer within ${hook.timeoutSeconds}s (${statuses.map((s) => `${s.instance} ${s.status}`).join(', ') || 'no invocation'})`,
    };
  } catch (error) {
    return { answer: 'no-answer', output: '', detail: `no answer: ${errorMessage(error)}` };
  } finally {
    client.destroy();
  }
}

async function publishSns(hook: HookSpec, payload: HookPayload): Promise<HookAnswer> {
  const { PublishCommand, SNSClient } = await import('../aws/sns.js');
  const client = new SNSClient(awsClientOptions());
  try {
    const out = await client.send(
      new PublishCommand({
        TopicArn: hook.target,
        Subject: `mysql-failover ${payload.phase}: ${payload.cluster}`.slice(0, 100),
        Message: JSON.stringify(payload),
      }),
    );
    return { answer: 'proceed', output: '', detail: `published (${out.MessageId ?? 'no id'})` };
  } catch (error) {
    return { answer: 'no-answer', output: '', detail: `not published: ${errorMessage(error)}` };
  } finally {
    client.destroy();
  }
}

/** The runner the watchdog uses: each hook by its kind. */
export const hookRunner: HookRunner = {
  run(hook, payload, signal) {
    switch (hook.via) {
      case 'command':
        return runCommand(hook, payload, signal);
      case 'lambda':
        return invokeLambda(hook, payload, signal);
      case 'ssm':
        return runSsm(hook, payload, signal);
      case 'sns':
        return publishSns(hook, payload);
    }
  },
};

/**
 * The Hook step: runs the hook and records its answer and output. A pre-failover hook that vetoes (or
 * does not answer, with `onNoAnswer: veto`) fails the step with HookVetoError: the operation stops
 * before anything was changed. A post hook is told, never asked: whatever happens is a warning.
 */
export async function runHookStep(
  step: HookStep,
  runner: HookRunner,
  context: { cluster: string; openedEpoch: number; signal?: AbortSignal; warn: (text: string) => void },
): Promise<StepResult> {
  const payload: HookPayload = {
    source: 'mysql-failover.hook',
    phase: step.phase,
    cluster: context.cluster,
    operation: step.operation,
    from: step.from,
    to: step.to,
    reason: step.reason,
    forced: step.forced,
    openedEpoch: context.openedEpoch,
  };
  const what = `${step.phase} hook (${step.hook.via} ${step.hook.target})`;
  let answer: HookAnswer;
  try {
    answer = await runner.run(step.hook, payload, context.signal);
  } catch (error) {
    answer = { answer: 'no-answer', output: '', detail: `failed: ${errorMessage(error)}` };
  }
  const data = { phase: step.phase, via: step.hook.via, answer: answer.answer, output: answer.output };
  const said = `${answer.detail}${answer.output.trim() ? `: ${answer.output.trim().split('\n').slice(-3).join(' | ')}` : ''}`;
  if (step.phase !== 'pre-failover') {
    if (answer.answer !== 'proceed') context.warn(`${what} did not succeed (the operation went on): ${said}`);
    return { detail: `${what} ${answer.answer === 'proceed' ? 'called' : 'did not succeed'}: ${said}`, data };
  }
  const vetoed =
    answer.answer === 'veto' || (answer.answer === 'no-answer' && step.hook.onNoAnswer === 'veto');
  if (vetoed) {
    throw new HookVetoError(
      `${what} vetoed the ${step.operation}${answer.answer === 'no-answer' ? ' (no answer; onNoAnswer: veto)' : ''}: ${said}`,
      { details: data },
    );
  }
  return {
    detail: `${what} ${answer.answer === 'proceed' ? 'proceeds' : `did not answer, proceeding (onNoAnswer: proceed)`}: ${said}`,
    data,
  };
}
