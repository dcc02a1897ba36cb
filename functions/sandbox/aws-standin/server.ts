/**
 * A small stand-in for the AWS APIs the watchdog calls, on loopback, speaking each service's wire
 * format (wire.ts) so that the SDK clients — and the bundle `npm run package` builds — talk to it
 * unchanged through the SDK's standard endpoint setting (AWS_ENDPOINT_URL). It holds:
 *   SSM            GetParametersByPath, PutParameter; SendCommand, ListCommandInvocations,
 *                  GetCommandInvocation, ListCommands — commands run the real document on stand-in
 *                  instances the way the SSM Agent does (ssm-agent.ts)
 *   Secrets Manager GetSecretValue, PutSecretValue (a rotation)
 *   EC2            DescribeInstances (filters tag:<key>, tag-key, instance-state-name, instance-id)
 *   SNS            Publish (messages kept for the test to read)
 *   Lambda         Invoke (InvocationType Event: kept, and handed to `onInvoke` when set; RequestResponse:
 *                  answered by the function registered in `functions`, its throw a FunctionError)
 * Requests are not signature-checked (any credentials do); every call is logged in `calls`, and
 * `fail()` makes the next calls of an operation answer with an AWS error, for fault tests.
 * S3 is not here: a real local S3 endpoint (s3rver) serves it.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type AgentInstance,
  type CommandDocument,
  PLUGIN_OUTPUT_LIMIT,
  resolveParameters,
  runShellScriptStep,
  STANDARD_OUTPUT_LIMIT,
  type StepRun,
} from './ssm-agent.js';
import {
  AwsFault,
  escapeXml,
  parseForm,
  queryIndices,
  queryList,
  sendEc2Fault,
  sendJson,
  sendJsonFault,
  sendQueryFault,
  sendXml,
} from './wire.js';

export const ACCOUNT = '111122223333';

export interface StandinInstance extends AgentInstance {
  privateIp: string;
  tags: Record<string, string>;
  state: 'running' | 'stopped' | 'terminated';
}

interface Invocation {
  instanceId: string;
  requestedAt: Date;
  run: StepRun | null;
}

interface Command {
  commandId: string;
  documentName: string;
  parameters: Record<string, string[]>;
  requestedAt: Date;
  invocations: Invocation[];
}

export interface Published {
  topicArn: string;
  subject: string | undefined;
  message: string;
}

export interface LambdaInvoke {
  functionName: string;
  invocationType: string;
  payload: string;
}

export interface StandinOptions {
  region?: string;
  /** Called for each Lambda Invoke (after it is recorded); its errors are logged, never answered. */
  onInvoke?: (invoke: LambdaInvoke) => void;
}

const epochSeconds = (d: Date): number => d.getTime() / 1000;

export class AwsStandin {
  readonly region: string;
  readonly parameters = new Map<string, { value: string; type: string; version: number; modified: Date }>();
  readonly secrets = new Map<string, { value: string; version: string; created: Date }>();
  readonly instances: StandinInstance[] = [];
  readonly documents = new Map<string, CommandDocument>();
  readonly commands = new Map<string, Command>();
  readonly published: Published[] = [];
  readonly invokes: LambdaInvoke[] = [];
  /** Functions that answer a synchronous Invoke (RequestResponse): the event in, the answer out. */
  readonly functions = new Map<string, (event: unknown) => unknown>();
  readonly calls: string[] = [];
  onInvoke: ((invoke: LambdaInvoke) => void) | undefined;
  /** When set, serves EventBridge (`X-Amz-Target: AWSEvents.*`) on this endpoint (../eventbridge.ts). */
  eventBridge: { serve(req: IncomingMessage, body: Buffer, res: ServerResponse): void } | undefined;
  private readonly faults = new Map<string, { fault: AwsFault; times: number }>();
  private readonly running = new Set<Promise<unknown>>();
  private server: Server | null = null;
  private _url = '';

  constructor(options: StandinOptions = {}) {
    this.region = options.region ?? 'eu-west-1';
    this.onInvoke = options.onInvoke;
  }

