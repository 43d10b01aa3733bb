// The travel saga of crates/skald-examples/travel-saga.asl.json as a Restate handler, served
// on 127.0.0.1:9080 for run.sh. It calls the same task services (crates/skald-examples/src/travel.rs,
// TRAVEL_URL, default http://127.0.0.1:7081) with the same bodies as Skald's definition:
//
//   ReserveFlight → ReserveCar → ProcessPayment → result (the input with flight_reservation,
//   car_reservation and payment added, as the ASL ResultPaths do);
//   a step that answers an error → the Catch chain of the definition, which undoes the failed step
//   too: payment → RefundPayment, CancelCar, CancelFlight; car → CancelCar, CancelFlight;
//   flight → CancelFlight; then a terminal error, like the Fail state BookingFailed.
//
// Every call is one `ctx.run`, so its outcome (result or error answer) is journaled durably before
// the saga goes on. The Idempotency-Key is `<invocation id>:<step>`, stable across Restate's
// retries and replays of the invocation. A compensation whose service answers an error is tried
// again after 1 s, 2 s, 4 s … (at most 60 s) until it succeeds, each attempt its own `ctx.run` with
// key `<invocation id>:<step>:<attempt>` from the second attempt on (the services keep every
// answer by key, a failed one too, as Skald's per-attempt keys assume). No answer at all (connection
// refused or reset, 30 s timeout) throws inside `ctx.run`, which Restate retries with the same key.
//
// Served twice, the same code: the workflow `TravelSaga` (POST /TravelSaga/<trip_id>/run — one
// execution per trip id, started once, like Skald's StartExecution by name) and the plain service
// `TravelService` (POST /TravelService/book).
import * as http2 from "node:http2";

// The SDK (>= 1.14) calls Promise.withResolvers (ES2024), which Node 22 has and Node 20 lacks:
// the spec's definition, installed before the SDK is loaded.
Promise.withResolvers ??= function withResolvers() {
  let resolve, reject;
  const promise = new this((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
};
const restate = await import("@restatedev/restate-sdk");

const TRAVEL = process.env.TRAVEL_URL ?? "http://127.0.0.1:7081";
const PORT = Number(process.env.PORT ?? 9080);
const CALL_TIMEOUT_MS = 30_000;

/// One POST; the outcome as a journal-able value. Throws (so Restate retries) only when no answer came.
async function post(path, body, key) {
  const response = await fetch(`${TRAVEL}/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", "idempotency-key": key },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
  });
  const text = await response.text();
  let parsed;
  try {
    parsed = text.trim() === "" ? null : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (response.ok) {
    return parsed === undefined
      ? { ok: false, error: "States.TaskFailed", cause: `${path} answered ${response.status} with a body that is not JSON` }
      : { ok: true, value: parsed };
  }
  if (parsed && typeof parsed.error === "string" && parsed.error !== "") {
    const cause = typeof parsed.cause === "string" ? parsed.cause : JSON.stringify(parsed.cause ?? "");
    return { ok: false, error: parsed.error, cause };
  }
  return { ok: false, error: "States.TaskFailed", cause: `${path} answered ${response.status}: ${text.slice(0, 512)}` };
}

async function step(ctx, name, path, body) {
  const key = `${ctx.request().id}:${name}`;
  return ctx.run(name, () => post(path, body, key));
}

async function compensate(ctx, name, path, body) {
  for (let attempt = 1; ; attempt++) {
    const key = attempt === 1 ? `${ctx.request().id}:${name}` : `${ctx.request().id}:${name}:${attempt}`;
    const outcome = await ctx.run(attempt === 1 ? name : `${name} #${attempt}`, () => post(path, body, key));
    if (outcome.ok) return;
    await ctx.sleep(Math.min(1000 * 2 ** (attempt - 1), 60_000));
  }
}

async function saga(ctx, input) {
  const { trip_id, flight, car, amount } = input;
  const undo = {
    flight: () => compensate(ctx, "CancelFlight", "flights/cancellations", { trip_id }),
    car: () => compensate(ctx, "CancelCar", "cars/cancellations", { trip_id }),
    payment: () => compensate(ctx, "RefundPayment", "payments/refunds", { trip_id }),
  };
  const fail = async (outcome, undos) => {
    for (const u of undos) await u();
    throw new restate.TerminalError(`trip ${trip_id} was not booked: ${outcome.cause}`, {
      errorCode: 409,
      metadata: { error: "BookingFailed", cause_error: outcome.error },
    });
  };

  const f = await step(ctx, "ReserveFlight", "flights/reservations", { trip_id, flight });
  if (!f.ok) return fail(f, [undo.flight]);
  const c = await step(ctx, "ReserveCar", "cars/reservations", { trip_id, car });
  if (!c.ok) return fail(c, [undo.car, undo.flight]);
  const p = await step(ctx, "ProcessPayment", "payments/charges", {
    trip_id,
    amount,
    idempotency: `${trip_id}-payment`,
  });
  if (!p.ok) return fail(p, [undo.payment, undo.car, undo.flight]);
  return {
    ...input,
    flight_reservation: { reservation_id: f.value?.reservation_id },
    car_reservation: { reservation_id: c.value?.reservation_id },
    payment: { charge_id: p.value?.charge_id },
  };
}

const workflow = restate.workflow({ name: "TravelSaga", handlers: { run: saga } });
const service = restate.service({ name: "TravelService", handlers: { book: saga } });

const server = http2.createServer(restate.createEndpointHandler({ services: [workflow, service] }));
server.listen(PORT, "127.0.0.1", () => console.log(`saga.mjs: Restate endpoint on http://127.0.0.1:${PORT}`));
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(0));
