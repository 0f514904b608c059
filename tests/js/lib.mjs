// Shared plumbing of the independent-client scripts: one JSON argument in, one JSON line out.
export function args() {
  return JSON.parse(process.argv[2] ?? "{}");
}

export function done(result) {
  console.log(JSON.stringify(result));
}

// What an SDK error shows a user: HTTP status and Horizon's problem fields, or the thrown message.
export function describeError(error) {
  const data = error?.response?.data;
  return {
    name: error?.name ?? typeof error,
    message: String(error?.message ?? error),
    status: error?.response?.status ?? null,
    type: data?.type ?? null,
    extras: data?.extras ?? null,
    body: data ?? null,
  };
}

// Run `fn`, returning {ok: true, value} or {ok: false, error} so a script reports every outcome.
export async function attempt(fn) {
  try {
    return { ok: true, value: await fn() };
  } catch (error) {
    return { ok: false, error: describeError(error) };
  }
}
