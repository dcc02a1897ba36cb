/**
 * HAProxy configuration for one backend's local router, shaped like the seed's MySQL Router section:
 * destinations primary first, replica(s) after, one TCP listener.
 *
 * Everything that is not a destination lives OUTSIDE the `server` lines, because the router switch
 * rewrites only the `server` lines of the named section and reloads. That includes the sticky mode: it
 * is a Lua task loaded from the global section, not a per-server setting.
 */

export type RouterMode = 'failback' | 'sticky';

export interface HaproxyDestination {
  /** Server name in HAProxy (the harness uses db1, db2, ...). */
  name: string;
  host: string;
  port: number;
}

export interface HaproxyConfigInput {
  /** Listener address (default 127.0.0.1). */
  bindHost?: string;
  bindPort: number;
  /** Runtime API socket (`stats socket ... level admin`). */
  adminSocketPath: string;
  pidFile: string;
  /** Destinations in priority order: the first is the primary, the others are backups. */
  destinations: readonly HaproxyDestination[];
  mode: RouterMode;
  /** Path of the sticky Lua script; required when mode is 'sticky'. */
  stickyLuaPath?: string;
  /** The listen section's name (the router switch addresses it by this name). */
  section?: string;
  /** The passwordless, privilege-less account `option mysql-check` logs in with. */
  checkUser?: string;
  /**
   * 'mysql-check' (default; MariaDB and MySQL up to 8.0): HAProxy logs in as checkUser.
   * 'greeting' (MySQL 8.4+ and 9): HAProxy 2.6's `option mysql-check` logs in with
   * mysql_native_password, which 8.4 disables and 9.0 removes, so every check fails and every server
   * stays DOWN. The greeting check instead reads the server's handshake packet (protocol version 10
   * right after the 4-byte packet header) and closes: a dead, frozen or overloaded server (which sends
   * an error packet instead) fails it.
   */
  healthCheck?: HealthCheck;
}

export type HealthCheck = 'mysql-check' | 'greeting';

/** The health check lines of a listen section (the README's HAProxy example uses the same lines). */
export function renderHealthCheck(check: HealthCheck, checkUser = 'haproxy_check'): string[] {
  if (check === 'mysql-check') return [`    option mysql-check user ${checkUser} post-41`];
  return [
    '    option tcp-check',
    '    tcp-check connect',
    // The response as a hex string: 3 bytes length, sequence 00, protocol version 0A.
    '    tcp-check expect rbinary ^[0-9A-Fa-f]{6}000[Aa]',
  ];
}

export const DEFAULT_SECTION = 'mysql_failover';
export const MANAGED_MARKER = '# managed by mysql-failover';

/** One `server` line, in the form the router switch also writes. */
export function renderServerLine(destination: HaproxyDestination, backup: boolean): string {
  return `    server ${destination.name} ${destination.host}:${destination.port} check${backup ? ' backup' : ''}`;
}

export function renderHaproxyConfig(input: HaproxyConfigInput): string {
  if (input.destinations.length === 0) throw new Error('an HAProxy router needs at least one destination');
  if (input.mode === 'sticky' && !input.stickyLuaPath) throw new Error('sticky mode needs stickyLuaPath');
  const section = input.section ?? DEFAULT_SECTION;
  const lines = [
    MANAGED_MARKER,
    `# router mode: ${input.mode}`,
    'global',
    `    stats socket ${input.adminSocketPath} mode 600 level admin expose-fd listeners`,
    `    pidfile ${input.pidFile}`,
  ];
  if (input.mode === 'sticky') {
    lines.push(
      '    # sticky first-available (MySQL Router 8.0.4-8.4): a primary that went DOWN is put in MAINT',
      '    # while a backup is up, so it does not take connections back until the router is reconfigured.',
      `    lua-load ${input.stickyLuaPath}`,
    );
  }
  lines.push(
    'defaults',
    '    mode tcp',
    '    timeout connect 3s',
    '    timeout client 1h',
    '    timeout server 1h',
    // Without it a health check must finish within `inter` (500 ms); on a loaded machine that marks a
    // healthy primary DOWN, and in sticky mode that would stick. 2 s still catches a frozen server.
    '    timeout check 2s',
    `listen ${section}`,
    `    bind ${input.bindHost ?? '127.0.0.1'}:${input.bindPort}`,
    ...renderHealthCheck(input.healthCheck ?? 'mysql-check', input.checkUser),
    '    default-server inter 500ms fastinter 200ms downinter 1s rise 2 fall 2 on-marked-down shutdown-sessions',
    ...input.destinations.map((destination, index) => renderServerLine(destination, index > 0)),
    '',
  );
  return lines.join('\n');
}

/**
 * The sticky mode's Lua task. Every 100 ms it looks at each backend; a non-backup server whose health
 * check has taken it fully DOWN is set to MAINT, provided some backup server of that backend is UP (so
 * there is somewhere to stick to — with no backup up, failing back is the only way to serve). MAINT
 * survives the server's checks passing again; only a reload (which the router switch does after
 * rewriting the server lines) or `set server <section>/<name> state ready` clears it.
 * A server needs `rise` passing checks (>= 2 x downinter = 2 s here) to come back UP, while the task
 * reacts within 100 ms, so a returning primary never gets a window to take connections.
 */
export const STICKY_LUA = `-- managed by mysql-failover: sticky first-available routing for HAProxy 2.6+
local interval_ms = 100

local function is_backup(stats)
  return tonumber(stats.bck) == 1
end

local function stick(proxy_name, proxy)
  local backup_up = false
  for _, server in pairs(proxy.servers) do
    local stats = server:get_stats()
    if is_backup(stats) and stats.status == "UP" then backup_up = true end
  end
  if not backup_up then return end
  for name, server in pairs(proxy.servers) do
    local stats = server:get_stats()
    if not is_backup(stats) and stats.status == "DOWN" then
      server:set_maint()
      core.Warning("sticky: " .. proxy_name .. "/" .. name .. " went DOWN; kept in MAINT until reconfigured")
    end
  end
end

core.register_task(function()
  while true do
    for proxy_name, proxy in pairs(core.backends) do
      stick(proxy_name, proxy)
    end
    core.msleep(interval_ms)
  end
end)
`;
