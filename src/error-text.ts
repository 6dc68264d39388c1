// Error text for the middle of a sentence: the first line of the message, without the closing
// period or colon, so "…: <clause>." reads as one sentence.
export function errorClause(error: unknown): string {
  return String(error instanceof Error ? error.message : error).split('\n')[0]!.replace(/[.:]\s*$/, '');
}
