import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { EcamoError } from '../errors.js';
import type { Logger } from '../log.js';
import { logRefusal, sendError } from './respond.js';

// node:http through CommonJS, not an ES import: see the node:http rule in eslint.config.js.
const nodeHttp = process.getBuiltinModule('node:http');

/** What the admin listener reports; with workers, the primary's view of all of them. */
export interface AdminSources {
  /** Prometheus text exposition of every metric. */
  metrics(): Promise<string>;
  readonly metricsContentType: string;
  /** Whether the public listener should get traffic: keys loaded, listening, not draining (with workers: every worker). */
  ready(): boolean | Promise<boolean>;
}

/**
 * The operator's listener (`ECAMO_ADMIN_BIND`): `/metrics`, `/healthz`
 * (the process answers) and `/readyz` (it should get traffic). It never
 * shares a port with the public listener, so scrapes and probes need no
 * Host or token, and the public port never shows metrics.
 */
export function createAdminServer(sources: AdminSources, logger: Logger): Server {
  const server = nodeHttp.createServer({ requestTimeout: 10_000 }, (req, res) => {
    answer(sources, req, res).catch((error: unknown) => {
      // Expected (a worker that does not answer in time): as the registry says. Anything else is a bug: its stack, and still a 503.
      if (error instanceof EcamoError) logRefusal(logger, error);
      else logger.error({ err: error }, 'bug: metrics could not be collected');
      sendError(res, error instanceof EcamoError ? error : new EcamoError('metrics-unavailable', 'metrics could not be collected', { cause: error }));
    });
  });
  // Junk on the admin port gets no answer worth composing: drop the connection.
  server.on('clientError', (_error, socket) => socket.destroy());
  return server;
}

async function answer(sources: AdminSources, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return sendError(res, new EcamoError('method-not-allowed', `method ${req.method}`));
  }
  const queryStart = req.url?.indexOf('?') ?? -1;
  const path = queryStart === -1 ? req.url : req.url?.slice(0, queryStart);
  switch (path) {
    case '/metrics':
      return plain(res, 200, await sources.metrics(), { 'content-type': sources.metricsContentType });
    case '/healthz':
      return plain(res, 200, 'ok');
    case '/readyz':
      return (await sources.ready()) ? plain(res, 200, 'ready') : plain(res, 503, 'not ready');
    default:
      return sendError(res, new EcamoError('not-found', 'no such path'));
  }
}

function plain(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
