/**
 * The socket reads one source response's body came in, freed as soon as the
 * client has been sent what they brought, instead of when a garbage
 * collection finds them (docs/performance.md, Where the memory goes).
 *
 * undici hands a body over in pieces that are views of the Buffer a socket
 * read filled (up to 64 KiB each), and a read's bytes are freed only when V8
 * collects its ArrayBuffer: under load mostly at full collections, so that
 * dead reads piled up to tens of MB between them. A read is detached here
 * (`ArrayBuffer.prototype.transfer(0)` frees its bytes at once) when both
 * - no more of it can come: a piece of a later read came, a piece ended where
 *   the read ends, or the response ended. Until then the parser may still cut
 *   pieces from it (a chunked body, a parser paused mid-read whose rest waits
 *   in the socket), and
 * - every piece of it that was handed out was reported spent: written to the
 *   client, and held by nothing else (a piece the cache keeps is never
 *   reported: cache/tee.ts).
 * What else a read holds is spent by then too: the head (its header views
 * were turned into strings when the head came) and the chunk framing.
 *
 * Only for plain TCP connections, where Node gives each read an ArrayBuffer
 * of its own. Over TLS, Node 26 decrypts successive reads into one 64 KiB
 * ArrayBuffer and goes on filling it after the reads it has handed over:
 * detaching it made the next read throw in Node's own callback (an uncaught
 * exception); test/upstream/socket-reads.test.ts streams from both kinds, so
 * a Node that came to reuse plain reads the same way fails it.
 *
 * Never detached: Node's Buffer pool, since `Readable.read()` joins small
 * buffered reads into a slice of it, which other Buffers of the process
 * share (detaching Node 20's silenced the process's stdout). From Node 24, V8
 * refuses to detach it, as every ArrayBuffer Node marks untransferable; on
 * Node 20 and 22 a read as large as the pool is left alone instead, since it
 * may be the pool (a guard by size on those only: Node 24's pool is 64 KiB,
 * the size of most reads).
 *
 * The bookkeeping is for the pieces of one response: pieces never reported
 * spent (a client gone, a body cut at the limit) leave their read to the
 * collector, as before.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { markAsUntransferable } from 'node:worker_threads';

type Transfer = (this: ArrayBuffer, newLength: number) => ArrayBuffer;

const transfer = (ArrayBuffer.prototype as { transfer?: Transfer }).transfer ?? stagedTransfer();

/** Whether this Node frees socket reads early (Node 20 too, through stagedTransfer). */
export const FREES_READS = transfer !== undefined;

/**
 * Node 20's V8 (11.3) has `transfer` only behind `--harmony-rab-gsab-transfer`, a flag later Nodes
 * refuse on the command line (Node 26 does), so that the bin's shebang cannot carry it. Set at run time, a
 * harmony flag applies to the contexts made after it: `transfer` is taken from a new one, and
 * detaches this realm's ArrayBuffers alike (a builtin checks what its receiver is, not where it was
 * made). Costs Node 20 the context, 2 MiB; serves three times the 1 MiB downloads
 * (docs/performance.md, Where the memory goes).
 */
function stagedTransfer(): Transfer | undefined {
  v8.setFlagsFromString('--harmony-rab-gsab-transfer');
  return vm.runInNewContext('ArrayBuffer.prototype.transfer') as Transfer | undefined;
}

/**
 * Where V8 would detach Node's Buffer pool (Node 20 and 22), the size of the ArrayBuffer under it:
 * a read that large is left alone. Probed on an ArrayBuffer of its own marked as Node marks the pool.
 */
const UNGUARDED_POOL_BYTES = ((): number | undefined => {
  if (transfer === undefined) return undefined;
  const probe = new ArrayBuffer(0);
  markAsUntransferable(probe);
  try {
    transfer.call(probe, 0);
    return Buffer.allocUnsafe(1).buffer.byteLength;
  } catch {
    return undefined;
  }
})();

/** Whether a read as large as the Buffer pool is left to the collector (Node 20 and 22). */
export const SPARES_POOL_SIZED_READS = UNGUARDED_POOL_BYTES !== undefined;

export class SocketReads {
  /** The bookkeeping for one response from a connection, when its reads can be freed (not over TLS). */
  static of(connection: { readonly overTls: boolean }): SocketReads | undefined {
    return connection.overTls || !FREES_READS ? undefined : new SocketReads();
  }

  /** The read the parser is in: more pieces of it may come. */
  #current: ArrayBufferLike | undefined;
  /** Pieces handed out and not yet spent, by read; a read with none is absent. */
  readonly #unspent = new Map<ArrayBufferLike, number>();

  /** `piece` goes to the sink; it is the latest piece of the body. */
  handedOut(piece: Buffer): void {
    const read = piece.buffer;
    if (read !== this.#current) {
      this.#finished(this.#current);
      this.#current = read;
    }
    this.#unspent.set(read, (this.#unspent.get(read) ?? 0) + 1);
    if (piece.byteOffset + piece.length === read.byteLength) this.#finished(read);
  }

  /** The sink is done with `piece`, and nothing else holds it. */
  spent(piece: Buffer): void {
    const read = piece.buffer;
    const count = this.#unspent.get(read);
    if (count === undefined) return;
    if (count > 1) {
      this.#unspent.set(read, count - 1);
      return;
    }
    this.#unspent.delete(read);
    if (read !== this.#current) free(read);
  }

  /** The response is complete: no more pieces of any read. */
  ended(): void {
    this.#finished(this.#current);
  }

  #finished(read: ArrayBufferLike | undefined): void {
    if (read !== this.#current) return;
    this.#current = undefined;
    if (read !== undefined && !this.#unspent.has(read)) free(read);
  }
}

function free(read: ArrayBufferLike): void {
  if (transfer === undefined || !(read instanceof ArrayBuffer) || read.byteLength === UNGUARDED_POOL_BYTES) return;
  try {
    transfer.call(read, 0);
  } catch {
    // Not detachable (as Node 24 and later mark the Buffer pool): left to the collector.
  }
}
