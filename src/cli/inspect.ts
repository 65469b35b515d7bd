/** `ecamo inspect TOKEN|CAMO_URL|- [--service-origin O] [--audience O] [--camo-key K]...`: the arguments; src/inspect/ does the rest. */
import { text as readAll } from 'node:stream/consumers';
import { parseArgs } from 'node:util';
import { inspect, type Env, type InspectOptions } from '../inspect/command.js';
import { ArgumentError, onlyPositional, parseOrigin } from './arguments.js';

export async function inspectCommand(args: string[], env: Env, write: (text: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { 'service-origin': { type: 'string' }, audience: { type: 'string' }, 'camo-key': { type: 'string', multiple: true } },
  });
  const argument = onlyPositional(positionals, 'inspect takes exactly one token or camo URL (or - to read it from stdin)');
  if (values['camo-key']?.includes('') === true) throw new ArgumentError('--camo-key must not be empty');
  const options: InspectOptions = {
    ...(values['service-origin'] === undefined ? {} : { serviceOrigin: parseOrigin('--service-origin', values['service-origin']) }),
    ...(values.audience === undefined ? {} : { audience: parseOrigin('--audience', values.audience) }),
    ...(values['camo-key'] === undefined ? {} : { camoKeys: values['camo-key'] }),
  };
  return inspect(argument === '-' ? await readAll(process.stdin) : argument, options, env, write);
}
