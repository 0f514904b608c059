// The JavaScript SDK's stream() on an account's payments: collect `expect` messages (or give up after
// `timeout_ms`), then close the stream. With `limit`, Horizon ends each connection after that many events
// ("byebye") and the SDK reconnects from the last paging token it saw.
import { Horizon } from "@stellar/stellar-sdk";
import { args, done } from "./lib.mjs";

const { horizon, account, cursor, limit, expect, timeout_ms } = args();
const server = new Horizon.Server(horizon, { allowHttp: true });
let builder = server.payments().forAccount(account).cursor(cursor);
if (limit) builder = builder.limit(limit);

const received = [];
const errors = [];
let close = () => {};
const finished = new Promise((resolve) => {
  const timer = setTimeout(resolve, timeout_ms);
  close = builder.stream({
    onmessage: (record) => {
      received.push([record.paging_token, record.type, record.transaction_hash, record.amount ?? null]);
      if (received.length >= expect) {
        clearTimeout(timer);
        resolve();
      }
    },
    onerror: (error) => errors.push(String(error?.message ?? error?.type ?? error)),
  });
});
await finished;
close();
done({ received, errors });
