/** Sizes as messages and listings print them; no imports, so the lightest commands can. */
const MIB = 1024 * 1024;

/** A size in bytes as the messages print it: "3.0 MB", "1 MB". */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  if (n < MIB) return `${(n / 1024).toFixed(n % 1024 === 0 ? 0 : 1)} kB`;
  return `${(n / MIB).toFixed(n % MIB === 0 ? 0 : 1)} MB`;
}
