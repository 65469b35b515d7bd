import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKey } from '../config/generate-key.js';
import { loadConfig } from '../config/load.js';
import { startServer } from '../server/start.js';
import { createSigner } from '../signer/index.js';
import { demoServiceHandler, forward } from './service.js';
import { demoSourceHandler } from './source.js';

// node:http through CommonJS, not an ES import: see the node:http rule in eslint.config.js.
const nodeHttp = process.getBuiltinModule('node:http');

const LOOPBACK = '127.0.0.1';

function listen(server: http.Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, LOOPBACK, () => resolve((server.address() as AddressInfo).port));
  });
}

function close(server: http.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

export interface RunningDemo {
  readonly pageUrl: string;
  readonly canonicalOrigin: string;
  close(): Promise<void>;
}

/**
 * Three servers on 127.0.0.1 with generated keys: ecamo's canonical origin
 * `localhost:<port>`, a wiki-like service origin and an image source, on
 * ports base, base+1 and base+2 (all picked by the system when base is 0).
 * The canonical origin is a front server that passes every request to ecamo,
 * as a deployment's TLS terminator would: its port must be in ecamo's
 * configuration, so the front is bound first, and ecamo itself listens on a
 * port the system picks.
 */
export async function startDemo(options: { port: number; logLevel?: 'info' | 'warn' | 'silent' }): Promise<RunningDemo> {
  const base = options.port;
  const pick = (offset: number): number => (base === 0 ? 0 : base + offset);
  const [ecamoKey, serviceKey] = await Promise.all([generateKey('ecamo-demo'), generateKey('wiki-demo')]);

  // Origins go into ecamo's configuration, so bind first and attach handlers after.
  const front = nodeHttp.createServer();
  const service = nodeHttp.createServer();
  const source = nodeHttp.createServer();
  const frontPort = await listen(front, pick(0));
  const servicePort = await listen(service, pick(1));
  const sourcePort = await listen(source, pick(2));

  const serviceOrigin = `http://${LOOPBACK}:${servicePort}`;
  const sourceOrigin = `http://${LOOPBACK}:${sourcePort}`;
  const canonicalHost = `localhost:${frontPort}`;
  const canonicalOrigin = `http://${canonicalHost}`;

  const config = await loadConfig({
    ECAMO_CANONICAL_HOST: canonicalHost,
    ECAMO_BIND: `${LOOPBACK}:0`,
    ECAMO_INSECURE: 'true',
    ECAMO_PRIVATE_KEYS: JSON.stringify({ [ecamoKey.kid]: ecamoKey.privateJwk }),
    ECAMO_SIGNING_KID: ecamoKey.kid,
    ECAMO_SERVICE_PUBLIC_KEYS: JSON.stringify({ [`${serviceOrigin} ${serviceKey.kid}`]: serviceKey.publicJwk }),
    // The demo source is on loopback, which ecamo refuses unless the operator allows it.
    ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: `^http://127\\.0\\.0\\.1:${sourcePort}/`,
    ECAMO_LOG_LEVEL: options.logLevel ?? 'info',
  });
  const ecamo = await startServer(config);
  const ecamoAt = { host: LOOPBACK, port: ecamo.port };

  front.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => forward(req, res, ecamoAt));
  source.on('request', demoSourceHandler({ ecamoOrigin: canonicalOrigin, ownOrigin: sourceOrigin, jwks: { keys: [ecamoKey.publicJwk] } }));
  service.on(
    'request',
    demoServiceHandler({
      signer: await createSigner({ origin: serviceOrigin, kid: serviceKey.kid, privateJwk: serviceKey.privateJwk }),
      canonicalOrigin,
      ecamo: ecamoAt,
      images: {
        publicUrl: `${sourceOrigin}/public.svg`,
        internalUrl: `${sourceOrigin}/internal.svg`,
        refusedUrl: `http://localhost:${sourcePort}/secret.svg`,
      },
    }),
  );

  return {
    pageUrl: `${serviceOrigin}/`,
    canonicalOrigin,
    close: async () => {
      await Promise.all([ecamo.close(1000), close(front), close(service), close(source)]);
    },
  };
}
