/**
 * Builds the harness's template datadir in a process of its own and prints its path as one JSON line
 * (the template test runs several at once, each with its own MYSQL_FAILOVER_HARNESS_ROOT).
 */
import { ensureTemplate } from '../../functions/sandbox/harness/mariadb.js';

const path = await ensureTemplate();
process.stdout.write(`${JSON.stringify({ path })}\n`);
