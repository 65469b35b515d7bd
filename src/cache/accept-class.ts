/**
 * The client's `Accept` reduced to a class by the image formats it names, as
 * image CDNs do (Cloudflare's AVIF/WebP variants): a source that answers
 * `Vary: Accept` then has at most one answer per class to give, whatever
 * header a client makes up. The class is what the cache keys a variant and a
 * source fetch by, and each class sends the source one fixed `Accept`.
 *
 * Only media types named outright count, never a wildcard range: browsers
 * name the formats they decode, and a client that sends only wildcards
 * (`image/*`, curl's any-type range, old browsers) may not decode AVIF or
 * WebP.
 * A type with weight zero (`image/webp;q=0`, also `q=0.0` to `q=0.000`) is
 * refused, as RFC 9110 section 12.4.2 says, so it does not count either.
 * `avif` asks for WebP as well: every client that decodes AVIF also decodes
 * WebP, and a source that has WebP but no AVIF should serve it WebP. A client
 * that names AVIF without WebP is therefore `other`, never sent a format it
 * may not decode.
 */
export type AcceptClass = 'avif' | 'webp' | 'other';

/** The `Accept` a source is sent for each class. */
export const SOURCE_ACCEPT: Readonly<Record<AcceptClass, string>> = Object.freeze({
  avif: 'image/avif,image/webp,image/*,*/*;q=0.8',
  webp: 'image/webp,image/*,*/*;q=0.8',
  other: 'image/*,*/*;q=0.8',
});

/** `q=0`, `q=0.`, `q=0.0` .. `q=0.000` (RFC 9110 qvalue); spaces around `=` are tolerated. */
const ZERO_WEIGHT = /;\s*q\s*=\s*0(?:\.0{0,3})?\s*(?:;|$)/i;

/**
 * The last Accept classed, and its class: a browser sends one Accept for all
 * its images, so most requests bring the string the one before brought, and
 * the same string is not split and searched again (a string compare instead
 * of about a quarter microsecond). One slot: clients that alternate cost a
 * compare more, never a table an Accept a client makes up could fill.
 */
let last: { readonly accept: string; readonly variant: AcceptClass } = { accept: '', variant: 'other' };

export function acceptClass(accept: string | undefined): AcceptClass {
  if (accept === undefined) return 'other';
  if (accept === last.accept) return last.variant;
  const variant = classify(accept);
  last = { accept, variant };
  return variant;
}

function classify(accept: string): AcceptClass {
  let avif = false;
  let webp = false;
  for (const range of accept.split(',')) {
    const semicolon = range.indexOf(';');
    const type = (semicolon === -1 ? range : range.slice(0, semicolon)).trim().toLowerCase();
    if (type !== 'image/avif' && type !== 'image/webp') continue;
    if (semicolon !== -1 && ZERO_WEIGHT.test(range.slice(semicolon))) continue;
    if (type === 'image/avif') avif = true;
    else webp = true;
  }
  return webp ? (avif ? 'avif' : 'webp') : 'other';
}
