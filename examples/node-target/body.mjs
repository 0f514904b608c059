// Request bodies: a JSON document of at most `maxBytes`, read to its end even when it is refused.
//
// Every answer keeps the connection alive (Node's default), so a client sends its next request on it right after
// this body: the message ends where its Content-Length or last chunk says (RFC 9112 §6.3), not where the answer
// was sent, and a connection answered without "close" persists (RFC 9112 §9.3). A refused body must therefore be
// drained, else the next request is never read:
// * declared larger than `maxBytes`: refused before a byte of it is read; Node drains an unread body once the
//   answer is sent (lib/_http_server.js resOnFinish -> req._dump());
// * growing past `maxBytes` (a chunked body): refused at once, the rest dropped as it arrives (the request keeps
//   flowing with no 'data' listener).
// Never leave `for await (const chunk of req)` early (throw or break): that destroys the request with its socket
// detached (lib/internal/streams/destroy.js destroyer(): isServerRequest -> `stream.socket = null`), the parser's
// next body chunk is pushed into the destroyed request, push() returns false and the socket is paused for good
// (lib/_http_common.js parserOnBody -> readStop); the answer still says keep-alive, and the client's next request
// is never read, only dropped with the connection by the keep-alive timeout (the P32 finding of the fuzzers'
// oversized bodies: tests/integration/test_node_example_bodies.py).

export class BodyTooLarge extends Error {}

export class NotJson extends Error {}

export function readJson(req, maxBytes) {
  return new Promise((resolve, reject) => {
    const declared = req.headers["content-length"];
    if (declared !== undefined && Number(declared) > maxBytes) {
      reject(new BodyTooLarge(`body over ${maxBytes} bytes`));
      return;
    }
    const chunks = [];
    let size = 0;
    const collect = (chunk) => {
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      req.off("data", collect); // flowing with no listener: the rest is read and dropped
      chunks.length = 0;
      reject(new BodyTooLarge(`body over ${maxBytes} bytes`));
    };
    req.on("data", collect);
    req.on("error", reject);
    req.on("end", () => {
      if (size > maxBytes) return;
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      } catch {
        reject(new NotJson("the body is not JSON"));
      }
    });
  });
}