  get url(): string {
    return this._url;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500);
        res.end(String(error));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    this._url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this;
  }

  /** Waits for running commands, then closes the listener. */
  async stop(): Promise<void> {
    await Promise.allSettled([...this.running]);
    const server = this.server;
    this.server = null;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  /** The next `times` calls of `operation` (e.g. "DescribeInstances") fail with an AWS error. */
  fail(
    operation: string,
    code: string,
    message: string,
    times = Number.POSITIVE_INFINITY,
    status = 400,
  ): void {
    this.faults.set(operation, { fault: new AwsFault(code, message, status), times });
  }

  heal(operation: string): void {
    this.faults.delete(operation);
  }

  putParameter(name: string, value: string, type = 'String'): void {
    const prev = this.parameters.get(name);
    this.parameters.set(name, { value, type, version: (prev?.version ?? 0) + 1, modified: new Date() });
  }

  putSecret(name: string, value: string): void {
    this.secrets.set(name, { value, version: randomUUID(), created: new Date() });
  }

  /** The environment that points an SDK client (or the bundle) at this stand-in. */
  sdkEnv(): Record<string, string> {
    return {
      AWS_ENDPOINT_URL: this.url,
      AWS_REGION: this.region,
      AWS_ACCESS_KEY_ID: 'AKIDSTANDIN',
      AWS_SECRET_ACCESS_KEY: 'standin-secret',
    };
  }

  /** Every command's invocations have ended. */
  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  private check(operation: string): void {
    this.calls.push(operation);
    const f = this.faults.get(operation);
    if (!f) return;
    f.times -= 1;
    if (f.times <= 0) this.faults.delete(operation);
    throw f.fault;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const body = raw.toString('utf8');
    const target = req.headers['x-amz-target'];
    if (typeof target === 'string' && target.startsWith('AWSEvents.') && this.eventBridge) {
      this.calls.push(target.slice('AWSEvents.'.length));
      this.eventBridge.serve(req, raw, res);
      return;
    }
    const lambda = /^\/2015-03-31\/functions\/([^/]+)\/invocations/.exec(req.url ?? '');
    if (typeof target === 'string') {
      const [service, operation] = target.split('.') as [string, string];
      try {
        const input = body ? (JSON.parse(body) as Record<string, unknown>) : {};
        this.check(operation);
        if (service === 'AmazonSSM') sendJson(res, await this.ssm(operation, input));
        else if (service === 'secretsmanager') sendJson(res, this.secretsManager(operation, input));
        else throw new AwsFault('UnknownOperationException', `${target} is not served by the stand-in`);
      } catch (error) {
        sendJsonFault(
          res,
          error instanceof AwsFault ? error : new AwsFault('InternalFailure', String(error), 500),
        );
      }
      return;
    }
    if (lambda) {
      try {
        this.check('Invoke');
        const invoke = {
          functionName: decodeURIComponent(lambda[1]!),
          invocationType: String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse'),
          payload: body,
        };
        this.invokes.push(invoke);
        try {
          this.onInvoke?.(invoke);
        } catch {
          // the caller of Invoke never sees what the function does with the event
        }
        const fn = this.functions.get(invoke.functionName);
        if (fn && invoke.invocationType === 'RequestResponse') {
          // Lambda answers 200 either way; a function's own failure is the X-Amz-Function-Error header.
          let answer: unknown;
          let failed = false;
          try {
            answer = await fn(invoke.payload ? JSON.parse(invoke.payload) : null);
          } catch (error) {
            failed = true;
            answer = {
              errorType: 'Error',
              errorMessage: String(error instanceof Error ? error.message : error),
            };
          }
          res.writeHead(200, {
            'content-type': 'application/json',
            'x-amz-executed-version': '$LATEST',
            ...(failed ? { 'x-amz-function-error': 'Unhandled' } : {}),
          });
          res.end(JSON.stringify(answer ?? null));
          return;
        }
        res.writeHead(invoke.invocationType === 'Event' ? 202 : 200, { 'x-amz-executed-version': '$LATEST' });
        res.end();
      } catch (error) {
        sendJsonFault(res, error as AwsFault);
      }
      return;
    }
    const form = parseForm(body);
    const action = form.get('Action') ?? '';
    if (action === 'DescribeInstances') {
      try {
        this.check(action);
        sendXml(res, this.describeInstances(form));
      } catch (error) {
        sendEc2Fault(
          res,
          error instanceof AwsFault ? error : new AwsFault('InternalError', String(error), 500),
        );
      }
      return;
    }
    if (action === 'Publish') {
      try {
        this.check(action);
        sendXml(res, this.publish(form));
      } catch (error) {
        sendQueryFault(
          res,
          error instanceof AwsFault ? error : new AwsFault('InternalError', String(error), 500),
        );
      }
      return;
    }
    sendQueryFault(res, new AwsFault('InvalidAction', `${action || req.url} is not served by the stand-in`));
  }

  // ------------------------------------------------------------------------------------------- SSM
  private async ssm(operation: string, input: Record<string, unknown>): Promise<unknown> {
    switch (operation) {
      case 'GetParametersByPath':
        return this.getParametersByPath(input);
      case 'PutParameter': {
        const name = String(input.Name);
        if (this.parameters.has(name) && input.Overwrite !== true) {
          throw new AwsFault('ParameterAlreadyExists', `The parameter ${name} already exists.`);
        }
        this.putParameter(name, String(input.Value), String(input.Type ?? 'String'));
        return { Version: this.parameters.get(name)!.version, Tier: 'Standard' };
      }
      case 'SendCommand':
        return this.sendCommand(input);
      case 'ListCommandInvocations':
        return this.listCommandInvocations(input);
      case 'GetCommandInvocation':
        return this.getCommandInvocation(input);
      case 'ListCommands':
        return this.listCommands(input);
      default:
        throw new AwsFault(
          'UnknownOperationException',
          `AmazonSSM.${operation} is not served by the stand-in`,
        );
    }
  }

  private getParametersByPath(input: Record<string, unknown>): unknown {
    const path = String(input.Path ?? '');
    const prefix = path.endsWith('/') ? path : `${path}/`;
    const recursive = input.Recursive === true;
    const names = [...this.parameters.keys()]
      .filter((n) => n.startsWith(prefix) && (recursive || !n.slice(prefix.length).includes('/')))
      .sort();
    const start = input.NextToken ? Number(input.NextToken) : 0;
    const size = Math.min(Number(input.MaxResults ?? 10), 10);
    const page = names.slice(start, start + size);
    return {
      Parameters: page.map((name) => {
        const p = this.parameters.get(name)!;
        return {
          Name: name,
          Type: p.type,
          Value: p.value,
          Version: p.version,
          LastModifiedDate: epochSeconds(p.modified),
          ARN: `arn:aws:ssm:${this.region}:${ACCOUNT}:parameter${name}`,
          DataType: 'text',
        };
      }),
      ...(start + size < names.length ? { NextToken: String(start + size) } : {}),
    };
  }

  private targetInstances(input: Record<string, unknown>): StandinInstance[] {
    const ids = input.InstanceIds as string[] | undefined;
    const targets = input.Targets as Array<{ Key: string; Values: string[] }> | undefined;
    if (ids?.length) {
      return ids.map((id) => {
        const found = this.instances.find((i) => i.instanceId === id && i.state === 'running');
        if (!found)
          throw new AwsFault(
            'InvalidInstanceId',
            `Instances [[${id}]] not in a valid state for account ${ACCOUNT}`,
          );
        return found;
      });
    }
    if (targets?.length) {
      return this.instances.filter(
        (i) =>
          i.state === 'running' &&
          targets.every((t) => t.Key.startsWith('tag:') && t.Values.includes(i.tags[t.Key.slice(4)] ?? '')),
      );
    }
    throw new AwsFault('ValidationException', 'SendCommand needs InstanceIds or Targets');
  }

  private sendCommand(input: Record<string, unknown>): unknown {
    const documentName = String(input.DocumentName);
    const document = this.documents.get(documentName);
    if (!document) throw new AwsFault('InvalidDocument', `Document ${documentName} does not exist.`);
    const given = (input.Parameters ?? {}) as Record<string, string[]>;
    let parameters: Record<string, string>;
    try {
      parameters = resolveParameters(document, given);
    } catch (error) {
      throw new AwsFault('InvalidParameters', (error as Error).message);
    }
    const instances = this.targetInstances(input);
    const command: Command = {
      commandId: randomUUID(),
      documentName,
      parameters: given,
      requestedAt: new Date(),
      invocations: instances.map((i) => ({ instanceId: i.instanceId, requestedAt: new Date(), run: null })),
    };
    this.commands.set(command.commandId, command);
    for (const [index, instance] of instances.entries()) {
      const p = runShellScriptStep(document, parameters, instance, command.commandId, this.region).then(
        (run) => {
          command.invocations[index]!.run = run;
        },
      );
      this.running.add(p);
      void p.finally(() => this.running.delete(p));
    }
    return {
      Command: {
        CommandId: command.commandId,
        DocumentName: documentName,
        DocumentVersion: '$DEFAULT',
        Parameters: given,
        InstanceIds: (input.InstanceIds as string[] | undefined) ?? [],
        Targets: (input.Targets as unknown[] | undefined) ?? [],
        RequestedDateTime: epochSeconds(command.requestedAt),
        Status: 'Pending',
        StatusDetails: 'Pending',
        MaxConcurrency: String(input.MaxConcurrency ?? '50'),
        MaxErrors: String(input.MaxErrors ?? '0'),
        TargetCount: instances.length,
        CompletedCount: 0,
        ErrorCount: 0,
        TimeoutSeconds: Number(input.TimeoutSeconds ?? 3600),
      },
    };
  }

  private command(input: Record<string, unknown>): Command {
    const command = this.commands.get(String(input.CommandId));
    if (!command)
      throw new AwsFault('InvalidCommandId', `Command ${String(input.CommandId)} does not exist.`);
    return command;
  }

  private listCommandInvocations(input: Record<string, unknown>): unknown {
    const command = this.command(input);
    const details = input.Details === true;
    return {
      CommandInvocations: command.invocations.map((inv) => {
        const run = inv.run;
        const status = run?.status ?? 'InProgress';
        return {
          CommandId: command.commandId,
          InstanceId: inv.instanceId,
          InstanceName: '',
          DocumentName: command.documentName,
          DocumentVersion: '$DEFAULT',
          RequestedDateTime: epochSeconds(inv.requestedAt),
          Status: status,
          StatusDetails: run?.statusDetails ?? 'InProgress',
          ...(details
            ? {
                CommandPlugins: [
                  {
                    Name: this.documents.get(command.documentName)!.mainSteps[0]!.name,
                    Status: status,
                    StatusDetails: run?.statusDetails ?? 'InProgress',
                    ResponseCode: run?.responseCode ?? -1,
                    ...(run
                      ? {
                          ResponseStartDateTime: epochSeconds(run.startedAt),
                          ResponseFinishDateTime: epochSeconds(run.endedAt),
                        }
                      : {}),
                    Output: run ? run.stdout.slice(0, PLUGIN_OUTPUT_LIMIT) : '',
                  },
                ],
              }
            : {}),
        };
      }),
    };
  }

  private getCommandInvocation(input: Record<string, unknown>): unknown {
    const command = this.command(input);
    const inv = command.invocations.find((i) => i.instanceId === input.InstanceId);
    if (!inv) throw new AwsFault('InvocationDoesNotExist', 'The command invocation does not exist.');
    const run = inv.run;
    return {
      CommandId: command.commandId,
      InstanceId: inv.instanceId,
      DocumentName: command.documentName,
      PluginName: this.documents.get(command.documentName)!.mainSteps[0]!.name,
      ResponseCode: run?.responseCode ?? -1,
      Status: run?.status ?? 'InProgress',
      StatusDetails: run?.statusDetails ?? 'InProgress',
      StandardOutputContent: run ? run.stdout.slice(0, STANDARD_OUTPUT_LIMIT) : '',
      StandardErrorContent: run ? run.stderr.slice(0, STANDARD_OUTPUT_LIMIT) : '',
    };
  }

  private listCommands(input: Record<string, unknown>): unknown {
    const command = this.command(input);
    const done = command.invocations.filter((i) => i.run !== null);
    const errors = done.filter((i) => i.run!.status !== 'Success').length;
    const allDone = done.length === command.invocations.length;
    const status = !allDone ? 'InProgress' : errors === 0 ? 'Success' : 'Failed';
    return {
      Commands: [
        {
          CommandId: command.commandId,
          DocumentName: command.documentName,
          RequestedDateTime: epochSeconds(command.requestedAt),
          Status: status,
          StatusDetails: status,
          TargetCount: command.invocations.length,
          CompletedCount: done.length,
          ErrorCount: errors,
        },
      ],
    };
  }

  // ------------------------------------------------------------------------------- Secrets Manager
  private secretsManager(operation: string, input: Record<string, unknown>): unknown {
    const id = String(input.SecretId ?? '');
    const name = id.startsWith('arn:') ? (id.split(':')[6] ?? id).replace(/-[A-Za-z0-9]{6}$/, '') : id;
    if (operation === 'PutSecretValue') {
      this.putSecret(name, String(input.SecretString ?? ''));
    } else if (operation !== 'GetSecretValue') {
      throw new AwsFault(
        'UnknownOperationException',
        `secretsmanager.${operation} is not served by the stand-in`,
      );
    }
    const secret = this.secrets.get(name);
    if (!secret)
      throw new AwsFault('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    return {
      ARN: `arn:aws:secretsmanager:${this.region}:${ACCOUNT}:secret:${name}-AbCdEf`,
      Name: name,
      VersionId: secret.version,
      ...(operation === 'GetSecretValue'
        ? {
            SecretString: secret.value,
            VersionStages: ['AWSCURRENT'],
            CreatedDate: epochSeconds(secret.created),
          }
        : { VersionStages: ['AWSCURRENT'] }),
    };
  }

  // ------------------------------------------------------------------------------------------- EC2
  private describeInstances(form: Map<string, string>): string {
    const filters = queryIndices(form, 'Filter').map((i) => ({
      name: form.get(`Filter.${i}.Name`) ?? '',
      values: queryList(form, `Filter.${i}.Value`),
    }));
    const ids = queryList(form, 'InstanceId');
    const matches = (inst: StandinInstance): boolean =>
      (ids.length === 0 || ids.includes(inst.instanceId)) &&
      filters.every((f) => {
        if (f.name.startsWith('tag:')) return f.values.includes(inst.tags[f.name.slice(4)] ?? '\u0000');
        if (f.name === 'tag-key') return f.values.some((v) => v in inst.tags);
        if (f.name === 'instance-state-name') return f.values.includes(inst.state);
        if (f.name === 'instance-id') return f.values.includes(inst.instanceId);
        throw new AwsFault('InvalidParameterValue', `The filter '${f.name}' is invalid`);
      });
    const found = this.instances.filter(matches);
    const max = Number(form.get('MaxResults') ?? 1000);
    const start = Number(form.get('NextToken') ?? 0);
    const page = found.slice(start, start + max);
    const next = start + max < found.length ? `<nextToken>${start + max}</nextToken>` : '';
    const stateCode = { running: 16, stopped: 80, terminated: 48 } as const;
    const items = page
      .map(
        (i) =>
          `<item><reservationId>r-${i.instanceId.slice(2)}</reservationId><ownerId>${ACCOUNT}</ownerId><groupSet/><instancesSet><item><instanceId>${escapeXml(i.instanceId)}</instanceId><imageId>ami-0123456789abcdef0</imageId><instanceState><code>${stateCode[i.state]}</code><name>${i.state}</name></instanceState><privateIpAddress>${escapeXml(i.privateIp)}</privateIpAddress><instanceType>t3.micro</instanceType><tagSet>${Object.entries(
            i.tags,
          )
            .map(([k, v]) => `<item><key>${escapeXml(k)}</key><value>${escapeXml(v)}</value></item>`)
            .join('')}</tagSet></item></instancesSet></item>`,
      )
      .join('');
    return `<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>${randomUUID()}</requestId><reservationSet>${items}</reservationSet>${next}</DescribeInstancesResponse>`;
  }

  // ------------------------------------------------------------------------------------------- SNS
  private publish(form: Map<string, string>): string {
    const topicArn = form.get('TopicArn');
    const message = form.get('Message');
    if (!topicArn || message === undefined)
      throw new AwsFault('InvalidParameter', 'TopicArn and Message are required');
    this.published.push({ topicArn, subject: form.get('Subject'), message });
    return `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>${randomUUID()}</MessageId></PublishResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></PublishResponse>`;
  }
}
