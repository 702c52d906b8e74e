/**
 * What `promise` settles as within `ms`: "resolved", "rejected <code>" or "pending". For tests
 * of calls that must settle at all (a close that hung for ever, a retry that never ended): the
 * bound is generous, and "pending" is the failure.
 */
export async function settledWithin(promise: Promise<unknown>, ms: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => (timer = setTimeout(() => resolve("pending"), ms)));
  try {
    return await Promise.race([promise.then(() => "resolved", (error: { code?: string }) => `rejected ${error?.code ?? error}`), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
