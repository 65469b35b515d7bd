import { loadFallbackImage, type FallbackImage } from '../config/fallback-image.js';
import type { ContentRules } from '../content/sniff.js';
import type { HttpRequest } from './request-response.js';

/**
 * ECAMO_FALLBACK_IMAGE while the server runs: the file read at start, read
 * again on SIGHUP (an unusable file leaves the one in use), and the rule of
 * which error answers carry it instead of their text.
 */
export class ErrorImage {
  #current: FallbackImage;

  constructor(
    initial: FallbackImage,
    private readonly rules: ContentRules,
  ) {
    this.#current = initial;
  }

  get current(): FallbackImage {
    return this.#current;
  }

  /** Throws the ConfigError that names what is wrong with the file now. */
  async reload(): Promise<void> {
    this.#current = await loadFallbackImage(this.#current.path, this.rules);
  }

  /**
   * The image for an error answer to `req` when the request will show it as
   * an image (`Sec-Fetch-Dest: image`; without Sec-Fetch-Dest, an Accept that
   * starts with `image/`, as browsers that predate it send for images).
   * Documents and everything else get the error's text.
   */
  for(req: HttpRequest): FallbackImage | undefined {
    const destination = req.headers['sec-fetch-dest'];
    if (destination !== undefined) return destination === 'image' ? this.#current : undefined;
    const accept = req.headers.accept;
    return accept !== undefined && /^image\//i.test(accept) ? this.#current : undefined;
  }
}
