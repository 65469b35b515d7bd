import type { EcamoError } from '../errors.js';
import type { BodySink, SourceBody } from '../upstream/fetch.js';

/**
 * A source body streamed to the request that fetched it while a copy is kept,
 * up to `room` bytes, for the cache and for requests waiting on the same
 * fetch. `kept` settles when the transfer does: the whole body when it ended
 * cleanly within `room`, undefined when it outgrew `room` (at once) or nobody
 * wants it any more, or the source error (a reset, the deadline): a body cut
 * short is never kept.
 *
 * When the streaming client goes away (`discard`), the transfer goes on as
 * long as `othersWait()` says someone else waits for the copy; when it wants
 * no body at all (`keepWithoutClient`, a HEAD), it goes on for the copy.
 */
export class TeeBody implements SourceBody {
  readonly kept: Promise<Buffer | undefined>;
  #resolve!: (body: Buffer | undefined) => void;
  #reject!: (error: EcamoError) => void;
  #chunks: Buffer[] | undefined = [];
  #length = 0;
  #sink: BodySink | undefined;
  #started = false;
  #clientGone = false;
  /** `kept` resolved with the body: its chunks (or the one chunk that is the body) are the cache's. */
  #keptWhole = false;

  constructor(
    private readonly source: SourceBody,
    private readonly room: number,
    private readonly othersWait: () => boolean,
  ) {
    this.kept = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // Nobody may wait for the copy: its failure is reported through the client's sink too.
    this.kept.catch(() => {});
  }

  flow(sink: BodySink): void {
    if (this.#clientGone) return;
    this.#sink = sink;
    this.#start();
  }

  resume(): void {
    this.source.resume();
  }

  discard(): void {
    this.#withoutClient(this.othersWait());
  }

  /** Passed on only for a chunk the copy does not hold: one kept (or the copy itself, when it is one chunk) must outlive the client's write. */
  spent(chunk: Buffer): void {
    if (this.#chunks === undefined && !this.#keptWhole) this.source.spent(chunk);
  }

  /**
   * The client asked for the head only (HEAD): the body is read on all the
   * same, for the cache and the requests waiting on this fetch, up to `room`
   * and within the fetch's deadline, so that the GET that usually follows a
   * HEAD finds it kept.
   */
  keepWithoutClient(): void {
    this.#withoutClient(true);
  }

  #withoutClient(readOn: boolean): void {
    if (this.#clientGone) return;
    this.#clientGone = true;
    this.#sink = undefined;
    if (this.#chunks !== undefined && readOn) {
      // At the source's pace now.
      this.#start();
      this.source.resume();
      return;
    }
    this.#chunks = undefined;
    this.#resolve(undefined);
    this.source.discard();
  }

  #start(): void {
    if (this.#started) return;
    this.#started = true;
    this.source.flow({
      data: (chunk) => {
        this.#keep(chunk);
        const sink = this.#sink;
        if (sink !== undefined) return sink.data(chunk);
        if (this.#chunks !== undefined) return true;
        // Nobody streams and nothing is kept any more.
        this.source.discard();
        return false;
      },
      end: () => {
        const chunks = this.#chunks;
        this.#chunks = undefined;
        this.#keptWhole = chunks !== undefined;
        this.#resolve(chunks === undefined ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, this.#length));
        this.#sink?.end();
      },
      error: (error) => {
        this.#chunks = undefined;
        this.#reject(error);
        this.#sink?.error(error);
      },
    });
  }

  #keep(chunk: Buffer): void {
    const chunks = this.#chunks;
    if (chunks === undefined) return;
    this.#length += chunk.length;
    if (this.#length <= this.room) {
      chunks.push(chunk);
      return;
    }
    // Too large to keep: the waiting requests fetch on their own.
    this.#chunks = undefined;
    this.#resolve(undefined);
  }
}
