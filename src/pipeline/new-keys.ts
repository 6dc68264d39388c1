// The new keys that the loads of this process are copying into the target tables directly
// (read/stage-encoder.ts, load/staging.ts: DIRECT_TABLES), until their transactions end. A key
// one load copies in is not new to the others meanwhile: they merge its rows instead, and their
// upsert waits for the first load's commit. Without this, two loads of neighbouring exports would
// both take the same new service request for new, and the second COPY would fail on it. (Loads
// in other processes can still meet that way: pipeline/file.ts then loads the batch again.)
export class NewKeys {
  private readonly claimed = new Map<string, Map<string, number>>();

  /**
   * Of `keys` of `table`, those not in `existing` (the table has them) and not claimed by
   * another load; they are claimed for the caller until it calls the returned release().
   */
  claim(table: string, keys: readonly string[], existing: readonly string[]): { existing: string[]; release: () => void } {
    const claimed = this.claimed.get(table) ?? new Map<string, number>();
    this.claimed.set(table, claimed);
    const have = new Set(existing);
    const taken: string[] = [];
    for (const key of keys) {
      if (have.has(key)) continue;
      if (claimed.has(key)) have.add(key);
      else taken.push(key);
    }
    for (const key of taken) claimed.set(key, 1);
    return {
      existing: [...have],
      release: () => {
        for (const key of taken) claimed.delete(key);
      },
    };
  }
}
