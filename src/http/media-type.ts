const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const QUOTED = '"(?:[^"\\\\]|\\\\.)*"';
/** RFC 9110 media-type: type "/" subtype *( OWS ";" OWS [ parameter ] ). One value, not a list. */
const MEDIA_TYPE = new RegExp(`^[ \\t]*(${TOKEN})/(${TOKEN})((?:[ \\t]*;[ \\t]*(?:${TOKEN}=(?:${TOKEN}|${QUOTED}))?)*)[ \\t]*$`);

/**
 * The lower-cased `type/subtype` of a Content-Type value, without parameters,
 * or undefined when the value is not exactly one well-formed media type
 * (so `image/png, text/html` is refused rather than read as PNG).
 */
export function essenceOf(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return undefined;
  const [, type, subtype] = MEDIA_TYPE.exec(contentType) ?? [];
  return type === undefined || subtype === undefined ? undefined : `${type.toLowerCase()}/${subtype.toLowerCase()}`;
}
