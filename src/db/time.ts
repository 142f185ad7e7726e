/** Timestamps are stored as ISO-8601 UTC strings: portable across dialects and sortable as text. */
export const now = (): string => new Date().toISOString();
export const toFlag = (value: boolean): number => (value ? 1 : 0);
