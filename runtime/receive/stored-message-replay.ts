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
   * Says that `stream` had removed messages of the window, those stored before `heldFrom` (ms, its
   * oldest message's time), when it was read for `seed`. A message created before then may be a
   * copy of one removed, stored again: the seed then names the copy as the first holder of its
   * signature. So a message created before then is refused, unless this process accepted it (its
   * redelivery). By the creation time alone, with no allowance for clock skew, so a message created
   * since passes; the cost is the few the stream stored just after creating them, around that
   * time, that this receiver had yet to handle. A removed message whose producer's clock ran ahead
   * of the server's, by more than it waited to be stored before `heldFrom`, is the copy this misses.
   */
  historyLost(stream: string, heldFrom: number): void {
    this.#lostBefore.set(stream, Math.max(heldFrom, this.#lostBefore.get(stream) ?? heldFrom));
  }

  /** How many seeded messages were forgotten to keep `remember`: a copy of one is judged by the guard alone. */
  get forgotten(): number {
    return this.#forgotten;
  }

  /** The guard to judge one delivery of stored message `storedAs` (e.g. `ONEX_EVENT#42@<stored time>`), stored on `subject`, with. */
  forStoredMessage(storedAs: string, subject: string): Pick<ReplayGuard, "accept"> {
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
        const lostBefore = this.#lostBefore.get(streamOf(storedAs));
        if (lostBefore !== undefined && createdAtOf(envelopeData(message)) < lostBefore) {
          throw new OnexError(
            ErrorCode.Replay,
            `message ${memberText(id)} was created before ${new Date(lostBefore).toISOString()}, and its stream no longer holds all it stored then: a copy of a message it removed cannot be told from the original`,
            { reason: "window-lost", messageId: id },
          );
        }
        this.guard.accept(message, now);
        if (typeof id !== "string") return;
        this.#acceptedAs.set(accepted, storedAs);
        if (this.#acceptedAs.size > this.remember) forgetOldest(this.#acceptedAs);
      },
    };
  }
}

/** The stream of a stored message's name (`<stream>#<sequence>@<stored time>`). */
function streamOf(storedAs: string): string {
  return storedAs.slice(0, storedAs.lastIndexOf("#"));
}

/** A signature as stored on one subject (subjects hold no white space). */
function storedKey(subject: string, signature: string): string {
  return `${subject} ${signature}`;
}
