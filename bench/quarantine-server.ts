/**
 * The ecamo under test in `bench/quarantine.ts`: configuration from ECAMO_*,
 * on 127.0.0.1 port 0, logging warnings only (an access line per forged
 * request would measure pino rather than ecamo). Prints the bound port.
 */
import { loadConfig } from '../src/config/load.js';
import { startServer } from '../src/server/start.js';
import { createLogger } from '../src/log.js';

const config = await loadConfig(process.env);
const running = await startServer(config, { logger: createLogger('warn'), listen: { host: '127.0.0.1', port: 0 } });
process.stdout.write(`ecamo-bench-listening ${running.port}\n`);
process.once('SIGTERM', () => {
  running.close(0).then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
