/**
 * A bare HTTP/1.1 client on one TCP connection, for tests that must see what
 * a library would hide: which connection a response came on, its
 * `Connection` header, and when the server closes the connection.
 */
import net from 'node:net';

export interface RawHead {
  readonly status: number;
  /** Lower-case names; the last value of a repeated header. */
  readonly headers: Readonly<Record<string, string>>;
}

export class RawConnection {
  readonly socket: net.Socket;
  /** Resolves when the server has closed the connection (or it broke). */
  readonly closed: Promise<void>;
  #buffer = Buffer.alloc(0);
  #wake: (() => void) | undefined;
  #ended = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#wake?.();
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => {
      const done = (): void => {
        this.#ended = true;
        this.#wake?.();
        resolve();
      };
      socket.once('end', done).once('close', done);
    });
  }

  static async open(port: number, host = '127.0.0.1'): Promise<RawConnection> {
    const socket = net.connect(port, host);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new RawConnection(socket);
  }

  /** Sends `GET path` with keep-alive (HTTP/1.1's default) and the given extra header lines. */
  get(path: string, host: string, extra: readonly string[] = []): void {
    this.socket.write([`GET ${path} HTTP/1.1`, `host: ${host}`, ...extra, '', ''].join('\r\n'));
  }

  async readHead(): Promise<RawHead> {
    const end = await this.#until(() => {
      const at = this.#buffer.indexOf('\r\n\r\n');
      return at === -1 ? undefined : at;
    });
    const [statusLine, ...lines] = this.#take(end + 4).toString('latin1').trimEnd().split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    return { status: Number(statusLine!.split(' ')[1]), headers };
  }

  /** The next `length` bytes of body. */
  async readBody(length: number): Promise<string> {
    await this.#until(() => (this.#buffer.length >= length ? true : undefined));
    return this.#take(length).toString('latin1');
  }

  close(): void {
    this.socket.destroy();
  }

  #take(length: number): Buffer {
    const taken = this.#buffer.subarray(0, length);
    this.#buffer = this.#buffer.subarray(length);
    return taken;
  }

  async #until<T>(ready: () => T | undefined): Promise<T> {
    for (;;) {
      const value = ready();
      if (value !== undefined) return value;
      if (this.#ended) throw new Error('connection closed before the expected bytes arrived');
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }
}
