// Comma-separated vars (RATE_LIMIT_EXEMPT, ALLOWED_ORIGINS) as sets, parsed once per value.

/** A reader of one such var: trimmed, non-empty entries, each normalized. */
export function commaSet(normalize: (entry: string) => string): (value: string | undefined) => Set<string> {
  let last: { value: string; set: Set<string> } | null = null;
  return (value = "") => {
    if (last?.value !== value) {
      const entries = value
        .split(",")
        .map((entry) => entry.trim())
        .filter(Boolean);
      last = { value, set: new Set(entries.map(normalize)) };
    }
    return last.set;
  };
}
