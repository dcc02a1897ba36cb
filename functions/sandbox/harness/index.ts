/** The local cluster harness: real MariaDB servers and HAProxy routers for tests, benchmarks and the sandbox. */
export {
  Cluster,
  type ClusterCredentials,
  type ClusterOptions,
  type Credentials,
  DEFAULT_WATCHDOG_SCHEMAS,
  type GtidState,
  type HarnessWatchdogConfig,
  type RouterGroup,
  type RouterHandle,
  type RouterKindName,
  type ServerHandle,
  startCluster,
} from './cluster.js';
export { HaproxyRouter, runtimeCommand, type ServerState } from './haproxy.js';
export {
  DEFAULT_SECTION,
  type HaproxyConfigInput,
  type HaproxyDestination,
  MANAGED_MARKER,
  type RouterMode,
  renderHaproxyConfig,
  renderServerLine,
  STICKY_LUA,
} from './haproxy-config.js';
export { ensureTemplate, findBinary, MariadbServer, requireBinary } from './mariadb.js';
export { MysqlRouter } from './mysqlrouter.js';
export { freePort } from './ports.js';
export {
  findLeaks,
  harnessRoot,
  type LeakReport,
  processesUnder,
  type ReapReport,
  reapDeadRuns,
} from './reaper.js';
