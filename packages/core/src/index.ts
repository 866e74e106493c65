export { Balancer, createBalancer } from './balancer.js'
export type {
  Decision,
  MemberChanges,
  MemberSelector,
  MemberStatus,
  RequestOutcome,
  Routed,
  RoutingRequest,
  Unavailable,
  UnavailableReason,
  UpstreamErrorAction,
  UpstreamErrorContext
} from './balancer.js'
export {
  compileRouteCookie,
  formatRouteCookie,
  isCookieName,
  isCookieValue,
  OpaqueRouteKeys,
  ROUTE_COOKIE_DEFAULTS,
  ROUTE_TOKEN_LENGTH,
  routeToken,
  withSetCookie
} from './cookie.js'
export type { CompiledRouteCookie, OpaqueRouteOptions, RouteCookieAttributes, RouteCookieOptions, SameSite } from './cookie.js'
export { StickyConfigError, StickyError } from './errors.js'
export type { StickyErrorCode } from './errors.js'
export { logEvents } from './events.js'
export type {
  BalancerEventName,
  BalancerEvents,
  HealthEvent,
  RouteChangeReason,
  RouteEvent,
  StateChangeReason,
  StateEvent,
  StickyLogger
} from './events.js'
export { bodyPlan, CONNECT_FAILURE_CODES, connectFailureCode, hasRequestBody, IDEMPOTENT_METHODS, isConnectFailure, isIdempotent, isTimeout, RESET_CODES, resetCode } from './failures.js'
export type { BodyPlan } from './failures.js'
export { connectionTokens, forwardedHeaders, stripHopByHop } from './forwarded.js'
export type { ForwardedHeaders, ForwardedInput, HeaderFields } from './forwarded.js'
export { judge } from './health.js'
export type { HealthIo, HealthProbe, HealthProbeResult, HealthProbeTarget, Timers } from './health.js'
export { bybusyness, byrequests, bytraffic, LB_METHODS } from './lbmethods/index.js'
export type { LbMethod, LbMethodName } from './lbmethods/index.js'
export { parseStatusLetters, STATUS_LETTERS, statusLetters } from './members.js'
export type { LbCandidate, MemberCounters, MemberFlag, MemberFlags, MemberStateFlags, StickyMember } from './members.js'
export { DEFAULTS, isResolvedOptions, MIN_OPAQUE_KEY_LENGTH, resolveOptions } from './options.js'
export type {
  HealthCheckMethod,
  HealthCheckOptions,
  HealthCheckResponse,
  MemberOptions,
  ResolvedHealthCheck,
  ResolvedMember,
  ResolvedOptions,
  StickyOptions,
  StickySessionOptions
} from './options.js'
export { BAD_GATEWAY, BAD_REQUEST, GATEWAY_TIMEOUT, SERVICE_UNAVAILABLE } from './responses.js'
export type { BalancerResponse } from './responses.js'
export { findCookieValue, findSessionRoute, findUrlParam, routeOf } from './route.js'
export type { RouteSource, RouteToken, SessionRoute, SessionSource, TokenKind } from './route.js'
