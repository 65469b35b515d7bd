/**
 * wrk driven by one Lua script: every request is the next line of a request
 * list (so thousands of distinct tokens rotate), and done() prints a JSON
 * line, which is sturdier to read than wrk's human report.
 *
 * Two variants: `timed` runs for the given duration; `once` makes one pass
 * over the list (each line requested once) and times that pass itself,
 * because wrk's own clock always counts the full -d duration.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from './processes.js';

const RESULT_MARK = 'WRK_JSON ';
const PASS_DONE_MARK = 'PASS_DONE';

/** LuaJIT's ffi gives the monotonic clock plain Lua lacks (Debian's wrk is built on LuaJIT). */
const ONCE_PRELUDE = `local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local now_buffer = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, now_buffer)
  return tonumber(now_buffer.tv_sec) * 1e6 + tonumber(now_buffer.tv_nsec) / 1e3
end
local share, calls, connections_per_thread = 0, 0, 0
`;

/**
 * Each thread owns a slice of the list. Without pipelining, wrk calls
 * request() once per connection at the start and once after each response,
 * so when the calls reach slice + connections the thread has had as many
 * answers as its slice holds. Counting here rather than in response() keeps
 * wrk as cheap as in a timed run (a response() makes wrk hand every header to Lua).
 * The globals pass_start/pass_end are read back by done().
 */
const ONCE_FUNCTIONS = `function request()
  calls = calls + 1
  if calls == 1 then pass_start = now_us() end
  if calls == share + connections_per_thread then
    pass_end = now_us()
    io.write("${PASS_DONE_MARK}\\n")
    io.flush()
    wrk.thread:stop()
  end
  local r = pool[index]
  index = index % #pool + 1
  return r
end

local function pass_duration()
  local first, last
  for _, thread in ipairs(threads) do
    local started, ended = thread:get("pass_start"), thread:get("pass_end")
    if started == nil or ended == nil then return -1 end
    first = (first == nil or started < first) and started or first
    last = (last == nil or ended > last) and ended or last
  end
  return last - first
end
`;

const TIMED_FUNCTIONS = `function request()
  local r = pool[index]
  index = index % #pool + 1
  return r
end

local function pass_duration()
  return -1
end
`;

/**
 * args: [1] the request list (`path` or `path<TAB>cookie` a line), [2] the
 * thread count, [3] connections per thread, [4] where in its slice each thread
 * starts. `headers` go with every request.
 */
