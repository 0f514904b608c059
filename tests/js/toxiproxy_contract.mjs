// toxiproxy-node-client (written against a real Toxiproxy) drives a Toxiproxy API URL: proxies, toxics,
// populate, reset, version and error cases. Prints what the client saw; the Python test judges it.
import net from "node:net";
import { Toxiproxy } from "toxiproxy-node-client";
import { args, attempt, done } from "./lib.mjs";

const { url, upstream } = args();
const toxiproxy = new Toxiproxy(url);

// The client reports a failed call only as "Request failed with status code N" (HttpClient.doFetch).
async function outcome(fn) {
  const result = await attempt(fn);
  if (result.ok) return { ok: true };
  const status = /status code (\d+)/.exec(result.error.message);
  return { ok: false, name: result.error.name, status: status ? Number(status[1]) : null,
           message: result.error.message };
}

function echo(listen, payload) {
  const [host, port] = [listen.slice(0, listen.lastIndexOf(":")), Number(listen.slice(listen.lastIndexOf(":") + 1))];
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port }, () => socket.write(payload));
    socket.setTimeout(5000, () => socket.destroy(new Error("echo timed out")));
    socket.on("data", (data) => { socket.end(); resolve(data.toString()); });
    socket.on("error", reject);
  });
}

const rawProxies = async () => (await toxiproxy.getApi().get(`${url}/proxies`)).data;
const seen = {};
seen.version = await toxiproxy.getVersion();

const proxy = await toxiproxy.createProxy({ name: "js", listen: "localhost:0", upstream });
seen.created = proxy.toJson();
seen.echo = await echo(proxy.listen, "ping");
seen.duplicate = await outcome(() => toxiproxy.createProxy({ name: "js", listen: "localhost:0", upstream }));
seen.missingUpstream = await outcome(() => toxiproxy.createProxy({ name: "nope", listen: "localhost:0" }));
seen.names = Object.keys(await toxiproxy.getAll()).sort();
seen.fetched = (await toxiproxy.get("js")).toJson();
seen.missing = await outcome(() => toxiproxy.get("nope"));

const disabled = await proxy.update({ enabled: false, listen: proxy.listen, upstream });
seen.disabled = disabled.toJson();
seen.refused = await outcome(() => echo(proxy.listen, "ping"));
seen.reenabled = (await disabled.update({ enabled: true, listen: proxy.listen, upstream })).toJson();
seen.echoAgain = await echo(proxy.listen, "pong");

const byDefault = await proxy.addToxic({ type: "latency", attributes: { latency: 5 } });  // as TestHelper does
seen.defaultToxic = byDefault.toJson();
const toxic = await proxy.addToxic({ name: "lat", type: "latency", stream: "upstream", toxicity: 1,
                                     attributes: { latency: 10, jitter: 2 } });
seen.toxic = toxic.toJson();
seen.toxicFetched = (await proxy.getToxic("lat")).toJson();
seen.toxicUpdated = (await toxic.update({ toxicity: 0.5, attributes: { latency: 20 } })).toJson();
seen.duplicateToxic = await outcome(() => proxy.addToxic({ name: "lat", type: "noop", attributes: {} }));
seen.badType = await outcome(() => proxy.addToxic({ name: "bad", type: "meteor", attributes: {} }));
seen.badStream = await outcome(() => proxy.addToxic({ name: "bad", type: "noop", stream: "sideways" }));
seen.badAttribute = await outcome(() => proxy.addToxic({ name: "bad", type: "latency", attributes: { latency: 1.5 } }));
seen.missingToxic = await outcome(() => proxy.getToxic("nope"));
seen.toxicsBeforeRemove = (await rawProxies()).js.toxics.map((t) => t.name);
await toxic.remove();
seen.removedToxic = await outcome(() => proxy.getToxic("lat"));
seen.removeToxicAgain = await outcome(() => toxic.remove());

const populated = await toxiproxy.populate([{ name: "js", listen: proxy.listen, upstream },
                                            { name: "js2", listen: "127.0.0.1:0", upstream }]);
seen.populated = Object.fromEntries(Object.entries(populated).map(([name, p]) => [name, p.toJson()]));
seen.keptToxicsOnUnchangedPopulate = (await rawProxies()).js.toxics.map((t) => t.name);
seen.populateMissingName = await outcome(() => toxiproxy.populate([{ upstream }]));
seen.populateEmpty = await outcome(() => toxiproxy.populate([]));

await populated.js2.update({ enabled: false, listen: populated.js2.listen, upstream });
await toxiproxy.reset();
seen.afterReset = Object.fromEntries(Object.entries(await rawProxies())
  .map(([name, p]) => [name, { enabled: p.enabled, toxics: p.toxics }]));

await proxy.remove();
seen.removed = await outcome(() => toxiproxy.get("js"));
seen.removeAgain = await outcome(() => proxy.remove());
await populated.js2.remove();
seen.namesAtEnd = Object.keys(await toxiproxy.getAll());
done(seen);
