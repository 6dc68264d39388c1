// The secret values of this process (the database password in any of its URL forms, the AWS
// secret key), so that no text leaving the process carries one: log lines, error sentences, span
// attributes and events, summary files. redactUrl() hides the known places in a URL; scrub() is
// the net under everything else (an error message that quotes a connection string, say).
const secrets = new Set<string>();
const MASK = '***';
/** Query parameters of a connection URL that carry secrets (password=, sslpassword=, ...). */
const SECRET_PARAMETER = /pass(word)?|secret|token/i;

/** Remembers a secret value; values too short to be told from ordinary text are left out. */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 4) secrets.add(value);
}

/** Registers every secret a connection URL carries: its userinfo password and password parameters. */
export function registerUrlSecrets(url: string): void {
  try {
    const parsed = new URL(url);
    registerSecret(decodeURIComponent(parsed.password));
    registerSecret(parsed.password);
    for (const [name, value] of parsed.searchParams) if (SECRET_PARAMETER.test(name)) registerSecret(value);
  } catch {
    // not a URL: nothing to take apart
  }
}

/** The text with every registered secret masked. */
export function scrub(text: string): string {
  let out = text;
  for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join(MASK);
  return out;
}

/** The URL with its password and secret parameters masked, for logs and messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = MASK;
    for (const name of [...parsed.searchParams.keys()]) if (SECRET_PARAMETER.test(name)) parsed.searchParams.set(name, MASK);
    return scrub(parsed.toString().replace(/%2A%2A%2A/g, MASK));
  } catch {
    return '(unparseable URL)';
  }
}

/** The URL without its user:password part (an endpoint shown in a log or a span); undefined when it does not parse. */
export function withoutCredentials(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return undefined;
  }
}
