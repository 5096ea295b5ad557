/**
 * Call keys (API endpoints, log keys) to the integer ids the sequence model reads and predicts.
 *
 * Three ids are reserved so that session boundaries and novelty are part of the vocabulary:
 * - {@link PAD} fills the window before a session's first key, so the model also learns how sessions start;
 * - {@link UNK} stands for any key not seen in training: it is never a training target, so an unseen key is
 *   outside every top-k and the session is anomalous by that key alone;
 * - {@link END} is the target after a session's last key, so a session that stops early (truncated flow) is
 *   a prediction miss like any other.
 */

export const PAD = 0;
export const UNK = 1;
export const END = 2;
const RESERVED = ['<pad>', '<unk>', '<end>'] as const;

/** What metadata.json stores: the real keys in id order (ids start after the reserved ones). */
export interface VocabularyJson {
  keys: string[];
}

export class Vocabulary {
  /** Index = id; the first entries are the reserved names. */
  private readonly names: string[];
  private readonly ids = new Map<string, number>();

  private constructor(keys: readonly string[]) {
    this.names = [...RESERVED, ...keys];
    keys.forEach((k, i) => {
      if (this.ids.has(k)) throw new Error(`duplicate key in vocabulary: ${k}`);
      this.ids.set(k, i + RESERVED.length);
    });
  }

  /** Keys of the training sessions, sorted so the ids do not depend on session order. */
  static build(sessions: Iterable<readonly string[]>): Vocabulary {
    const keys = new Set<string>();
    for (const s of sessions) for (const k of s) keys.add(k);
    return new Vocabulary([...keys].sort());
  }

  static fromJSON(json: VocabularyJson): Vocabulary {
    return new Vocabulary(json.keys);
  }

  toJSON(): VocabularyJson {
    return { keys: this.names.slice(RESERVED.length) };
  }

  /** Number of ids including the reserved ones: the width of the one-hot input and of the softmax. */
  get size(): number {
    return this.names.length;
  }

  id(key: string): number {
    return this.ids.get(key) ?? UNK;
  }

  has(key: string): boolean {
    return this.ids.has(key);
  }

  key(id: number): string {
    return this.names[id] ?? RESERVED[UNK];
  }

  encode(session: readonly string[]): Int32Array {
    const out = new Int32Array(session.length);
    for (let i = 0; i < session.length; i++) out[i] = this.id(session[i]!);
    return out;
  }
}
