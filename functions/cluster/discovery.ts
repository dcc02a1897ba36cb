/**
 * Router discovery: every run, a group configured with `ec2Tag` gets its routers from the running
 * EC2 instances carrying that tag (private IP + the group's `routerPort`, with the instance id for SSM
 * Run Command). The result is the configuration the rest of the run uses: observation, analysis,
 * every guard, VerifyRouters and the SSM switch all see the same router list. A group whose discovery
 * fails or finds nothing keeps no router and is named in `discovery`, which the analysis turns into
 * RoutersUnknown (safety rule 7).
 */
import type { EC2Client, Filter } from '@aws-sdk/client-ec2';
import type { Config, GroupConfig, RouterConfig } from '../config/schema.js';
import type { RouterDiscovery } from '../core/snapshot.js';
import { errorMessage } from '../errors.js';

/** A running instance that carries a group's tag. */
export interface TaggedInstance {
  instanceId: string;
  privateIp: string;
}

/** The one question discovery asks of EC2 (a port, so unit tests need no SDK). */
export type FindTagged = (
  tag: { key: string; value: string },
  signal?: AbortSignal,
) => Promise<TaggedInstance[]>;

export interface DiscoveredConfig {
  /** The configuration with every tag group's routers filled in. */
  config: Config;
  discovery: RouterDiscovery[];
}

function routersOf(group: GroupConfig, instances: readonly TaggedInstance[]): RouterConfig[] {
  const port = group.routerPort!; // the schema requires it with ec2Tag
  return [...instances]
    .sort((a, b) => a.instanceId.localeCompare(b.instanceId))
    .map((i) => ({
      id: `${i.privateIp}:${port}`,
      host: i.privateIp,
      port,
      instanceId: i.instanceId,
      configPath: group.configPath,
      adminSocket: undefined,
    }));
}

/** Fills in the routers of every `ec2Tag` group; never throws (a failure is the group's finding). */
export async function discoverRouters(
  config: Config,
  find: FindTagged | undefined,
  signal?: AbortSignal,
): Promise<DiscoveredConfig> {
  const discovery: RouterDiscovery[] = [];
  const groups = await Promise.all(
    config.groups.map(async (group): Promise<GroupConfig> => {
      if (!group.ec2Tag) {
        discovery.push({ group: group.name, source: 'config', found: group.routers.length });
        return group;
      }
      const tag = `${group.ec2Tag.key}=${group.ec2Tag.value}`;
      if (!find) {
        discovery.push({
          group: group.name,
          source: 'ec2-tag',
          found: 0,
          error: `no EC2 access to find instances tagged ${tag}`,
        });
        return { ...group, routers: [] };
      }
      try {
        const routers = routersOf(group, await find(group.ec2Tag, signal));
        discovery.push({ group: group.name, source: 'ec2-tag', found: routers.length });
        return { ...group, routers };
      } catch (error) {
        discovery.push({
          group: group.name,
          source: 'ec2-tag',
          found: 0,
          error: `DescribeInstances ${tag}: ${errorMessage(error)}`,
        });
        return { ...group, routers: [] };
      }
    }),
  );
  const order = new Map(config.groups.map((g, i) => [g.name, i]));
  discovery.sort((a, b) => (order.get(a.group) ?? 0) - (order.get(b.group) ?? 0));
  return { config: { ...config, groups }, discovery };
}

/** FindTagged through DescribeInstances: running instances with the tag, every page. */
export function ec2TagFinder(
  client: Pick<EC2Client, 'send'>,
  load: () => Promise<typeof import('../aws/ec2.js')> = () => import('../aws/ec2.js'),
): FindTagged {
  return async (tag, signal) => {
    const { DescribeInstancesCommand } = await load();
    const Filters: Filter[] = [
      { Name: `tag:${tag.key}`, Values: [tag.value] },
      { Name: 'instance-state-name', Values: ['running'] },
    ];
    const found: TaggedInstance[] = [];
    let NextToken: string | undefined;
    do {
      const page = await client.send(
        new DescribeInstancesCommand({ Filters, MaxResults: 1000, NextToken }),
        signal ? { abortSignal: signal } : {},
      );
      for (const reservation of page.Reservations ?? []) {
        for (const instance of reservation.Instances ?? []) {
          if (instance.InstanceId && instance.PrivateIpAddress) {
            found.push({ instanceId: instance.InstanceId, privateIp: instance.PrivateIpAddress });
          }
        }
      }
      NextToken = page.NextToken;
    } while (NextToken);
    return found;
  };
}
