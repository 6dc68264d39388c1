// Strict command arguments: an unknown option or a bad value is a usage error (exit 2) with one
// sentence, never ignored (`etl run --dry-run` must not load).
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** The command line cannot be followed: exit 2 with this sentence. */
export class UsageError extends Error {
  override name = 'UsageError';
}

type Options = NonNullable<ParseArgsConfig['options']>;

export function parseCommandArgs<T extends Options>(command: string, args: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (error) {
    const message = (error as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    throw new UsageError(`etl ${command}: ${message.charAt(0).toLowerCase()}${message.slice(1)}; see \`etl ${command} --help\``);
  }
}

/** A date-time option (ISO 8601, or a date alone as midnight UTC). */
export function parseTime(command: string, option: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const time = new Date(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value);
  if (Number.isNaN(time.getTime())) throw new UsageError(`etl ${command}: --${option} must be a date or a date-time such as 2026-11-01 or 2026-11-01T06:00:00Z, not "${value}"`);
  return time;
}
