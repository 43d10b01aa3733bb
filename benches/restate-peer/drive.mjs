// Load driver of run.sh: keeps C travel sagas in flight through Restate's ingress for S seconds,
// each caller starting a saga with a new trip_id and waiting for its end (request-response), over
// and over, like `skald bench`'s saga workloads (crates/skald-bench/src/sagas.rs).
//
//   node drive.mjs success|compensation C S   → one line: workload, count, seconds, sagas/s,
//                                               p50/p99/p999 latency (µs, start → finished)
//   node drive.mjs warmup N                   → N success sagas at once, nothing printed
//
// Every saga must end as its path says: success → 200 with the booking (payment.charge_id set);
// compensation → the terminal error BookingFailed (409, "trip <trip_id> was not booked: card declined").
// Anything else is counted, the first few are printed, and the exit status is 1.
// Env: INGRESS (default http://127.0.0.1:8080), RESTATE_SAGA = workflow (default: POST
// /TravelSaga/<trip_id>/run) or service (POST /TravelService/book).
import * as http from "node:http";

const [mode, a, b] = process.argv.slice(2);
const INGRESS = new URL(process.env.INGRESS ?? "http://127.0.0.1:8080");
const KIND = process.env.RESTATE_SAGA ?? "workflow";
const SAGA_TIMEOUT_MS = 60_000;
const RUN_ID = `r${Date.now()}`;

if (!["success", "compensation", "warmup"].includes(mode) || !["workflow", "service"].includes(KIND)) {
  console.error("usage: node drive.mjs success|compensation CONCURRENCY SECONDS | warmup N (RESTATE_SAGA=workflow|service)");
  process.exit(2);
}
const concurrency = Math.max(1, Number(a ?? 64));
const seconds = Number(b ?? 5);
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });

/// The input Skald's bench gives the path (SagaPath::input): the services decline any charge over 1000.
function input(path, trip_id) {
  return { trip_id, flight: "SK 1429", car: "compact", amount: path === "success" ? 420 : 5000 };
}

function post(path, body) {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body));
    const request = http.request(
      {
        host: INGRESS.hostname,
        port: INGRESS.port,
        path,
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": data.length },
        timeout: SAGA_TIMEOUT_MS,
      },
      (response) => {
        const chunks = [];
        response.on("data", (c) => chunks.push(c));
        response.on("end", () => resolve({ status: response.statusCode, text: Buffer.concat(chunks).toString() }));
        response.on("error", reject);
      },
    );
    request.on("timeout", () => request.destroy(new Error(`no answer in ${SAGA_TIMEOUT_MS} ms`)));
    request.on("error", reject);
    request.end(data);
  });
}

/// Runs one saga; returns null when it ended as `path` says, else what went wrong.
async function one(path, trip_id) {
  const target = KIND === "workflow" ? `/TravelSaga/${encodeURIComponent(trip_id)}/run` : "/TravelService/book";
  let answer;
  try {
    answer = await post(target, input(path, trip_id));
  } catch (e) {
    return `${trip_id}: ${e.message}`;
  }
  let body;
  try {
    body = JSON.parse(answer.text);
  } catch {
    body = undefined;
  }
  if (path === "success") {
    if (answer.status === 200 && typeof body?.payment?.charge_id === "string") return null;
  } else if (
    answer.status === 409 &&
    body?.metadata?.error === "BookingFailed" &&
    body?.message === `trip ${trip_id} was not booked: card declined`
  ) {
    return null;
  }
  return `${trip_id}: ${answer.status} ${answer.text.slice(0, 300)}`;
}

if (mode === "warmup") {
  const failures = (await Promise.all(Array.from({ length: concurrency }, (_, i) => one("success", `${RUN_ID}-warm-${i}`)))).filter(
    (f) => f !== null,
  );
  for (const f of failures.slice(0, 5)) console.error(`warm-up saga did not succeed: ${f}`);
  agent.destroy();
  process.exit(failures.length === 0 ? 0 : 1);
}

const name = `${mode === "success" ? "saga" : "compensation"}-c${concurrency}`;
const latencies = [];
const failures = [];
let count = 0;
const started = process.hrtime.bigint();
const deadline = started + BigInt(Math.round(seconds * 1e9));
await Promise.all(
  Array.from({ length: concurrency }, async (_, caller) => {
    for (let i = 0; process.hrtime.bigint() < deadline; i++) {
      const sent = process.hrtime.bigint();
      const failure = await one(mode, `${RUN_ID}-${name}-${caller}-${i}`);
      if (failure !== null) {
        failures.push(failure);
        continue;
      }
      latencies.push(Number((process.hrtime.bigint() - sent) / 1000n));
      count++;
    }
  }),
);
const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
agent.destroy();

latencies.sort((x, y) => x - y);
const pick = (q) => (latencies.length === 0 ? "-" : String(latencies[Math.round((latencies.length - 1) * q)]));
const describe =
  mode === "success" ? "success path (3 tasks)" : "compensation path (payment declined; refund, car and flight undone: 6 tasks)";
console.log(
  `${name.padEnd(16)} ${String(count).padStart(10)} ${"sagas".padEnd(6)} ${elapsed.toFixed(2).padStart(8)} ` +
    `${(count / elapsed).toFixed(0).padStart(13)} ${pick(0.5).padStart(9)} ${pick(0.99).padStart(9)} ${pick(0.999).padStart(9)}  ` +
    `Restate ${KIND}, concurrency ${concurrency}, ${describe}; ${failures.length} not as expected; latency start → finished`,
);
for (const f of failures.slice(0, 5)) console.error(`  not as expected: ${f}`);
process.exit(failures.length === 0 && count > 0 ? 0 : 1);
