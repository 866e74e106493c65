/**
 * The balancer's own answers. Short, plain text, never a balancer cookie. Both adapters send
 * these exact bytes.
 */

/** An answer the gateway writes itself. */
export interface BalancerResponse {
  readonly status: 400 | 502 | 503 | 504
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

const TEXT = Object.freeze({ 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })

/** The request target is not a path (absolute-form or `*` on a WebSocket upgrade): never passed on to a member. */
export const BAD_REQUEST: BalancerResponse = Object.freeze({
  status: 400,
  headers: TEXT,
  body: 'Bad Request: the request target must be a path.\n'
})

/** No member can serve the request (all down, all tried, or `noFailover`). */
export const SERVICE_UNAVAILABLE: BalancerResponse = Object.freeze({
  status: 503,
  headers: TEXT,
  body: 'Service Unavailable: no balancer member can serve this request.\n'
})

/** The member failed and the request could not be sent elsewhere (its body was already streamed), or it answered garbage. */
export const BAD_GATEWAY: BalancerResponse = Object.freeze({
  status: 502,
  headers: TEXT,
  body: 'Bad Gateway: the balancer member failed and the request could not be retried.\n'
})

/** The member did not answer in time. */
export const GATEWAY_TIMEOUT: BalancerResponse = Object.freeze({
  status: 504,
  headers: TEXT,
  body: 'Gateway Timeout: the balancer member did not answer in time.\n'
})
