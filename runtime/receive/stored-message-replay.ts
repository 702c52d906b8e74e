/**
 * Replay protection that tells a redelivery from a replay. A transport delivers one stored
 * message again when its handler failed or its acknowledgement was lost: that is the same
 * message, and must pass. A replay is the same message id stored a second time (published
 * again): that must be refused, on every delivery, not only the first.
 *
 * A guard's memory starts empty with its process, so a message captured before a restart
 * could be published again and accepted after it. The transport therefore tells it which
 * stored message first held each signature in the stream's recent history (`seed`), as a
 * subscription opens: another stored message with that signature on the same subject is a
 * copy of it, a replay. On the same subject: a copy stored on another subject is misrouted
 * (its signed source builds one subject only) and refused as such, and since subscriptions with
 * other filters read other subjects' windows, a copy there, read first, must not name the
 * genuine message a copy of itself. Only a copy: the history is read unverified, so a forgery stored first under an
 * id a genuine message later takes (ids a producer makes predictable) must not make the genuine
 * one a replay, nor hide the genuine one's replays; a replay cannot change the signature
 * (Ed25519 signatures of one message are unique: malleated ones are refused), so it is caught.
 */
import { ErrorCode, OnexError } from "../errors.js";
import { memberText } from "../option-check.js";
import { createdAtOf, envelopeData, signatureOf } from "../trust/envelope.js";
import { replayKeyOf, type ReplayGuard } from "../trust/replay-guard.js";
import { forgetOldest } from "../forget-oldest.js";

/** Wraps a replay guard; one per process (or client), shared by its subscriptions. */
export class StoredMessageReplay {
  /** Signer and id (as the guard remembers them) → the stored message it was first accepted as, in insertion order. */
  readonly #acceptedAs = new Map<string, string>();
  /** Subject and signature → the first stored message holding that signature on that subject, learnt from the stream's history (see seed). */
  readonly #storedFirst = new Map<string, string>();
  #forgotten = 0;
  /** Stream → the time (ms) before which it removed messages of the window: see historyLost. */
  readonly #lostBefore = new Map<string, number>();

  constructor(
    readonly guard: Pick<ReplayGuard, "accept">,
    /** Ids remembered at most; the oldest is forgotten first (then its redelivery is judged by the guard alone). */
    readonly remember = 100_000,
  ) {}

  /** How far back a stream's history must be read for `seed`: the guard's window and clock skew (5.5 minutes for a guard that does not say). */
  get historyMs(): number {
    const { windowMs, skewMs } = this.guard as Partial<ReplayGuard>;
    return (windowMs ?? 5 * 60_000) + (skewMs ?? 30_000);
  }

