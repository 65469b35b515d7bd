#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=4 --heap-growing-percent=50
// Three memory settings (figures in docs/performance.md):
// - a 4 MB young generation: proxied bodies pass through as 64 KiB socket-read
//   Buffers, and V8 frees a Buffer's bytes only when it collects its (tiny)
//   wrapper, so with the default 16 MB semi-spaces dead chunks pile up (2 MB
//   held no less memory, and cost 15-18% more CPU per proxied image in
//   scavenges and promoted garbage);
// - the old generation collected once it reaches 1.5 times what the last full
//   collection kept: left to itself, V8 on a host with gigabytes of memory lets
//   it reach up to 4 times (per-request garbage promoted under load piled up to
//   200 MB over 50 MB of live objects). 1.3 collected several times a second;
// - two glibc malloc arenas instead of up to eight per core: chunks are freed
//   by V8's background threads, and every extra arena keeps its own free
//   memory instead of handing it back.
// Launchers run this file directly.
import { parseArgs } from 'node:util';
import { ConfigError } from '../config/errors.js';
import { ArgumentError } from './arguments.js';

const USAGE = `usage: ecamo <command> [options]

commands:
  serve [--help]        run the proxy; configuration from ECAMO_* variables (--help lists them)
  demo [--port N]       a working demo with generated keys (ecamo, a wiki, a source); --port 0 picks free ports
  keygen [--kid NAME] [--origin ORIGIN]
                        print a new P-256 key pair as ECAMO_PRIVATE_KEYS / ECAMO_SERVICE_PUBLIC_KEYS JSON
  sign-url URL [--send-token] [--prefix P] [--ttl S]
                        print /{prefix}/v1/r/{URL token} for a source URL
  sign-cookie --canonical-origin O [--ttl S] [--subject SUB] [--insecure] [--cookie-name N] [--format set-cookie|cookie|token]
                        print an auth cookie (default ttl 300 s)
      signing key for both: --key-file FILE (ecamo keygen output or a private JWK) or ECAMO_SIGNER_PRIVATE_JWK;
      [--origin O] or ECAMO_SIGNER_ORIGIN, [--kid K] or ECAMO_SIGNER_KID when the key does not say
  sign-camo URL [--key K] [--encoding hex|base64]
                        print a camo-format path /{digest}/{encoded URL}; the key defaults to the first of ECAMO_CAMO_KEY
  inspect TOKEN|CAMO_URL|- [--service-origin O] [--audience O] [--camo-key K]...
                        decode any ecamo token and say whether the ecamo configured in ECAMO_* accepts it
                        (exit 0 accepted, 1 rejected or undecidable)
  verify-proxy --upstream URL --audience ORIGIN (--ecamo-origin O | --jwks-url U) [--listen HOST:PORT] [--clock-tolerance S]
                        [--redis-url redis://HOST:PORT/DB [--replay-store-required]]
                        [--service-origin-regexp R]...
                        admit only requests bearing a valid ecamo ID token, and forward them to URL
`;

type Command = (args: string[]) => Promise<void>;

// Each command loads its own modules, so that a quick `sign-url` does not pay for the server's.
const COMMANDS: Record<string, Command> = {
  serve: async (args) => (await import('./serve.js')).serveCommand(args, process.env, write),
  demo: async (args) => {
    const { values } = parseArgs({ args, options: { port: { type: 'string' } } });
    await (await import('./demo.js')).demo({ port: values.port === undefined ? 3000 : parsePort(values.port) });
  },
  keygen: async (args) => {
    const { values } = parseArgs({ args, options: { kid: { type: 'string' }, origin: { type: 'string' } } });
    write(`${await (await import('./keygen.js')).keygen(values)}\n`);
  },
  'sign-url': async (args) => (await import('./sign.js')).signUrlCommand(args, process.env, write),
  'sign-cookie': async (args) => (await import('./sign.js')).signCookieCommand(args, process.env, write),
  'sign-camo': async (args) => (await import('./sign.js')).signCamoCommand(args, process.env, write),
  inspect: async (args) => {
    process.exitCode = await (await import('./inspect.js')).inspectCommand(args, process.env, write);
  },
  'verify-proxy': async (args) => (await import('./verify-proxy.js')).verifyProxyCommand(args, process.env),
};

function write(text: string): void {
  process.stdout.write(text);
}

function parsePort(text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new ArgumentError(`--port must be a port number, got "${text}"`);
  return Number(text);
}

async function main(argv: string[]): Promise<void> {
  const [name = 'demo', ...args] = argv;
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  const command = COMMANDS[name];
  if (command === undefined) throw new ArgumentError(`unknown command "${name}"`);
  await command(args);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`ecamo: configuration error: ${error.message}\n`);
    process.exit(2);
  }
  if (error instanceof ArgumentError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true) {
    process.stderr.write(`ecamo: ${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  process.stderr.write(`ecamo: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
