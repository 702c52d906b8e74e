/**
 * Replay protection that tells a redelivery from a replay. A transport delivers one stored
 * message again when its handler failed or its acknowledgement was lost: that is the same
 * message, and must pass. A replay is the same message id stored a second time (published
 * again): that must be refused, on every delivery, not only the first.
 */
import type { ReplayGuard } from "../trust/replay-guard.js";

/** Wraps a replay guard; one per process (or client), shared by its subscriptions. */
export class StoredMessageReplay {
  /** id → the stored message it was first accepted as, in insertion order. */
  readonly #acceptedAs = new Map<string, string>();

  constructor(
    readonly guard: Pick<ReplayGuard, "accept">,
    /** Ids remembered at most; the oldest is forgotten first (then its redelivery is judged by the guard alone). */
    readonly remember = 100_000,
  ) {}

  /** The guard to judge one delivery of stored message `storedAs` (e.g. `ONEX_EVENT#42`) with. */
  forStoredMessage(storedAs: string): Pick<ReplayGuard, "accept"> {
    return {
      accept: (message, now) => {
        const id = (message as { id?: unknown }).id;
        if (typeof id === "string" && this.#acceptedAs.get(id) === storedAs) return;
        this.guard.accept(message, now);
        if (typeof id !== "string") return;
        this.#acceptedAs.set(id, storedAs);
        if (this.#acceptedAs.size > this.remember) this.#acceptedAs.delete(this.#acceptedAs.keys().next().value!);
      },
    };
  }
}