  /** Records that `storedAs`, stored on `subject`, holds a message signed `signature`; called in stream order, so the first call for a subject and signature names the original. */
  seed(storedAs: string, subject: string, signature: string): void {
    const key = storedKey(subject, signature);
    if (this.#storedFirst.has(key)) return;
    this.#storedFirst.set(key, storedAs);
    if (this.#storedFirst.size > this.remember) this.#forgotten += forgetOldest(this.#storedFirst).length;
  }

  /**
   * Says that `stream` may have removed messages of the window, holding none stored before
   * `heldFrom` (ms), when it was read for `seed`. A message created before then may be a copy of
   * one removed, stored again, which the seed then names the first holder of its signature. So a
   * message created before then and stored more than the guard's clock skew after it was created
   * (published again) is refused, unless this process accepted it (its redelivery). One stored as
   * it was made passes: the stream's oldest messages, which a receiver behind it has yet to
   * handle, are such, whether or not anything removed was in the window. The copy this misses is
   * one stored again within the skew of its making, after the receiver handled the original and
   * before it restarted.
   */
  historyLost(stream: string, heldFrom: number): void {
    this.#lostBefore.set(stream, Math.max(heldFrom, this.#lostBefore.get(stream) ?? heldFrom));
  }

  /** How many seeded messages were forgotten to keep `remember`: a copy of one is judged by the guard alone. */
  get forgotten(): number {
    return this.#forgotten;
  }

  /**
   * The guard to judge one delivery of stored message `storedAs` (e.g. `ONEX_EVENT#42@<stored
   * time>`), stored on `subject`, with. `record: false` for a message judged and not delivered:
   * it is refused as it would be, and nothing is remembered of it (a guard without `check`, not a
   * ReplayGuard, is then not asked).
   */
  forStoredMessage(storedAs: string, subject: string, record = true): Pick<ReplayGuard, "accept"> {
    return {
      accept: (message, now) => {
        const id = (message as { id?: unknown }).id;
        // Per signer, as the guard: another signer's message under this id must not pass as its redelivery, nor the other way round.
        const accepted = replayKeyOf(message as Parameters<typeof replayKeyOf>[0]);
        if (typeof id === "string" && this.#acceptedAs.get(accepted) === storedAs) return;
        // Nothing seeded (no guard read a window yet): no signature to look up.
        const signature = this.#storedFirst.size === 0 ? undefined : signatureOf(message);
        const first = typeof signature === "string" ? this.#storedFirst.get(storedKey(subject, signature)) : undefined;
        if (first !== undefined && first !== storedAs) {
          throw new OnexError(ErrorCode.Replay, `message ${memberText(id)} was already stored as ${first}`, { reason: "duplicate", messageId: id });
        }
        const lostBefore = this.#copyOfRemoved(storedAs, message);
        if (lostBefore !== undefined) {
          throw new OnexError(
            ErrorCode.Replay,
            `message ${memberText(id)} was created before ${new Date(lostBefore).toISOString()}, when its stream may have removed what it stored, and stored again long after: a copy of a removed message cannot be told from the original`,
            { reason: "window-lost", messageId: id },
          );
        }
        if (!record) return (this.guard as Partial<Pick<ReplayGuard, "check">>).check?.(message, now);
        this.guard.accept(message, now);
        if (typeof id !== "string") return;
        this.#acceptedAs.set(accepted, storedAs);
        if (this.#acceptedAs.size > this.remember) forgetOldest(this.#acceptedAs);
      },
    };
  }

  /** historyLost's time, when `message`, stored as `storedAs`, was created before it and stored more than the clock skew after its making. */
  #copyOfRemoved(storedAs: string, message: unknown): number | undefined {
    const stored = parseName(storedAs);
    const lostBefore = stored === undefined ? undefined : this.#lostBefore.get(stored.stream);
    if (lostBefore === undefined) return undefined;
    const created = createdAtOf(envelopeData(message as Parameters<typeof envelopeData>[0]));
    const skewMs = (this.guard as Partial<ReplayGuard>).skewMs ?? 30_000;
    return created < lostBefore && stored!.at - created > skewMs ? lostBefore : undefined;
  }
}

/**
 * A stored message's name: its stream, sequence and the time the stream stored it (ns since the
 * epoch). With the time: a stream made again (deleted and applied, or a node's store lost)
 * numbers messages from 1 again, and by sequence alone a copy stored at a sequence an accepted
 * message once held passed as its redelivery, and a new message as a settled one.
 */
export function storedMessageName(stream: string, sequence: number, storedNanos: number): string {
  return `${stream}#${sequence}@${storedNanos}`;
}

/** The stream and stored time (ms) of a storedMessageName, or undefined for another text. */
function parseName(storedAs: string): { stream: string; at: number } | undefined {
  const hash = storedAs.lastIndexOf("#");
  const at = storedAs.lastIndexOf("@");
  if (hash < 0 || at < hash) return undefined;
  return { stream: storedAs.slice(0, hash), at: Number(storedAs.slice(at + 1)) / 1e6 };
}

/** A signature as stored on one subject (subjects hold no white space). */
function storedKey(subject: string, signature: string): string {
  return `${subject} ${signature}`;
}
