/**
 * The SSM side of building a RouterSwitch from the validated config: targets per group (EC2 tag or
 * instance ids) and the SsmRouterSwitch. Kept apart from routers/cli.ts so the Lambda handler loads the
 * SSM client only when a group's routers are reached through SSM Run Command.
 */
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { Config } from '../config/schema.js';
import type { ApplyMode } from './parameters.js';
import { type SsmGroupTarget, SsmRouterSwitch, type SsmRouterSwitchOptions } from './ssm.js';

export interface SsmRoutersOptions
  extends Omit<SsmRouterSwitchOptions, 'client' | 'groups' | 'documentName'> {
  documentName: string;
  verifyDefaultsFile?: string;
  applyMode?: ApplyMode;
}

/**
 * SSM targets for every group: the routers' instance ids — listed in the configuration, or found by
 * EC2 tag in this run (cluster/discovery.ts), so the switch reaches exactly the routers that were
 * observed and verified. A tag group whose discovery found nothing has no target: its routers are
 * unknown, and the switch reports `no-targets` instead of reaching instances nobody observed.
 */
export function ssmTargetsFromConfig(
  config: Config,
  options: Pick<SsmRoutersOptions, 'applyMode' | 'verifyDefaultsFile'> = {},
): Record<string, SsmGroupTarget> {
  const targets: Record<string, SsmGroupTarget> = {};
  for (const group of config.groups) {
    const configPath = group.configPath ?? group.routers.find((r) => r.configPath)?.configPath;
    if (!configPath) continue;
    const instanceIds = group.routers.flatMap((r) => (r.instanceId ? [r.instanceId] : []));
    targets[group.name] = {
      routerKind: group.routerKind,
      configPath,
      section: group.section,
      instanceIds,
      verifyAddress: group.routerPort ? `127.0.0.1:${group.routerPort}` : undefined,
      verifyDefaultsFile: options.verifyDefaultsFile,
      applyMode: options.applyMode,
    };
  }
  return targets;
}

export function ssmRouterSwitchFromConfig(
  config: Config,
  client: Pick<SSMClient, 'send'>,
  options: SsmRoutersOptions,
): SsmRouterSwitch {
  return new SsmRouterSwitch({ ...options, client, groups: ssmTargetsFromConfig(config, options) });
}
