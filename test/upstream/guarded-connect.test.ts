/**
 * The connect-time guard: guardedLookup judges every address a name resolves
 * to, guardedConnector judges literal IPs. DNS is never asked for real: tests
 * replace dns.lookup (which guardedLookup calls) with a scripted resolver, and
 * the only sockets that could open go to listeners on this machine, which
 * count what reaches them.
 */
import assert from 'node:assert/strict';
import dns, { type LookupAddress, type LookupOptions } from 'node:dns';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, test, type TestContext } from 'node:test';
import { Agent, request } from 'undici';
import { findEcamoError } from '../../src/errors.js';
import { parseAddressRanges } from '../../src/config/ip-address.js';
import { PrivateAddressError, globalOnly, guardedConnector, guardedLookup, refusingBlocked } from '../../src/upstream/guarded-connect.js';

type Answer = Error | readonly LookupAddress[];

interface Call {
  readonly hostname: string;
  readonly options: LookupOptions;
}

/**
 * Replaces dns.lookup for the duration of one test with a resolver that
 * answers from `answers` (per name; a function lets an answer change between
 * calls, as a rebinding attacker's DNS does). Every call is recorded.
 */
function scriptDns(t: TestContext, answers: Record<string, Answer | (() => Answer)>): Call[] {
  const calls: Call[] = [];
  const fake = (hostname: string, options: LookupOptions, callback: (error: Error | null, addresses: LookupAddress[]) => void): void => {
    calls.push({ hostname, options });
    const scripted = answers[hostname];
    const answer = typeof scripted === 'function' ? scripted() : scripted;
    process.nextTick(() => {
      if (answer === undefined) return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), []);
      if (answer instanceof Error) return callback(answer, []);
      callback(null, [...answer]);
    });
  };
  t.mock.method(dns, 'lookup', fake as unknown as typeof dns.lookup);
  return calls;
}

interface LookupResult {
  readonly error: NodeJS.ErrnoException | null;
  readonly address: string | LookupAddress[];
  readonly family: number | undefined;
}

function lookup(hostname: string, options: LookupOptions): Promise<LookupResult> {
  return new Promise((resolve) => guardedLookup(hostname, options, (error, address, family) => resolve({ error, address, family })));
}

const v4 = (address: string): LookupAddress => ({ address, family: 4 });
const v6 = (address: string): LookupAddress => ({ address, family: 6 });

