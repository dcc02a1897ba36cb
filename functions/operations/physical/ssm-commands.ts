/**
 * HostCommands through SSM Run Command: the PhysicalReseed document sent to one database host. The
 * command id is what the operation journal keeps; any later run (a continuation, another participant
 * that took over) asks SSM about that id, so a restore of many hours outlives every invocation.
 */
import {
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  type GetCommandInvocationCommandOutput,
  SendCommandCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import type { Config } from '../../config/schema.js';
import type { ServerId } from '../../core/snapshot.js';
import { errorMessage, ReseedCommandError } from '../../errors.js';
import { serverById } from '../admin.js';
import { type CommandStatus, type HostCommands, parseScriptResult } from './commands.js';
import { documentParameters, type ReseedCommandRequest } from './parameters.js';

export interface SsmHostCommandsOptions {
  client: Pick<SSMClient, 'send'>;
  config: Config;
  /** The stack's PhysicalReseed document (env RESEED_DOCUMENT). */
  documentName: string;
  /** Optional CloudWatch log group for the commands' full output. */
  outputLogGroup?: string;
}

/** The host of a server, looked up by name or by host:port. */
export function reseedHost(config: Config, server: ServerId) {
  const s = serverById(config, server);
  return config.reseed.hosts[s.name] ?? config.reseed.hosts[s.id];
}

const RUNNING = new Set(['Pending', 'InProgress', 'Delayed', 'Cancelling']);

export class SsmHostCommands implements HostCommands {
  readonly kind = 'ssm';

  constructor(private readonly options: SsmHostCommandsOptions) {}

  private instance(server: ServerId): { instanceId: string; serviceName: string } {
    const host = reseedHost(this.options.config, server);
    if (!host) throw new ReseedCommandError(`reseed.hosts names no instance for ${server}`);
    return host;
  }

  async reachable(server: ServerId): Promise<boolean> {
    const host = reseedHost(this.options.config, server);
    if (!host) return false;
    try {
      const out = await this.options.client.send(
        new DescribeInstanceInformationCommand({
          Filters: [{ Key: 'InstanceIds', Values: [host.instanceId] }],
        }),
      );
      return (out.InstanceInformationList ?? []).some((i) => i.PingStatus === 'Online');
    } catch {
      return false;
    }
  }

  async start(server: ServerId, request: ReseedCommandRequest): Promise<string> {
    const { instanceId, serviceName } = this.instance(server);
    const parameters = {
      ...documentParameters({ ...request, serviceName: request.serviceName ?? serviceName }),
      ExecutionTimeout: [String(this.options.config.reseed.commandTimeoutSeconds)],
    };
    try {
      const out = await this.options.client.send(
        new SendCommandCommand({
          DocumentName: this.options.documentName,
          InstanceIds: [instanceId],
          Parameters: parameters,
          Comment: `mysql-failover ${request.action} ${server}`.slice(0, 100),
          TimeoutSeconds: 600,
          ...(this.options.outputLogGroup
            ? {
                CloudWatchOutputConfig: {
                  CloudWatchOutputEnabled: true,
                  CloudWatchLogGroupName: this.options.outputLogGroup,
                },
              }
            : {}),
        }),
      );
      const id = out.Command?.CommandId;
      if (!id) throw new ReseedCommandError('SendCommand returned no command id');
      return id;
    } catch (error) {
      if (error instanceof ReseedCommandError) throw error;
      throw new ReseedCommandError(
        `could not start the ${request.action} on ${server}: ${errorMessage(error)}`,
        {
          cause: error,
        },
      );
    }
  }

  async status(server: ServerId, commandId: string): Promise<CommandStatus> {
    const { instanceId } = this.instance(server);
    let out: GetCommandInvocationCommandOutput;
    try {
      out = await this.options.client.send(
        new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }),
      );
    } catch (error) {
      // Right after SendCommand the invocation may not exist yet: still running as far as we know.
      if ((error as { name?: string }).name === 'InvocationDoesNotExist') return { state: 'running' };
      throw new ReseedCommandError(`could not read command ${commandId}: ${errorMessage(error)}`, {
        cause: error,
      });
    }
    const status = out.Status ?? 'Pending';
    if (RUNNING.has(status)) return { state: 'running' };
    const result = parseScriptResult(out.StandardOutputContent ?? '');
    if (status === 'Success' && result?.ok) return { state: 'succeeded', result };
    return {
      state: 'failed',
      ...(result ? { result } : {}),
      error:
        result?.message ||
        `${status}${out.StatusDetails ? ` (${out.StatusDetails})` : ''}: ${(out.StandardErrorContent ?? '').slice(-500)}`,
    };
  }
}
