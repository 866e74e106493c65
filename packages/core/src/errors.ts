/**
 * One error hierarchy for every stickyroute package. Each error carries a stable `code`
 * (`ERR_STICKY_*`) that callers can test without parsing messages; the codes are listed,
 * with their fixes, in the core README.
 */

/** Every code stickyroute throws. Stable across minor versions. */
export type StickyErrorCode =
  | 'ERR_STICKY_INVALID_OPTION'
  | 'ERR_STICKY_UNKNOWN_OPTION'
  | 'ERR_STICKY_NO_MEMBERS'
  | 'ERR_STICKY_MEMBER_URL'
  | 'ERR_STICKY_DUPLICATE_MEMBER'
  | 'ERR_STICKY_ROUTE_NAME'
  | 'ERR_STICKY_LOAD_FACTOR'
  | 'ERR_STICKY_STICKYSESSION'
  | 'ERR_STICKY_COOKIE_NAME'
  | 'ERR_STICKY_COOKIE_ATTRIBUTE'
  | 'ERR_STICKY_SEPARATOR'
  | 'ERR_STICKY_LB_METHOD'
  | 'ERR_STICKY_HEALTH_CHECK'
  | 'ERR_STICKY_UNKNOWN_MEMBER'

/** Base class of every error stickyroute throws. */
export class StickyError extends Error {
  readonly code: StickyErrorCode

  constructor (code: StickyErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }

  override get name (): string {
    return this.constructor.name
  }
}

/**
 * Thrown once, when the options are resolved (at plugin registration or middleware creation).
 * `option` is the path of the offending option, e.g. `members[1].url`.
 */
export class StickyConfigError extends StickyError {
  readonly option: string

  constructor (code: StickyErrorCode, option: string, message: string, options?: { cause?: unknown }) {
    super(code, `stickyroute: option \`${option}\` ${message}`, options)
    this.option = option
  }
}
