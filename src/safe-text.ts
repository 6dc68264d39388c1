// Text that Postgres can store whatever it came from: a NUL byte (U+0000) cannot be held by any
// text value, parameter or array element (22021), so it is shown as U+FFFD. Used for the readable
// text of quarantined rows (their exact bytes are kept apart), header names and messages.
export function storableText(text: string): string {
  return text.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text;
}

/**
 * The text in ASCII only, every other character as \u{...}: storable in any database encoding
 * (a LATIN1 database cannot hold '’'). The last resort for a quarantined row's text.
 */
export function asciiText(text: string): string {
  let out = '';
  for (const char of text) {
    const code = char.codePointAt(0)!;
    out += code >= 0x20 && code < 0x7f ? char : char === '\n' || char === '\t' ? char : `\\u{${code.toString(16)}}`;
  }
  return out;
}

/**
 * A list as a log line, a span or a ledger message may hold it: at most `items` entries, each cut
 * to `chars` characters, and a last entry saying how many more there were, so that no object
 * (a header of thousands of names, a name of a megabyte) makes one line larger than a few kilobytes.
 */
export function boundedList(values: readonly string[], items = 20, chars = 100): string[] {
  const cut = (value: string) => (value.length > chars ? `${value.slice(0, chars)}… (${value.length} characters)` : value);
  const shown = values.slice(0, items).map(cut);
  if (values.length > items) shown.push(`… and ${values.length - items} more`);
  return shown;
}
