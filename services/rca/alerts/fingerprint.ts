/**
 * Alertmanager-compatible fingerprints: FNV-1a 64 over the label pairs sorted by name, each written as
 * name, 0xff, value, 0xff (prometheus/common model.LabelsToSignature), as 16 lowercase hex digits.
 */
const OFFSET = 0xcbf29ce484222325n;
const PRIME = 0x100000001b3n;
const MASK = (1n << 64n) - 1n;
const SEP = 0xff;

export function fingerprint(labels: Record<string, string>, only?: readonly string[]): string {
  let h = OFFSET;
  const add = (byte: number) => {
    h ^= BigInt(byte);
    h = (h * PRIME) & MASK;
  };
  const names = Object.keys(labels)
    .filter((n) => !only || only.includes(n))
    .sort();
  for (const name of names) {
    for (const b of Buffer.from(name, 'utf8')) add(b);
    add(SEP);
    for (const b of Buffer.from(labels[name]!, 'utf8')) add(b);
    add(SEP);
  }
  return h.toString(16).padStart(16, '0');
}