describe('guardedLookup', () => {
  test('a public-looking name that resolves to loopback is refused, in both forms', async (t) => {
    const calls = scriptDns(t, { 'images.example.com': [v4('127.0.0.1')] });
    for (const options of [{ all: true }, {}, { all: false }, { family: 4 }] as LookupOptions[]) {
      const result = await lookup('images.example.com', options);
      assert.ok(result.error instanceof PrivateAddressError, `refused with ${JSON.stringify(options)}`);
      assert.equal(result.error.address, '127.0.0.1');
      assert.equal(result.error.host, 'images.example.com');
      assert.equal(result.error.code, 'unallowed-source');
    }
    // Whatever form net asked for, the guard saw every address.
    assert.ok(calls.every((call) => call.options.all === true));
  });

  test('every non-global answer is refused: private, link-local, mapped, IPv6', async (t) => {
    const names: Record<string, LookupAddress[]> = {
      'rfc1918.example.com': [v4('10.0.0.1')],
      'metadata.example.com': [v4('169.254.169.254')],
      'cgnat.example.com': [v4('100.64.0.1')],
      'zero.example.com': [v4('0.0.0.0')],
      'v6-loopback.example.com': [v6('::1')],
      'v6-ula.example.com': [v6('fd00::1')],
      'v6-link-local.example.com': [v6('fe80::1')],
      'mapped.example.com': [v6('::ffff:127.0.0.1')],
      'nat64.example.com': [v6('64:ff9b::a9fe:a9fe')],
      'sixtofour.example.com': [v6('2002:7f00:1::1')],
    };
    scriptDns(t, names);
    for (const [name, [entry]] of Object.entries(names)) {
      for (const all of [true, false]) {
        const result = await lookup(name, { all });
        assert.ok(result.error instanceof PrivateAddressError, `${name} (all: ${all})`);
        assert.equal(result.error.address, entry!.address);
      }
    }
  });

  test('one non-global address among global ones refuses the whole name', async (t) => {
    scriptDns(t, {
      'mixed.example.com': [v4('8.8.8.8'), v4('10.0.0.1')],
      'mixed6.example.com': [v6('2606:4700::1111'), v6('::1'), v4('1.1.1.1')],
      'last.example.com': [v4('1.1.1.1'), v4('8.8.8.8'), v6('::ffff:192.168.0.1')],
    });
    for (const name of ['mixed.example.com', 'mixed6.example.com', 'last.example.com']) {
      for (const all of [true, false]) {
        const result = await lookup(name, { all });
        assert.ok(result.error instanceof PrivateAddressError, `${name} (all: ${all})`);
      }
    }
  });

  test('global answers pass: the whole list with all:true, the first address otherwise', async (t) => {
    const calls = scriptDns(t, { 'cdn.example.com': [v6('2606:4700::1111'), v4('1.1.1.1')] });
    const all = await lookup('cdn.example.com', { all: true });
    assert.equal(all.error, null);
    assert.deepEqual(all.address, [v6('2606:4700::1111'), v4('1.1.1.1')]);

    const single = await lookup('cdn.example.com', { family: 0, hints: dns.ADDRCONFIG });
    assert.equal(single.error, null);
    assert.equal(single.address, '2606:4700::1111');
    assert.equal(single.family, 6);
    // Options net passes (family, hints) reach the resolver unchanged.
    assert.equal(calls[1]!.options.hints, dns.ADDRCONFIG);
    assert.equal(calls[1]!.options.family, 0);
    assert.equal(calls[1]!.options.all, true);
  });

  test('each resolution is judged afresh: a name that rebinds to loopback is refused', async (t) => {
    let resolutions = 0;
    scriptDns(t, { 'rebind.example.com': () => (resolutions++ === 0 ? [v4('93.184.216.34')] : [v4('127.0.0.1')]) });
    const first = await lookup('rebind.example.com', {});
    assert.equal(first.error, null);
    assert.equal(first.address, '93.184.216.34');
    const second = await lookup('rebind.example.com', {});
    assert.ok(second.error instanceof PrivateAddressError);
    assert.deepEqual(second.address, []);
  });

  test('resolver failures and empty answers are passed on as errors, never as an address', async (t) => {
    const failure = Object.assign(new Error('getaddrinfo EAI_AGAIN flaky.example.com'), { code: 'EAI_AGAIN' });
    scriptDns(t, { 'flaky.example.com': failure, 'empty.example.com': [] });
    const failed = await lookup('flaky.example.com', { all: true });
    assert.equal(failed.error, failure);
    assert.equal(findEcamoError(failed.error), undefined);
    const missing = await lookup('missing.example.com', {});
    assert.equal(missing.error?.code, 'ENOTFOUND');
    for (const all of [true, false]) {
      const empty = await lookup('empty.example.com', { all });
      assert.equal(empty.error?.code, 'ENOTFOUND');
      assert.deepEqual(empty.address, []);
    }
  });
});

describe('findEcamoError', () => {
  test('finds the guard error anywhere in a cause chain, and nothing else', () => {
    const guard = new PrivateAddressError('a.example.com', '10.0.0.1');
    assert.equal(findEcamoError(guard), guard);
    assert.equal(findEcamoError(new Error('outer', { cause: new Error('middle', { cause: guard }) })), guard);
    assert.equal(findEcamoError(new Error('connect ECONNREFUSED')), undefined);
    assert.equal(findEcamoError(Object.assign(new Error('lookalike'), { code: 'unallowed-source', name: 'PrivateAddressError' })), undefined);
    assert.equal(findEcamoError(undefined), undefined);
    assert.equal(findEcamoError('PrivateAddressError'), undefined);
  });
});

