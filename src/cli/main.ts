#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError } from '../config/errors.js';
import { keygen } from './keygen.js';
import { serve } from './serve.js';
import { demo } from './demo.js';

const USAGE = `usage: ecamo <command> [options]

commands:
  serve                 run the proxy; configuration from ECAMO_* variables
  demo [--port N]       a working demo with generated keys (ecamo, a wiki, a source); --port 0 picks free ports
  keygen [--kid NAME] [--origin ORIGIN]
                        print a new P-256 key pair as ECAMO_PRIVATE_KEYS / ECAMO_SERVICE_PUBLIC_KEYS JSON
`;

/** A mistake in how the command was called: printed with the usage, exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type Command = (args: string[]) => Promise<void>;

const COMMANDS: Record<string, Command> = {
  serve: async () => serve(process.env),
  demo: async (args) => {
    const { values } = parseArgs({ args, options: { port: { type: 'string' } } });
    await demo({ port: values.port === undefined ? 3000 : parsePort(values.port) });
  },
  keygen: async (args) => {
    const { values } = parseArgs({ args, options: { kid: { type: 'string' }, origin: { type: 'string' } } });
    process.stdout.write(`${await keygen(values)}\n`);
  },
};

function parsePort(text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new UsageError(`--port must be a port number, got "${text}"`);
  return Number(text);
}

async function main(argv: string[]): Promise<void> {
  const [name = 'demo', ...args] = argv;
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  const command = COMMANDS[name];
  if (command === undefined) throw new UsageError(`unknown command "${name}"`);
  await command(args);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`ecamo: configuration error: ${error.message}\n`);
    process.exit(2);
  }
  if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true) {
    process.stderr.write(`ecamo: ${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  process.stderr.write(`ecamo: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
