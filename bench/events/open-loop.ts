// Open-loop load at a fixed offered rate: request i is due at start + i / rate and is sent then,
// whether or not earlier ones were answered (undici's Pool queues it when every connection is
// busy). Its latency is measured from that due time, not from when it went out, so a stalled
// server or load generator shows in the figures (no coordinated omission).
import { performance } from 'node:perf_hooks'
import { Pool } from 'undici'

export interface Prepared { body: string, headers: Record<string, string> }

export interface OpenLoopFigures {
  offered: number
  /** Answers (any status) per second, from the first due time to the last answer. */
  achieved: number
  /** Requests sent per second, from the first due time to the last send: below `offered` when the load generator fell behind. */
  sentRate: number
  total: number
  non2xx: number
  errors: number
  p50: number
  p99: number
  p999: number
  max: number
}

/** Exact percentiles of the answered requests' latencies (ms, from their due times). */
function percentile (sorted: Float64Array, q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]
}

/**
 * The connections of one load generator to one server, kept open from one rate to the next, as
 * a TLS proxy in front of the bridge keeps its own: a burst of new connections at each rate's
 * start is a cost the runs would otherwise measure again and again (docs/benchmarks.md).
 */
export function openLoopClient (origin: string, connections: number): Pool {
  return new Pool(origin, { connections, pipelining: 1, keepAliveTimeout: 600_000 })
}

export async function openLoop (client: Pool, path: string, rate: number, durationS: number, requests: Prepared[]): Promise<OpenLoopFigures> {
  return await openLoopOf(rate, Math.min(requests.length, Math.round(rate * durationS)), async (i) => {
    const r = requests[i]
    const res = await client.request({ method: 'POST', path, headers: r.headers, body: r.body })
    await res.body.dump()
    return res.statusCode >= 200 && res.statusCode <= 299
  })
}

/**
 * `total` calls at a fixed offered rate: call i is due at start + i / rate and is made then,
 * whether or not earlier ones have ended (an HTTP request, or a floor's statements); its
 * latency runs from its due time to its end. `call` answers whether it succeeded (a 2xx).
 */
export async function openLoopOf (rate: number, total: number, call: (i: number) => Promise<boolean>): Promise<OpenLoopFigures> {
  const latency = new Float64Array(total)
  let answered = 0
  let non2xx = 0
  let errors = 0
  let lastAnswer = 0
  let lastSend = 0
  const interval = 1000 / rate
  const start = performance.now() + 20
  await new Promise<void>((resolve) => {
    let next = 0
    const done = () => { if (++answered === total) resolve() }
    const fire = (i: number) => {
      const due = start + i * interval
      call(i).then((ok) => {
        if (!ok) non2xx++
        lastAnswer = performance.now()
        latency[i] = lastAnswer - due
        done()
      }, () => { errors++; lastAnswer = performance.now(); latency[i] = lastAnswer - due; done() })
    }
    // Every millisecond (or as soon as the event loop lets it), everything that is due goes out.
    const tick = () => {
      const now = performance.now()
      while (next < total && start + next * interval <= now) fire(next++)
      lastSend = now
      if (next < total) setTimeout(tick, Math.max(0, start + next * interval - performance.now()))
    }
    setTimeout(tick, Math.max(0, start - performance.now()))
  })
  const sorted = latency.sort()
  const spanS = (lastAnswer - start) / 1000
  return {
    offered: rate,
    achieved: total / spanS,
    sentRate: total / Math.max((lastSend - start) / 1000, (total - 1) * interval / 1000),
    total,
    non2xx,
    errors,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    p999: percentile(sorted, 0.999),
    max: sorted[sorted.length - 1],
  }
}