function rotateLua(headers: Readonly<Record<string, string>>, once: boolean): string {
  const fixedHeaders = Object.entries(headers).map(([name, value]) => `  [${JSON.stringify(name)}] = ${JSON.stringify(value)},`);
  return `-- Written by ecamo's bench/wrk.ts (${once ? 'one pass' : 'timed'}).
${once ? ONCE_PRELUDE : ''}local fixed_headers = {
${fixedHeaders.join('\n')}
}
local pool = {}
-- Globals, read back by done(): where the thread started and where it stands (start_index + requests sent).
index = 1
start_index = 1
pool_size = 0
local threads = {}

function setup(thread)
  thread:set("thread_number", #threads)
  table.insert(threads, thread)
end

function init(args)
  local file, thread_count = args[1], tonumber(args[2])
  for line in io.lines(file) do
    local path, cookie = line:match("^([^\\t]+)\\t?(.*)$")
    if path then
      local headers = {}
      for name, value in pairs(fixed_headers) do headers[name] = value end
      if cookie ~= "" then headers["Cookie"] = cookie end
      -- Formatted once here, so each request costs wrk no more than a static one.
      pool[#pool + 1] = wrk.format("GET", path, headers)
    end
  end
  if #pool < thread_count then error("fewer requests than threads in " .. file) end
  -- Each thread starts at its own slice of the list: threads do not send the same tokens in lockstep.
  local slice = math.floor(#pool / thread_count)
  index = (thread_number * slice + tonumber(args[4])) % #pool + 1
  start_index = index
  pool_size = #pool
  ${once ? `share = (thread_number == thread_count - 1) and (#pool - thread_number * slice) or slice
  connections_per_thread = tonumber(args[3])` : ''}
end

${once ? ONCE_FUNCTIONS : TIMED_FUNCTIONS}
-- The most requests any thread sent, answered or not: wrk counts only answers, and a run stopped by its
-- clock leaves one request in flight on each connection, which the server still handled.
local function sent_per_thread()
  local most = 0
  for _, thread in ipairs(threads) do
    local sent = (thread:get("index") - thread:get("start_index")) % thread:get("pool_size")
    if sent > most then most = sent end
  end
  return most
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '${RESULT_MARK}{"requests":%.0f,"sent_per_thread":%.0f,"duration_us":%.0f,"pass_us":%.0f,"bytes":%.0f,' ..
    '"errors":{"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f},' ..
    '"latency_us":{"mean":%.1f,"p50":%.0f,"p90":%.0f,"p99":%.0f,"max":%.0f}}\\n',
    summary.requests, sent_per_thread(), summary.duration, pass_duration(), summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
`;
}

export interface WrkScripts {
  readonly timed: string;
  readonly once: string;
}

export function writeWrkScripts(dir: string, headers: Readonly<Record<string, string>>): WrkScripts {
  const timed = join(dir, 'rotate.lua');
  const once = join(dir, 'rotate-once.lua');
  writeFileSync(timed, rotateLua(headers, false));
  writeFileSync(once, rotateLua(headers, true));
  return { timed, once };
}

export interface WrkSettings {
  readonly threads: number;
  readonly connections: number;
  /** For a one-pass run: the longest it may take. */
  readonly durationSeconds: number;
  /** A response slower than this counts as a timeout error. */
  readonly timeoutSeconds: number;
  /** Requests each thread skips at the start of its slice: a run goes on where the last run on the list stopped. */
  readonly offset: number;
}

/** A type, not an interface: the report walks its entries. */
export type WrkErrors = {
  readonly connect: number;
  readonly read: number;
  readonly write: number;
  /** Responses with status >= 400 (wrk's "Non-2xx or 3xx responses"). */
  readonly status: number;
  readonly timeout: number;
};

export interface WrkResult {
  readonly requests: number;
  /**
   * The most requests one thread sent (answered or not), for where the next run on the list starts: threads
   * move through their slices at different speeds, and a timed run stops with a request in flight on each
   * connection, so answers over threads fall short of it.
   */
  readonly sentPerThread: number;
  readonly seconds: number;
  readonly requestsPerSecond: number;
  /** Bytes read, headers included. */
  readonly bytes: number;
  readonly megabytesPerSecond: number;
  /** bytes / requests: a cheap check that full bodies came back under load. */
  readonly bytesPerResponse: number;
  readonly latencyMs: { readonly mean: number; readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number };
  readonly errors: WrkErrors;
  readonly errorCount: number;
}

interface RawResult {
  requests: number;
  sent_per_thread: number;
  duration_us: number;
  pass_us: number;
  bytes: number;
  errors: WrkErrors;
  latency_us: { mean: number; p50: number; p90: number; p99: number; max: number };
}

/** Runs wrk with `script` (see writeWrkScripts); `once` must say whether it is the one-pass variant. */
export async function runWrk(binary: string, script: string, once: boolean, url: string, requestsFile: string, settings: WrkSettings): Promise<WrkResult> {
  const args = [
    `-t${settings.threads}`,
    `-c${settings.connections}`,
    `-d${settings.durationSeconds}s`,
    `--timeout`, `${settings.timeoutSeconds}s`,
    '--latency',
    '-s', script,
    url,
    // wrk gives each thread connections / threads connections.
    '--', requestsFile, String(settings.threads), String(Math.floor(settings.connections / settings.threads)), String(settings.offset),
  ];
  // A one-pass run is over when every thread has reported its slice done.
  const passDone = (stdout: string): boolean => stdout.split(`${PASS_DONE_MARK}\n`).length > settings.threads;
  const result = await runCommand(binary, args, once ? passDone : undefined);
  const line = result.stdout.split('\n').find((text) => text.startsWith(RESULT_MARK));
  // SIGINT (a finished pass) still ends wrk with code 0 and a report.
  if (line === undefined || result.code !== 0) {
    throw new Error(`wrk ${args.join(' ')} failed (${result.signal ?? `code ${result.code}`}):\n${result.stderr}${result.stdout}`);
  }
  const raw = JSON.parse(line.slice(RESULT_MARK.length)) as RawResult;
  if (once && raw.pass_us <= 0) {
    throw new Error(`wrk did not finish one pass over ${requestsFile} within ${settings.durationSeconds} s (${raw.requests} responses)`);
  }
  const seconds = (once ? raw.pass_us : raw.duration_us) / 1e6;
  const ms = (us: number): number => us / 1000;
  const errors = raw.errors;
  return {
    requests: raw.requests,
    sentPerThread: raw.sent_per_thread,
    seconds,
    requestsPerSecond: raw.requests / seconds,
    bytes: raw.bytes,
    megabytesPerSecond: raw.bytes / 1e6 / seconds,
    bytesPerResponse: raw.requests === 0 ? 0 : raw.bytes / raw.requests,
    latencyMs: {
      mean: ms(raw.latency_us.mean),
      p50: ms(raw.latency_us.p50),
      p90: ms(raw.latency_us.p90),
      p99: ms(raw.latency_us.p99),
      max: ms(raw.latency_us.max),
    },
    errors,
    errorCount: errors.connect + errors.read + errors.write + errors.status + errors.timeout,
  };
}

/** wrk's own version line, for the record. */
export async function wrkVersion(binary: string): Promise<string> {
  const result = await runCommand(binary, ['-v']);
  return (result.stdout + result.stderr).split('\n')[0]?.trim() ?? 'unknown';
}
