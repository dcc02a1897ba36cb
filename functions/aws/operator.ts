/**
 * The AWS side of the `repl-watchdog` command line, with the operator's own credentials (the SDK's
 * default chain: environment, profile, instance role): the deployed configuration from SSM Parameter
 * Store and Secrets Manager, routers found by EC2 tag, and routers switched through the stack's SSM
 * document (`--routers ssm`) — what the function does, from a bastion. Each client is built on first
 * use, with the same timeouts as the function's.
 */
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { ec2TagFinder, type FindTagged } from '../cluster/discovery.js';
import type { Config } from '../config/schema.js';
import { UsageError } from '../errors.js';
import type { RouterSwitch } from '../routers/types.js';
import { awsClientOptions } from './client-options.js';

export class OperatorAws {
  private ssm: SSMClient | undefined;
  private secrets: SecretsManagerClient | undefined;
  private ec2: EC2Client | undefined;

  constructor(private readonly env: NodeJS.ProcessEnv) {}

  readonly ssmClient = async (): Promise<SSMClient> => {
    if (!this.ssm) {
      const { SSMClient } = await import('./ssm.js');
      this.ssm ??= new SSMClient(awsClientOptions(this.env));
    }
    return this.ssm;
  };

  readonly secretsClient = async (): Promise<SecretsManagerClient> => {
    if (!this.secrets) {
      const { SecretsManagerClient } = await import('./secrets.js');
      this.secrets ??= new SecretsManagerClient(awsClientOptions(this.env));
    }
    return this.secrets;
  };

  /** DescribeInstances for the tag groups; undefined when no group is found by tag. */
  async findTagged(config: Config): Promise<FindTagged | undefined> {
    if (!config.groups.some((g) => g.ec2Tag)) return undefined;
    if (!this.ec2) {
      const { EC2Client } = await import('./ec2.js');
      this.ec2 ??= new EC2Client(awsClientOptions(this.env));
    }
    return ec2TagFinder(this.ec2);
  }

  /** The stack's RouterSwitch document: `--document NAME`, else ROUTER_DOCUMENT. */
  documentName(given: string | undefined): string {
    const name = given ?? this.env.ROUTER_DOCUMENT;
    if (!name) {
      throw new UsageError(
        '--routers ssm needs the SSM document: --document NAME or ROUTER_DOCUMENT (the stack output RouterSwitchDocumentName)',
      );
    }
    return name;
  }

  /** A router switch through SSM Run Command, for a configuration whose routers were found this run. */
  async ssmRouters(config: Config, documentName: string): Promise<RouterSwitch> {
    const { ssmRouterSwitchFromConfig } = await import('../routers/ssm-from-config.js');
    return ssmRouterSwitchFromConfig(config, await this.ssmClient(), { documentName });
  }
}
