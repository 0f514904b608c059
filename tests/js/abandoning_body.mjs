// Deliberately broken variant for tests/integration/test_node_example_bodies.py, never shipped: the Node example's
// body reader as it was before the P32 fix, which leaves `for await (const chunk of req)` by throwing once the
// body passes the limit. This file is also the module-resolution hook that swaps it in for the example's own
// ./body.mjs: `node --import <data: URL registering this file> examples/node-target/server.mjs`.

export class BodyTooLarge extends Error {}

export class NotJson extends Error {}

export async function readJson(req, maxBytes) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > maxBytes) throw new BodyTooLarge(`body over ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new NotJson("the body is not JSON");
  }
}

// Module customization hook (node:module register): the example's ./body.mjs resolves to this file.
export async function resolve(specifier, context, nextResolve) {
  if (specifier === "./body.mjs" && context.parentURL?.endsWith("/examples/node-target/server.mjs")) {
    return { url: import.meta.url, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}