describe('guardedConnector', () => {
  /** Listeners on loopback that count every connection, so a refused connect is seen not to happen. */
  let v4Listener: net.Server;
  let v6Listener: net.Server | undefined;
  let connections = 0;
  let v4Port: number;
  let v6Port: number | undefined;

  const listen = async (host: string): Promise<net.Server> => {
    const server = net.createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, host, () => resolve());
    });
    return server;
  };

  before(async () => {
    v4Listener = await listen('127.0.0.1');
    v4Port = (v4Listener.address() as AddressInfo).port;
    try {
      v6Listener = await listen('::1');
      v6Port = (v6Listener.address() as AddressInfo).port;
    } catch {
      v6Listener = undefined; // no IPv6 loopback here: the refusal is still checked, just not counted
    }
  });

  after(async () => {
    await new Promise((resolve) => v4Listener.close(resolve));
    if (v6Listener !== undefined) await new Promise((resolve) => v6Listener!.close(resolve));
  });

  function connect(connector: ReturnType<typeof guardedConnector>, hostname: string, port: number): Promise<{ error: Error | null; socket: net.Socket | null }> {
    return new Promise((resolve) => {
      connector({ hostname, host: `${hostname}:${port}`, protocol: 'http:', port: String(port), servername: undefined } as never, (error, socket) => {
        socket?.destroy();
        resolve({ error: error ?? null, socket: socket ?? null });
      });
    });
  }

  for (const autoSelectFamily of [true, false]) {
    test(`literal non-global IPs are refused before any socket opens (autoSelectFamily: ${autoSelectFamily})`, async () => {
      const connector = guardedConnector({ autoSelectFamily } as never);
      const before = connections;
      for (const hostname of ['127.0.0.1', '0.0.0.0', '::ffff:7f00:1', '[::ffff:7f00:1]', '::ffff:127.0.0.1']) {
        const { error, socket } = await connect(connector, hostname, v4Port);
        assert.ok(error instanceof PrivateAddressError, hostname);
        assert.ok(socket == null, 'no socket is handed back');
      }
      for (const hostname of ['::1', '[::1]', '::7f00:1']) {
        const { error } = await connect(connector, hostname, v6Port ?? v4Port);
        assert.ok(error instanceof PrivateAddressError, hostname);
      }
      assert.equal(connections, before);
    });

    test(`names are resolved through the guard: DNS rebinding to loopback opens no socket (autoSelectFamily: ${autoSelectFamily})`, async (t) => {
      const calls = scriptDns(t, {
        'images.example.com': [v4('127.0.0.1')],
        'dual.example.com': [v6('::1'), v4('127.0.0.1')],
        'mapped.example.com': [v6('::ffff:127.0.0.1')],
      });
      const connector = guardedConnector({ autoSelectFamily } as never);
      const before = connections;
      for (const hostname of ['images.example.com', 'dual.example.com', 'mapped.example.com']) {
        const { error, socket } = await connect(connector, hostname, hostname === 'dual.example.com' ? (v6Port ?? v4Port) : v4Port);
        assert.ok(findEcamoError(error) instanceof PrivateAddressError, `${hostname}: ${String(error)}`);
        assert.ok(socket == null, 'no socket is handed back');
      }
      assert.equal(connections, before);
      assert.deepEqual(
        calls.map((call) => call.hostname),
        ['images.example.com', 'dual.example.com', 'mapped.example.com'],
      );
    });
  }

  test('ECAMO_SOURCE_BLOCKED_CIDRS: blocked global addresses, literal or resolved, are refused in the guarded pool before any socket', async (t) => {
    scriptDns(t, { 'nat64.example.com': [v6('2001:67c:2960:6464::a00:1')], 'cdn.example.com': [v4('1.1.1.1'), v4('203.0.114.9')] });
    const blocked = parseAddressRanges('ECAMO_SOURCE_BLOCKED_CIDRS', '2001:67c:2960:6464::/96, 203.0.114.0/24');
    const connector = guardedConnector({}, refusingBlocked(blocked, globalOnly));
    for (const hostname of ['203.0.114.9', '::ffff:203.0.114.9', '[2001:67c:2960:6464::a00:1]', 'nat64.example.com', 'cdn.example.com', '127.0.0.1']) {
      const { error, socket } = await connect(connector, hostname, v4Port);
      assert.ok(findEcamoError(error) instanceof PrivateAddressError, `${hostname}: ${String(error)}`);
      assert.ok(socket == null, 'no socket is handed back');
    }
  });

  test('ECAMO_SOURCE_BLOCKED_CIDRS alone (the pool for allowed private sources): loopback passes, a blocked loopback address does not', async () => {
    const connector = guardedConnector({}, refusingBlocked(parseAddressRanges('ECAMO_SOURCE_BLOCKED_CIDRS', '127.0.0.2')));
    const before = connections;
    assert.equal((await connect(connector, '127.0.0.2', v4Port)).error instanceof PrivateAddressError, true);
    assert.equal(connections, before);
    const open = await connect(connector, '127.0.0.1', v4Port);
    assert.equal(open.error, null);
  });

  test('localhost (from the hosts file, no DNS server involved) is refused', async () => {
    const before = connections;
    const { error } = await connect(guardedConnector(), 'localhost', v4Port);
    assert.ok(findEcamoError(error) instanceof PrivateAddressError, String(error));
    assert.equal(connections, before);
  });

  test('an undici Agent on the guarded connector refuses loopback and the request never arrives', async (t) => {
    scriptDns(t, { 'rebind.example.com': [v4('127.0.0.1')] });
    const agent = new Agent({ connect: guardedConnector() });
    try {
      const before = connections;
      for (const url of [`http://127.0.0.1:${v4Port}/`, `http://rebind.example.com:${v4Port}/`, `http://[::ffff:127.0.0.1]:${v4Port}/`]) {
        await assert.rejects(request(url, { dispatcher: agent }), (error: unknown) => {
          assert.ok(findEcamoError(error) instanceof PrivateAddressError, `${url}: ${String(error)}`);
          return true;
        });
      }
      assert.equal(connections, before);
    } finally {
      await agent.close();
    }
  });
});
